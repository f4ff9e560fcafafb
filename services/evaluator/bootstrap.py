"""The evaluator assembled: its score book, its leadership, its judge, its A/B rule and its
loop's ports, real or given by a test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from services.evaluator.adapters.loop_registry import RegistryStages, StoredExperiments
from services.evaluator.adapters.pg_leader import PgLeadership
from services.evaluator.adapters.pg_loop_journal import PgLoopJournal
from services.evaluator.adapters.pg_score_book import PgScoreBook
from services.evaluator.config import EvaluatorSettings
from services.evaluator.judge import GeneratorJudge
from services.evaluator.loop.ports import (
    ExperimentControl,
    LabelCounter,
    LoopJournal,
    LoopPorts,
    ModelStages,
)
from services.evaluator.loop.rounds import LoopRunner
from services.evaluator.ports import Judge, Leadership, ScoreBook
from services.evaluator.sequential import SequentialTest
from shared.experiment_store import PgExperimentStore
from shared.generators import build_generator
from shared.kit.db import PostgresAdapters
from shared.labels import PgLabelStore

__all__ = ["EvaluatorDependencies", "bootstrap", "sequential_test"]


@dataclass(frozen=True)
class EvaluatorDependencies:
    """Everything the evaluator's handlers need, built once per process."""

    settings: EvaluatorSettings
    book: ScoreBook
    leadership: Leadership
    judge: Judge | None
    test: SequentialTest
    loop: LoopRunner


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


async def _loop_ports(
    settings: EvaluatorSettings,
    postgres: PostgresAdapters,
    *,
    journal: LoopJournal | None,
    experiments: ExperimentControl | None,
    stages: ModelStages | None,
    labels: LabelCounter | None,
) -> LoopPorts:
    """Return the loop's ports: the ones given, and real ones on Postgres for the rest."""
    if journal is None:
        store = await postgres.built(None, PgLoopJournal)
        await store.manage(settings.loop_models)
        journal = store
    if experiments is None:
        experiments = StoredExperiments(await postgres.built(None, PgExperimentStore))
    return LoopPorts(
        journal=journal,
        experiments=experiments,
        stages=await postgres.built(stages, RegistryStages),
        labels=await postgres.built(labels, PgLabelStore),
    )


@asynccontextmanager
async def bootstrap(
    settings: EvaluatorSettings,
    *,
    book: ScoreBook | None = None,
    leadership: Leadership | None = None,
    judge: Judge | None = None,
    journal: LoopJournal | None = None,
    experiments: ExperimentControl | None = None,
    stages: ModelStages | None = None,
    labels: LabelCounter | None = None,
) -> AsyncIterator[EvaluatorDependencies]:
    """Build the evaluator's dependencies from `settings`; a test overrides any of them (and
    when it overrides every Postgres adapter, no Postgres is opened)."""
    async with AsyncExitStack() as stack:
        postgres = PostgresAdapters(
            stack, lambda: settings.dsn, service=settings.database_service("evaluator")
        )
        book = await postgres.built(book, PgScoreBook)
        if leadership is None:
            leader = PgLeadership(await postgres.pool())
            # Released before the pool closes (the stack unwinds in reverse).
            stack.push_async_callback(leader.release)
            leadership = leader
        if judge is None:
            judge = _judge(settings, stack)
        ports = await _loop_ports(
            settings,
            postgres,
            journal=journal,
            experiments=experiments,
            stages=stages,
            labels=labels,
        )
        test = sequential_test(settings)
        yield EvaluatorDependencies(
            settings=settings,
            book=book,
            leadership=leadership,
            judge=judge,
            test=test,
            loop=LoopRunner.of(settings, ports=ports, book=book, test=test),
        )
