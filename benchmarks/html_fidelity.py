"""Do qa's quotes of HTML pages read as the pages do? Chunks whose text is not in the page's visible text.

    PYTHONPATH=. python benchmarks/html_fidelity.py [--pages 60] [--json out.json]

The pages are real manuals Debian ships as HTML (tests/htmlcheck.py names them: the Python docs, the PostgreSQL
manual, the GNU diffutils and gettext manuals), the same sample every run. Run it with an older qa on PYTHONPATH
(git archive <commit> qa | tar -x -C /tmp/old; PYTHONPATH=/tmp/old:tests ...) for the before figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from htmlcheck import MANUALS, check_pages, sample_pages  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=60, help="pages sampled from each manual")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    rows = []
    print("| manual | pages | chunks | chunks with text the page does not show | visible words kept | s |")
    print("|---|---|---|---|---|---|")
    for name, root in MANUALS.items():
        if not root.is_dir():
            print(f"| {name} | missing: {root} | | | | |")
            continue
        t = time.perf_counter()
        r = check_pages(sample_pages(name, args.pages), max_examples=5)
        s = time.perf_counter() - t
        rows.append({"manual": name, **{k: v for k, v in vars(r).items()}, "seconds": round(s, 1)})
        print(
            f"| {name} | {r.pages} | {r.chunks} | {r.bad_chunks} ({r.bad_chunks / max(1, r.chunks):.0%}) | "
            f"{r.kept_words / max(1, r.page_words):.1%} | {s:.1f} |"
        )
        for page, line in r.examples[:3]:
            print(f"|  | e.g. {page} | | `{line[:90]}` | | |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
