"""Optional generative answers: an LLM (a backend from qa/llm.py) writes a short answer from the numbered
passages, then every sentence is checked against the passages it cites (qa.verify) and only supported sentences
are shown. A GeneratorError makes pipeline.stream_answer fall back to the extractive answer, with a note.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import replace

from qa.compose import ABSTAIN_TEXT, cite
from qa.errors import GeneratorError
from qa.llm import Backend, Messages, generator_for
from qa.settings import LLMSettings
from qa.text import clean_inline_markdown
from qa.types import Answer, AnswerSentence, Citation, Document, Passage
from qa.verify import ABSTAIN_PHRASE, Verdict, best_span, content_words, is_abstention, verify

SYSTEM_PROMPT = (
    "Answer the question using only the numbered passages. "
    "Write one or two complete sentences that name what the question asks about, so each sentence makes sense "
    "on its own; copy names, numbers and dates exactly as the passages write them. "
    "End each sentence with the numbers of the passages it uses, for example [2] or [1][3]. "
    f"If the passages do not answer the question, write only: {ABSTAIN_PHRASE}"
)
# Worked examples as earlier chat turns: small models copy a format far better than they follow a description of
# it (SmolLM2-135M cited 0 of 30 answers without them, 3 to 6 with them). One of each outcome, and one sentence
# that uses two passages, cited [2] and [1] where it uses each. The names are invented; if a model copies one into
# an answer, verification drops that sentence (it is in no given passage).
REMINDER = "\n(Answer in a complete sentence that ends with the passage numbers, like [1], or write NOT IN DOCUMENTS.)"
_DEMO_PASSAGES = (
    "[1] Harbour bakery > History: The Harbour bakery opened in 1998 in a former boathouse. "
    "It moved to Quay Street in 2010.\n\n"
    "[2] Harbour bakery > People: Mira Holm founded the bakery. She still bakes the rye bread every morning.\n\n"
    "[3] Harbour bakery > Shops: A second shop opened in Lund in 2015, and a third one in Malmo in 2019."
)
DEMO_TURNS = (  # the answered examples come last: small models lean towards repeating the last reply's form
    {
        "role": "user",
        "content": f"Passages:\n{_DEMO_PASSAGES}\n\nQuestion: How many loaves does the bakery sell each day?{REMINDER}",
    },
    {"role": "assistant", "content": ABSTAIN_PHRASE},
    {
        "role": "user",
        "content": f"Passages:\n{_DEMO_PASSAGES}\n\nQuestion: Who founded the bakery, and when did it open?{REMINDER}",
    },
    {"role": "assistant", "content": "Mira Holm founded the Harbour bakery [2], which opened in 1998 [1]."},
    {
        "role": "user",
        "content": f"Passages:\n{_DEMO_PASSAGES}\n\nQuestion: In which towns did the bakery open more shops?{REMINDER}",
    },
    {"role": "assistant", "content": "The Harbour bakery opened more shops in Lund and Malmo [3]."},
)
CHARS_PER_TOKEN = 3  # conservative for English prose, so the prompt fits the context window without a tokenizer
PROMPT_OVERHEAD_TOKENS = 700  # system prompt and worked examples (~580 Qwen2.5 tokens), question, chat template


# --- prompt ------------------------------------------------------------------------------------


def prompt_passages(passages: Sequence[Passage], settings: LLMSettings, *, first: Sequence[str] = ()) -> list[Passage]:
    """The passages given to the model: those whose chunk ids are in `first` (the ones the extractive answer
    quotes), then the others best first; at most settings.passages, and only as many as fit the context window
    (at least one). Each passage is ~250 prompt tokens, the bulk of a CPU model's time."""
    budget = (settings.context - settings.max_tokens - PROMPT_OVERHEAD_TOKENS) * CHARS_PER_TOKEN
    ranked = sorted(passages, key=lambda p: p.chunk.id not in first)  # stable: rank order within each group
    out: list[Passage] = []
    for p in ranked[: settings.passages]:
        cost = len(p.chunk.text) + len(p.chunk.section) + len(p.chunk.source) + 10
        if out and cost > budget:
            break
        out.append(p)
        budget -= cost
    return out


def evidence_text(p: Passage) -> str:
    """What a citation of this passage can be checked against: its text and heading path."""
    return f"{p.chunk.section}\n{p.chunk.text}"


def build_messages(question: str, passages: Sequence[Passage], settings: LLMSettings) -> Messages:
    """Chat messages: instructions, two worked examples, then the numbered passages (heading: text) and the question."""
    limit = (settings.context - settings.max_tokens - PROMPT_OVERHEAD_TOKENS) * CHARS_PER_TOKEN
    blocks = []
    for n, p in enumerate(passages, 1):
        text = " ".join(p.chunk.text.split())
        blocks.append(f"[{n}] {p.chunk.section}: {text}"[:limit])
    user = "Passages:\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}{REMINDER}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, *DEMO_TURNS, {"role": "user", "content": user}]


# --- the step ----------------------------------------------------------------------------------


def generate(
    extractive: Answer, documents: Mapping[str, Document | None], settings: LLMSettings
) -> Generator[str, None, Answer]:
    """Stream a generated answer's text as the model writes it; return the verified final Answer.

    The streamed text is provisional: the final Answer keeps only sentences supported by the passages they cite,
    or is the extractive answer with a note when none is (or a refusal when the model, or the judge, says the
    passages don't answer the question).
    """
    gen = generator_for(settings.generator)
    passages = prompt_passages(extractive.passages, settings, first=[c.chunk_id for c in extractive.citations])
    messages = build_messages(extractive.resolved_question, passages, settings)
    pieces = []
    for piece in gen.stream(messages, settings):
        if not isinstance(piece, str):  # every backend checks; this keeps a new one from crashing the answer
            raise GeneratorError(f"{gen.name} produced {type(piece).__name__}, not text")
        pieces.append(piece)
        yield piece
    raw = "".join(pieces)
    try:
        result = verified_answer(extractive, passages, raw, documents, gen.name)
    except GeneratorError as e:  # the reply is unusable (no citation of a given passage): a judge may still refuse
        if not settings.judge or judge(gen, extractive, settings) is not False:
            raise
        return refusal(extractive, gen.name, raw, f"generator failed ({e}); {JUDGED_NOTE.format(name=gen.name)}")
    if settings.judge and result.generator == "extractive" and judge(gen, extractive, settings) is False:
        return refusal(extractive, gen.name, raw, f"{result.notes[-1]}; {JUDGED_NOTE.format(name=gen.name)}")
    return result


def verified_answer(
    extractive: Answer,
    passages: Sequence[Passage],
    raw: str,
    documents: Mapping[str, Document | None],
    name: str,
    *,
    agree: bool = True,
) -> Answer:
    """The final Answer from a model's raw output. Three outcomes, kept apart:

    - the model says the passages don't answer: a refusal (it knows a near miss when it reads one);
    - some sentences are verified: those sentences, with exact-span citations renumbered in order of appearance,
      each pointing at the run of sentences of the cited passage that best supports the claim;
    - none is: the extractive answer, with a note giving the reasons (the model's words are not shown, and the
      question is still answered as well as without a model).
    A reply that cites no passage it was given is a GeneratorError (the pipeline shows the extractive answer).
    """
    text = raw.replace(REMINDER.strip(), " ")  # small models sometimes echo the reminder, "[1]" and all
    if not text.strip():
        raise GeneratorError(f"{name} returned an empty answer; try a larger model or raise QA_LLM_MAX_TOKENS")
    declined = f"{name}: the passages don't answer it"
    if is_abstention(text):
        return refusal(extractive, name, raw, declined)
    verdicts = verify(text, [evidence_text(p) for p in passages], question=extractive.resolved_question)
    if not any(v.cited for v in verdicts):  # nothing checkable: a refusal in other words, or a format failure
        if is_abstention(text, anywhere=True):
            return refusal(extractive, name, raw, declined)
        invented = sorted({n for v in verdicts for n in v.removed})
        what = f"only passages it was not given ({_refs(invented)})" if invented else "no passage [n]"
        raise GeneratorError(f"{name} cited {what} in its answer; use a model that follows instructions")
    citations: dict[tuple[str, int, int], Citation] = {}
    sentences, parts = [], []
    for v in verdicts:
        numbers_ = []
        for n in v.cited if v.verified else ():
            chunk = passages[n - 1].chunk
            i, j = best_span(v.text, chunk.sentence_texts()) if chunk.sentences else (0, 0)
            start, end = (
                (chunk.sentences[i][0], chunk.sentences[j - 1][1]) if chunk.sentences else (chunk.start, chunk.end)
            )
            key = (chunk.id, start, end)
            if key not in citations:
                c = cite(documents, len(citations) + 1, chunk, start, end, v.support)
                if c is None:
                    continue
                citations[key] = c
            numbers_.append(citations[key].n)
        numbers_ = list(dict.fromkeys(numbers_))
        sentences.append(AnswerSentence(v.text, tuple(numbers_), bool(numbers_), v.support))
        if numbers_:
            parts.append(f"{clean_inline_markdown(v.text)} {''.join(f'[{n}]' for n in numbers_)}")
    dropped = [v for v in verdicts if not v.verified]
    reasons = "; ".join(f"“{_short(v.text)}” {v.reason}" for v in dropped[:3])
    if not parts:
        note = f"{name}'s answer could not be verified against the passages ({reasons}): showing the extractive answer"
        return replace(extractive, notes=(*extractive.notes, note))
    kept = [v for v in verdicts if v.verified]
    if agree and not any(agrees(v, passages, extractive) for v in kept):
        note = (
            f"{name}'s answer (“{_short(kept[0].text)}” {_refs(kept[0].cited)}) names nothing the quoted passages "
            "say: showing the extractive answer"
        )
        return replace(extractive, notes=(*extractive.notes, note))
    notes = list(extractive.notes)
    if dropped:
        notes.append(f"{len(dropped)} of {len(verdicts)} generated sentences dropped as unsupported: {reasons}")
    return replace(
        extractive,
        generator=name,
        raw=raw,
        text=" ".join(parts),
        abstained=False,
        citations=tuple(citations.values()),
        sentences=tuple(sentences),
        notes=tuple(notes),
    )


def agrees(v: Verdict, passages: Sequence[Passage], extractive: Answer) -> bool:
    """Whether a verified sentence meets the extractive answer: it cites a passage that answer quotes, or names
    something its quotes say. Where two readers disagree, the small model is the likelier to be wrong: it finds
    the question's words in a sentence about something else ("In his opening keynote, Dan Kohn ..." for "Who
    delivered the opening keynote update on the second day?"). On the issue-19 subsets (README) this changed one
    Qwen2.5-Coder-1.5B answer of 12, from wrong to right; a small sample, so it is a guard, not a tuned rule.
    """
    quoted = {c.chunk_id for c in extractive.citations}
    if not quoted or any(passages[n - 1].chunk.id in quoted for n in v.cited):
        return True
    said = content_words(" ".join(c.quote for c in extractive.citations))
    return bool((content_words(v.text) - content_words(extractive.resolved_question)) & said)


def refusal(extractive: Answer, name: str, raw: str, note: str) -> Answer:
    """The model's (or the judge's) verdict that the passages don't answer: an abstention that keeps the passages."""
    return replace(
        extractive,
        generator=name,
        raw=raw,
        text=ABSTAIN_TEXT,
        abstained=True,
        citations=(),
        sentences=(),
        notes=(*extractive.notes, note),
    )


# --- the optional judge (QA_LLM_JUDGE) ----------------------------------------------------------

JUDGE_PROMPT = (
    "You check whether quoted text answers a question. Reply with one word: yes if the text states the answer, "
    "no if it does not."
)
JUDGED_NOTE = "{name} judged that the quoted passages don't answer it"


def judge_messages(extractive: Answer) -> Messages:
    """The judge's question: the (resolved) question and the extractive answer's quotes, for a yes or a no."""
    quotes = " ".join(c.quote for c in extractive.citations)
    question = extractive.resolved_question or extractive.question
    user = f"Question: {question}\nText: {quotes}\nDoes the text answer the question?"
    return [{"role": "system", "content": JUDGE_PROMPT}, {"role": "user", "content": user}]


def judge_verdict(reply: str) -> bool | None:
    """yes -> True, no -> False, anything else -> None (no clear reply changes nothing)."""
    word = (re.findall(r"[a-z]+", reply.lower()) or [""])[0]
    return {"yes": True, "no": False}.get(word)


def judge(gen: Backend, extractive: Answer, settings: LLMSettings) -> bool | None:
    """Whether the extractive answer's quotes answer the question, by the model's yes or no (None: no clear reply).

    Asked only when the model's own answer could not be used, before the extractive answer is shown in its place:
    a near-miss question (the documents discuss the subject but not the asked fact) gets quotes that are on topic
    and still do not answer it, which a model could tell and word overlap cannot. Off by default: Qwen2.5-Coder-1.5B
    said "no" to 3 of 7 right extractive answers and caught 1 of 2 near misses on the issue-19 subsets (README).
    """
    messages = judge_messages(extractive)
    try:
        reply = "".join(gen.stream(messages, replace(settings, max_tokens=3)))
    except GeneratorError:
        return None
    return judge_verdict(reply)


def _refs(ns: Sequence[int]) -> str:
    return ", ".join(f"[{n}]" for n in ns)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
