"""Which language a piece of text is written in, judged by its script.

Digests and questions are short and single-script enough that counting characters per script is
reliable, needs no model, and tells Traditional from Simplified Chinese by characters whose two
forms differ.
"""

from __future__ import annotations

import re

# Characters whose simplified and traditional forms differ, pairwise (same position).
_SIMPLIFIED = "这个们来为会与对学体说时开发实现问题进过经数据种资机网络应该图处计练训测试验结构语视觉并从后将让当点无变层认识类优质标准频历亿万传统术记忆场区范杂读单简检较动评丝项级长东车门间见观电话书费员关产业专节乐义争华报压参双号听团园围国声备头奖审导岁师带广库异张强归录态总战执扩护择换显权条极样档欢气汇没满灵热爱状独环画疗盘监确码离积称稳竞笔紧约纪纯纳线组细终给继续维综编缩罗职联胜脑艺药获虑补规览议讲论设访证诉词译详误请调谈负贡责购赛转轮软轻载辅输边达运还远连适选递逻释钟链销错键闭闻阅队阶际险随隐难静页顶顺须预领颜风飞驱鱼鸟龙剂卫医声块坏尽岛币干废弃彻恶惊惯戏户扫扬担拟敌断旧晓杀梦楼残毕汉沟济浓灭灯猎畅盖礼税穷粮红纲纸肤诗财贵赞赶趋跃践轨辑辩迟遗邮邻钱铁银陆雾韩饭馆黄齐丰临举亲仅众优伤侧侦俭债倾兰兴养兽冲决况净创删剧办务劳势勋卖厂厅县叶启员呜响嘱圣场坚垒夹妇孙宁宝宽寿尔庆异征恋悬拥挤挥损摄敛旷朴杨极构标树桥梦欧汤沪泪泽浅涂涛涨渐温湾溃滤滥灿炉烟烦烧爷牵犹狱献玛琼电疯痒皱盐矿础硕确禅离秃秘窃竖筑签篮类粤紧纤绝绩绳绿缆缓缘罚聪肃肠脏脚舆艰芦苏范荐荡莱营萧蓝虚虫蚀蛮衔袜装触誉证"
_TRADITIONAL = "這個們來為會與對學體說時開發實現問題進過經數據種資機網絡應該圖處計練訓測試驗結構語視覺並從後將讓當點無變層認識類優質標準頻歷億萬傳統術記憶場區範雜讀單簡檢較動評絲項級長東車門間見觀電話書費員關產業專節樂義爭華報壓參雙號聽團園圍國聲備頭獎審導歲師帶廣庫異張強歸錄態總戰執擴護擇換顯權條極樣檔歡氣匯沒滿靈熱愛狀獨環畫療盤監確碼離積稱穩競筆緊約紀純納線組細終給繼續維綜編縮羅職聯勝腦藝藥獲慮補規覽議講論設訪證訴詞譯詳誤請調談負貢責購賽轉輪軟輕載輔輸邊達運還遠連適選遞邏釋鐘鏈銷錯鍵閉聞閱隊階際險隨隱難靜頁頂順須預領顏風飛驅魚鳥龍劑衛醫聲塊壞盡島幣幹廢棄徹惡驚慣戲戶掃揚擔擬敵斷舊曉殺夢樓殘畢漢溝濟濃滅燈獵暢蓋禮稅窮糧紅綱紙膚詩財貴贊趕趨躍踐軌輯辯遲遺郵鄰錢鐵銀陸霧韓飯館黃齊豐臨舉親僅眾優傷側偵儉債傾蘭興養獸衝決況淨創刪劇辦務勞勢勳賣廠廳縣葉啟員嗚響囑聖場堅壘夾婦孫寧寶寬壽爾慶異徵戀懸擁擠揮損攝斂曠樸楊極構標樹橋夢歐湯滬淚澤淺塗濤漲漸溫灣潰濾濫燦爐煙煩燒爺牽猶獄獻瑪瓊電瘋癢皺鹽礦礎碩確禪離禿祕竊豎築簽籃類粵緊纖絕績繩綠纜緩緣罰聰肅腸臟腳輿艱蘆蘇範薦蕩萊營蕭藍虛蟲蝕蠻銜襪裝觸譽證"
_SIMPLIFIED_ONLY = set(_SIMPLIFIED) - set(_TRADITIONAL)
_TRADITIONAL_ONLY = set(_TRADITIONAL) - set(_SIMPLIFIED)


_SIMPLIFIED_RE = re.compile("[" + "".join(sorted(_SIMPLIFIED_ONLY)) + "]")
_TRADITIONAL_RE = re.compile("[" + "".join(sorted(_TRADITIONAL_ONLY)) + "]")


def chinese_lang_tag(text: str) -> str:
    """`zh-Hant` when the text is written in traditional characters, else `zh`."""
    simplified = len(_SIMPLIFIED_RE.findall(text))
    traditional = len(_TRADITIONAL_RE.findall(text))
    return "zh-Hant" if traditional > simplified else "zh"


_SCRIPTS = {
    "ko": re.compile("[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"),
    "ja": re.compile("[\u3040-\u30ff]"),
    "han": re.compile("[\u4e00-\u9fff\u3400-\u4dbf]"),
    "ru": re.compile("[\u0400-\u04ff]"),
    "ar": re.compile("[\u0600-\u06ff]"),
    "th": re.compile("[\u0e00-\u0e7f]"),
    "en": re.compile("[A-Za-z\u00c0-\u024f]"),
}


def guess_language(text: str) -> str:
    """The BCP-47 tag of the script the text is mostly written in (Latin counts as English).

    Among CJK scripts, any Hangul makes it Korean and any kana Japanese (both mix in Han
    characters); Han alone is Chinese, simplified or traditional.
    """
    counts = {script: len(pattern.findall(text)) for script, pattern in _SCRIPTS.items()}
    counts = {script: count for script, count in counts.items() if count}
    if not counts:
        return "en"
    cjk = counts.get("ko", 0) + counts.get("ja", 0) + counts.get("han", 0)
    # one CJK character carries about a word: a Chinese question quoting English model
    # names is still Chinese
    if cjk * 3 >= counts.get("en", 0):
        if counts.get("ko"):
            return "ko"
        if counts.get("ja"):
            return "ja"
        if counts.get("han"):
            return chinese_lang_tag(text)
    return max((s for s in counts if s not in ("ko", "ja", "han")), key=counts.__getitem__, default="en")
