"""Inference assembled: the retriever, the registry's classifiers and the generators behind
one solution runner, real or given by a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from opentelemetry.sdk.trace import TracerProvider

from services.inference.adapters.built_generators import BuiltGenerators
from services.inference.adapters.pgvector_retriever import PgRetriever
from services.inference.adapters.registry_classifiers import RegistryClassifiers
from services.inference.adapters.traced_retriever import TracedRetriever
from services.inference.config import InferenceSettings
from services.inference.pipeline import SolutionRunner
from services.inference.ports import Classifiers, Generators, Retriever
from services.inference.solutions import Solution
from shared.contracts.events import utcnow
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


@asynccontextmanager
async def bootstrap(
    settings: InferenceSettings,
    *,
    solutions: Mapping[str, Solution],
    in_use: Iterable[Solution],
    tracer: TracerProvider,
    retriever: Retriever | None = None,
    classifiers: Classifiers | None = None,
    generators: Generators | None = None,
) -> AsyncIterator[InferenceDependencies]:
    """Build inference's dependencies; a test overrides any port (and then no Postgres is
    opened unless a real retriever or registry still needs it). The generators the arms'
    solutions use load here, before the first request rather than during it."""
    async with AsyncExitStack() as stack:
        if retriever is None or classifiers is None:
            pool = await stack.enter_async_context(open_pool(settings.dsn))
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
                classifiers = RegistryClassifiers(registry, policy=policy)
        if generators is None:
            built = BuiltGenerators()
            stack.push_async_callback(built.aclose)
            await built.warm(s.generator for s in in_use if s.generator)
            generators = built
        traced = TracedRetriever(retriever, tracer, ef_search=settings.hnsw_ef_search)
        runner = SolutionRunner(traced, classifiers, generators, utcnow)
        yield InferenceDependencies(settings, solutions, runner, tracer)
