"""The report round: only the leading replica reports, and it publishes every evaluation."""

from __future__ import annotations

from services.evaluator.ports import ArmSample
from services.evaluator.reporting import REPORT_TENANT, report_if_leading
from services.evaluator.sequential import SequentialTest
from shared.contracts.events import Evaluation
from tests.unit.evaluator.fakes import FixedLeadership, FullScoreBook

ARMS = [
    ArmSample(experiment="e", variant="control", predictions=4, relevance_sum=2.0, clicked=1),
    ArmSample(experiment="e", variant="treatment", predictions=4, relevance_sum=3.0, clicked=3),
]


async def test_the_leader_publishes_and_keeps_every_arms_metrics_and_verdicts() -> None:
    book = FullScoreBook(arms=ARMS)
    published: list[Evaluation] = []

    async def publish(evaluation: Evaluation) -> None:
        published.append(evaluation)

    await report_if_leading(
        leadership=FixedLeadership(leads=True),
        book=book,
        test=SequentialTest(),
        window_s=3600,
        publish=publish,
    )

    assert {e.tenant for e in published} == {REPORT_TENANT}
    metrics = [(e.variant, e.metrics.window) for e in published if e.metrics is not None]
    assert sorted(metrics) == [
        ("control", "cumulative"),
        ("control", "sliding"),
        ("treatment", "cumulative"),
        ("treatment", "sliding"),
    ]
    assert {e.verdict.metric for e in published if e.verdict is not None} >= {"ctr"}
    assert book.reports == [published]


async def test_a_replica_that_does_not_lead_reads_and_publishes_nothing() -> None:
    book = FullScoreBook(arms=ARMS)
    published: list[Evaluation] = []

    async def publish(evaluation: Evaluation) -> None:
        published.append(evaluation)

    leadership = FixedLeadership(leads=False)
    await report_if_leading(
        leadership=leadership, book=book, test=SequentialTest(), window_s=3600, publish=publish
    )

    assert leadership.asked == 1
    assert published == []
    assert book.reports == []


async def test_a_shadow_arm_is_reported_but_never_compared() -> None:
    from services.evaluator.reporting import ab_verdicts, report

    shadow = ArmSample(
        experiment="e",
        variant="shadow-v2",
        predictions=4,
        label_pairs={("fresh", "fresh"): 3, ("fresh", "rotten"): 1},
        shadow=True,
    )
    book = FullScoreBook(arms=[*ARMS, shadow])
    verdicts = await ab_verdicts(book.arms, test=SequentialTest(), book=book)
    assert {v.treatment for _, v in verdicts} == {"treatment"}
    evaluations = await report(book=book, tenant=REPORT_TENANT, window_s=60, test=SequentialTest())
    shown = [e.metrics for e in evaluations if e.variant == "shadow-v2" and e.metrics]
    assert [(m.window, m.accuracy) for m in shown] == [("cumulative", 0.75), ("sliding", 0.75)]
