"""Generators: the models that write answers, local or behind an OpenAI-compatible endpoint."""

from shared.generators.base import (
    Generation,
    Generator,
    GeneratorError,
    GeneratorUnavailable,
    cost_usd,
)
from shared.generators.block import GeneratorBlock
from shared.generators.breaker import BreakerState, CircuitBreaker
from shared.generators.factory import build_generator
from shared.generators.local import LocalGenerator, bundled_model_path
from shared.generators.openai_compatible import OpenAICompatibleGenerator

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "Generation",
    "Generator",
    "GeneratorBlock",
    "GeneratorError",
    "GeneratorUnavailable",
    "LocalGenerator",
    "OpenAICompatibleGenerator",
    "build_generator",
    "bundled_model_path",
    "cost_usd",
]
