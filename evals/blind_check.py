"""Checks a question set against its HTML corpus without running qa (stdlib only).

    python evals/blind_check.py evals/python-docs.jsonl /tmp/python-docs
    python evals/blind_check.py --dump /tmp/python-docs /tmp/python-docs-text   # pages as plain text, to read

For every question: the id is unique, the kind is known, `answers` is [] exactly for the unanswerable kinds,
every `source` file exists, and every gold string occurs (after the scorer's normalisation: NFKC, lower case,
digit-group commas removed, punctuation to spaces, whole words) in the visible text of at least one source page.
It also flags a question that shares 10 or more words in a row with a page, and prints the counts per kind.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

KINDS = {"lookup", "paraphrase", "multi", "unanswerable", "unanswerable_offtopic"}
SKIP = {"script", "style", "head", "noscript", "template"}
BLOCK = {
    "p",
    "div",
    "br",
    "li",
    "tr",
    "td",
    "th",
    "dt",
    "dd",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "dl",
    "section",
    "blockquote",
    "caption",
    "title",
}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIP:
            self.skip += 1
        elif tag in BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def visible_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " " + " ".join(text.split()) + " "


def check(jsonl: Path, corpus: Path) -> int:
    texts: dict[str, str] = {}
    norm: dict[str, str] = {}
    problems = 0
    seen: set[str] = set()
    kinds: Counter[str] = Counter()
    all_pages = {p.name: normalise(visible_text(p)) for p in sorted(corpus.glob("*.html"))}
    questions = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    for q in questions:
        qid = q.get("id", "?")
        kinds[q.get("kind")] += 1

        def bad(msg: str) -> None:
            nonlocal problems
            problems += 1
            print(f"{qid}: {msg}")

        if qid in seen:
            bad("duplicate id")
        seen.add(qid)
        if q.get("kind") not in KINDS:
            bad(f"unknown kind {q.get('kind')!r}")
        unanswerable = q.get("kind", "").startswith("unanswerable")
        answers = q.get("answers")
        if not isinstance(answers, list) or (unanswerable != (answers == [])):
            bad(f"answers {answers!r} do not fit kind {q.get('kind')}")
        sources = q.get("source") or []
        sources = [sources] if isinstance(sources, str) else sources
        if not unanswerable and not sources:
            bad("no source")
        for s in sources:
            if s not in texts:
                p = corpus / s
                if not p.is_file():
                    bad(f"source {s} not in {corpus}")
                    continue
                texts[s] = visible_text(p)
                norm[s] = normalise(texts[s])
        for a in answers or []:
            na = normalise(a)
            if na.strip() == "":
                bad(f"gold {a!r} is empty after normalisation")
            elif not any(na in norm.get(s, "") for s in sources):
                bad(f"gold {a!r} not in the visible text of {sources}")
        words = normalise(q.get("question", "")).split()
        for s, page in all_pages.items():
            for i in range(len(words) - 9):
                if " " + " ".join(words[i : i + 10]) + " " in page:
                    bad(f"question shares 10+ words in a row with {s}")
                    break
    print(
        f"{jsonl}: {len(questions)} questions, "
        + ", ".join(f"{n} {k}" for k, n in kinds.most_common())
        + f"; {problems} problems"
    )
    return 1 if problems else 0


def dump(corpus: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for p in sorted(corpus.glob("*.html")):
        (out / (p.stem + ".txt")).write_text(visible_text(p) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--dump":
        dump(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) == 3:
        sys.exit(check(Path(sys.argv[1]), Path(sys.argv[2])))
    else:
        sys.exit(__doc__)
