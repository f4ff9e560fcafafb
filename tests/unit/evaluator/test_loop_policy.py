"""The loop's policy, one rule at a time: each trigger, the offline gate, shadow then
challenger, the steps, the verdicts, the guardrails, the cooldown and one candidate at a
time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.evaluator.loop.gates import Guardrails
from services.evaluator.loop.policy import LoopPolicy
from services.evaluator.loop.signals import ArmSignal, Observations, Verdict
from services.evaluator.loop.state import LoopState
from shared.contracts.events import ABVerdict, DriftReport, ModelRegistered

pytestmark = pytest.mark.loop

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = LoopPolicy(
    new_labels=500,
    retrain_min_labels=50,
    accuracy_drop=0.05,
    offline_margin=0.02,
    shadow_labels=100,
    challenger_steps=(0.1, 0.5),
    step_min_labels=100,
    max_labels=1000,
    cooldown_s=3600,
    training_timeout_s=600,
    guardrails=Guardrails(min_predictions=50),
)
MODEL = "sentiment"


def seen(**fields: object) -> Observations:
    return Observations(now=NOW, production_version=1, **fields)  # type: ignore[arg-type]


def idle(**fields: object) -> LoopState:
    return LoopState(MODEL, production=1, **fields)  # type: ignore[arg-type]


def challenging(step: int = 0, step_labelled: int = 0, **fields: object) -> LoopState:
    return LoopState(
        MODEL,
        phase="challenging",
        candidate=2,
        production=1,
        since=NOW - timedelta(hours=1),
        step=step,
        step_labelled=step_labelled,
        **fields,  # type: ignore[arg-type]
    )


def registered(version: int | None = 2, **metrics: float) -> ModelRegistered:
    return ModelRegistered(
        tenant="acme",
        model=MODEL,
        version=version,
        training_data="labels feedback of tenant acme: 600 rows",
        metrics=metrics,
    )


def arm(name: str, **fields: object) -> ArmSignal:
    values: dict[str, object] = {
        "predictions": 400,
        "labelled": 300,
        "accuracy": 0.8,
        "latency_p99_ms": 40.0,
    }
    return ArmSignal(name, **(values | fields))  # type: ignore[arg-type]


def verdict(decision: str = "keep running", winner: str | None = None) -> Verdict:
    return Verdict(
        ABVerdict(
            metric="accuracy",
            control="control",
            treatment="challenger-v2",
            effect=0.05,
            relative_effect=0.06,
            ci_low=0.01,
            ci_high=0.09,
            p_value=0.01 if decision == "winner" else 0.4,
            decision=decision,  # type: ignore[arg-type]
            winner=winner,
            n_control=300,
            n_treatment=300,
        ),
        evaluation_id=uuid.uuid4(),
    )


def live(**fields: object) -> Observations:
    arms = {"production_now": arm("control"), "challenger": arm("challenger-v2")}
    return seen(**(arms | fields))


# --- triggers ---


def test_new_labels_trigger_a_training() -> None:
    [decision] = POLICY.decide(idle(), seen(new_labels=500))
    assert decision.step == "triggered"
    assert "500 new labels" in decision.reason
    assert decision.figures["new_labels"] == 500
    assert (decision.tenant, decision.model, decision.occurred_at) == ("platform", MODEL, NOW)


def test_too_few_new_labels_trigger_nothing() -> None:
    assert POLICY.decide(idle(), seen(new_labels=499)) == []


@pytest.mark.parametrize(
    ("signal", "severity", "fires"),
    [
        ("query_embeddings", "medium", True),
        ("labels", "high", True),
        ("labels", "low", False),
        ("predictions", "high", False),  # the classifier's own outputs: not its inputs or labels
    ],
)
def test_drift_of_at_least_medium_on_inputs_or_labels_triggers(
    signal: str, severity: str, fires: bool
) -> None:
    drift = DriftReport(
        signal=signal,  # type: ignore[arg-type]
        statistic=0.3,
        method="psi",
        severity=severity,  # type: ignore[arg-type]
        reference_n=200,
        current_n=200,
    )
    decisions = POLICY.decide(idle(), seen(new_labels=60, drift=(drift,)))
    assert [d.step for d in decisions] == (["triggered"] if fires else [])
    if fires:
        assert severity in decisions[0].reason


def test_drift_without_enough_new_labels_waits_for_them() -> None:
    drift = DriftReport(
        signal="labels", statistic=0.4, method="psi", severity="high", reference_n=9, current_n=9
    )
    assert POLICY.decide(idle(), seen(new_labels=49, drift=(drift,))) == []


def test_an_accuracy_fall_in_the_window_triggers() -> None:
    fell = seen(
        new_labels=60,
        production_window=arm("control", labelled=80, accuracy=0.70),
        production_cumulative=arm("control", labelled=2000, accuracy=0.80),
    )
    [decision] = POLICY.decide(idle(), fell)
    assert decision.step == "triggered"
    assert decision.figures["window_accuracy"] == pytest.approx(0.70)
    held = seen(
        new_labels=60,
        production_window=arm("control", labelled=80, accuracy=0.77),
        production_cumulative=arm("control", labelled=2000, accuracy=0.80),
    )
    assert POLICY.decide(idle(), held) == []


def test_no_training_is_triggered_within_the_cooldown_after_a_promotion() -> None:
    recent = idle(last_promotion=NOW - timedelta(minutes=30))
    assert POLICY.decide(recent, seen(new_labels=5000)) == []
    earlier = idle(last_promotion=NOW - timedelta(hours=2))
    assert [d.step for d in POLICY.decide(earlier, seen(new_labels=5000))] == ["triggered"]


def test_a_training_that_registers_nothing_is_given_up() -> None:
    waiting = LoopState(MODEL, phase="training", since=NOW - timedelta(seconds=599))
    assert POLICY.decide(waiting, seen()) == []
    late = LoopState(MODEL, phase="training", since=NOW - timedelta(seconds=601))
    [decision] = POLICY.decide(late, seen())
    assert (decision.step, decision.candidate_version) == ("archived", None)
    assert late.after(decision).phase == "idle"


# --- the offline gate ---


def test_a_candidate_not_worse_beyond_the_margin_goes_to_shadow() -> None:
    metrics = {
        "holdout_n": 120.0,
        "candidate_macro_f1": 0.79,
        "production_macro_f1": 0.80,
        "macro_f1_delta": -0.01,
        "macro_f1_delta_low": -0.06,
        "macro_f1_delta_high": 0.04,
    }
    state = LoopState(MODEL, phase="training", production=1, since=NOW)
    trained, gate = POLICY.decide(state, seen(registrations=(registered(**metrics),)))
    assert (trained.step, trained.candidate_version) == ("trained", 2)
    assert trained.figures["holdout_n"] == 120
    assert (gate.step, gate.candidate_version) == ("shadowing", 2)
    assert "not worse beyond the margin" in gate.reason
    assert gate.figures["macro_f1_delta_low"] == pytest.approx(-0.06)


def test_a_candidate_surely_worse_beyond_the_margin_is_rejected_offline() -> None:
    metrics = {
        "holdout_n": 120.0,
        "candidate_macro_f1": 0.60,
        "production_macro_f1": 0.80,
        "macro_f1_delta_low": -0.28,
        "macro_f1_delta_high": -0.12,
    }
    state = LoopState(MODEL, phase="training", production=1, since=NOW)
    trained, gate = POLICY.decide(state, seen(registrations=(registered(**metrics),)))
    assert (gate.step, gate.candidate_version) == ("rejected_offline", 2)
    assert "worse beyond the margin 0.02" in gate.reason
    assert state.after(trained).after(gate).phase == "idle"


def test_the_first_model_has_nothing_to_be_compared_with() -> None:
    state = LoopState(MODEL, phase="training", since=NOW)
    metrics = {"holdout_n": 50.0, "candidate_macro_f1": 0.7}
    _, gate = POLICY.decide(state, seen(registrations=(registered(**metrics),)))
    assert gate.step == "shadowing"
    assert "no production version" in gate.reason


def test_a_refused_model_is_rejected_with_the_refusal() -> None:
    refused = registered().model_copy(update={"admitted": False, "refusal": "unsafe pickle"})
    state = LoopState(MODEL, phase="training", since=NOW)
    _, gate = POLICY.decide(state, seen(registrations=(refused,)))
    assert gate.step == "rejected_offline"
    assert "unsafe pickle" in gate.reason
    nothing = registered(version=None).model_copy(update={"refusal": "too few labels"})
    [gate] = POLICY.decide(state, seen(registrations=(nothing,)))
    assert (gate.step, gate.candidate_version) == ("rejected_offline", None)


# --- by hand, and one at a time ---


def test_a_model_trained_by_hand_is_adopted_when_idle() -> None:
    [trained, gate] = POLICY.decide(idle(), seen(registrations=(registered(),)))
    assert (trained.step, gate.step) == ("trained", "shadowing")
    state = idle().after(trained).after(gate)
    assert (state.phase, state.candidate, state.last_training) == ("shadowing", 2, NOW)


def test_a_second_candidate_is_archived_while_one_is_in_flight() -> None:
    shadowing = LoopState(MODEL, phase="shadowing", candidate=2, production=1, since=NOW)
    [decision] = POLICY.decide(shadowing, seen(registrations=(registered(version=3),)))
    assert (decision.step, decision.candidate_version) == ("archived", 3)
    assert "one candidate at a time" in decision.reason
    assert shadowing.after(decision) == shadowing  # v2 carries on


def test_two_registrations_at_once_adopt_the_first_and_archive_the_second() -> None:
    state = LoopState(MODEL, phase="training", since=NOW)
    steps = POLICY.decide(state, seen(registrations=(registered(2), registered(3))))
    assert [(d.step, d.candidate_version) for d in steps] == [
        ("trained", 2),
        ("shadowing", 2),
        ("archived", 3),
    ]


# --- shadow, then challenger, in steps ---


def test_the_shadow_challenges_after_enough_labelled_answers() -> None:
    shadowing = LoopState(MODEL, phase="shadowing", candidate=2, production=1, since=NOW)
    assert POLICY.decide(shadowing, seen(shadow=arm("shadow-v2", labelled=99))) == []
    [decision] = POLICY.decide(shadowing, seen(shadow=arm("shadow-v2", labelled=100)))
    assert (decision.step, decision.figures["share"], decision.figures["step"]) == (
        "challenging",
        0.1,
        0,
    )
    state = shadowing.after(decision)
    assert (state.phase, state.step, state.step_labelled, state.since) == (
        "challenging",
        0,
        0,
        NOW,
    )


def test_the_share_steps_up_while_the_guardrails_hold() -> None:
    state = challenging(step=0, step_labelled=0)
    assert POLICY.decide(state, live(challenger=arm("challenger-v2", labelled=99))) == []
    [decision] = POLICY.decide(state, live(challenger=arm("challenger-v2", labelled=100)))
    assert (decision.step, decision.figures["share"], decision.figures["step"]) == (
        "challenging",
        0.5,
        1,
    )
    stepped = state.after(decision)
    assert (stepped.step, stepped.step_labelled, stepped.since) == (1, 100, state.since)
    # The last step is the last: it waits for the verdict.
    assert POLICY.decide(stepped, live(challenger=arm("challenger-v2", labelled=900))) == []


# --- the verdict ---


def test_a_winning_challenger_is_promoted_with_its_evaluation() -> None:
    won = verdict("winner", "challenger-v2")
    [decision] = POLICY.decide(challenging(), live(accuracy=won))
    assert (decision.step, decision.candidate_version) == ("promoted", 2)
    assert decision.evaluation_id == won.evaluation_id
    assert decision.figures["p_value"] == pytest.approx(0.01)
    assert (decision.figures["ci_low"], decision.figures["ci_high"]) == (0.01, 0.09)
    after = challenging().after(decision)
    assert (after.phase, after.production, after.last_promotion) == ("idle", 2, NOW)


def test_a_winner_waits_out_the_cooldown() -> None:
    won = verdict("winner", "challenger-v2")
    recent = challenging(last_promotion=NOW - timedelta(minutes=10))
    assert POLICY.decide(recent, live(accuracy=won)) == []


def test_a_losing_challenger_is_archived() -> None:
    lost = verdict("winner", "control")
    [decision] = POLICY.decide(challenging(), live(accuracy=lost))
    assert (decision.step, decision.evaluation_id) == ("archived", lost.evaluation_id)
    assert "loses on accuracy" in decision.reason


def test_losing_on_the_business_metric_archives_even_a_more_accurate_challenger() -> None:
    won = verdict("winner", "challenger-v2")
    ctr = Verdict(
        verdict("winner", "control").verdict.model_copy(update={"metric": "ctr"}), uuid.uuid4()
    )
    [decision] = POLICY.decide(challenging(), live(accuracy=won, business=ctr))
    assert (decision.step, decision.evaluation_id) == ("archived", ctr.evaluation_id)
    assert "loses on ctr" in decision.reason


def test_no_difference_after_the_maximum_sample_archives() -> None:
    running = verdict()
    assert (
        POLICY.decide(
            challenging(step=1, step_labelled=100),
            live(challenger=arm("challenger-v2", labelled=999), accuracy=running),
        )
        == []
    )
    [decision] = POLICY.decide(
        challenging(step=1, step_labelled=100),
        live(challenger=arm("challenger-v2", labelled=1000), accuracy=running),
    )
    assert decision.step == "archived"
    assert "no difference after 1000 labelled answers" in decision.reason


def test_an_equivalence_verdict_archives() -> None:
    [decision] = POLICY.decide(challenging(), live(accuracy=verdict("no difference")))
    assert decision.step == "archived"
    assert "no difference" in decision.reason


# --- guardrails ---


@pytest.mark.parametrize(
    ("challenger", "why"),
    [
        ({"latency_p99_ms": 200.0}, "p99 latency"),
        ({"fallback_rate": 0.05}, "fallback rate"),
        ({"cost_per_prediction": 0.002}, "cost per request"),
    ],
)
def test_a_guardrail_breach_rolls_back_at_once(challenger: dict[str, float], why: str) -> None:
    observed = live(
        production_now=arm("control", cost_per_prediction=0.001),
        challenger=arm("challenger-v2", **challenger),
        accuracy=verdict("winner", "challenger-v2"),  # even a winner
    )
    [decision] = POLICY.decide(challenging(), observed)
    assert (decision.step, decision.candidate_version) == ("rolled_back", 2)
    assert why in decision.reason
    assert challenging().after(decision).phase == "idle"


def test_guardrails_wait_for_enough_predictions_and_so_does_the_next_step() -> None:
    few = live(
        production_now=arm("control", predictions=49),
        challenger=arm("challenger-v2", predictions=49, latency_p99_ms=500.0),
    )
    assert POLICY.decide(challenging(), few) == []


def test_the_latency_ratio_is_a_figure_of_the_rollback() -> None:
    slow = live(challenger=arm("challenger-v2", latency_p99_ms=100.0))
    [decision] = POLICY.decide(challenging(), slow)
    assert decision.figures["latency_p99_ratio"] == pytest.approx(2.5)


def test_the_serving_time_decides_where_both_arms_recorded_it() -> None:
    # A slow challenger makes production's requests wait behind its own in the queue, so
    # end to end both arms look alike; their own serving times do not.
    queued = live(
        production_now=arm("control", latency_p99_ms=400.0, serving_p99_ms=2.0),
        challenger=arm("challenger-v2", latency_p99_ms=450.0, serving_p99_ms=300.0),
    )
    [decision] = POLICY.decide(challenging(), queued)
    assert decision.step == "rolled_back"
    assert "p99 serving time 300 ms" in decision.reason
    assert decision.figures["serving_p99_ratio"] == pytest.approx(30.0)  # against the floor


def test_a_few_milliseconds_of_serving_time_are_no_breach() -> None:
    jitter = live(
        production_now=arm("control", serving_p99_ms=1.0),
        challenger=arm("challenger-v2", serving_p99_ms=6.0),
    )
    assert [d.step for d in POLICY.decide(challenging(), jitter)] != ["rolled_back"]


def test_a_latency_breach_needs_the_excess_too() -> None:
    # Seen on a busy machine: 67 answers' p99 (nearly their maximum) 1.54x production's.
    paused = live(
        production_now=arm("control", serving_p99_ms=29.0),
        challenger=arm("challenger-v2", serving_p99_ms=44.7),
    )
    assert [d.step for d in POLICY.decide(challenging(), paused)] != ["rolled_back"]
    slow = live(
        production_now=arm("control", serving_p99_ms=29.0),
        challenger=arm("challenger-v2", serving_p99_ms=80.0),
    )
    [decision] = POLICY.decide(challenging(), slow)
    assert decision.step == "rolled_back"
