"""What confidence means on this corpus: measured when an index is built, with no gold answers, and kept with it.

A fixed threshold chosen on one corpus means something else on the next: on technical text, off-topic questions
in its own vocabulary reach confidences that right answers reach on prose. So each build asks two kinds of
question of its own index:
  - PROBES, about subjects no single corpus covers (cooking, sport, history, other software and systems): what
    an off-topic question scores here;
  - questions derived from the corpus (a sampled chunk's heading asked about in plain words): what a question the
    documents do answer scores here.
The threshold sits just above every probe (PROBE_MARGIN) but never above what the derived questions' lower
quantile allows (DERIVED_QUANTILE: a probe that happens to be on topic for this corpus must not refuse its own
questions), and within [FLOOR, CEILING] of the reader's scale.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from qa.types import Chunk

# Off-topic probes: general and technical subjects, one question each. Written for calibration, independently of
# the eval sets (evals/README.md says which eval sets share their topics).
PROBES = (
    "How long should pasta boil before it is al dente?",
    "What temperature should a roast chicken reach inside?",
    "How do you make a sourdough starter?",
    "Which wine goes well with grilled salmon?",
    "Who won the first FIFA World Cup?",
    "How many players are on a rugby union team?",
    "What is the offside rule in ice hockey?",
    "Which city hosted the 1996 Summer Olympics?",
    "When did the Roman Republic become an empire?",
    "Who was the first emperor of the Ming dynasty?",
    "What caused the fall of the Berlin Wall?",
    "Which treaty ended the Thirty Years' War?",
    "What is the capital of Mongolia?",
    "Which river flows through Budapest?",
    "How high is Mount Kilimanjaro?",
    "What is the largest desert in Asia?",
    "How do vaccines train the immune system?",
    "What does the mitochondria do in a cell?",
    "Why is the sky blue during the day?",
    "What is the boiling point of ethanol?",
    "How far is Mars from the Sun?",
    "What is a neutron star made of?",
    "Who composed the Four Seasons violin concertos?",
    "Which band released the album Abbey Road?",
    "Who directed the film Seven Samurai?",
    "Who wrote the novel One Hundred Years of Solitude?",
    "How much sleep does an adult need each night?",
    "What are the symptoms of iron deficiency?",
    "How is compound interest calculated on a savings account?",
    "What does a mortgage broker do?",
    "How do I change a flat tyre on a bicycle?",
    "How often should a car's engine oil be changed?",
    "When should tomato seedlings be planted outdoors?",
    "How often should a cat be vaccinated?",
    "How do I remove a red wine stain from a carpet?",
    "What is the difference between a visa and a passport?",
    "How do I declare a generic method in Java?",
    "What does the borrow checker do in Rust?",
    "How do goroutines communicate in Go?",
    "How do I debounce an input event in JavaScript?",
    "What is a closure in Swift?",
    "How do Kotlin coroutines differ from threads?",
    "What is a monad in Haskell?",
    "How do I read a CSV file in R?",
    "What is the difference between a struct and a class in C#?",
    "How do I configure autoloading in PHP Composer?",
    "How do I create a stored procedure in MySQL?",
    "What is a tablespace in Oracle Database?",
    "How do I index an array field in MongoDB?",
    "What eviction policies does Redis support?",
    "How do I edit the Windows registry safely?",
    "How do I add a login item with launchd on macOS?",
    "How do I reset a forgotten Android screen lock?",
    "How do I merge cells in an Excel spreadsheet?",
    "How do I remove a background in Photoshop?",
    "What is the difference between TCP and UDP?",
    "How does a BGP route reflector work?",
    "How much RAM does a gaming PC need?",
    "How do I flash firmware onto an Arduino board?",
    "What is the difference between an S3 bucket policy and an IAM policy?",
    "How do I train a convolutional neural network in TensorFlow?",
    "How do I set up a React component with hooks?",
    "What does a Dockerfile HEALTHCHECK instruction do?",
    "How do I rebase a branch in Mercurial?",
)

# Above every probe, not a quantile of them: on docs/ (a tuning set) the 90th percentile (0.23) put the threshold
# at the floor, where an off-topic question at 0.30 was answered; the highest probe (0.37) + 0.02 is where the
# hand-set 0.40 was
CALIBRATION_VERSION = 2  # bump when how the threshold is chosen changes: indexes measure again on their next build
PROBE_QUANTILE = 1.0
PROBE_MARGIN = 0.02
DERIVED_QUANTILE = 0.1  # at most this share of the derived, answerable questions may fall below the threshold
DERIVED_SAMPLE = 48  # chunks sampled for derived questions (evenly, so the sample is the same every build)
FLOOR, CEILING = 0.30, 0.60  # the threshold stays on the reader's scale whatever the corpus does


def derived_questions(chunks: Sequence[Chunk], n: int = DERIVED_SAMPLE) -> list[str]:
    """Questions the corpus answers, one per sampled chunk: what its deepest heading is, asked in plain words
    ("What about Memory and overhead?"), skipping headings that only repeat the document title."""
    step = max(1, len(chunks) // n)
    out = []
    for c in chunks[::step]:
        heading = c.section.rsplit(" > ", 1)[-1].split(" (p. ")[0].strip()
        if heading and heading.casefold() != c.title.casefold():
            out.append(f"What does the documentation say about {heading}?")
    return list(dict.fromkeys(out))[:n]


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (linear between order statistics) of at least one value."""
    if len(values) == 1 or q >= 1:
        return float(max(values))
    return float(statistics.quantiles(values, n=100, method="inclusive")[max(0, min(98, round(q * 100) - 1))])


def choose_threshold(probes: Sequence[float], derived: Sequence[float]) -> float:
    """Above most probes, below most derived questions, on the reader's scale."""
    t = quantile(probes, PROBE_QUANTILE) + PROBE_MARGIN
    if derived:
        t = min(t, quantile(derived, DERIVED_QUANTILE))
    return round(min(CEILING, max(FLOOR, t)), 4)


def current(record: Mapping[str, Any] | None, reader: str) -> bool:
    """True when a calibration record was measured for this reader by this version of the method."""
    return bool(record) and record.get("reader") == reader and record.get("version") == CALIBRATION_VERSION


def calibrate(confidence_of: Callable[[str], float], chunks: Sequence[Chunk], reader: str) -> dict[str, Any]:
    """The calibration record kept in an index's manifest: the threshold and the figures it was chosen from."""
    probes = [confidence_of(q) for q in PROBES]
    derived = [confidence_of(q) for q in derived_questions(chunks)]
    return {
        "version": CALIBRATION_VERSION,
        "reader": reader,
        "threshold": choose_threshold(probes, derived),
        "probes": {"n": len(probes), "q90": round(quantile(probes, 0.9), 4), "max": round(max(probes), 4)},
        "derived": {
            "n": len(derived),
            "q10": round(quantile(derived, 0.1), 4) if derived else None,
            "median": round(statistics.median(derived), 4) if derived else None,
        },
    }
