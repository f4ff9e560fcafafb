"""The OpenAI-compatible generator: request, accounting, bounded retries, errors, breaker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from typing import Any

import httpx2
import pytest

from shared.contracts.events import ModelRef
from shared.generators import GeneratorBlock
from shared.generators.base import GeneratorError, GeneratorUnavailable
from shared.generators.openai_compatible import OpenAICompatibleGenerator

BASE_URL = "http://models.test/v1"
# The SDK sleeps what `retry-after-ms` says (instead of 0.5 s and more): keeps retries fast.
RETRY_SOON = {"retry-after-ms": "1"}


def block(**overrides: Any) -> GeneratorBlock:
    settings: dict[str, Any] = {
        "kind": "openai",
        "base_url": BASE_URL,
        "model": "small-chat",
        "max_retries": 0,
        "timeout_s": 2.0,
    }
    return GeneratorBlock.model_validate(settings | overrides)


def completion(usage: bool = True) -> httpx2.Response:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "small-chat-2025-01-01",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris."},
                "finish_reason": "stop",
            }
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
    return httpx2.Response(200, json=body)


Answer = Callable[[], httpx2.Response]


def status(code: int, **kwargs: Any) -> Answer:
    return lambda: httpx2.Response(code, **kwargs)


def raises(exc: Exception) -> Answer:
    def answer() -> httpx2.Response:
        raise exc

    return answer


class Endpoint:
    """A fake server: answers each request with the next of `answers` (the last repeats)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


Connect = Callable[..., OpenAICompatibleGenerator]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Build generators wired to a fake endpoint; closed at the end of the test."""
    made: list[OpenAICompatibleGenerator] = []

    def make(
        endpoint: Endpoint, clock: FakeClock | None = None, **overrides: Any
    ) -> OpenAICompatibleGenerator:
        client = httpx2.AsyncClient(transport=httpx2.MockTransport(endpoint))
        generator = OpenAICompatibleGenerator(
            block(**overrides), http_client=client, clock=clock or FakeClock()
        )
        made.append(generator)
        return generator

    yield make
    for generator in made:
        await generator.aclose()


async def test_sends_one_user_message_and_prices_the_usage(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PILLARS_TEST_KEY", "sk-secret")
    endpoint = Endpoint(completion)
    generator = connect(
        endpoint,
        api_key_env="PILLARS_TEST_KEY",
        max_tokens=64,
        temperature=0.5,
        stop=("\n\n",),
        input_usd_per_million=2.0,
        output_usd_per_million=8.0,
    )

    generation = await generator.generate("Capital of France?")

    [request] = endpoint.requests
    assert str(request.url) == f"{BASE_URL}/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-secret"
    assert json.loads(request.content) == {
        "model": "small-chat",
        "messages": [{"role": "user", "content": "Capital of France?"}],
        "max_tokens": 64,
        "temperature": 0.5,
        "stop": ["\n\n"],
    }
    assert generation.text == "Paris."
    assert generation.model == ModelRef(name="small-chat", version="small-chat-2025-01-01")
    assert (generation.input_tokens, generation.output_tokens) == (1000, 500)
    assert generation.cost_usd == pytest.approx(1000 * 2e-6 + 500 * 8e-6)
    assert generation.started_at.tzinfo == UTC
    assert generation.started_at <= generation.finished_at


async def test_without_a_key_or_usage_it_sends_a_placeholder_and_counts_zero(
    connect: Connect,
) -> None:
    endpoint = Endpoint(lambda: completion(usage=False))
    generator = connect(endpoint, input_usd_per_million=2.0)

    generation = await generator.generate("hi")

    assert endpoint.requests[0].headers["authorization"] == "Bearer not-needed"
    assert "stop" not in json.loads(endpoint.requests[0].content)
    assert (generation.input_tokens, generation.output_tokens, generation.cost_usd) == (0, 0, 0)


async def test_retries_a_503_then_succeeds(connect: Connect) -> None:
    endpoint = Endpoint(status(503, headers=RETRY_SOON), completion)
    generator = connect(endpoint, max_retries=2)

    generation = await generator.generate("hi")

    assert generation.text == "Paris."
    assert len(endpoint.requests) == 2
    assert endpoint.requests[1].headers["x-stainless-retry-count"] == "1"


async def test_retries_are_bounded(connect: Connect) -> None:
    endpoint = Endpoint(status(503, headers=RETRY_SOON, json={"error": "overloaded"}))
    generator = connect(endpoint, max_retries=2)

    with pytest.raises(GeneratorError) as failed:
        await generator.generate("hi")

    assert len(endpoint.requests) == 3
    assert str(failed.value).startswith(
        f"openai-compatible generator at {BASE_URL}: HTTP 503 (2 retries)"
    )


async def test_a_bad_request_is_not_retried_and_does_not_open_the_circuit(
    connect: Connect,
) -> None:
    endpoint = Endpoint(
        status(400, json={"error": {"message": "prompt is too long"}}, headers=RETRY_SOON)
    )
    generator = connect(endpoint, max_retries=2, breaker_failures=1)

    for _ in range(2):
        with pytest.raises(GeneratorError, match="HTTP 400: prompt is too long") as failed:
            await generator.generate("hi")
        assert not isinstance(failed.value, GeneratorUnavailable)

    assert len(endpoint.requests) == 2


async def test_unauthorized_names_the_key_variable(connect: Connect) -> None:
    generator = connect(Endpoint(status(401)), api_key_env="PILLARS_TEST_KEY")

    with pytest.raises(GeneratorError, match=r"HTTP 401; check the API key in \$PILLARS_TEST_KEY$"):
        await generator.generate("hi")


async def test_a_timeout_says_how_long_and_how_often(connect: Connect) -> None:
    generator = connect(Endpoint(raises(httpx2.ReadTimeout("slow"))), timeout_s=1.5)

    with pytest.raises(GeneratorError, match=r"timed out after 1\.5 s \(0 retries\)$"):
        await generator.generate("hi")


async def test_a_refused_connection_names_the_endpoint(connect: Connect) -> None:
    generator = connect(Endpoint(raises(httpx2.ConnectError("connection refused"))))

    with pytest.raises(GeneratorError) as failed:
        await generator.generate("hi")

    message = str(failed.value)
    assert message.startswith(f"openai-compatible generator at {BASE_URL}: cannot connect")
    assert "connection refused" in message


async def test_the_breaker_opens_refuses_without_calling_then_probes(connect: Connect) -> None:
    clock = FakeClock()
    endpoint = Endpoint(status(500))
    generator = connect(endpoint, clock, breaker_failures=2, breaker_reset_s=30.0)
    for _ in range(2):
        with pytest.raises(GeneratorError, match="HTTP 500") as failed:
            await generator.generate("hi")
        assert not isinstance(failed.value, GeneratorUnavailable)

    with pytest.raises(GeneratorUnavailable, match=r"next try in 30\.0 s") as refused:
        await generator.generate("hi")
    assert "(last: HTTP 500 (0 retries)" in str(refused.value)
    assert len(endpoint.requests) == 2

    clock.now += 30.0
    endpoint.answers = [completion]
    assert (await generator.generate("hi")).text == "Paris."
    assert len(endpoint.requests) == 3


def test_needs_an_openai_block() -> None:
    with pytest.raises(ValueError, match="kind 'openai'"):
        OpenAICompatibleGenerator(GeneratorBlock(kind="local"))
