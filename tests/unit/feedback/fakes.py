"""An in-memory label store for the feedback tests, keyed as the Postgres one is."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.labels import LabelRow


@dataclass
class RecordedLabels:
    """Labels by (tenant, dataset, request id); a newer label replaces an older one."""

    rows: dict[tuple[str, str, str], LabelRow] = field(default_factory=dict)
    writes: int = 0

    async def record(self, row: LabelRow) -> None:
        self.writes += 1
        key = (row.tenant, row.dataset, row.request_id)
        if key not in self.rows or self.rows[key].labelled_at <= row.labelled_at:
            self.rows[key] = row
