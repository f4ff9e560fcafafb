"""In-memory ports of the trainer, and a small synthetic labelled dataset."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, datetime, timedelta

from shared.contracts.events import ModelRegistered
from shared.labels import LabelRow, Snapshot, take_snapshot
from shared.models.registry import ModelRecord, Stage, with_sha256

START = datetime(2026, 12, 1, tzinfo=UTC)
WORDS = {
    "pos": ["great", "lovely", "superb", "moving", "brilliant", "charming"],
    "neg": ["awful", "boring", "dull", "clumsy", "tedious", "bland"],
}


def synthetic_rows(
    n: int = 60, *, tenant: str = "acme", dataset: str = "feedback", seed: int = 0
) -> list[LabelRow]:
    """Return `n` labels alternating `pos`/`neg`, a minute apart, each text three words of
    its class's vocabulary and one shared word; users u0-u4 take turns."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = [*rng.sample(WORDS[label], 3), "film"]
        rows.append(
            LabelRow(
                tenant=tenant,
                dataset=dataset,
                request_id=f"r{i:03d}",
                text=" ".join(words),
                label=label,
                user_id=f"u{i % 5}",
                labelled_at=START + timedelta(minutes=i),
            )
        )
    return rows


@dataclasses.dataclass
class InMemoryLabels:
    """Labels in a list; snapshots taken as the Postgres store takes them."""

    rows: list[LabelRow] = dataclasses.field(default_factory=list)

    async def snapshot(
        self,
        tenant: str,
        dataset: str,
        until: datetime | None = None,
        max_per_user: int | None = None,
    ) -> Snapshot:
        mine = [r for r in self.rows if (r.tenant, r.dataset) == (tenant, dataset)]
        return take_snapshot(tenant, dataset, mine, until=until, max_per_user=max_per_user)


@dataclasses.dataclass
class InMemoryRegistry:
    """A ModelRegistry in a dict: versions numbered per name, one production version."""

    records: dict[tuple[str, int], ModelRecord] = dataclasses.field(default_factory=dict)

    async def register(self, record: ModelRecord) -> ModelRecord:
        version = 1 + max((v for n, v in self.records if n == record.name), default=0)
        stored = dataclasses.replace(
            with_sha256(record), version=version, stage="candidate", created_at=START
        )
        self.records[(record.name, version)] = stored
        return stored

    async def get(self, name: str, version: int | None = None) -> ModelRecord:
        for (n, v), record in self.records.items():
            if n == name and (v == version or (version is None and record.stage == "production")):
                return record
        raise LookupError(f"model {name!r} has no {version or 'production'} version")

    async def promote(self, name: str, version: int, stage: Stage) -> None:
        for key, record in self.records.items():
            if stage == "production" and key[0] == name and record.stage == "production":
                self.records[key] = dataclasses.replace(record, stage="archived")
        self.records[(name, version)] = dataclasses.replace(
            self.records[(name, version)], stage=stage
        )


@dataclasses.dataclass
class InMemoryRuns:
    """What each training request came to."""

    answers: dict[uuid.UUID, ModelRegistered] = dataclasses.field(default_factory=dict)

    async def find(self, request: uuid.UUID) -> ModelRegistered | None:
        return self.answers.get(request)

    async def record(self, registered: ModelRegistered) -> None:
        assert registered.requested_by is not None
        self.answers.setdefault(registered.requested_by, registered)
