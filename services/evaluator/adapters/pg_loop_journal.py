"""The loop's journal in Postgres: a row per step per model, the registrations a round has
yet to deal with, and the models the loop manages."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.evaluator.config import LoopModel
from shared.contracts.events import LoopDecision, ModelRegistered
from shared.kit.db import apply_schema
from shared.kit.db_tenancy import grants_ddl

__all__ = ["DDL", "PgLoopJournal"]

DDL = """
CREATE TABLE IF NOT EXISTS evaluator_loop_steps (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    at timestamptz NOT NULL,
    model text NOT NULL,
    step text NOT NULL,
    candidate_version integer,
    production_version integer,
    reason text NOT NULL,
    body jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluator_loop_steps_model ON evaluator_loop_steps (model, id);
CREATE TABLE IF NOT EXISTS evaluator_loop_registrations (
    event_id uuid PRIMARY KEY,
    model text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    dealt_with_at timestamptz,
    body jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluator_loop_registrations_waiting
    ON evaluator_loop_registrations (model, received_at) WHERE dealt_with_at IS NULL;
CREATE TABLE IF NOT EXISTS evaluator_loop_models (
    name text PRIMARY KEY,
    body jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
""" + "\n".join(
    [
        grants_ddl(
            "SELECT, INSERT, UPDATE",
            ["evaluator_loop_steps", "evaluator_loop_registrations", "evaluator_loop_models"],
            ["evaluator"],
        ),
        grants_ddl("USAGE", ["SEQUENCE evaluator_loop_steps_id_seq"], ["evaluator"]),
    ]
)


class PgLoopJournal:
    """LoopJournal on Postgres."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        """Create the loop's tables if they do not exist."""
        await apply_schema(self._pool, "evaluator-loop", DDL)

    async def record(self, decision: LoopDecision) -> None:
        """Keep a decision once per event id."""
        await self._pool.execute(
            "INSERT INTO evaluator_loop_steps (event_id, at, model, step, candidate_version, "
            "production_version, reason, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) "
            "ON CONFLICT (event_id) DO NOTHING",
            decision.event_id,
            decision.occurred_at,
            decision.model,
            decision.step,
            decision.candidate_version,
            decision.production_version,
            decision.reason,
            decision.model_dump_json(),
        )

    async def decisions(
        self, model: str | None = None, since: datetime | None = None
    ) -> list[LoopDecision]:
        """Return the decisions (of `model`, since `since`), oldest first."""
        rows = await self._pool.fetch(
            "SELECT body::text AS body FROM evaluator_loop_steps "
            "WHERE ($1::text IS NULL OR model = $1) AND ($2::timestamptz IS NULL OR at >= $2) "
            "ORDER BY id",
            model,
            since,
        )
        return [LoopDecision.model_validate_json(row["body"]) for row in rows]

    async def keep_registration(self, registration: ModelRegistered) -> bool:
        """Keep a registration once per event id."""
        inserted = await self._pool.fetchval(
            "INSERT INTO evaluator_loop_registrations (event_id, model, body) "
            "VALUES ($1, $2, $3::jsonb) ON CONFLICT DO NOTHING RETURNING true",
            registration.event_id,
            registration.model,
            registration.model_dump_json(),
        )
        return bool(inserted)

    async def registrations(self, model: str) -> list[ModelRegistered]:
        """Return the registrations of `model` no round has dealt with, oldest first."""
        rows = await self._pool.fetch(
            "SELECT body::text AS body FROM evaluator_loop_registrations "
            "WHERE model = $1 AND dealt_with_at IS NULL ORDER BY received_at, event_id",
            model,
        )
        return [ModelRegistered.model_validate_json(row["body"]) for row in rows]

    async def dealt_with(self, event_ids: Sequence[uuid.UUID]) -> None:
        """Mark registrations as dealt with."""
        if event_ids:
            await self._pool.execute(
                "UPDATE evaluator_loop_registrations SET dealt_with_at = now() "
                "WHERE event_id = ANY($1::uuid[])",
                list(event_ids),
            )

    async def manage(self, models: Sequence[LoopModel]) -> None:
        """Remember the managed models' configuration (for the CLI)."""
        await self._pool.executemany(
            "INSERT INTO evaluator_loop_models (name, body) VALUES ($1, $2::jsonb) "
            "ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = now()",
            [(model.name, model.model_dump_json()) for model in models],
        )

    async def managed(self) -> list[LoopModel]:
        """Return the models the loop was told to manage, by name."""
        rows = await self._pool.fetch(
            "SELECT body::text AS body FROM evaluator_loop_models ORDER BY name"
        )
        return [LoopModel.model_validate(json.loads(row["body"])) for row in rows]
