"""Ingest throughput and keyword-search latency at 100,000 papers, each beside its baseline.

    python benchmarks/ingest_search.py [--papers 100000] [--repeat 20]

1. Generates a synthetic corpus (seeded, so every run is the same): digests in the
   "topic-table-abstracts" format (English title and abstract, Chinese translation) and the
   "hf-daily-papers" format (Korean highlights), 1,000 papers per digest.
2. Ingest: the real pipeline (parse, merge, write, keyword index) into a fresh database, beside a
   bare `sqlite3` `executemany` of the same paper and summary rows in one transaction (the
   practical limit for getting those rows into SQLite). Target: ingest >= 25% of the bare rate.
3. Search: p50/p95 of keyword search (exact lookups + BM25 over the bigram index) over a fixed
   query set in English, Chinese and Korean, through one long-lived Retriever as the bot uses
   it and through a fresh one per query (every match count taken afresh), beside a naive
   `LIKE '%q%'` scan over the same text. Target: p95 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.services.ingest import ingest_many  # noqa: E402
from bot.store.keyword_index import index_text  # noqa: E402
from bot.retrieval.search import Retriever, search  # noqa: E402
from bot.store import Database  # noqa: E402

PAPERS_PER_DIGEST = 1000
KOREAN_SHARE = 10  # every 10th digest is a Korean HF daily list

ENGLISH_TERMS = (
    "model learning neural network transformer attention diffusion language vision multimodal "
    "segmentation detection benchmark dataset training inference reasoning agent robot policy "
    "graph retrieval generation video image audio speech medical protein molecule physics "
    "optimization gradient convergence sparse quantization distillation pruning alignment "
    "reinforcement reward preference safety robustness adversarial privacy federated efficient "
    "scalable latent embedding contrastive self-supervised pretraining finetuning instruction "
    "hallucination evaluation token context memory long-context planning navigation 3d nerf "
    "gaussian splatting point cloud depth pose tracking clustering kernel bayesian causal"
).split()
CHINESE_CHARS = (
    "模型学习神经网络注意力扩散语言视觉多模态分割检测基准数据集训练推理智能体机器人策略图检索生成视频"
    "图像音频语音医学蛋白质分子物理优化梯度收敛稀疏量化蒸馏剪枝对齐强化奖励偏好安全鲁棒对抗隐私联邦高效"
    "可扩展潜在嵌入对比自监督预训练微调指令幻觉评估上下文记忆规划导航点云深度姿态跟踪聚类核贝叶斯因果"
    "我们提出了一种新的方法该在上实验结果表明其显著优于现有的并且能够进行"
)
KOREAN_WORDS = (
    "모델 학습 신경망 트랜스포머 주의 확산 언어 시각 멀티모달 분할 검출 벤치마크 데이터셋 훈련 추론 "
    "에이전트 로봇 정책 그래프 검색 생성 비디오 이미지 오디오 음성 의료 단백질 최적화 경사 수렴 양자화 "
    "증류 정렬 강화 보상 선호 안전 견고성 프라이버시 효율적 임베딩 대조 사전학습 미세조정 지시 환각 평가 "
    "우리는 새로운 방법을 제안합니다 실험 결과 기존 방법보다 성능이 향상되었습니다"
).split()

QUERIES = [
    "diffusion model",
    "medical image segmentation",
    "reinforcement learning reward",
    "efficient long-context memory",
    "gaussian splatting pose",
    "quantization distillation pruning",
    "模型",
    "检索",
    "医学图像分割",
    "我们提出了一种新的蒸馏方法",
    "모델",
    "검색",
    "의료 이미지 분할",
    "강화 학습 보상 모델",
    "self-supervised \"point cloud\"",
    'weird "syntax* (chars): ^-',
]


FUNCTION_WORDS = "the of and to a in we for is on that with by this are as an from our which be".split()
SYLLABLES = "ka ri to mo na shi lu ve pa xe zo qui fen dar bel cor tis gam hol rex".split()


def _pseudo_words(rng: random.Random, count: int) -> list[str]:
    """A long tail of made-up technical words: real abstracts are not 150 words deep."""
    words = set()
    while len(words) < count:
        words.add("".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))))
    return sorted(words)


def _zipf_weights(count: int) -> list[float]:
    return [1.0 / (rank ** 1.1) for rank in range(1, count + 1)]


def _sentence(rng: random.Random, words: list[str], length: int) -> str:
    return " ".join(rng.choices(words, k=length))


def _english(rng: random.Random, length: int, tail: list[str], tail_weights: list[float]) -> str:
    """English-like text: function words, common ML terms, and a Zipf-distributed long tail."""
    out = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.35:
            out.append(rng.choice(FUNCTION_WORDS))
        elif roll < 0.6:
            out.append(rng.choice(ENGLISH_TERMS))
        else:
            out.append(rng.choices(tail, cum_weights=tail_weights)[0])
    return " ".join(out)


def _chinese(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(CHINESE_CHARS, k=length)) + "。"


def synthetic_paper(rng: random.Random, number: int, tail: list[str], tail_weights: list[float]) -> dict:
    arxiv_id = f"{2400 + number // 90000:04d}.{number % 90000 + 10000:05d}"
    title = _english(rng, rng.randint(5, 12), tail, tail_weights).capitalize() + f" {number}"
    abstract = ". ".join(_english(rng, rng.randint(12, 25), tail, tail_weights) for _ in range(6)) + "."
    authors = [f"Author{rng.randint(1, 50000)} Name{rng.randint(1, 5000)}" for _ in range(rng.randint(2, 8))]
    return {
        "arxiv_id": arxiv_id,
        "title": title,
        "abstract": abstract,
        "authors": authors,
        "published": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "zh": _chinese(rng, rng.randint(120, 260)),
        "ko": _sentence(rng, KOREAN_WORDS, rng.randint(30, 60)) + ".",
    }


def _wrap(text: str, width: int = 80) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])


def topic_abstracts_digest(papers: list[dict]) -> str:
    rows = [
        f"|**{p['published']}**|**{p['title']}**|{p['authors'][0]} et.al.|"
        f"[{p['arxiv_id']}v1](http://arxiv.org/abs/{p['arxiv_id']}v1)|null|"
        for p in papers
    ]
    entries = [
        f"##### **{p['title']}**\n{p['arxiv_id']}v1 by {', '.join(p['authors'])}\n\n"
        f"{_wrap(p['abstract'])}\n\n摘要：{p['zh']}\n"
        for p in papers
    ]
    return (
        "\n### LLM\n|Publish Date|Title|Authors|Homepage|Code|\n"
        "| :---: | :---: | :---: | :---: | :---: |\n"
        + "\n".join(rows)
        + "\n\n#### Abstracts\n"
        + "\n".join(entries)
    )


def hf_daily_digest(papers: list[dict], date: str) -> str:
    entries = [
        f"### [{p['title']}](https://arxiv.org/abs/{p['arxiv_id']})\n\n"
        f"![](https://example.invalid/{p['arxiv_id']}.png)\n\nVote: {len(p['authors'])}\n\n"
        f"Authors: {', '.join(p['authors'])}\n\n"
        f"- **What's New**: {p['ko']}\n- **Technical Details**: {p['ko']}\n"
        f"- **Performance Highlights**: {p['ko']}\n"
        for p in papers
    ]
    return f"## Daily Papers ({date})\n\n" + "\n".join(entries)


def build_corpus(total: int) -> tuple[list[bytes], list[dict]]:
    rng = random.Random(20241124)
    tail = _pseudo_words(rng, 20_000)
    weights = list(itertools.accumulate(_zipf_weights(len(tail))))
    papers = [synthetic_paper(rng, n, tail, weights) for n in range(total)]
    digests = []
    for start in range(0, total, PAPERS_PER_DIGEST):
        chunk = papers[start : start + PAPERS_PER_DIGEST]
        index = start // PAPERS_PER_DIGEST
        if index % KOREAN_SHARE == KOREAN_SHARE - 1:
            text = hf_daily_digest(chunk, f"2024-08-{index % 28 + 1:02d}")
        else:
            text = topic_abstracts_digest(chunk)
        digests.append(text.encode("utf-8"))
    return digests, papers


async def measure_ingest(digests: list[bytes], db_path: Path) -> tuple[float, int]:
    async with await Database.open(db_path) as db:
        started = time.perf_counter()
        reports = await ingest_many(
            db, ((f"synthetic_{n:04d}.md", None, lambda d=data: d) for n, data in enumerate(digests))
        )
        elapsed = time.perf_counter() - started
        failed = [r for r in reports if r.error]
        if failed:
            raise SystemExit(f"synthetic digest {failed[0].name} failed: {failed[0].error}")
        count = await db.fetchval("SELECT count(*) FROM papers")
    return elapsed, count


def measure_bare_insert(papers: list[dict], db_path: Path, *, with_index: bool) -> float:
    """The same paper and summary rows, straight into tables of the same shape; with
    `with_index`, also the keyword-index rows ingestion writes (their text prepared untimed)."""
    paper_rows, summary_rows, index_rows = [], [], []
    for number, p in enumerate(papers):
        korean = (number // PAPERS_PER_DIGEST) % KOREAN_SHARE == KOREAN_SHARE - 1
        abstract = None if korean else p["abstract"]
        summary = p["ko"] if korean else p["zh"]
        paper_rows.append((number + 1, p["arxiv_id"], p["title"], json.dumps(p["authors"]), abstract, p["published"]))
        summary_rows.append((number + 1, "ko" if korean else "zh", summary))
        if with_index:
            index_rows.append((
                number + 1, index_text(p["title"]), " ".join(p["authors"]), index_text(abstract), index_text(summary),
            ))
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE papers (id INTEGER PRIMARY KEY, arxiv_id TEXT UNIQUE, title TEXT, "
        "authors TEXT, abstract TEXT, published TEXT)"
    )
    conn.execute("CREATE TABLE summaries (id INTEGER PRIMARY KEY, paper_id INTEGER, lang TEXT, text TEXT)")
    conn.execute(
        "CREATE VIRTUAL TABLE papers_fts USING fts5(title, authors, abstract, summaries, "
        "tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO papers VALUES (?, ?, ?, ?, ?, ?)", paper_rows)
    conn.executemany("INSERT INTO summaries (paper_id, lang, text) VALUES (?, ?, ?)", summary_rows)
    conn.executemany("INSERT INTO papers_fts (rowid, title, authors, abstract, summaries) VALUES (?, ?, ?, ?, ?)", index_rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def measure_search(db_path: Path, repeat: int) -> tuple[list[float], list[float]]:
    """Timings (first sight, repeated). `search()` builds a new Retriever per query, so every
    word is counted afresh; the bot keeps one Retriever, which remembers those counts until
    papers are added."""
    first_sight, repeated = [], []
    async with await Database.open(db_path) as db:
        for query in QUERIES:  # warm the page cache once
            await search(db, query, limit=10)
        for _ in range(repeat):
            for query in QUERIES:
                started = time.perf_counter()
                await search(db, query, limit=10)
                first_sight.append((time.perf_counter() - started) * 1000)
        retriever = Retriever(db)
        for _ in range(repeat):
            for query in QUERIES:
                started = time.perf_counter()
                await retriever.search(query, limit=10, mode="lexical")
                repeated.append((time.perf_counter() - started) * 1000)
    return first_sight, repeated


def measure_like(db_path: Path, repeat: int) -> list[float]:
    conn = sqlite3.connect(db_path)
    timings = []
    for _ in range(max(1, repeat // 10)):
        for query in QUERIES:
            pattern = f"%{query}%"
            started = time.perf_counter()
            conn.execute(
                "SELECT id FROM papers WHERE title LIKE ?1 OR abstract LIKE ?1 OR id IN "
                "(SELECT paper_id FROM summaries WHERE text LIKE ?1) LIMIT 10",
                (pattern,),
            ).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    conn.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    print(f"generating {args.papers:,} synthetic papers ...", flush=True)
    digests, papers = build_corpus(args.papers)
    megabytes = sum(map(len, digests)) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        ingest_s, stored = asyncio.run(measure_ingest(digests, tmp_path / "paperbot.db"))
        bare_s = measure_bare_insert(papers, tmp_path / "bare.db", with_index=False)
        bare_index_s = measure_bare_insert(papers, tmp_path / "bare_index.db", with_index=True)
        first_ms, search_ms = asyncio.run(measure_search(tmp_path / "paperbot.db", args.repeat))
        like_ms = measure_like(tmp_path / "paperbot.db", args.repeat)

    ingest_rate, bare_rate, bare_index_rate = stored / ingest_s, len(papers) / bare_s, len(papers) / bare_index_s
    print(f"\ncorpus: {len(digests)} digests, {megabytes:.0f} MB, {stored:,} papers stored")
    print(f"ingest (parse + merge + write + index): {ingest_rate:,.0f} papers/s ({ingest_s:.1f} s)")
    print(f"bare executemany, paper + summary rows: {bare_rate:,.0f} papers/s ({bare_s:.2f} s)")
    print(f"bare executemany, same rows + keyword index rows: {bare_index_rate:,.0f} papers/s ({bare_index_s:.2f} s)")
    print(f"ingest / bare rows = {ingest_rate / bare_rate:.1%}; ingest / bare rows with index = "
          f"{ingest_rate / bare_index_rate:.1%}  (target >= 25%)")
    print(
        f"search over {len(QUERIES)} queries x {args.repeat}, words seen before: p50 {percentile(search_ms, 0.5):.1f} ms, "
        f"p95 {percentile(search_ms, 0.95):.1f} ms  (target p95 < 20 ms)"
    )
    print(
        f"search, every word counted afresh:      p50 {percentile(first_ms, 0.5):.1f} ms, "
        f"p95 {percentile(first_ms, 0.95):.1f} ms"
    )
    print(
        f"naive LIKE scan:                        p50 {percentile(like_ms, 0.5):.1f} ms, "
        f"p95 {percentile(like_ms, 0.95):.1f} ms"
    )
    print(f"search p95 speed-up over LIKE: {percentile(like_ms, 0.95) / percentile(search_ms, 0.95):.0f}x")


if __name__ == "__main__":
    main()
