"""Export a local sentence-transformers model to ONNX once, offline, and cache it.

The graph is the whole embedding: transformer, mean pooling and L2 normalisation, so
ONNX Runtime returns the same unit vectors sentence-transformers does. The fp32 graph
gets ONNX Runtime's BERT fusions; the int8 one is that graph with dynamic quantisation
of its weights. Files live under the data directory, named by a fingerprint of the
model's files, so a changed model is exported again and replicas share one export.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from shared.platform.runtime.host import exclusive

__all__ = ["OnnxVariant", "exported_model"]

OnnxVariant = Literal["onnx", "onnx-int8"]

# Bump when the export recipe changes, so caches from an older recipe are not reused.
RECIPE = "pillars-onnx-1"
FILE_OF: dict[OnnxVariant, str] = {"onnx": "model.onnx", "onnx-int8": "model_int8.onnx"}
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
log = logging.getLogger(__name__)


def exported_model(folder: Path, cache_root: Path, variant: OnnxVariant) -> Path:
    """Return the ONNX file of `variant` for the model in `folder`, exporting it if needed."""
    target = cache_root / _fingerprint(folder)
    path = target / FILE_OF[variant]
    if path.exists():
        return path
    cache_root.mkdir(parents=True, exist_ok=True)
    with exclusive(cache_root / f"{target.name}.lock"):
        if not path.exists():  # another replica may have finished it meanwhile
            _export_all(folder, target)
    return path


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256(RECIPE.encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return f"{folder.name}-{digest.hexdigest()[:16]}"


def _export_all(folder: Path, target: Path) -> None:
    log.info("exporting %s to ONNX under %s (once per model)", folder, target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o755)
    try:
        raw = staging / "raw.onnx"
        with _quiet():
            _export_graph(folder, raw)
            _optimize(folder, raw, staging / FILE_OF["onnx"])
            _quantize(staging / FILE_OF["onnx"], staging / FILE_OF["onnx-int8"])
        raw.unlink()
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Exporters warn about tracing details that do not apply to a fixed inference graph."""
    handlers = list(logging.root.handlers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)
            # onnxruntime.quantization logs through `logging.warning`, which configures the
            # root logger if nothing has; leave the process's logging as it was.
            for handler in set(logging.root.handlers) - set(handlers):
                logging.root.removeHandler(handler)


def _export_graph(folder: Path, out: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    model: Any = SentenceTransformer(
        str(folder),
        device="cpu",
        local_files_only=True,
        model_kwargs={"attn_implementation": "eager"},
    )
    pooling = [m for m in model if type(m).__name__ == "Pooling"]
    if len(pooling) != 1 or pooling[0].pooling_mode != "mean":
        raise RuntimeError(
            f"{folder}: the ONNX backend exports mean-pooling models only; "
            "set PILLARS_EMBEDDING_BACKEND=torch for this model"
        )
    sample = model.tokenizer(["a short text", "a somewhat longer text here"], padding=True)
    names = [n for n in INPUTS if n in sample]

    class Embedding(torch.nn.Module):  # type: ignore[misc]  # torch is not analysed
        def __init__(self) -> None:
            super().__init__()
            self.transformer = model[0].auto_model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            feed = dict(zip(names, inputs, strict=True))
            hidden = self.transformer(**feed).last_hidden_state
            mask = feed["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    args = tuple(torch.tensor(sample[n]) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    with torch.inference_mode():
        torch.onnx.export(
            Embedding().eval(),
            args,
            str(out),
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
        )


def _optimize(folder: Path, raw: Path, out: Path) -> None:
    from onnxruntime.transformers import optimizer

    config = json.loads((folder / "config.json").read_text())
    optimized = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=1,
    )
    optimized.save_model_to_file(str(out))


def _quantize(fp32: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
