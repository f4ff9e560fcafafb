"""The loop, measured through the code that decides in production, on real data.

Usage: python tests/bench/loop.py [--quick]

Data: the Rotten Tomatoes fresh/rotten snippets of DATA.md, embedded with the platform's
model; a fixed slice is the test set and never streams. Every decision below is taken by
the evaluator's `LoopPolicy` on `Observations` built as its round builds them, with A/B
verdicts from the same `SequentialTest.decide`, and candidates trained by the platform's
learner (`shared.models.training.train_classifier`), admitted and loaded through admission,
and gated offline by the trainer's own `offline_metrics`:

- `f1_start`: the production model at the start (trained on 200 snippets), macro-F1 on the
  test slice; `f1_end`: the production model once the stream of labels has been replayed
  through the loop (labels arrive in order, each labelled request answered by the arm its
  hash and the loop's current shares give it); `f1_ceiling`: the same learner on every label
  the loop received; `loop_ratio` = (end - start) / (ceiling - start), target >= 0.80;
  `labels_to_first_promotion` (the median over orders). One order of the stream is one draw:
  whether a candidate wins early or a challenge runs to its maximum varies a lot between draws,
  so the stream is replayed in several seeded orders (`--orders`) and `loop_ratio` is their
  mean (each order's ratio is printed beside it). The replay stands in for a platform run: it
  has no clock, so `seconds_to_first_promotion` is what the labels take at `--rate` labelled
  requests/s.
- `false_promotion_rate`: simulated challenges in which the candidate is the production
  model itself (each arm's outcomes drawn from that model's real right/wrong answers on the
  test slice), target <= 0.05; `bad_candidate_rollback_rate`: challenges in which the
  candidate is worse (trained on shuffled labels) or breaches the latency guardrail, ended by
  archive or rollback, target >= 0.95.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from services.evaluator.config import EvaluatorSettings
from services.evaluator.loop.policy import LoopPolicy
from services.evaluator.loop.signals import ArmSignal, Observations, Verdict
from services.evaluator.loop.state import LoopState
from services.evaluator.reporting import verdict_of
from services.evaluator.sequential import ArmSummary, SequentialTest
from services.trainer.offline import macro_f1, offline_metrics
from shared.contracts.events import ModelRegistered
from shared.encoders import EncoderSettings, load_encoder
from shared.kit.settings import PillarsSettings
from shared.models.admission import AdmissionPolicy, admit
from shared.models.classifiers import LoadedClassifier, load_classifier
from shared.models.registry import ModelRecord, with_sha256
from shared.models.training import train_classifier
from shared.platform.labelled import rotten_tomatoes

BATCH = 25  # labelled requests between two rounds of the loop
START = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass
class Arm:
    """One arm's labelled answers since its period began."""

    name: str
    right: int = 0
    total: int = 0
    latency_ms: float = 5.0

    def signal(self) -> ArmSignal:
        accuracy = self.right / self.total if self.total else None
        return ArmSignal(
            self.name, self.total, self.total, accuracy, latency_p99_ms=self.latency_ms
        )

    def summary(self) -> ArmSummary:
        return ArmSummary.of_rate(self.name, self.total, self.right)


def settings() -> EvaluatorSettings:
    return EvaluatorSettings(
        kafka_bootstrap_servers="unused:9092",
        loop_new_labels=400,
        loop_retrain_min_labels=100,
        loop_shadow_labels=150,
        loop_challenger_steps=[0.2, 0.5],
        loop_step_min_labels=150,
        loop_max_labels=3000,
        loop_cooldown_s=0,
        loop_guardrail_min_predictions=50,
        ab_min_samples=100,
    )


class Learner:
    """The platform's learner, its artifacts admitted and loaded like inference's."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.versions = 0

    def train(self, vectors: np.ndarray, labels: list[str], seed: int = 0) -> LoadedClassifier:
        self.versions += 1
        out = self.folder / f"v{self.versions}"
        result = train_classifier(
            vectors, labels, kind="logreg", out_dir=out, seed=seed, test_share=0.1
        )
        record = with_sha256(
            ModelRecord(
                name="review-sentiment",
                version=self.versions,
                artifact=str(result.artifact),
                format=result.format,
                licence="research-use",
                training_data=f"{len(labels)} labels",
                labels=result.labels,
            )
        )
        return load_classifier(admit(record, AdmissionPolicy()))


def predict(model: LoadedClassifier, vectors: np.ndarray) -> list[str]:
    return [c.label for c in model.classify(vectors)]


def f1_on(model: LoadedClassifier, vectors: np.ndarray, truth: list[str]) -> float:
    names = sorted(set(truth))
    y = np.array([names.index(t) for t in truth])
    p = np.array([names.index(t) if t in names else -1 for t in predict(model, vectors)])
    return float(macro_f1(y, p, list(range(len(names)))))


def verdict(test: SequentialTest, production: Arm, challenger: Arm, previous: float) -> Verdict:
    decision = test.decide(
        "accuracy", production.summary(), challenger.summary(), previous_p=previous
    )
    return Verdict(verdict_of(decision), evaluation_id=uuid.uuid4())


def replay(
    vectors: np.ndarray, labels: list[str], start: LoadedClassifier, learner: Learner, rate: float
) -> tuple[LoadedClassifier, int | None, list[str]]:
    """Stream the labels through the loop; return the final production model, the labels
    seen at the first promotion, and the steps taken."""
    policy, test = LoopPolicy.from_settings(settings()), SequentialTest(min_samples=100)
    state = LoopState("review-sentiment", production=1)
    production, candidate = start, None
    steps: list[str] = []
    first_promotion = None
    shadow, prod_now, challenger = Arm("shadow"), Arm("production"), Arm("challenger")
    registrations: tuple[ModelRegistered, ...] = ()
    previous_p, last_training = 1.0, 0
    for end in range(BATCH, len(labels) + 1, BATCH):
        rows = range(end - BATCH, end)
        truth = [labels[i] for i in rows]
        shares = dict(enumerate(policy.challenger_steps))
        share = shares[state.step] if state.phase == "challenging" else 0.0
        live = predict(production, vectors[end - BATCH : end])
        other = predict(candidate, vectors[end - BATCH : end]) if candidate else live
        for i, t, p, c in zip(rows, truth, live, other, strict=True):
            if state.phase == "shadowing":
                shadow.total, shadow.right = shadow.total + 1, shadow.right + (c == t)
            if state.phase == "challenging" and random.Random(i).random() < share:
                challenger.total, challenger.right = (
                    challenger.total + 1,
                    challenger.right + (c == t),
                )
            elif state.phase == "challenging":
                prod_now.total, prod_now.right = prod_now.total + 1, prod_now.right + (p == t)
        now = START + timedelta(seconds=end / rate)
        accuracy = None
        if state.phase == "challenging":
            accuracy = verdict(test, prod_now, challenger, previous_p)
            previous_p = accuracy.verdict.p_value
        seen = Observations(
            now=now,
            production_version=state.production,
            new_labels=end - last_training,
            shadow=shadow.signal() if state.phase == "shadowing" else None,
            production_now=prod_now.signal() if state.phase == "challenging" else None,
            challenger=challenger.signal() if state.phase == "challenging" else None,
            accuracy=accuracy,
            registrations=registrations,
        )
        registrations = ()
        for decision in policy.decide(state, seen):
            steps.append(f"{decision.step}@{end}")
            state = state.after(decision)
            if decision.step == "triggered":  # the trainer: a time split, the offline gate
                last_training = end
                cut = int(end * 0.8)
                candidate = learner.train(vectors[:cut], labels[:cut])
                metrics = offline_metrics(
                    labels[cut:end],
                    predict(candidate, vectors[cut:end]),
                    predict(production, vectors[cut:end]),
                )
                registrations = (
                    ModelRegistered(
                        tenant="reviews",
                        model="review-sentiment",
                        version=learner.versions,
                        metrics=metrics,
                    ),
                )
            elif decision.step == "shadowing":
                shadow = Arm("shadow")
            elif decision.step == "challenging" and decision.figures.get("step", 0) == 0:
                prod_now, challenger, previous_p = Arm("production"), Arm("challenger"), 1.0
            elif decision.step == "promoted" and candidate is not None:
                production, candidate = candidate, None
                first_promotion = first_promotion or end
            elif decision.step in ("archived", "rolled_back", "rejected_offline"):
                candidate = None
    return production, first_promotion, steps


def challenge(
    policy: LoopPolicy,
    right_production: np.ndarray,
    right_candidate: np.ndarray,
    seed: int,
    candidate_latency_ms: float = 5.0,
) -> str:
    """One simulated challenge from its first step to its end; return how it ended."""
    rng = np.random.default_rng(seed)
    test = SequentialTest(min_samples=100)
    state = LoopState("m", phase="challenging", candidate=2, production=1, since=START)
    prod, chal = Arm("production"), Arm("challenger", latency_ms=candidate_latency_ms)
    previous_p = 1.0
    for round_ in range(1, 400):
        share = policy.challenger_steps[state.step]
        to_challenger = int(rng.binomial(BATCH, share))
        draws_c = rng.choice(right_candidate, to_challenger)
        draws_p = rng.choice(right_production, BATCH - to_challenger)
        chal.total, chal.right = chal.total + to_challenger, chal.right + int(draws_c.sum())
        prod.total, prod.right = prod.total + len(draws_p), prod.right + int(draws_p.sum())
        accuracy = verdict(test, prod, chal, previous_p)
        previous_p = accuracy.verdict.p_value
        seen = Observations(
            now=START + timedelta(seconds=round_),
            production_version=1,
            production_now=prod.signal(),
            challenger=chal.signal(),
            accuracy=accuracy,
        )
        for decision in policy.decide(state, seen):
            state = state.after(decision)
            if decision.step in ("promoted", "archived", "rolled_back"):
                return decision.step
    return "running"


def stream_orders(
    vectors: np.ndarray, labels: list[str], orders: int, learner: Learner, rate: float
) -> list[dict[str, object]]:
    """Replay the stream in `orders` seeded orders (one order is one draw of which labels
    come first, and a loop's outcome varies a lot between draws); return each run's figures."""
    runs = []
    for seed in range(orders):
        order = np.random.default_rng(seed).permutation(len(labels))
        x, y = vectors[order], [labels[i] for i in order]
        start = learner.train(x[:200], y[:200])
        end_model, first, steps = replay(x, y, start, learner, rate)
        runs.append({"start": start, "end": end_model, "first": first, "steps": steps})
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer orders; < 5 minutes")
    parser.add_argument("--loops", type=int, default=None, help="simulated challenges each")
    parser.add_argument("--orders", type=int, default=None, help="stream orders replayed")
    parser.add_argument("--rate", type=float, default=20.0, help="labelled requests/s")
    args = parser.parse_args()
    loops = args.loops or (300 if args.quick else 1000)
    orders = args.orders or (3 if args.quick else 8)
    began = time.perf_counter()
    rows = [
        r for r in rotten_tomatoes(PillarsSettings().data_dir / "datasets") if r.label != "plot"
    ]
    random.Random(7).shuffle(rows)
    encoder = load_encoder(EncoderSettings())
    vectors = np.asarray(encoder.encode_sync([r.text for r in rows]), dtype=np.float32)
    labels = [r.label for r in rows]
    test_n = 2000
    test_x, test_y = vectors[:test_n], labels[:test_n]
    stream_x, stream_y = vectors[test_n:], labels[test_n:]
    print(f"{len(rows)} snippets embedded: {test_n} test, {len(stream_y)} streamed")

    with tempfile.TemporaryDirectory() as folder:
        learner = Learner(Path(folder))
        f1_ceiling = f1_on(learner.train(stream_x, stream_y), test_x, test_y)
        runs = stream_orders(stream_x, stream_y, orders, learner, args.rate)
        starts = [f1_on(run["start"], test_x, test_y) for run in runs]  # type: ignore[arg-type]
        ends = [f1_on(run["end"], test_x, test_y) for run in runs]  # type: ignore[arg-type]
        start = runs[0]["start"]
        assert isinstance(start, LoadedClassifier)
        shuffled = list(test_y)
        random.Random(3).shuffle(shuffled)
        worse = learner.train(test_x, shuffled)
        right_production = np.array(
            [p == t for p, t in zip(predict(start, test_x), test_y, strict=True)]
        )
        right_worse = np.array(
            [p == t for p, t in zip(predict(worse, test_x), test_y, strict=True)]
        )
    policy = LoopPolicy.from_settings(settings())
    same = [challenge(policy, right_production, right_production, s) for s in range(loops)]
    bad = [challenge(policy, right_production, right_worse, 10_000 + s) for s in range(loops)]
    slow = [
        challenge(
            policy, right_production, right_production, 20_000 + s, candidate_latency_ms=200.0
        )
        for s in range(loops)
    ]
    ratios = [
        (end - start) / (f1_ceiling - start) if f1_ceiling > start else 0.0
        for start, end in zip(starts, ends, strict=True)
    ]
    firsts = sorted(int(run["first"]) for run in runs if run["first"])  # type: ignore[call-overload]
    first = firsts[len(firsts) // 2] if firsts else None
    figures = {
        "f1_start": round(float(np.mean(starts)), 4),
        "f1_end": round(float(np.mean(ends)), 4),
        "f1_ceiling": round(f1_ceiling, 4),
        "loop_ratio": round(float(np.mean(ratios)), 3),
        "loop_ratio_per_order": [round(r, 3) for r in ratios],
        "orders_without_promotion": sum(run["first"] is None for run in runs),
        "labels_to_first_promotion": first,
        "seconds_to_first_promotion": round(first / args.rate, 1) if first else None,
        "false_promotion_rate": same.count("promoted") / len(same),
        "bad_candidate_rollback_rate": sum(o in ("archived", "rolled_back") for o in bad + slow)
        / len(bad + slow),
        "worse_candidate_removed_rate": sum(o in ("archived", "rolled_back") for o in bad)
        / len(bad),
        "slow_candidate_rolled_back_rate": slow.count("rolled_back") / len(slow),
        "simulated_loops_each": loops,
        "streamed_labels": len(stream_y),
        "loop_steps_first_order": runs[0]["steps"],
        "seconds": round(time.perf_counter() - began, 1),
    }
    for seed, (f0, f1) in enumerate(zip(starts, ends, strict=True)):
        print(f"order {seed}: macro-F1 start {f0:.3f}, end {f1:.3f}, ceiling {f1_ceiling:.3f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
