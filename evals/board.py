"""The whole board in one command: every eval set against its corpus, one row each, as a Markdown table.

    python evals/board.py [--corpora /tmp/qa-corpora] [--only SET ...] [--json board.json]

Corpora that are not in the repo are written first by their scripts (evals/*.sh, Debian packages). A set whose
corpus cannot be made here is listed as skipped, with the reason. Blind sets are run like the others: read their
totals only (evals/README.md, "Blind sets").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
# set -> (corpus folder relative to the repo, or a command that writes it into {dir}; blind?)
SETS = {
    "docs": ("docs", False),
    "seeds": ("../shared/seeds", False),
    "docs-dev": ("docs", False),
    "seeds-dev": ("../shared/seeds", False),
    "docs-holdout": ("docs", False),
    "offtopic-probes": ("docs", False),
    "man-pages": ("bash evals/man-pages.sh {dir}", False),
    "rust-book": ("bash evals/rust-book.sh {dir}", False),
    "docs-blind": ("docs", True),
    "python-docs": ("bash evals/corpora.sh python-docs {dir}", True),
    "postgres-manual": ("bash evals/corpora.sh postgres-manual {dir}", True),
    "debian-handbook": ("bash evals/corpora.sh debian-handbook {dir}", False),  # relabelled: evals/README.md
    "gnu-manuals": ("bash evals/corpora.sh gnu-manuals {dir}", True),
}
COLUMNS = (
    ("answer_accuracy", "answer"),
    ("citation_accuracy", "citation"),
    ("mean_answer_words", "words"),
    ("false_abstention", "false abst."),
    ("offtopic", "off-topic refused"),
    ("nearmiss", "near-miss refused"),
    ("threshold", "threshold"),
    ("latency_ms_p50", "p50 ms"),
)


def corpus(name: str, spec: str, base: Path) -> Path:
    """The corpus folder of a set, written by its script the first time."""
    if not spec.startswith("bash "):
        return (ROOT / spec).resolve()
    folder = base / name
    if not folder.is_dir() or not any(folder.iterdir()):
        cmd = spec.format(dir=folder)
        done = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError((done.stderr or done.stdout).strip().splitlines()[-1])
    return folder


def row(name: str, summary: dict) -> dict:
    o, kinds = summary["overall"], summary["by_kind"]
    return {
        "set": name,
        **{k: o.get(k) for k, _ in COLUMNS if k in o},
        "offtopic": kinds.get("unanswerable_offtopic", {}).get("abstention_recall"),
        "nearmiss": kinds.get("unanswerable", {}).get("abstention_recall"),
        "threshold": summary.get("threshold"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpora", type=Path, default=Path(tempfile.gettempdir()) / "qa-corpora")
    p.add_argument("--only", nargs="*", default=None, help="run only these sets")
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--ablate", action="store_true", help="also answer each set with each rule family switched off")
    p.add_argument("--records", type=Path, help="write each set's qa eval --json file into this folder")
    args = p.parse_args(argv)

    from qa.evaluate import main as run_eval
    from qa.settings import Settings

    rows, t0 = [], time.perf_counter()
    for name, (spec, blind) in SETS.items():
        if args.only and name not in args.only:
            continue
        try:
            folder = corpus(name, spec, args.corpora)
        except RuntimeError as e:
            rows.append({"set": name, "skipped": str(e)})
            continue
        out = args.records / f"{name}.json" if args.records else None
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
        summary = run_eval(HERE / f"{name}.jsonl", settings=Settings(docs=folder), json_out=out, ablate=args.ablate)
        rows.append({**row(name, summary), "blind": blind, "ablation": summary.get("ablation")})
    lines = ["| set | " + " | ".join(label for _, label in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for r in rows:
        label = f"{r['set']}{' (blind)' if r.get('blind') else ''}"
        if "skipped" in r:
            lines.append(f"| {label} | skipped: {r['skipped']} |" + " |" * (len(COLUMNS) - 1))
            continue
        cells = ["—" if r.get(k) is None else str(r.get(k)) for k, _ in COLUMNS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if args.ablate:
        families = [a["switched_off"] for a in next(r["ablation"] for r in rows if r.get("ablation"))]
        print("\nAblation, answer accuracy / off-topic refused / near-miss refused with each family off:\n")
        print("| set | " + " | ".join(families) + " |\n" + "|---" * (len(families) + 1) + "|")
        for r in rows:
            if r.get("ablation"):
                cells = [
                    f"{a['answer_accuracy']} / {a['offtopic_abstention']} / {a['nearmiss_abstention']}"
                    for a in r["ablation"]
                ]
                print(f"| {r['set']} | " + " | ".join(cells) + " |")
    print(f"\n{len(rows)} sets in {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
