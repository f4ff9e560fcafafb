"""The evaluator assembled: its score book, its leadership, its judge and its A/B rule,
real or given by a test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg

from services.evaluator.adapters.pg_leader import PgLeadership
from services.evaluator.adapters.pg_score_book import PgScoreBook
from services.evaluator.config import EvaluatorSettings
from services.evaluator.judge import GeneratorJudge
from services.evaluator.ports import Judge, Leadership, ScoreBook
from services.evaluator.sequential import SequentialTest
from shared.generators import build_generator
from shared.kit.db import open_pool

__all__ = ["EvaluatorDependencies", "bootstrap", "sequential_test"]


@dataclass(frozen=True)
class EvaluatorDependencies:
    """Everything the evaluator's handlers need, built once per process."""

    settings: EvaluatorSettings
    book: ScoreBook
    leadership: Leadership
    judge: Judge | None
    test: SequentialTest


def sequential_test(settings: EvaluatorSettings) -> SequentialTest:
    """Return the A/B decision rule the settings describe."""
    return SequentialTest(
        alpha=settings.ab_alpha,
        relative_effect=settings.ab_relative_effect,
        equivalence=settings.ab_equivalence,
        min_samples=settings.ab_min_samples,
    )


def _judge(settings: EvaluatorSettings, stack: AsyncExitStack) -> Judge | None:
    """Return the judge `settings.judge` names (none when unset); its generator closes with
    the stack (its model loads on first use, off the loop)."""
    if settings.judge is None:
        return None
    generator = build_generator(settings.judge)
    stack.push_async_callback(generator.aclose)
    return GeneratorJudge(generator)


@asynccontextmanager
async def bootstrap(
    settings: EvaluatorSettings,
    *,
    book: ScoreBook | None = None,
    leadership: Leadership | None = None,
    judge: Judge | None = None,
) -> AsyncIterator[EvaluatorDependencies]:
    """Build the evaluator's dependencies from `settings`; a test overrides any of them (and
    when it overrides the book and the leadership, no Postgres is opened)."""
    async with AsyncExitStack() as stack:
        pool: asyncpg.Pool | None = None
        if book is None or leadership is None:
            pool = await stack.enter_async_context(open_pool(settings.dsn))
        if book is None:
            store = PgScoreBook(pool)
            await store.create_schema()
            book = store
        if leadership is None:
            leader = PgLeadership(pool)
            # Released before the pool closes (the stack unwinds in reverse).
            stack.push_async_callback(leader.release)
            leadership = leader
        if judge is None:
            judge = _judge(settings, stack)
        yield EvaluatorDependencies(
            settings=settings,
            book=book,
            leadership=leadership,
            judge=judge,
            test=sequential_test(settings),
        )
