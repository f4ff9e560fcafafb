"""pillars under injected faults, counted by the chaos suite's oracle.

Usage: python tests/bench/chaos.py [--quick] [--seed N]

`pillars up` behind a stalling proxy; a plain aiokafka client's steady load of requests,
documents and click feedback; faults at seeded random times (replica, broker and postmaster
SIGKILLs, network stalls and dropped connections, scale-ups and -downs); then the oracle:
`lost`, `conflicting`, `redelivered`, `chunk_differences`, `metric_differences`, and each
fault's recovery: from its clearing until every request sent while it struck (or in the 2 s
after) is answered (`recovery_p99_s`), and, weaker, to the first answer of any request
(`first_progress_p99_s`). The full run is
at least 10,000 events and 30 faults; `--quick` 8 faults in under 5 minutes.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))
from tests.chaos.run import chaos_platform, run_chaos


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="8 faults over 150 s")
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args()
    seconds, rate, faults = (150.0, 8.0, 8) if args.quick else (560.0, 14.0, 30)
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="pillars-chaos-bench-") as folder,
        chaos_platform(Path(folder)) as chaos,
    ):
        figures = asyncio.run(
            run_chaos(chaos, seconds=seconds, rate_per_s=rate, faults=faults, seed=args.seed)
        )
    for fault in figures.pop("recovery_by_fault"):
        print(f"{fault['kind']:>8} {fault['target']:<45} recovered in {fault['recovery_s']} s")
    figures |= {
        "seed": args.seed,
        "seconds": round(time.monotonic() - began, 1),
        # Not built: the transactional (exactly-once) hop option; see the closing note.
        "redelivered_exactly_once": None,
        "exactly_once_hop_p50_ratio": None,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
