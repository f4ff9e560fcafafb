"""Build the generator a solution's `generator` block asks for."""

from __future__ import annotations

from shared.generators.base import Generator
from shared.generators.block import GeneratorBlock
from shared.generators.local import LocalGenerator
from shared.generators.openai_compatible import OpenAICompatibleGenerator

__all__ = ["build_generator"]


def build_generator(block: GeneratorBlock) -> Generator:
    """Return the local or OpenAI-compatible generator; an extractive block needs none."""
    if block.kind == "local":
        return LocalGenerator(block)
    if block.kind == "openai":
        return OpenAICompatibleGenerator(block)
    raise ValueError(
        f"a {block.kind!r} generator has no model: the pipeline answers from the passages itself"
    )
