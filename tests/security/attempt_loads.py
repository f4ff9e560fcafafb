"""Run in a child process: admit and load each case of a manifest, as inference would,
and load each pickle with the restricted unpickler alone (as if a scan had missed it).

Prints one JSON line per case. A payload that ran leaves its marker file; a memory
corruption ends this process, which the parent sees in its exit status.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from shared.models.admission import AdmissionPolicy, ModelRefused, admit
from shared.models.allowlist import ALLOWED_TYPES
from shared.models.classifiers import load_classifier
from shared.models.pickle_loader import load_pickle
from shared.models.registry import ModelRecord

LIMIT = 8 * 2**20


def attempt(case: dict[str, str]) -> dict[str, str]:
    record = ModelRecord(
        name=case["name"],
        version=1,
        artifact=case["path"],
        format=case["format"],
        licence="MIT",
        training_data="hostile",
        labels=("a", "b"),
        sha256=case["sha256"],
    )
    result = {"case": case["name"]}
    try:
        admitted = admit(record, AdmissionPolicy(allow_pickle=True, max_bytes=LIMIT))
        result["admission"] = "admitted"
        load_classifier(admitted)
        result["load"] = "loaded"
    except ModelRefused as exc:
        result.setdefault("admission", f"refused: {exc}")
        result.setdefault("load", f"refused: {exc}")
    except Exception as exc:  # anything but a refusal is a finding
        result["error"] = f"{type(exc).__name__}: {exc}"
    if case["format"] == "pickle":
        try:
            load_pickle(Path(case["path"]).read_bytes(), ALLOWED_TYPES)
            result["loader_alone"] = "loaded"
        except Exception as exc:
            result["loader_alone"] = f"refused: {type(exc).__name__}: {exc}"
    return result


if __name__ == "__main__":
    for case in json.loads(Path(sys.argv[1]).read_text()):
        print(json.dumps(attempt(case)), flush=True)
