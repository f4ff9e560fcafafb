"""Generators built once per generator block and closed when the service stops."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from shared.generators import Generator, GeneratorBlock, build_generator

__all__ = ["BuiltGenerators"]


class BuiltGenerators:
    """`Generators`: one generator (and so one loaded model or HTTP client) per block."""

    def __init__(self, build: Callable[[GeneratorBlock], Generator] = build_generator) -> None:
        self._build = build
        self._built: dict[GeneratorBlock, Generator] = {}

    def generator(self, block: GeneratorBlock) -> Generator:
        """Return the block's generator, building it on first use."""
        if block not in self._built:
            self._built[block] = self._build(block)
        return self._built[block]

    async def warm(self, blocks: Iterable[GeneratorBlock]) -> None:
        """Build the blocks that use a model and load local models, off the event loop, so
        the first request does not wait for them."""
        for block in blocks:
            if block.kind == "extractive":
                continue
            generator = self.generator(block)
            load = getattr(generator, "load", None)
            if load is not None:
                await load()

    async def aclose(self) -> None:
        """Close what the generators hold open (HTTP connections)."""
        for generator in self._built.values():
            close = getattr(generator, "aclose", None)
            if close is not None:
                await close()
        self._built.clear()
