"""What every generator returns and raises, and how its calls are priced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.contracts.events import ModelRef
from shared.generators.block import GeneratorBlock

__all__ = ["Generation", "Generator", "GeneratorError", "GeneratorUnavailable", "cost_usd"]


@dataclass(frozen=True)
class Generation:
    """One completed generation: the text, the model that wrote it, its tokens and cost."""

    text: str
    model: ModelRef
    input_tokens: int
    output_tokens: int
    cost_usd: float
    started_at: datetime
    finished_at: datetime


class Generator(Protocol):
    """Turns a finished prompt into text."""

    model: ModelRef

    async def generate(self, prompt: str) -> Generation:
        """Complete `prompt`; raise `GeneratorError` when the model cannot answer."""
        ...

    async def aclose(self) -> None:
        """Release what the generator holds (HTTP connections); call once, at shutdown."""
        ...


class GeneratorError(Exception):
    """A generator could not answer; the message names the endpoint or model and the cause."""


class GeneratorUnavailable(GeneratorError):  # noqa: N818 - a state, as in HTTP 503
    """The generator's circuit is open: it failed repeatedly and is not being called for now."""


def cost_usd(block: GeneratorBlock, input_tokens: int, output_tokens: int) -> float:
    """Return the price of one call in US dollars from the block's per-million-token prices."""
    return (
        input_tokens * block.input_usd_per_million + output_tokens * block.output_usd_per_million
    ) / 1_000_000
