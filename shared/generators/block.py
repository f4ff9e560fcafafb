"""What a generator block says: which model writes the answer, how it is called and priced.

Solutions use it for their generator and the evaluator for its judge.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["GeneratorBlock"]


class GeneratorBlock(BaseModel):
    """Extractive (no model), the local model, or an OpenAI-compatible endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["extractive", "local", "openai"] = "extractive"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, description="Variable holding the API key.")
    max_tokens: int = Field(default=128, ge=1, le=8192)
    timeout_s: float = Field(default=20.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    temperature: float = Field(default=0.0, ge=0, le=2)
    threads: int = Field(
        default=1,
        ge=1,
        description="CPU threads of a local model. On 2 cores, 2 threads collapsed to ~1 "
        "token/s when other work had the CPUs (llama.cpp's OpenMP threads spin); 1 kept ~35.",
    )
    stop: tuple[str, ...] = Field(default=(), description="Sequences that end the answer.")
    input_usd_per_million: float = Field(default=0.0, ge=0)
    output_usd_per_million: float = Field(default=0.0, ge=0)
    breaker_failures: int = Field(
        default=5, ge=1, description="Consecutive failed calls that open the circuit."
    )
    breaker_reset_s: float = Field(
        default=30.0, gt=0, description="How long an open circuit refuses calls before a probe."
    )

    @model_validator(mode="after")
    def _endpoint(self) -> GeneratorBlock:
        if self.kind == "openai" and not (self.base_url and self.model):
            raise ValueError("an openai generator needs `base_url` and `model`")
        return self
