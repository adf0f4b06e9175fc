"""A folder of 100 Office files for timing `qa index`: 50 .docx, 30 .pptx and 20 .xlsx, each with its own text.

    PYTHONPATH=. python benchmarks/office_folder.py /tmp/office100
    QA_HOME=$(mktemp -d) /usr/bin/time -v qa index /tmp/office100

Files are written by python-docx, python-pptx and openpyxl from a seeded generator, so every run makes the same
folder; no two paragraphs are alike, so nothing is skipped as a duplicate when embedding.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

PLACES = ["Alesund", "Bergen", "Tromsø", "Narvik", "Bodø", "Florø", "Hammerfest", "Kristiansund", "Molde", "Svolvær"]
THINGS = ["tide gauge", "pier ladder", "mooring ring", "radio mast", "battery pack", "wave buoy", "sensor housing"]
VERBS = ["was inspected", "was replaced", "was recalibrated", "failed", "was moved", "was cleaned", "was painted"]


def sentence(rng: random.Random, n: int) -> str:
    return (
        f"On day {n} the {rng.choice(THINGS)} at {rng.choice(PLACES)} {rng.choice(VERBS)} by crew {rng.randint(1, 90)}"
        f" after {rng.randint(2, 400)} hours of service, and {rng.randint(1, 60)} readings were checked."
    )


def make(dest: Path, n: int = 100, seed: int = 21) -> Path:
    import docx
    import openpyxl
    from pptx import Presentation

    rng = random.Random(seed)
    dest.mkdir(parents=True, exist_ok=True)
    counter = 0
    for i in range(n):
        kind = "docx" if i % 10 < 5 else "pptx" if i % 10 < 8 else "xlsx"
        path = dest / f"report-{i:03d}.{kind}"
        if kind == "docx":
            d = docx.Document()
            d.add_heading(f"Harbour report {i}", 0)
            for section in ("Inspections", "Repairs", "Outlook"):
                d.add_heading(section, 1)
                for _ in range(4):
                    counter += 1
                    d.add_paragraph(" ".join(sentence(rng, counter + k) for k in range(3)))
            d.save(path)
        elif kind == "pptx":
            deck = Presentation()
            for s in range(6):
                slide = deck.slides.add_slide(deck.slide_layouts[1])
                slide.shapes.title.text = f"Station {rng.choice(PLACES)} review {i}.{s}"
                frame = slide.placeholders[1].text_frame
                counter += 1
                frame.text = sentence(rng, counter)
                for _ in range(2):
                    counter += 1
                    frame.add_paragraph().text = sentence(rng, counter)
            deck.save(path)
        else:
            book = openpyxl.Workbook()
            sheet = book.active
            sheet.title = f"Readings {i}"
            sheet.append(["Station", "Item", "Hours", "Readings", "Crew"])
            for _ in range(40):
                sheet.append(
                    [
                        rng.choice(PLACES),
                        rng.choice(THINGS),
                        rng.randint(2, 400),
                        rng.randint(1, 60),
                        rng.randint(1, 90),
                    ]
                )
            book.save(path)
    return dest


if __name__ == "__main__":
    print(make(Path(sys.argv[1] if len(sys.argv) > 1 else "office100")))
