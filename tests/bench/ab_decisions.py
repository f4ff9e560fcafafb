"""The A/B decision rule over many simulated experiments, against peeking at a z-test.

Usage: python tests/bench/ab_decisions.py [--experiments N] [--per-arm USERS] [--quick]

CTR experiments (5% base rate) watched continuously, looked at every 100 users per arm up to
`--per-arm`: A/A (no difference) and A/B (a planted 20% relative lift). pillars' rule
(mSPRT, always-valid: services/evaluator/sequential.py) against the baseline, measured on
the same draws: a fixed-horizon two-proportion z-test checked at every look, stopped at the
first p < 0.05. Last line: one JSON object with `aa_false_winner_rate` and `ab_power`.
"""

from __future__ import annotations

import argparse
import json
import time

from services.evaluator.sequential import SequentialTest
from services.evaluator.simulation import peeking_z_test, simulate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experiments", type=int, default=5000)
    parser.add_argument("--per-arm", type=int, default=20_000)
    parser.add_argument("--base-rate", type=float, default=0.05)
    parser.add_argument("--lift", type=float, default=0.2)
    parser.add_argument("--quick", action="store_true", help="1,000 experiments each")
    args = parser.parse_args()
    experiments = 1000 if args.quick else args.experiments
    rule = SequentialTest()
    common = {"experiments": experiments, "per_arm": args.per_arm, "base_rate": args.base_rate}
    started = time.perf_counter()
    aa = simulate(rule, lift=0.0, seed=1, **common)
    ab = simulate(rule, lift=args.lift, seed=2, **common)
    aa_peek = peeking_z_test(lift=0.0, seed=1, **common)
    ab_peek = peeking_z_test(lift=args.lift, seed=2, **common)
    seconds = time.perf_counter() - started
    print(f"{experiments} experiments each, {args.per_arm} users per arm, CTR {args.base_rate}")
    rows = [
        ("A/A false winner rate", aa.winner_rate, aa_peek.winner_rate),
        ("A/B right winner rate", ab.right_winner_rate, ab_peek.right_winner_rate),
        ("A/B wrong winner rate", ab.wrong_winner_rate, ab_peek.wrong_winner_rate),
        ("A/B mean users per arm", ab.mean_users_per_arm, ab_peek.mean_users_per_arm),
    ]
    print(f"{'':<28}{'pillars (mSPRT)':>18}{'peeking z-test':>18}")
    for name, ours, baseline in rows:
        print(f"{name:<28}{ours:>18.4f}{baseline:>18.4f}")
    ratio = aa.winner_rate / aa_peek.winner_rate if aa_peek.winner_rate else 0.0
    print(f"false winners: {ratio:.3f}x the peeking baseline's; power {ab.right_winner_rate:.3f}")
    figures = {
        "experiments": experiments,
        "users_per_arm": args.per_arm,
        "base_rate": args.base_rate,
        "lift": args.lift,
        "aa_false_winner_rate": round(aa.winner_rate, 4),
        "ab_power": round(ab.right_winner_rate, 4),
        "ab_wrong_winner_rate": round(ab.wrong_winner_rate, 4),
        "ab_mean_users_per_arm": round(ab.mean_users_per_arm, 1),
        "baseline_peeking_aa_false_winner_rate": round(aa_peek.winner_rate, 4),
        "baseline_peeking_ab_power": round(ab_peek.right_winner_rate, 4),
        "false_winner_ratio_to_peeking": round(ratio, 4),
        "seconds": round(seconds, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
