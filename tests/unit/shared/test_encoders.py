"""The embedding backends: ONNX (fp32 and int8) against sentence-transformers on torch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from shared.encoders import EncoderSettings as EmbeddingSettings
from shared.encoders import onnx_export
from shared.encoders.loading import load_encoder
from shared.encoders.model_folder import packaged_model_path
from shared.encoders.onnx_encoder import OnnxEncoder
from shared.encoders.onnx_export import exported_model
from shared.encoders.sentence_encoder import SentenceEncoder

QUESTIONS = [
    "How do I copy a file?",
    "How can I sort a list of dictionaries by a key?",
    "What is the global interpreter lock?",
]
PASSAGES = [
    "shutil.copy(src, dst) copies the file src to the file or directory dst.",
    "Use sorted() with key=operator.itemgetter('name') to order a list of dicts.",
    "The GIL lets only one thread execute Python bytecode at a time in CPython.",
    "A very long passage " * 200,  # longer than the model's window: truncated, not an error
    "",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache") / "onnx"


@pytest.fixture(scope="module")
def vectors(onnx_cache: Path) -> dict[str, np.ndarray]:
    texts = QUESTIONS + PASSAGES
    torch = SentenceEncoder(packaged_model_path(), batch_size=4, threads=2)
    found = {"torch": np.asarray(torch.encode_sync(texts))}
    for variant in ("onnx", "onnx-int8"):
        encoder = OnnxEncoder(
            packaged_model_path(),
            variant=variant,  # type: ignore[arg-type]
            cache_root=onnx_cache,
            batch_size=4,
            threads=2,
        )
        assert encoder.dimension == 384
        assert encoder.model.version.endswith(f"+{variant}")
        found[variant] = np.asarray(encoder.encode_sync(texts))
    return found


def test_onnx_fp32_gives_the_vectors_of_sentence_transformers(
    vectors: dict[str, np.ndarray],
) -> None:
    cosine = (vectors["onnx"] * vectors["torch"]).sum(axis=1)

    assert cosine.min() > 0.9999
    assert np.allclose(np.linalg.norm(vectors["onnx"], axis=1), 1.0, atol=1e-5)


def test_onnx_int8_stays_close_and_ranks_the_same(vectors: dict[str, np.ndarray]) -> None:
    cosine = (vectors["onnx-int8"] * vectors["torch"]).sum(axis=1)
    n = len(QUESTIONS)

    def best_passages(v: np.ndarray) -> list[int]:
        return list((v[:n] @ v[n:].T).argmax(axis=1))

    assert cosine.min() > 0.95
    assert cosine.mean() > 0.98
    assert best_passages(vectors["onnx-int8"]) == best_passages(vectors["torch"]) == [0, 1, 2]


async def test_encode_runs_off_the_event_loop_and_keeps_order(onnx_cache: Path) -> None:
    encoder = OnnxEncoder(
        packaged_model_path(), variant="onnx", cache_root=onnx_cache, batch_size=2, threads=1
    )
    texts = ["short", "a much longer text than the others in this batch", "mid length text"]

    together = await encoder.encode(texts)  # sorted by length and padded inside
    alone = [(await encoder.encode([t]))[0] for t in texts]

    assert np.allclose(together, alone, atol=1e-5)
    assert await encoder.encode([]) == []


def test_an_export_is_reused_until_the_model_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exports: list[Path] = []

    def fake_export(folder: Path, target: Path) -> None:
        exports.append(folder)
        target.mkdir(parents=True)
        for name in onnx_export.FILE_OF.values():
            (target / name).write_bytes(b"onnx")

    monkeypatch.setattr(onnx_export, "_export_all", fake_export)
    model = tmp_path / "model"
    shutil.copytree(packaged_model_path(), model)

    first = exported_model(model, tmp_path / "cache", "onnx-int8")
    again = exported_model(model, tmp_path / "cache", "onnx")
    pooling = model / "1_Pooling" / "config.json"
    pooling.write_text(pooling.read_text() + "\n")
    changed = exported_model(model, tmp_path / "cache", "onnx-int8")

    assert len(exports) == 2
    assert again.parent == first.parent != changed.parent
    assert first.name == "model_int8.onnx"
    assert again.name == "model.onnx"


def test_a_model_that_is_not_mean_pooled_is_refused_with_the_setting_to_change(
    tmp_path: Path,
) -> None:
    model = tmp_path / "cls-model"
    shutil.copytree(packaged_model_path(), model)
    pooling = model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(
        json.dumps({**config, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    )

    with pytest.raises(RuntimeError, match="PILLARS_EMBEDDING_BACKEND=torch"):
        exported_model(model, tmp_path / "cache", "onnx")
    assert not list((tmp_path / "cache").glob("cls-model-*/*.onnx"))


def test_the_setting_picks_the_backend(monkeypatch: pytest.MonkeyPatch, onnx_cache: Path) -> None:
    monkeypatch.setattr("shared.encoders.loading.cache_dir", lambda: onnx_cache.parent)
    settings = EmbeddingSettings(embedding_backend="onnx-int8", embedding_batch_size=8)

    encoder = load_encoder(settings)

    assert isinstance(encoder, OnnxEncoder)
    assert encoder.model.name == "all-MiniLM-L6-v2"
    assert encoder.model.version.endswith("+onnx-int8")
