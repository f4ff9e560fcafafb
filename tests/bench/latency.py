"""End-to-end latency and per-hop overhead of the request chain at offered loads.

Usage: python tests/bench/latency.py [--quick] [--loads 5,20,50] [--seconds S]

At each offered load (requests per second, sent at a steady rate for `--seconds`), with the
extractive generator: end-to-end p50/p99 (request published -> prediction made, from the
events' own timestamps) and the per-hop overhead: end-to-end minus the compute time of the
stages (the prediction's stage timings), divided by the Kafka hops on the way (requests ->
ingestion -> requests.accepted -> embedding -> requests.embedded -> inference: 3). The
baselines, measured in the same run on the same broker once the platform is warm and before
the loads (after them, the evaluator may still be catching up): one plain aiokafka produce
-> consume hop, back to back and paced one every 50 ms as at 20 requests/s (each hop then
starts from idle), and one publish -> handler hop through a bare FastStream broker (the
framework the services run on, without pillars' middlewares or work). Targets (issue 4):
per-hop overhead p50 <= 3 ms, p99 <= 15 ms; end-to-end p99 <= 100 ms at 20 requests/s.

`generator_tokens_per_s`: the `rag-gemma` solution's local generator (Gemma 3 270M through
llama.cpp, CPU) writing answers to RAG prompts of the demo questions, against the same
model called directly through `llama_cpp.Llama.create_completion` in the same run.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

from benchkit import client_security, cpu_by_process, index_demo_documents, pct, running_platform
from hops import QUESTIONS, faststream_hop_ms, kafka_hop_ms

from services.inference.config import CATALOG
from services.inference.pipeline import render
from services.inference.solutions import load_solutions
from shared.contracts.events import InferenceRequest, Prediction
from shared.contracts.topics import Topic
from shared.generators import LocalGenerator
from shared.platform.client import PillarsClient
from shared.platform.runtime.stack import Endpoints, Stack

KAFKA_HOPS = 3


async def offered_load(
    client: PillarsClient, tenant: str, rate: float, seconds: float
) -> tuple[list[float], list[float]]:
    """Send requests at `rate` for `seconds`; return end-to-end and per-hop overhead (ms)."""
    requests = max(1, int(rate * seconds))
    predictions = await client.watch(Topic.PREDICTIONS)
    prefix = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    for i in range(requests):
        await client.publish(
            Topic.REQUESTS,
            InferenceRequest(
                tenant=tenant,
                request_id=f"{prefix}-{i}",
                query=QUESTIONS[i % len(QUESTIONS)],
                user_id=f"u{i}",
            ),
        )
        await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.perf_counter()))

    def mine(events: list[object]) -> list[Prediction]:
        return [
            e
            for e in events
            if isinstance(e, Prediction) and e.tenant == tenant and e.request_id.startswith(prefix)
        ]

    events = await predictions.collect(lambda evs: len(mine(evs)) >= requests, 300)
    await predictions.stop()
    e2e, overhead = [], []
    waits: dict[str, list[float]] = {}
    for p in mine(events):
        total = (p.occurred_at - p.request_occurred_at).total_seconds() * 1000
        compute = sum(stage.duration_ms for stage in p.stages)
        e2e.append(total)
        overhead.append(max(0.0, total - compute) / KAFKA_HOPS)
        previous = p.request_occurred_at
        for stage in p.stages:  # each hop's wait, and each stage's own time
            waits.setdefault(f"to {stage.service}", []).append(
                (stage.started_at - previous).total_seconds() * 1000
            )
            waits.setdefault(f"in {stage.service}", []).append(stage.duration_ms)
            previous = stage.finished_at
    print(
        f"  {rate:g} req/s, p50 ms: "
        + ", ".join(f"{k} {pct(v, 50):.1f}" for k, v in waits.items()),
        flush=True,
    )
    return e2e, overhead


async def run(
    endpoints: Endpoints, stack: Stack | None, loads: list[float], seconds: float
) -> tuple[dict[str, object], dict[str, list[float]]]:
    """Return the figures per load and the baseline hops (ms): raw Kafka back to back and
    paced like 20 requests/s, and bare FastStream."""
    tenant = f"lat{uuid.uuid4().hex[:8]}"
    async with PillarsClient(
        endpoints.kafka_bootstrap_servers, source="/bench", security=client_security(endpoints)
    ) as client:
        await index_demo_documents(client, tenant)
        # Warm every consumer, connection and the broker's JIT: time the steady state.
        print("warm-up (not counted):", flush=True)
        await offered_load(client, tenant, 20, 5)
        kafka = await kafka_hop_ms(
            endpoints.kafka_bootstrap_servers, security=client_security(endpoints)
        )
        paced = await kafka_hop_ms(
            endpoints.kafka_bootstrap_servers,
            100,
            pace_s=1 / 20,
            security=client_security(endpoints),
        )
        framework = await faststream_hop_ms(endpoints.kafka_bootstrap_servers)
        results: dict[str, object] = {}
        for rate in loads:
            before = cpu_by_process(stack)
            e2e, overhead = await offered_load(client, tenant, rate, seconds)
            # CPU each part spent per request, from the first request to the last prediction
            spent = {
                name: round((used - before.get(name, 0.0)) * 1000 / len(e2e), 2)
                for name, used in cpu_by_process(stack).items()
            }
            results[f"{rate:g}"] = {
                "requests": len(e2e),
                "e2e_p50_ms": round(pct(e2e, 50), 1),
                "e2e_p99_ms": round(pct(e2e, 99), 1),
                "hop_overhead_p50_ms": round(pct(overhead, 50), 2),
                "hop_overhead_p99_ms": round(pct(overhead, 99), 2),
                "cpu_ms_per_request": spent,
            }
            print(f"{rate:>5g} req/s: {results[f'{rate:g}']}", flush=True)
    return results, {"kafka": kafka, "paced": paced, "framework": framework}


async def generator_speed(rounds: int) -> dict[str, float]:
    """Tokens/s of the local generator through pillars, and of the bare llama.cpp call."""
    solution = load_solutions(CATALOG)["rag-gemma"]
    assert solution.generator is not None
    assert solution.prompt is not None
    block = solution.generator.model_copy(update={"max_tokens": 64, "stop": ()})
    generator = LocalGenerator(block)
    prompts = [render(solution.prompt.template, q, []) for q in QUESTIONS[:rounds]]
    await generator.generate(prompts[0])  # load the model; time the generation only
    tokens, seconds = 0, 0.0
    for prompt in prompts:
        started = time.perf_counter()
        generation = await generator.generate(prompt)
        seconds += time.perf_counter() - started
        tokens += generation.output_tokens
    llama = await generator.load()
    raw_tokens, raw_seconds = 0, 0.0
    for prompt in prompts:
        started = time.perf_counter()
        completion = llama.create_completion(prompt, max_tokens=64, temperature=0.0)
        raw_seconds += time.perf_counter() - started
        assert isinstance(completion, dict)
        raw_tokens += completion["usage"]["completion_tokens"]
    return {"pillars": tokens / seconds, "raw": raw_tokens / raw_seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", default="5,20,50", help="offered loads, requests/s")
    parser.add_argument("--seconds", type=float, default=30.0, help="per load")
    parser.add_argument("--quick", action="store_true", help="10 s per load")
    args = parser.parse_args()
    loads = [float(x) for x in args.loads.split(",")]
    seconds = 10.0 if args.quick else args.seconds
    with running_platform(reuse=False, dashboard="none") as (endpoints, stack):
        by_load, baselines = asyncio.run(run(endpoints, stack, loads, seconds))
    speed = asyncio.run(generator_speed(3 if args.quick else 8))
    print(
        f"local generator {speed['pillars']:.1f} tokens/s through pillars, "
        f"{speed['raw']:.1f} tokens/s calling llama.cpp directly "
        f"({speed['pillars'] / speed['raw']:.2f}x)"
    )
    reference = by_load.get("20", next(iter(by_load.values())))
    assert isinstance(reference, dict)
    kafka, paced, framework = baselines["kafka"], baselines["paced"], baselines["framework"]
    baseline, paced_baseline = statistics.median(kafka), statistics.median(paced)
    hop = reference["hop_overhead_p50_ms"]
    print(
        f"raw aiokafka hop p50 {baseline:.2f} ms, p99 {pct(kafka, 99):.2f} ms back to back; "
        f"p50 {paced_baseline:.2f} ms, p99 {pct(paced, 99):.2f} ms one every 50 ms (as at "
        f"20 req/s); at 20 req/s the chain's per-hop overhead p50 is {hop / baseline:.2f}x "
        f"the first, {hop / paced_baseline:.2f}x the second"
    )
    print(
        f"bare FastStream hop ({len(framework)} of 100 arrived) p50 "
        f"{statistics.median(framework):.2f} ms, p99 {pct(framework, 99):.2f} ms"
    )
    figures = {
        "loads": by_load,
        "hop_overhead_p50_ms": reference["hop_overhead_p50_ms"],
        "hop_overhead_p99_ms": reference["hop_overhead_p99_ms"],
        "e2e_p99_ms_at_20rps": reference["e2e_p99_ms"],
        "generator_tokens_per_s": round(speed["pillars"], 1),
        "baseline_llama_cpp_tokens_per_s": round(speed["raw"], 1),
        "generator_ratio_to_llama_cpp": round(speed["pillars"] / speed["raw"], 2),
        "baseline_kafka_hop_p50_ms": round(baseline, 2),
        "baseline_kafka_hop_p99_ms": round(pct(kafka, 99), 2),
        "baseline_faststream_hop_p50_ms": round(statistics.median(framework), 2),
        "baseline_faststream_hop_p99_ms": round(pct(framework, 99), 2),
        "baseline_paced_kafka_hop_p50_ms": round(paced_baseline, 2),
        "baseline_paced_kafka_hop_p99_ms": round(pct(paced, 99), 2),
        "hop_overhead_ratio_to_raw_hop": round(hop / baseline, 2),
        "hop_overhead_ratio_to_paced_raw_hop": round(hop / paced_baseline, 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
