"""Compare two `qa eval --json` files question by question: answer text, abstention, confidence, citations, ranks.

    python evals/compare.py before.json after.json [--confidence-tolerance 1e-4]

Prints one line per question whose answer changed and a summary; exits 1 when anything differs, so a refactor
that promises "no change in behaviour" can prove it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _key(record: dict) -> dict:
    return {
        "text": record.get("candidate_answer"),
        "abstained": bool(record.get("abstained")),
        "citations": [(c["source"], c["start"], c["end"], c["quote"]) for c in record.get("citations", [])],
        "stage_ranks": record.get("stage_ranks"),
    }


def compare(before: dict, after: dict, tolerance: float) -> list[str]:
    """One line for every question whose outcome differs (or that only one file has)."""
    old = {r["id"]: r for r in before["records"]}
    new = {r["id"]: r for r in after["records"]}
    lines = [f"{qid}: only in the first file" for qid in old.keys() - new.keys()]
    lines += [f"{qid}: only in the second file" for qid in new.keys() - old.keys()]
    for qid in sorted(old.keys() & new.keys()):
        a, b = old[qid], new[qid]
        what = [k for k, v in _key(a).items() if _key(b)[k] != v]
        if abs(float(a.get("confidence", 0)) - float(b.get("confidence", 0))) > tolerance:
            what.append(f"confidence {a.get('confidence')} -> {b.get('confidence')}")
        if what:
            lines.append(f"{qid}: {', '.join(what)}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--confidence-tolerance", type=float, default=1e-4)
    args = p.parse_args(argv)
    before, after = (json.loads(f.read_text()) for f in (args.before, args.after))
    lines = compare(before, after, args.confidence_tolerance)
    for line in lines:
        print(line)
    n = len(after["records"])
    print(f"{args.after.name}: {n - len(lines)} of {n} questions identical" + ("" if lines else " (all)"))
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
