"""Traffic for the loop's end-to-end runs: requests from real snippets, each answered, its
true label sent back as `label` feedback, and the loop's steps followed as they land.

Closed loop: at most `window` requests are in flight, so a slow arm slows the stream
instead of piling up a backlog, as a business system waiting on its answers would.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shared.contracts.events import Feedback, InferenceRequest, LoopDecision, Prediction
from shared.contracts.topics import Topic
from shared.platform.client import PillarsClient, Watch
from shared.platform.labelled import LabelledText


@dataclass
class LoopRun:
    """What a stream saw: the loop's steps for its model and the versions that answered."""

    model: str
    steps: list[LoopDecision] = field(default_factory=list)
    answered_by: list[str] = field(default_factory=list)  # the live answers' model versions
    sent: int = 0

    def taken(self) -> list[str]:
        """Return the steps' names, in order."""
        return [step.step for step in self.steps]

    def describe(self) -> str:
        """Return the steps with their reasons, for a failure message."""
        lines = [f"{s.step} v{s.candidate_version}: {s.reason}" for s in self.steps]
        return f"{self.sent} requests; loop steps of {self.model}:\n" + "\n".join(lines)


async def stream(
    client: PillarsClient,
    *,
    tenant: str,
    model: str,
    rows: Sequence[LabelledText],
    labels: Sequence[str],
    until: Callable[[LoopRun], bool],
    timeout_s: float,
    window: int = 8,
) -> LoopRun:
    """Send `rows` as requests (again from the start if they run out), each prediction's
    `labels[i]` back as its label, until `until(run)` holds; TimeoutError after `timeout_s`."""
    run = LoopRun(model)
    predictions, steps = await client.watch(Topic.PREDICTIONS), await client.watch(Topic.LOOP)
    waiting: dict[str, tuple[asyncio.Future[None], str]] = {}

    async def answers(watch: Watch) -> None:
        async for event in watch.stream():
            if not isinstance(event, Prediction) or event.request_id not in waiting:
                continue
            done, truth = waiting.pop(event.request_id)
            run.answered_by.append(event.model.version)
            label = Feedback(
                tenant=tenant,
                feedback_id=f"label-{event.request_id}",
                request_id=event.request_id,
                kind="label",
                value=truth,
            )
            await client.publish(Topic.FEEDBACK, label)
            done.set_result(None)

    async def loop_steps(watch: Watch) -> None:
        async for event in watch.stream():
            if isinstance(event, LoopDecision) and event.model == model:
                run.steps.append(event)

    async def one(row: LabelledText, truth: str) -> None:
        request_id = f"loop-{uuid.uuid4().hex[:16]}"
        answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting[request_id] = (answered, truth)
        request = InferenceRequest(
            tenant=tenant, request_id=request_id, query=row.text[:4000], user_id=request_id
        )
        await client.publish(Topic.REQUESTS, request)
        await asyncio.wait_for(answered, 60)  # a request never answered fails the run

    readers = [asyncio.create_task(answers(predictions)), asyncio.create_task(loop_steps(steps))]
    try:
        async with asyncio.timeout(timeout_s):
            in_flight: set[asyncio.Task[None]] = set()
            for row, truth in itertools.cycle(zip(rows, labels, strict=True)):
                if until(run):
                    break
                if len(in_flight) >= window:
                    finished, in_flight = await asyncio.wait(
                        in_flight, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in finished:
                        task.result()
                in_flight.add(asyncio.create_task(one(row, truth)))
                run.sent += 1
            for task in in_flight:
                await task
    except TimeoutError as exc:
        message = f"the loop did not get there in {timeout_s:g} s; {run.describe()}"
        raise TimeoutError(message) from exc
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await predictions.stop()
        await steps.stop()
    return run
