"""Generators against the real model: a llama.cpp server speaking OpenAI's API, and in-process."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from shared.contracts.events import ModelRef
from shared.generators import (
    GeneratorBlock,
    GeneratorError,
    GeneratorUnavailable,
    LocalGenerator,
    OpenAICompatibleGenerator,
    build_generator,
    bundled_model_path,
)

pytestmark = pytest.mark.integration

ALIAS = "gemma-3-270m"
PROMPT = "The three primary colours are"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def block(**settings: Any) -> GeneratorBlock:
    return GeneratorBlock.model_validate({"max_tokens": 16, "max_retries": 0} | settings)


@pytest.fixture(scope="module")
def gguf() -> Path:
    return bundled_model_path()


@pytest.fixture(scope="module")
def server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `llama_cpp.server` on a free port; yields its OpenAI base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", ALIAS,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024",
        # Pinned rather than read from the GGUF, so the prompt the model sees never changes.
        "--chat_format", "gemma",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log_path.read_text(errors='replace')}")
            try:
                if httpx2.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not up in 60 s: {log_path.read_text()}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_a_real_server_answers_with_counted_priced_tokens(server: str) -> None:
    generator = OpenAICompatibleGenerator(
        block(
            kind="openai",
            base_url=server,
            model=ALIAS,
            input_usd_per_million=1.0,
            output_usd_per_million=3.0,
        )
    )
    try:
        generation = await generator.generate(PROMPT)
    finally:
        await generator.aclose()

    assert generation.text.strip()
    assert generation.model == ModelRef(name=ALIAS, version=ALIAS)
    assert generation.input_tokens > 0
    assert 0 < generation.output_tokens <= 16
    expected = (generation.input_tokens * 1.0 + generation.output_tokens * 3.0) / 1e6
    assert generation.cost_usd == pytest.approx(expected)
    assert generation.started_at < generation.finished_at


async def test_a_tiny_timeout_is_a_clear_error(server: str) -> None:
    generator = OpenAICompatibleGenerator(
        block(kind="openai", base_url=server, model=ALIAS, timeout_s=0.001, max_tokens=4)
    )
    try:
        with pytest.raises(GeneratorError, match=r"at http://127\.0\.0\.1:\d+/v1: timed out after"):
            await generator.generate(PROMPT)
    finally:
        await generator.aclose()


async def test_no_server_fails_then_the_circuit_opens_without_connecting() -> None:
    attempts: list[httpx2.Request] = []

    async def count(request: httpx2.Request) -> None:
        attempts.append(request)

    client = httpx2.AsyncClient(event_hooks={"request": [count]})
    generator = OpenAICompatibleGenerator(
        block(
            kind="openai",
            base_url=f"http://127.0.0.1:{free_port()}/v1",
            model=ALIAS,
            breaker_failures=2,
        ),
        http_client=client,
    )
    try:
        for _ in range(2):
            with pytest.raises(GeneratorError, match="cannot connect") as failed:
                await generator.generate(PROMPT)
            assert not isinstance(failed.value, GeneratorUnavailable)
        with pytest.raises(GeneratorUnavailable, match="circuit open after 2 consecutive"):
            await generator.generate(PROMPT)
    finally:
        await generator.aclose()
    assert len(attempts) == 2


async def test_the_local_model_generates_in_process_without_blocking_the_loop() -> None:
    generator = LocalGenerator(block(kind="local", input_usd_per_million=1.0))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        first, second = await asyncio.gather(
            generator.generate(PROMPT), generator.generate("Once upon a time")
        )
    finally:
        ticker.cancel()
    await generator.aclose()

    for generation in (first, second):
        assert generation.model == ModelRef(name="gemma-3-270m-q4_k_m", version="gguf")
        assert generation.input_tokens > 0
        assert 0 < generation.output_tokens <= 16
        assert generation.text
        assert generation.cost_usd == pytest.approx(generation.input_tokens / 1e6)
    # The two calls took turns on the one model instead of running at once.
    assert sorted([first.finished_at, second.finished_at])[0] <= max(
        first.started_at, second.started_at
    )
    assert ticks > 5  # the event loop kept running while the CPU generated


async def test_a_custom_model_path_names_the_model_or_the_missing_file(
    gguf: Path, tmp_path: Path
) -> None:
    assert LocalGenerator(block(kind="local", model=str(gguf))).model.name == gguf.stem
    missing = LocalGenerator(block(kind="local", model=str(tmp_path / "nope.gguf")))
    with pytest.raises(GeneratorError, match=r"no GGUF model at .*nope\.gguf"):
        await missing.generate(PROMPT)


async def test_the_factory_builds_each_kind() -> None:
    assert isinstance(build_generator(block(kind="local")), LocalGenerator)
    remote = build_generator(block(kind="openai", base_url="http://127.0.0.1:1/v1", model=ALIAS))
    assert isinstance(remote, OpenAICompatibleGenerator)
    await remote.aclose()
    with pytest.raises(ValueError, match="'extractive' generator has no model"):
        build_generator(block(kind="extractive"))


async def test_the_evaluators_judge_rates_through_the_real_server(server: str) -> None:
    from services.evaluator.judge import GeneratorJudge
    from shared.contracts.events import Prediction, RetrievedChunk, utcnow

    model = ModelRef(name="m", version="1")
    prediction = Prediction(
        tenant="acme",
        request_id="r1",
        query="How long do refunds take?",
        experiment="e",
        variant="a",
        answer="Refunds take five working days.",
        sources=[
            RetrievedChunk(
                chunk_id="00000000-0000-0000-0000-000000000001",
                document_id="refunds",
                text="Refunds are paid within five working days of the return.",
                score=0.8,
            )
        ],
        model=model,
        embedding_model=model,
        request_occurred_at=utcnow(),
        stages=[],
    )
    generator = OpenAICompatibleGenerator(
        block(kind="openai", base_url=server, model=ALIAS, max_tokens=4)
    )
    try:
        judgement = await GeneratorJudge(generator).judge(prediction)
    finally:
        await generator.aclose()
    assert judgement.model.name == ALIAS
    assert judgement.input_tokens > 0
    if judgement.rating is None:  # a base model may not answer with a digit
        assert judgement.reason.startswith("no rating 1-5 in the reply")
    else:
        assert 1 <= judgement.rating <= 5
        assert judgement.score == (judgement.rating - 1) / 4
