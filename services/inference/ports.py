"""What the inference handlers need from the outside world."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from shared.contracts.events import Prediction, RetrievedChunk

if TYPE_CHECKING:
    from services.inference.retrieval import RetrievalPlan
    from shared.generators import Generator, GeneratorBlock
    from shared.models.classifiers import LoadedClassifier

__all__ = ["Classifiers", "Generators", "ModelVersions", "Retriever"]


class Retriever(Protocol):
    """Finds the passages that best match a query (its text and vector) within one tenant."""

    async def nearest(
        self,
        tenant: str,
        vector: Sequence[float],
        k: int,
        *,
        ef_search: int | None = None,
        text: str = "",
        plan: RetrievalPlan = ...,
    ) -> list[RetrievedChunk]:
        """Return up to `k` of the tenant's chunks, best first by `plan`'s mode (dense when
        not given)."""
        ...


class Classifiers(Protocol):
    """Registered classifiers, admitted and loaded once."""

    async def classifier(self, name: str, version: int | None) -> LoadedClassifier:
        """Return a version of `name`, or its production version when `version` is None."""
        ...


class Generators(Protocol):
    """One generator per generator block, built once."""

    def generator(self, block: GeneratorBlock) -> Generator:
        """Return the generator `block` describes (never the extractive one)."""
        ...


class ModelVersions(Protocol):
    """What inference does when the registry announces a model version."""

    async def preload(self, name: str, version: int) -> None:
        """Admit and load `name` at `version` now (raises ModelRefused when refused)."""
        ...

    def forget_production(self, name: str | None) -> None:
        """Look `name`'s (None: every model's) production version up again at its next use."""
        ...


class AnswerLedger(Protocol):
    """The answers given, kept by their event id: a request redelivered after a crash is
    answered again with the answer it first got, not a new one computed from an index (or
    an experiment) that has changed since."""

    async def recall(self, tenant: str, event_id: uuid.UUID) -> Prediction | None:
        """Return the answer kept under `event_id`, if one was."""
        ...

    async def keep(self, prediction: Prediction) -> Prediction:
        """Keep `prediction` unless an answer with its event id was kept first (another
        replica answered the same request meanwhile); return the one kept."""
        ...
