"""A generator behind any OpenAI-compatible chat-completions endpoint.

vLLM, Ollama, the llama.cpp server, OpenAI and Gemini's OpenAI endpoint all speak it. Retries
are the `openai` SDK's own (3.57, `AsyncAPIClient.request`): each call makes at most
`max_retries + 1` attempts, each bounded by `timeout_s`. It retries on connection errors and
timeouts, and on HTTP 408, 409, 429 and 5xx (a server's `x-should-retry` header overrides
that). Between attempts it sleeps the server's `retry-after-ms`/`retry-after` when that is
within 2 minutes (a longer one means no retry at all), else 0.5 s doubled per retry, capped at
8 s, less up to 25 % jitter. Other 4xx are raised at once. So one call can take up to
`(max_retries + 1) * timeout_s` plus the sleeps. On top of that a circuit breaker stops calling
an endpoint after `breaker_failures` consecutive calls that failed for the endpoint's sake
(connection, timeout, 408/409/429/5xx); a 400 or 401 says the request or key is wrong instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import httpx2
import openai
from openai.types.chat import ChatCompletion

from shared.contracts.events import ModelRef, utcnow
from shared.generators.base import Generation, GeneratorError, cost_usd
from shared.generators.block import GeneratorBlock
from shared.generators.breaker import CircuitBreaker

__all__ = ["OpenAICompatibleGenerator"]

# Local servers (vLLM, Ollama, llama.cpp) ignore the key, but the SDK insists on one.
_NO_KEY = "not-needed"
_RETRIED_STATUSES = frozenset({408, 409, 429})


def _retried(status: int) -> bool:
    """Whether the SDK retries a response with this status (as `_should_retry` does)."""
    return status in _RETRIED_STATUSES or status >= 500


def _endpoint_failed(exc: Exception) -> bool:
    """Whether an error says the endpoint is unhealthy (not that the request was wrong)."""
    cause = exc.__cause__
    if isinstance(cause, openai.APIStatusError):
        return _retried(cause.status_code)
    return isinstance(cause, openai.APIConnectionError)


class OpenAICompatibleGenerator:
    """Chat completions from an OpenAI-compatible endpoint, with bounded retries and a breaker.

    `model.version` is "api" until a call answers; each `Generation` carries the model the
    endpoint reports (`response.model`: OpenAI's dated snapshot, vLLM's served name), since an
    alias such as "gpt-4o-mini" moves between snapshots over time.
    """

    def __init__(
        self,
        block: GeneratorBlock,
        *,
        http_client: httpx2.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if block.kind != "openai" or not block.base_url or not block.model:
            raise ValueError("an openai generator needs kind 'openai', `base_url` and `model`")
        self._block = block
        self._model_name = block.model
        self.endpoint = f"openai-compatible generator at {block.base_url}"
        self.model = ModelRef(name=block.model, version="api")
        api_key = os.environ.get(block.api_key_env) if block.api_key_env else None
        self._client = openai.AsyncOpenAI(
            base_url=block.base_url,
            api_key=api_key or _NO_KEY,
            timeout=block.timeout_s,
            max_retries=block.max_retries,
            http_client=http_client,
        )
        self._breaker = CircuitBreaker(
            self.endpoint,
            failures=block.breaker_failures,
            reset_s=block.breaker_reset_s,
            trips=_endpoint_failed,
            clock=clock,
        )

    async def generate(self, prompt: str) -> Generation:
        """Answer `prompt` as one user message; raise `GeneratorError` with the cause."""
        started_at = utcnow()
        response = await self._breaker.call(lambda: self._complete(prompt))
        finished_at = utcnow()
        # Some servers omit `usage`; the call then counts (and costs) zero tokens.
        usage = response.usage
        input_tokens = usage.prompt_tokens if usage else 0
        output_tokens = usage.completion_tokens if usage else 0
        return Generation(
            text=response.choices[0].message.content or "",
            model=ModelRef(name=self._model_name, version=response.model or "api"),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd(self._block, input_tokens, output_tokens),
            started_at=started_at,
            finished_at=finished_at,
        )

    async def aclose(self) -> None:
        """Close the HTTP client (an injected one too)."""
        await self._client.close()

    async def _complete(self, prompt: str) -> ChatCompletion:
        block = self._block
        try:
            response = await self._client.chat.completions.create(
                model=self._model_name,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=block.max_tokens,
                temperature=block.temperature,
                stop=list(block.stop) if block.stop else openai.omit,
            )
        except openai.OpenAIError as exc:
            raise GeneratorError(f"{self.endpoint}: {self._explain(exc)}") from exc
        if not response.choices:
            raise GeneratorError(f"{self.endpoint}: model {self._model_name!r} returned no choice")
        return response

    def _explain(self, exc: openai.OpenAIError) -> str:
        block = self._block
        retries = f"({block.max_retries} retries)"
        if isinstance(exc, openai.APITimeoutError):
            return f"timed out after {block.timeout_s} s {retries}"
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return f"cannot connect {retries}: {cause!r}; is the server running?"
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            tried = f" {retries}" if _retried(status) else ""
            # The SDK's message repeats the status code before the server's own words.
            detail = exc.message.removeprefix(f"Error code: {status}").removeprefix(" - ")
            hint = ""
            if status in (401, 403):
                hint = f"; check the API key in ${block.api_key_env or '(no api_key_env set)'}"
            elif status == 404:
                hint = f"; check `base_url` (often ends in /v1) and model {self._model_name!r}"
            return f"HTTP {status}{tried}" + (f": {detail}" if detail else "") + hint
        return f"{type(exc).__name__}: {exc}"
