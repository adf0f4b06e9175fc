"""Which converter keeps what, on real files: qa's loader (python-docx, python-pptx, openpyxl, odfdo, ebooklib,
striprtf) against markitdown and pandoc.

    PYTHONPATH=. python benchmarks/formats.py [--markitdown-python PATH] [--json out.json]

Files are written by tests/officegen.py (the libraries people make such files with) and, when LibreOffice is
installed, converted by `soffice --headless --convert-to` (what Word and LibreOffice users actually save).
For each file and converter: headings kept as Markdown headings, slide numbers, table cells, and sentences that
come out verbatim (whitespace aside); a sentence with `**`, backticks or `\\` escapes added does not count.
markitdown runs in its own virtual environment (it is not a qa dependency): pass its python; its time is the
conversion alone, measured inside that process. qa's first file of a kind includes importing its library.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import officegen  # noqa: E402

HANDBOOK = {
    "headings": ["Harbour Gauge Handbook", "Installation", "Power", "Maintenance"],
    "sentences": [
        "Mount each gauge on the north pier and run gaugectl --help to list its options [see Appendix A].",
        "The file __init__.py and the pattern **/*.md are not special.",
        "Batteries in each harbour gauge are replaced every 18 months by a crew from Alesund.",
        "Check the seal.",
        "A gauge that stays silent for ten minutes raises an alarm in the harbour office.",
    ],
    "cells": ["Station", "Gauges", "Battery life", "Alesund", "312", "18 months", "Bergen", "97", "24 months"],
}
DECK = {
    "headings": ["Tide Gauge Network Review", "Coverage", "Battery schedule"],
    "sentences": [
        "The network covers 312 stations along the fjord.",
        "Readings arrive every 6 minutes.",
        "Mention the two stations added in March.",
        "Questions about the review go to the harbour office in Bergen.",
    ],
    "cells": ["Station", "Battery life", "Alesund", "18 months", "Bergen", "24 months"],
    "slides": 4,
}
SHEETS = {"headings": ["Stations", "Crews"], "sentences": [], "cells": ["Tromsø", "45", "MS Kvitøy", "Florø"]}
GUIDE = {
    "headings": ["Calibration", "Tools", "Safety"],
    "sentences": [
        "Each gauge is calibrated against a reference pole every spring by the Narvik field team.",
        "A levelling staff.",
        "Nobody climbs a pier ladder alone after dark.",
    ],
    "cells": [],
}
STORM = {
    "headings": ["The Winter Storm", "Repairs"],
    "sentences": [
        "The storm of January 2022 pushed the water 2.4 metres above the mean tide at Bergen.",
        "The lost gauges were replaced within 11 days by the Bergen harbour crew.",
    ],
    "cells": [],
}
PROCUREMENT = {
    "headings": ["Procurement Notes", "Suppliers"],
    "sentences": [
        "Replacement sensors are bought from Nordic Instruments at 480 euros each.",
        "Orders go out every March and arrive in Tromsø by May.",
        "Nordic Instruments, sensors.",
    ],
    "cells": ["Sensor", "480 euros"],
}


def make_files(d: Path) -> dict[str, dict]:
    files = {
        "python-docx.docx": (officegen.make_docx, HANDBOOK),
        "python-pptx.pptx": (officegen.make_pptx, DECK),
        "openpyxl.xlsx": (officegen.make_xlsx, SHEETS),
        "odfdo.odt": (officegen.make_odt, GUIDE),
        "ebooklib.epub": (officegen.make_epub, STORM),
        "word-style.rtf": (officegen.make_rtf, PROCUREMENT),
    }
    expect = {}
    for name, (make, exp) in files.items():
        make(d / name)
        expect[name] = exp
    if shutil.which("soffice"):  # what LibreOffice saves: the same handbook as .odt, .rtf and .docx, the deck as .pptx
        lo = d / "lo"
        lo.mkdir()
        for fmt, src in (("odt", "python-docx.docx"), ("rtf", "python-docx.docx"), ("pptx", "python-pptx.pptx")):
            subprocess.run(
                ["soffice", "--headless", "--convert-to", fmt, "--outdir", str(lo), str(d / src)],
                capture_output=True,
                timeout=180,
                check=False,
            )
        for f in sorted(lo.iterdir()):
            target = d / f"libreoffice{f.suffix}"
            f.rename(target)
            expect[target.name] = DECK if f.suffix == ".pptx" else HANDBOOK
        subprocess.run(
            [
                "soffice",
                "--headless",
                "--convert-to",
                "docx:MS Word 2007 XML",
                "--outdir",
                str(lo),
                str(d / "libreoffice.odt"),
            ],
            capture_output=True,
            timeout=180,
            check=False,
        )
        if (lo / "libreoffice.docx").exists():
            (lo / "libreoffice.docx").rename(d / "libreoffice.docx")
            expect["libreoffice.docx"] = HANDBOOK
    if shutil.which("pandoc"):  # an EPUB as pandoc writes one, from the Word file
        subprocess.run(
            [
                "pandoc",
                str(d / "python-docx.docx"),
                "-o",
                str(d / "pandoc.epub"),
                "--metadata",
                "title=Harbour Gauge Handbook",
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if (d / "pandoc.epub").exists():
            expect["pandoc.epub"] = HANDBOOK
    return expect


def run_qa(path: Path) -> tuple[str, int, int | None]:
    from qa.load import SourceFile, load_file

    st = path.stat()
    doc = load_file(SourceFile(path, path.name, st.st_size, st.st_mtime_ns))
    if doc is None:
        raise RuntimeError("skipped")
    return doc.text, len(doc.pages), None


def run_markitdown(path: Path, python: str) -> tuple[str, int, int | None]:
    code = (
        "import sys, time; from markitdown import MarkItDown; m = MarkItDown(); t = time.perf_counter(); "
        "text = m.convert(sys.argv[1]).text_content; print(round((time.perf_counter() - t) * 1000)); print(text)"
    )
    r = subprocess.run([python, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    if r.returncode:
        raise RuntimeError(r.stderr.strip().splitlines()[-1][:140])
    ms, text = r.stdout.split("\n", 1)
    if text.startswith("{\\rtf"):
        raise RuntimeError("no RTF reader: returns the RTF source as text")
    return text, len(re.findall(r"<!-- Slide number: \d+ -->", text)), int(ms)


def run_pandoc(path: Path) -> tuple[str, int, int | None]:
    if path.suffix not in (".docx", ".odt", ".epub", ".rtf"):
        raise RuntimeError("format not read")
    r = subprocess.run(["pandoc", "-t", "gfm", "--wrap=none", str(path)], capture_output=True, text=True, timeout=120)
    if r.returncode:
        raise RuntimeError(r.stderr.strip()[:140])
    return r.stdout, 0, None  # the time includes starting pandoc (~30 ms)


def score(text: str, exp: dict) -> dict[str, object]:
    flat = " ".join(text.split())
    heads = {" ".join(m.group(1).split()).strip("#* ") for m in re.finditer(r"(?m)^#{1,6}\s+(.+)$", text)}
    return {
        "headings": f"{sum(h in heads for h in exp['headings'])}/{len(exp['headings'])}",
        "verbatim": f"{sum(s in flat for s in exp['sentences'])}/{len(exp['sentences'])}",
        "cells": f"{sum(c in flat for c in exp['cells'])}/{len(exp['cells'])}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markitdown-python", help="a python with markitdown[docx,pptx,xlsx] installed")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    converters = {"qa": run_qa}
    if args.markitdown_python:
        converters["markitdown"] = lambda p: run_markitdown(p, args.markitdown_python)
    if shutil.which("pandoc"):
        converters["pandoc"] = run_pandoc
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        expect = make_files(d)
        for name, exp in expect.items():
            for conv, fn in converters.items():
                t = time.perf_counter()
                ms = None
                try:
                    text, slides, ms = fn(d / name)
                    row = {"file": name, "converter": conv, **score(text, exp), "error": ""}
                    if "slides" in exp:
                        row["slides"] = f"{slides}/{exp['slides']}"
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    row = {"file": name, "converter": conv, "error": " ".join(str(e).split())}
                row["ms"] = ms if ms is not None else round((time.perf_counter() - t) * 1000)
                rows.append(row)
    print("| file | converter | headings | verbatim sentences | table cells | slide numbers | ms | failure |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['file']} | {r['converter']} | {r.get('headings', '-')} | {r.get('verbatim', '-')} | "
            f"{r.get('cells', '-')} | {r.get('slides', '')} | {r['ms']} | {r['error']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
