"""A torch classifier over embeddings: a small MLP whose weights travel as safetensors.

safetensors holds tensors only, so loading runs no code from the file: the architecture
comes from pillars (this module) and its sizes from the shapes of the file's tensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.models.safetensors_header import read_header

__all__ = ["TorchMlp", "load_mlp", "save_mlp", "train_mlp"]

HIDDEN = 128


def _network(dimension: int, hidden: int, classes: int) -> Any:
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(dimension, hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(hidden, classes),
    )


class TorchMlp:
    """scikit-learn's `predict`/`predict_proba` over a trained MLP."""

    def __init__(self, network: Any) -> None:
        self.network = network.eval()

    def predict_proba(self, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Return each row's class probabilities."""
        import torch

        with torch.inference_mode():
            logits = self.network(torch.as_tensor(np.asarray(x, dtype=np.float32)))
            return np.asarray(torch.softmax(logits, dim=1).numpy(), dtype=np.float32)

    def predict(self, x: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Return each row's most likely class index."""
        return np.asarray(self.predict_proba(x).argmax(axis=1), dtype=np.int64)


def train_mlp(
    x: npt.NDArray[np.float32], y: npt.NDArray[np.int64], classes: int, *, seed: int
) -> TorchMlp:
    """Train with Adam on mini-batches; a fixed seed gives the same model."""
    import torch

    torch.manual_seed(seed)
    network = _network(x.shape[1], HIDDEN, classes)
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-3, weight_decay=1e-4)
    features, labels = torch.as_tensor(x), torch.as_tensor(y)
    generator = torch.Generator().manual_seed(seed)
    network.train()
    for _ in range(40):
        order = torch.randperm(len(features), generator=generator)
        for start in range(0, len(order), 128):
            batch = order[start : start + 128]
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(network(features[batch]), labels[batch])
            loss.backward()
            optimiser.step()
    return TorchMlp(network)


def save_mlp(model: TorchMlp, path: Path) -> None:
    """Write the weights as safetensors, with the sizes the loader needs as metadata."""
    from safetensors.torch import save_file

    first, last = model.network[0], model.network[-1]
    metadata = {
        "architecture": "pillars-mlp-v1",
        "dimension": str(first.in_features),
        "hidden": str(first.out_features),
        "classes": str(last.out_features),
    }
    save_file(model.network.state_dict(), str(path), metadata=metadata)


def load_mlp(data: bytes) -> TorchMlp:
    """Rebuild the MLP from the safetensors bytes `save_mlp` wrote (read by admission)."""
    from safetensors.torch import load

    header = read_header(data)
    shapes = {name: shape for name, (_, shape) in header.tensors.items()}
    if header.metadata.get("architecture") != "pillars-mlp-v1":
        raise ValueError(f"not a pillars MLP (metadata {header.metadata})")
    first, last = shapes.get("0.weight", ()), shapes.get("3.weight", ())
    if len(first) != 2 or len(last) != 2:
        raise ValueError(f"not a pillars MLP: tensors {shapes}")
    (hidden, dimension), classes = first, last[0]
    expected = {
        "0.weight": (hidden, dimension),
        "0.bias": (hidden,),
        "3.weight": (classes, hidden),
        "3.bias": (classes,),
    }
    if shapes != expected:
        raise ValueError(f"not a pillars MLP: tensors {shapes}")
    network = _network(dimension, hidden, classes)
    network.load_state_dict(load(data))
    return TorchMlp(network)
