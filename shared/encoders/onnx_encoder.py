"""The exported embedding graph on ONNX Runtime: no torch at run time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from shared.encoders.model_folder import max_sequence_length
from shared.encoders.onnx_export import OnnxVariant, exported_model
from shared.encoders.threaded_encoder import ThreadedEncoder, model_ref

__all__ = ["OnnxEncoder"]


class OnnxEncoder(ThreadedEncoder):
    """Encodes with ONNX Runtime on CPU, in length-sorted batches like sentence-transformers."""

    def __init__(
        self,
        model_path: Path,
        *,
        variant: OnnxVariant,
        cache_root: Path,
        batch_size: int,
        threads: int,
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: on a small machine the spinning took
        # the CPU the broker, Postgres and the other services needed between requests.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(exported_model(model_path, cache_root, variant)),
            options,
            providers=["CPUExecutionProvider"],
        )
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._tokenizer = _padding_tokenizer(model_path)
        self._batch_size = batch_size
        dimension = self._session.get_outputs()[0].shape[-1]
        if not isinstance(dimension, int):
            dimension = len(self._run(["probe"])[0])
        super().__init__(model_ref(model_path, variant), dimension)

    def encode_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Encode in the calling thread, longest texts first so batches pad little."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            for index, row in zip(batch, self._run([texts[i] for i in batch]), strict=True):
                vectors[index] = row.tolist()
        return vectors

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self._inputs}
        result: np.ndarray = self._session.run(["sentence_embedding"], feed)[0]
        return result


def _padding_tokenizer(folder: Path) -> Tokenizer:
    """The model's tokenizer, truncating at its window and padding batches to their longest."""
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    pad_token = str(config.get("pad_token", "[PAD]"))
    pad_id = tokenizer.token_to_id(pad_token)
    if pad_id is None:
        raise RuntimeError(f"{folder}: pad token {pad_token!r} is not in tokenizer.json")
    tokenizer.enable_truncation(max_length=max_sequence_length(folder))
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
    return tokenizer
