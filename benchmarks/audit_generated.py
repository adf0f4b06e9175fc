"""Audit of generated answers in `qa eval --json` records (issue 19): every sentence a model wrote that qa showed
must have its numbers and names in the passages it cites.

It reads only the records (the shown answer text with its [n] markers and each citation's quote and heading) and
uses its own plain rules, not qa.verify's, so a bug in the verifier cannot hide itself here:
  - a number is a run of digits ("400,000" = "400000"; "1.9" stays "1.9"); it must occur as a whole number in a
    cited quote or heading, or be written there as a word ("ten" for 10);
  - a name is a capitalised word ("Copenhagen", "KubeCon", "CRI-O", "k8s" is not one) that is not a common
    sentence opener; it must occur, case-insensitively and as a whole word, in a cited quote or heading.
The check is against the quotes the reader sees (the exact spans qa cites), which is stricter than against the
whole passages qa verified against: a number that is only elsewhere in the passage is reported too.

  python benchmarks/audit_generated.py seeds-qwen.json docs-qwen.json     # exit status 1 when anything fails
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

MARKERS = re.compile(r"((?:\[\d+\])+)")
NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
NAME = re.compile(r"\b[A-Z][\w'’+-]*\b")
NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20",
}  # fmt: skip
OPENERS = {  # capitalised because they open a sentence or clause, not because they name something
    "A", "An", "The", "It", "Its", "In", "On", "At", "By", "For", "From", "To", "Of", "And", "But", "Or", "As",
    "This", "That", "These", "Those", "There", "They", "He", "She", "His", "Her", "Their", "We", "Our", "You",
    "Yes", "No", "According", "During", "After", "Before", "With", "Without", "Which", "What", "Who", "When",
    "Where", "Why", "How", "Both", "Each", "All", "Some", "Most", "One", "If", "While", "Since", "Also",
    "I", "Not", "Only", "Then", "Here", "So", "Such", "Other", "Another", "Many", "More", "First", "Second",
}  # fmt: skip


def numbers(text: str, *, words: bool = False) -> set[str]:
    found = {m.group(0).replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", m.group(0)) else m.group(0)
             for m in NUMBER.finditer(text)}  # fmt: skip
    found = {n.rstrip(".,") for n in found}
    if words:
        found |= {NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in NUMBER_WORDS}
    return found


def names(sentence: str) -> set[str]:
    return {m.group(0).rstrip("'’").removesuffix("'s").removesuffix("’s") for m in NAME.finditer(sentence)} - OPENERS


def has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word.lower())}(?![\w-])", text.lower()) is not None


def sentences(answer: str) -> list[tuple[str, list[int]]]:
    """The shown answer as (sentence, cited numbers): qa writes each verified sentence followed by its markers."""
    out = []
    parts = MARKERS.split(answer)
    for text, marks in zip(parts[0::2], [*parts[1::2], ""], strict=True):
        if text.strip():
            out.append((text.strip(), [int(n) for n in re.findall(r"\d+", marks)]))
    return out


def audit(records: list[dict]) -> tuple[dict[str, int], list[str]]:
    counts = {"answers": 0, "sentences": 0, "numbers": 0, "names": 0}
    failures = []
    for r in records:
        if r.get("generator", "extractive") == "extractive" or r.get("abstained") or r.get("candidate_answer") is None:
            continue
        counts["answers"] += 1
        by_n = {c["n"]: c for c in r["citations"]}
        for text, cited in sentences(r["candidate_answer"]):
            counts["sentences"] += 1
            if not cited or any(n not in by_n for n in cited):
                failures.append(f"{r['id']}: “{text}” cites {cited}, not a shown citation")
                continue
            evidence = "\n".join(f"{by_n[n]['section']}\n{by_n[n]['quote']}" for n in cited)
            have = numbers(evidence, words=True)
            for n in sorted(numbers(text)):
                counts["numbers"] += 1
                if n not in have:
                    failures.append(f"{r['id']}: number {n} of “{text}” is not in its quotes {cited}")
            for name in sorted(names(text)):
                counts["names"] += 1
                if not has_word(evidence, name):
                    failures.append(f"{r['id']}: name {name} of “{text}” is not in its quotes {cited}")
    return counts, failures


def main(paths: list[str]) -> int:
    total = {"answers": 0, "sentences": 0, "numbers": 0, "names": 0}
    bad = []
    for p in paths:
        counts, failures = audit(json.loads(Path(p).read_text(encoding="utf-8"))["records"])
        print(f"{p}: {counts['answers']} generated answers shown, {counts['sentences']} sentences, "
              f"{counts['numbers']} numbers and {counts['names']} names checked, {len(failures)} not in the quotes")  # fmt: skip
        for k in total:
            total[k] += counts[k]
        bad += failures
    for f in bad:
        print("  " + f)
    if len(paths) > 1:
        print(
            f"all: {total['sentences']} sentences, {total['numbers']} numbers, {total['names']} names; {len(bad)} failures"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
