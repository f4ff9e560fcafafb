"""Inference assembled: the retriever, the registry's classifiers and the generators behind
one solution runner, and the experiment in force, real or given by a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from opentelemetry.sdk.trace import TracerProvider

from services.inference.adapters.built_generators import BuiltGenerators
from services.inference.adapters.pg_answers import PgAnswerLedger
from services.inference.adapters.pgvector_retriever import PgRetriever
from services.inference.adapters.registry_classifiers import RegistryClassifiers
from services.inference.adapters.slowed_classifiers import SlowedClassifiers
from services.inference.adapters.traced_retriever import TracedRetriever
from services.inference.config import InferenceSettings
from services.inference.model_changes import IgnoredVersions
from services.inference.pipeline import SolutionRunner
from services.inference.ports import (
    AnswerLedger,
    Classifiers,
    Generators,
    ModelVersions,
    Retriever,
)
from services.inference.solutions import Solution, SolutionError, arms_solutions
from shared.contracts.events import utcnow
from shared.experiment_store import ExperimentStore, LiveExperiment, PgExperimentStore
from shared.kit.db import open_pool
from shared.models.admission import AdmissionPolicy
from shared.models.pg_registry import PgModelRegistry

__all__ = ["InferenceDependencies", "bootstrap"]


@dataclass(frozen=True)
class InferenceDependencies:
    """Everything inference's handlers need, built once per process."""

    settings: InferenceSettings
    solutions: Mapping[str, Solution]
    runner: SolutionRunner
    tracer: TracerProvider
    experiments: ExperimentStore
    experiment: LiveExperiment
    models: ModelVersions
    answers: AnswerLedger


@asynccontextmanager
async def bootstrap(
    settings: InferenceSettings,
    *,
    solutions: Mapping[str, Solution],
    tracer: TracerProvider,
    retriever: Retriever | None = None,
    classifiers: Classifiers | None = None,
    generators: Generators | None = None,
    experiments: ExperimentStore | None = None,
    models: ModelVersions | None = None,
    answers: AnswerLedger | None = None,
) -> AsyncIterator[InferenceDependencies]:
    """Build inference's dependencies; a test overrides any port (and then no Postgres is
    opened unless a real adapter still needs it). The experiment in force is the stored
    one (the setting seeds a fresh database), and each of its arms' solutions must be
    here; the generators they use load now, before the first request rather than during
    it."""
    async with AsyncExitStack() as stack:
        if retriever is None or classifiers is None or experiments is None or answers is None:
            pool = await stack.enter_async_context(
                open_pool(settings.dsn, service=settings.database_service("inference"))
            )
            if retriever is None:
                retriever = PgRetriever(
                    pool,
                    ef_search=settings.hnsw_ef_search,
                    iterative_scan=settings.hnsw_iterative_scan,
                )
            if classifiers is None:
                registry = PgModelRegistry(pool)
                await registry.create_schema()
                policy = AdmissionPolicy.from_settings(settings)
                classifiers = models = RegistryClassifiers(registry, policy=policy)
            if experiments is None:
                store = PgExperimentStore(pool)
                await store.create_schema()
                experiments = store
            if answers is None:
                ledger = PgAnswerLedger(pool, keep_s=settings.answers_keep_s)
                await ledger.create_schema()
                answers = ledger
        live = await _in_force(experiments, settings, solutions)
        if generators is None:
            built = BuiltGenerators()
            stack.push_async_callback(built.aclose)
            in_use = arms_solutions(live.current, dict(solutions))
            await built.warm(s.generator for s in in_use if s.generator)
            generators = built
        if settings.test_model_delays_ms:
            classifiers = SlowedClassifiers(classifiers, settings.test_model_delays_ms)
        traced = TracedRetriever(retriever, tracer, ef_search=settings.hnsw_ef_search)
        runner = SolutionRunner(traced, classifiers, generators, utcnow)
        yield InferenceDependencies(
            settings,
            solutions,
            runner,
            tracer,
            experiments,
            live,
            models or IgnoredVersions(),
            answers,
        )


async def _in_force(
    store: ExperimentStore, settings: InferenceSettings, solutions: Mapping[str, Solution]
) -> LiveExperiment:
    """Return the stored experiment in force, refusing to start when an arm names a
    solution this service does not have."""
    stored = await store.seed(settings.experiment)
    try:
        arms_solutions(stored.experiment, dict(solutions))
    except SolutionError as exc:
        raise SolutionError(
            f"the experiment in force (v{stored.version}, by {stored.actor or 'unknown'}) "
            f"cannot be served: {exc}. Add the solution to PILLARS_SOLUTIONS_DIR, or put a "
            "version this service can serve in force (`pillars experiment rollback` or "
            "`pillars experiment set FILE`)"
        ) from exc
    return LiveExperiment.of(stored)
