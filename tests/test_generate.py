"""Generative answers (issue 7): a real GGUF model writes the answer, every sentence is checked against what it
cites, failures are one-line errors, and a failing generator falls back to the extractive answer with a note."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa import answer
from qa.errors import GeneratorError
from qa.settings import Settings
from qa.types import Answer
from qa.verify import Claim, best_span, check, is_abstention, split_claims, verify

# --- verification: pure logic on small deterministic inputs ------------------------------------

PASSAGES = [
    "Lighthouse > Origins\nAda Park wrote the first version of Lighthouse at the Harbour Institute.",
    "Lighthouse > Architecture\nEach gauge sends a reading every 90 seconds over a low-power radio link.",
]


def test_a_supported_sentence_that_cites_its_passage_is_kept():
    [v] = verify("Ada Park wrote the first version of Lighthouse [1].", PASSAGES)
    assert v.verified and v.cited == (1,) and v.support == 1.0
    assert v.text == "Ada Park wrote the first version of Lighthouse."


def test_a_sentence_its_passage_does_not_support_is_dropped():
    ok, bad = verify("Ada Park wrote Lighthouse [1]. Tomas Vik rewrote it in Rust during 2023 [1].", PASSAGES)
    assert ok.verified
    assert not bad.verified and bad.support < 0.5 and "2023" in bad.reason


def test_an_invented_name_in_a_restated_question_is_dropped():
    question = "Who wrote the first version of Lighthouse at the Harbour Institute?"
    [v] = verify(
        "Mira Holm wrote the first version of Lighthouse at the Harbour Institute [1].", PASSAGES, question=question
    )
    assert v.support > 0.7 and v.new_support == 0.0 and not v.verified
    assert v.reason == "name Mira, Holm is not in [1]"
    [ok] = verify(
        "Ada Park wrote the first version of Lighthouse at the Harbour Institute [1].", PASSAGES, question=question
    )
    assert ok.verified and ok.new_support == 1.0


def test_a_sentence_that_only_restates_the_question_is_dropped():
    question = "Which version of Lighthouse did Ada Park write first?"
    [v] = verify("Ada Park did write the first version of Lighthouse [1].", PASSAGES, question=question)
    assert v.support > 0.8 and not v.verified and v.reason == "adds nothing to the question"


def test_question_words_the_passage_puts_differently_are_tolerated():
    question = "Which engineer authored the first version of Lighthouse?"
    [v] = verify(
        "The engineer who authored the first version of Lighthouse was Ada Park [1].", PASSAGES, question=question
    )
    assert 0.5 <= v.support < 0.75 and v.new_support == 1.0 and v.verified


def test_a_true_sentence_citing_the_wrong_passage_is_dropped():
    [v] = verify("Each gauge sends a reading every 90 seconds [1].", PASSAGES)
    assert not v.verified and "90" in v.missing_numbers


def test_a_citation_to_a_passage_that_was_not_given_is_removed():
    [v] = verify("Each gauge sends a reading every 90 seconds [2][7].", PASSAGES)
    assert v.verified and v.cited == (2,) and v.removed == (7,)
    [only_bad] = verify("Each gauge sends a reading every 90 seconds [3].", PASSAGES)
    assert not only_bad.verified and only_bad.reason == "cites no given passage"


def test_a_wrong_number_is_rejected_even_when_every_word_matches():
    [v] = verify("Each gauge sends a reading every 900 seconds over a low-power radio link [2].", PASSAGES)
    assert v.support > 0.8 and not v.verified
    assert v.missing_numbers == ("900",)
    assert check(Claim("Readings arrive every 90 seconds.", (2,)), PASSAGES).verified


def test_a_full_sentence_must_state_its_answer_where_the_passage_says_it_of_what_was_asked():
    """A near miss Qwen2.5-Coder-1.5B answered: every word of its sentence is in [1], the year in a sentence
    about something else."""
    question = "In what year was Linkerd first released?"
    near = ["CNCF > Projects\nLWN's coverage of KubeCon Austin 2017 credited Linkerd with pioneering the service mesh."]
    [v] = verify("Linkerd was first released in 2017 [1].", near, question=question)
    assert not v.verified and v.reason == "2017 not stated with the question's words in [1]"
    stated = ["Linkerd > History\nLinkerd was first released in 2016 by Buoyant."]
    assert verify("Linkerd was first released in 2016 [1].", stated, question=question)[0].verified


def test_a_number_restated_from_the_question_must_be_in_the_passage_too():
    """A near miss: the question's premise (2019) is not what the passage says, so the answer built on it is not
    backed, however well its other words match."""
    question = "Who wrote the first version of Lighthouse in 2019?"
    [v] = verify("Ada Park wrote the first version of Lighthouse in 2019 [1].", PASSAGES, question=question)
    assert not v.verified and v.missing_numbers == ("2019",)


def test_digit_groups_and_number_words_in_the_passage_count_as_the_same_number():
    passages = ["Driftwood ingests about 400000 readings per second; a silent gauge alarms after ten minutes."]
    assert verify("Driftwood ingests about 400,000 readings per second [1].", passages)[0].verified
    assert verify("A silent gauge alarms after 10 minutes [1].", passages)[0].verified


def test_an_uncited_sentence_is_not_verified():
    [v] = verify("Ada Park wrote the first version of Lighthouse.", PASSAGES)
    assert not v.verified and v.reason == "cites nothing"


def test_a_sentence_is_checked_against_all_the_passages_it_cites():
    raw = "Ada Park wrote Lighthouse, whose gauges send a reading every 90 seconds [1][2]."
    [v] = verify(raw, PASSAGES)
    assert v.verified and v.cited == (1, 2)
    [one] = verify(raw.replace("[1][2]", "[1]"), PASSAGES)  # the number is only in [2]
    assert not one.verified and one.missing_numbers == ("90",)
    [extra] = verify("Ada Park wrote the first version of Lighthouse [1][2].", PASSAGES)
    assert extra.verified and extra.cited == (1,)  # a citation that backs nothing of the sentence is not kept


CITIES = [
    "KubeCon Europe 2018 > Venue\nKubeCon Europe 2018 took place at the Bella Center in Copenhagen.",
    "KubeCon China 2018\nThe first KubeCon in China was held in Shanghai in November 2018.",
    "KubeCon North America 2018\nKubeCon North America 2018 was held in Seattle in December.",
]
CITIES_Q = "Which three cities hosted KubeCon conferences in 2018?"


@pytest.mark.parametrize(
    "raw",
    [
        "KubeCon 2018 was held in Copenhagen [1], Shanghai [2] and Seattle [3].",
        "Copenhagen, Shanghai and Seattle [1][2][3].",
        "- Copenhagen [1]\n- Shanghai [2]\n- Seattle [3]",
    ],
)
def test_a_list_answer_is_kept_when_each_item_is_in_what_it_cites(raw):
    verdicts = verify(raw, CITIES, question=CITIES_Q)
    assert all(v.verified for v in verdicts), [v.reason for v in verdicts]
    assert sorted({n for v in verdicts for n in v.cited}) == [1, 2, 3]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("Copenhagen, Berlin and Seattle [1][2][3].", "name Berlin is not in [1][2][3]"),  # an invented item
        ("Copenhagen, Shanghai and Seattle [3].", "name Copenhagen, Shanghai is not in [3]"),  # two items uncited
        ("Copenhagen, Shanghai and Seattle [2][4].", "name Copenhagen, Seattle is not in [2]"),  # [4] never given
    ],
)
def test_a_list_answer_with_an_item_its_citations_do_not_hold_is_dropped(raw, reason):
    [v] = verify(raw, CITIES, question=CITIES_Q)
    assert not v.verified and reason in v.reason


SURVEY = [
    "CNCF survey > Clouds\nAWS hosts roughly 63% of the Kubernetes cloud deployments counted. Helm is popular: 69% of respondents use it."
]
SHARE_Q = "What share of all cloud deployments of Kubernetes run on AWS?"


def test_a_short_answer_is_checked_as_the_claim_it_completes():
    [ok] = verify("63% [1].", SURVEY, question=SHARE_Q)
    assert ok.verified and ok.support == 1.0  # "63%" counts as "the share ... on AWS is 63%"
    [elsewhere] = verify("69% [1].", SURVEY, question=SHARE_Q)  # in the passage, but said of something else
    assert not elsewhere.verified and elsewhere.reason == "69 not stated with the question's words in [1]"
    [absent] = verify("65% [1].", SURVEY, question=SHARE_Q)
    assert not absent.verified and absent.missing_numbers == ("65",)
    [helm] = verify("Helm [1].", SURVEY, question=SHARE_Q)  # a name of the passage that answers something else
    assert not helm.verified
    off_topic = ["Lighthouse > Origins\nAda Park wrote the first version of Lighthouse at the Harbour Institute."]
    [v] = verify("Ada Park [1].", off_topic, question="Who delivered the opening keynote at KubeCon EU 2018?")
    assert not v.verified and "question's words" in v.reason  # its passage is not about what was asked


@pytest.mark.parametrize(
    "raw", ["NOT IN DOCUMENTS", "NOT IN DOCUMENTS.", "not in the documents", "NOT IN DOCUMENTS\nsorry"]
)
def test_the_abstention_phrase_is_an_abstention(raw):
    assert is_abstention(raw)
    assert not is_abstention("Ada Park wrote it [1].")
    assert not is_abstention("Sorry, NOT IN DOCUMENTS") and is_abstention("Sorry, NOT IN DOCUMENTS", anywhere=True)


@pytest.mark.parametrize(
    "raw",
    [
        "Ada Park wrote it [1]. Gauges report every 90 seconds [2].",  # marker before the full stop
        "Ada Park wrote it. [1] Gauges report every 90 seconds. [2]",  # marker after it
        "Ada Park wrote it.[1] Gauges report every 90 seconds.[2]",  # glued
        "[1] Ada Park wrote it. [2] Gauges report every 90 seconds.",  # leading, as small models write it
        "- Ada Park wrote it [1]\n- Gauges report every 90 seconds [2]",  # a list
    ],
)
def test_sentences_get_the_citations_next_to_them_in_every_common_style(raw):
    claims = [(c.text.rstrip("."), c.cited) for c in split_claims(raw)]
    assert claims == [("Ada Park wrote it", (1,)), ("Gauges report every 90 seconds", (2,))]


def test_abbreviations_and_reasoning_blocks_do_not_split_or_leak():
    claims = split_claims("<think>maybe Tomas?</think>Dr. Ada Park wrote it [1, 2].")
    assert claims == [Claim("Dr. Ada Park wrote it.", (1, 2))]


def test_the_best_span_is_the_sentence_that_holds_the_claim():
    sentences = ["Lighthouse watches tide gauges.", "Ada Park wrote the first version.", "It shipped in 2020."]
    assert best_span("Ada Park wrote Lighthouse's first version.", sentences) == (1, 2)
    assert best_span("Ada Park wrote the first version, which shipped in 2020.", sentences) == (1, 3)


# --- the two outcomes and the optional judge: the step's logic with a scripted model ---------------


class Scripted:
    """A stand-in model that replies with fixed texts in turn, recording what it was asked (logic tests only)."""

    name = "scripted"

    def __init__(self, *replies: str):
        self.replies, self.asked = list(replies), []

    def stream(self, messages, settings):
        self.asked.append(messages)
        yield self.replies.pop(0)


def _lighthouse_answer() -> tuple[Answer, dict]:
    """An extractive answer quoting passage 1 of two (passage 2, about the gauges, is given but not quoted)."""
    from qa.types import Chunk, Citation, Document, Passage

    text = "Ada Park wrote the first version of Lighthouse. It shipped in 2020."
    gauges = "Each gauge sends a reading every 90 seconds. Tomas Vik maintains the radio link."
    doc, doc2 = Document("lighthouse.md", "Lighthouse", text, "md"), Document("gauges.md", "Gauges", gauges, "md")
    chunk = Chunk("c1", doc.source, doc.title, "Lighthouse > Origins", 0, len(text), text, ((0, 47), (48, 67)))
    section2 = "Lighthouse > First version > Gauges"
    chunk2 = Chunk("c2", doc2.source, doc2.title, section2, 0, len(gauges), gauges, ((0, 44), (45, len(gauges))))
    quote = Citation(1, doc.source, chunk.section, 0, 47, text[:47], 0.9, chunk.id)
    question = "Who wrote the first version of Lighthouse?"
    passages = (Passage(chunk, 1.0, "both"), Passage(chunk2, 0.5, "dense"))
    a = Answer(question, f"{text[:47]} [1]", False, (quote,), passages, {}, 0.9, question)
    return a, {doc.source: doc, doc2.source: doc2}


def test_a_verified_answer_that_meets_nothing_the_extractive_answer_quotes_is_not_shown():
    """A small model that answers from another passage than the confident extractive answer is mostly wrong
    (it read the question's words in the wrong sentence): the extractive answer is shown, with a note."""
    from qa.generate import verified_answer

    extractive, documents = _lighthouse_answer()
    raw = "Tomas Vik maintains the radio link of the first version of Lighthouse [2]."  # every rule holds in [2]
    elsewhere = verified_answer(extractive, extractive.passages, raw, documents, "m")
    assert elsewhere.generator == "extractive" and elsewhere.text == extractive.text
    assert "names nothing the quoted passages say" in elsewhere.notes[-1] and "[2]" in elsewhere.notes[-1]
    shown = verified_answer(
        extractive, extractive.passages, "Ada Park wrote the first version of Lighthouse [1].", documents, "m"
    )
    assert shown.generator == "m" and shown.text.endswith("[1]")
    assert verified_answer(extractive, extractive.passages, raw, documents, "m", agree=False).generator == "m"


def _generate(monkeypatch, model: Scripted, *, judge: bool) -> Answer:
    from qa import generate as G
    from qa import llm

    monkeypatch.setitem(llm.GENERATORS, "scripted", lambda arg: model)
    extractive, documents = _lighthouse_answer()
    settings = Settings(generator="scripted:x", llm_judge=judge).llm
    stream = G.generate(extractive, documents, settings)
    while True:
        try:
            next(stream)
        except StopIteration as done:
            return done.value


@pytest.mark.parametrize("judge", [False, True])
def test_a_verified_answer_is_shown_and_the_judge_is_not_asked(monkeypatch, judge):
    model = Scripted("Ada Park wrote the first version of Lighthouse [1].", "no")
    a = _generate(monkeypatch, model, judge=judge)
    assert a.generator == "scripted" and not a.abstained and a.text.endswith("[1]") and len(model.asked) == 1


def test_without_the_judge_an_unverifiable_answer_shows_the_extractive_one(monkeypatch):
    model = Scripted("Grace Hopper wrote the first version of Lighthouse [1].")
    a = _generate(monkeypatch, model, judge=False)
    assert not a.abstained and a.generator == "extractive" and a.text.startswith("Ada Park wrote")
    assert (
        "name Grace, Hopper is not in [1]" in a.notes[-1]
        and "showing the extractive answer" in a.notes[-1]
        and len(model.asked) == 1
    )


@pytest.mark.parametrize(
    ("reply", "verdict", "refused"),
    [("Grace Hopper wrote it in 1990 [1].", "No.", True), ("Grace Hopper wrote it in 1990 [1].", "Yes", False)],
)
def test_the_judge_decides_whether_the_extractive_quotes_stand_in(monkeypatch, reply, verdict, refused):
    model = Scripted(reply, verdict)
    a = _generate(monkeypatch, model, judge=True)
    judge_prompt = model.asked[1][-1]["content"]
    assert "Ada Park wrote the first version of Lighthouse." in judge_prompt and "Who wrote" in judge_prompt
    assert a.abstained is refused
    if refused:
        assert (
            a.citations == ()
            and a.passages
            and "scripted judged that the quoted passages don't answer it" in a.notes[-1]
        )
        assert "name Grace, Hopper is not in [1]" in a.notes[-1]  # why the model's own answer was not used
    else:
        assert a.generator == "extractive" and a.text.startswith("Ada Park wrote")


def test_the_judge_also_rules_on_a_reply_without_citations(monkeypatch):
    a = _generate(monkeypatch, Scripted("Grace Hopper wrote it.", "no"), judge=True)
    assert a.abstained and "cited no passage" in a.notes[-1] and "judged" in a.notes[-1]
    with pytest.raises(GeneratorError, match="cited no passage"):  # judge says yes: the usual fallback
        _generate(monkeypatch, Scripted("Grace Hopper wrote it.", "yes"), judge=True)


@pytest.mark.parametrize(
    ("reply", "verdict"), [("Yes.", True), ("no, it does not", False), ("Maybe", None), ("", None)]
)
def test_the_judge_reply_is_read_from_its_first_word(reply, verdict):
    from qa.generate import judge_verdict

    assert judge_verdict(reply) is verdict


# --- failures: one line, naming the fix ---------------------------------------------------------


def _gen_error(settings: Settings) -> str:
    from qa.generate import build_messages
    from qa.llm import generator_for

    with pytest.raises(GeneratorError) as e:
        llm = settings.llm
        list(generator_for(llm.generator).stream(build_messages("Who wrote Lighthouse?", [], llm), llm))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_a_missing_model_file_names_the_path_and_the_fix(tmp_path):
    msg = _gen_error(Settings(generator=f"llama:{tmp_path / 'nope.gguf'}"))
    assert "model file not found" in msg and "nope.gguf" in msg and "llama:PATH.gguf" in msg


def test_a_file_that_is_not_gguf_is_refused_before_loading(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    msg = _gen_error(Settings(generator=f"llama:{bad}"))
    assert "is not a GGUF model" in msg and "PK" in msg


def test_an_unreachable_server_is_one_line_naming_the_url():
    port = _closed_port()
    msg = _gen_error(Settings(generator=f"openai:http://127.0.0.1:{port}/v1", llm_timeout=5))
    assert f"cannot reach http://127.0.0.1:{port}/v1" in msg and "start the server" in msg


@pytest.mark.parametrize("spec", ["gpt4", "llama:", "ollama:llama3.2"])
def test_an_unknown_generator_spec_says_what_is_accepted(spec):
    msg = _gen_error(Settings(generator=spec))
    assert "llama:PATH.gguf" in msg and "openai:BASE_URL" in msg


def test_an_openai_generator_needs_a_url():
    assert "openai:http://localhost:11434/v1" in _gen_error(Settings(generator="openai:localhost:11434"))


# --- the pipeline around a generator (real index, no model needed) -----------------------------


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["llama:/nonexistent/model.gguf", "openai:http://127.0.0.1:{port}/v1"])
def test_a_failing_generator_falls_back_to_the_extractive_answer_with_a_note(kb_index, spec):
    settings = Settings(generator=spec.format(port=_closed_port()), llm_timeout=5)
    a = answer("Who designed the Driftwood database?", index=kb_index, settings=settings)
    assert not a.abstained and "Tomas Vik" in a.text and a.generator == "extractive"
    [note] = [n for n in a.notes if n.startswith("generator failed")]
    assert note.endswith(": showing the extractive answer") and "\n" not in note


@pytest.mark.slow
def test_weak_evidence_abstains_without_calling_the_generator(kb_index):
    settings = Settings(generator="llama:/nonexistent/model.gguf")
    a = answer("What is the best recipe for chocolate cake?", index=kb_index, settings=settings)
    assert a.abstained and not a.notes  # no generator call, so no failure note


@pytest.mark.slow
def test_a_model_answer_keeps_only_verified_sentences_with_exact_citations(kb_index, kb_dir):
    """The verification step over the real index, fed a fixed model output (one true claim, one invented)."""
    from qa.generate import prompt_passages, verified_answer
    from qa.pipeline import answer as extractive_answer

    settings = Settings()
    base = extractive_answer("Who designed Driftwood, and how does it compress readings?", index=kb_index)
    passages = prompt_passages(base.passages, settings.llm)
    n = 1 + next(i for i, p in enumerate(passages) if p.chunk.source == "driftwood.txt")
    raw = f"Driftwood was designed by Tomas Vik [{n}]. It compresses readings with zstd on a GPU [{n}]. It is fast [9]."
    a = verified_answer(base, passages, raw, _documents(kb_index, passages), "fake")
    assert not a.abstained and a.raw == raw and a.generator == "fake"
    assert a.text == "Driftwood was designed by Tomas Vik. [1]"
    assert [s.verified for s in a.sentences] == [True, False, False]
    assert any("2 of 3 generated sentences dropped" in note for note in a.notes)
    [c] = a.citations
    assert c.source == "driftwood.txt" and "designed by Tomas Vik" in c.quote
    _assert_exact(a, kb_dir)


@pytest.mark.slow
def test_an_answer_with_nothing_verified_shows_the_extractive_answer_with_the_reasons(kb_index):
    """Two outcomes kept apart: unverifiable sentences are not a refusal (the extractive answer is shown, with a
    note); the model saying the passages don't answer is one."""
    from qa.generate import verified_answer
    from qa.pipeline import answer as extractive_answer

    base = extractive_answer("Who designed Driftwood?", index=kb_index)
    docs = _documents(kb_index, base.passages)
    invented = "Driftwood was designed by Linus Torvalds in 1991 [1]."
    a = verified_answer(base, base.passages, invented, docs, "fake")
    assert not a.abstained and a.generator == "extractive" and a.text == base.text and "Tomas Vik" in a.text
    assert a.citations == base.citations and a.passages == base.passages
    [note] = [n for n in a.notes if "could not be verified" in n]
    assert note.startswith("fake's answer") and "number 1991 and name Linus, Torvalds is not in [1]" in note
    assert note.endswith(": showing the extractive answer")
    for declined in ["NOT IN DOCUMENTS", "The passages do not say. NOT IN DOCUMENTS"]:
        model_declined = verified_answer(base, base.passages, declined, docs, "fake")
        assert model_declined.abstained and "don't say" in model_declined.text and model_declined.generator == "fake"
        assert model_declined.citations == () and model_declined.passages == base.passages


@pytest.mark.slow
def test_an_answer_without_any_citation_is_a_generator_error(kb_index):
    from qa.generate import verified_answer
    from qa.pipeline import answer as extractive_answer

    base = extractive_answer("Who designed Driftwood?", index=kb_index)
    with pytest.raises(GeneratorError, match=r"cited no passage \[n\]"):
        verified_answer(
            base, base.passages, "Tomas Vik designed Driftwood.", _documents(kb_index, base.passages), "fake"
        )
    # a model that goes on numbering passages of its own ("[6] ...") cited nothing it was given either
    with pytest.raises(GeneratorError, match=r"only passages it was not given \(\[6\]\)"):
        verified_answer(
            base, base.passages, "[6] Driftwood: Tomas Vik designed it.", _documents(kb_index, base.passages), "fake"
        )


def _documents(index, passages) -> dict:
    return {p.chunk.source: index.document(p.chunk.source) for p in passages}


def _assert_exact(a: Answer, kb_dir: Path) -> None:
    from qa.load import load_folder

    texts = {d.source: d.text for d in load_folder(kb_dir)}
    for c in a.citations:
        assert texts[c.source][c.start : c.end] == c.quote
    assert all(s.verified == bool(s.citations) for s in a.sentences)


# --- real models: SmolLM2 in-process and behind a real OpenAI-compatible server -----------------

needs_llama = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("llama_cpp") is None, reason="needs pip install 'qa[llm]'"
)
# one thread and a generous time limit: on a shared 2-core machine two llama.cpp threads spin-wait (10x slower)
BUSY_CI = {"llm_threads": 1, "llm_timeout": 300}
KB_QUESTIONS = [
    "How many stations does the gauge network cover?",
    "Who wrote the first version of Lighthouse?",
    "How much memory does the collector need?",
    "When did Lighthouse 1.0 ship?",
]


def _ask_streaming(question: str, kb_index, settings: Settings) -> tuple[str, Answer]:
    from qa.pipeline import stream_answer

    *pieces, final = list(stream_answer(question, index=kb_index, settings=settings))
    assert isinstance(final, Answer) and all(isinstance(p, str) for p in pieces)
    return "".join(pieces), final


def _assert_generated_contract(streamed: str, a: Answer, name: str, kb_dir: Path) -> None:
    """Whatever a small model writes, what reaches the user is verified, cited exactly, or an honest fallback."""
    if a.generator == "extractive":  # no citation, or nothing verified: the extractive answer, with a note
        assert any(n.startswith("generator failed") or "could not be verified" in n for n in a.notes), a.notes
        return
    assert a.generator == name and a.raw and streamed == a.raw  # streamed text is the raw model output
    shown = [s for s in a.sentences if s.verified]
    if a.abstained:
        assert not shown and a.citations == () and a.passages
    else:
        assert shown and all(f"[{n}]" in a.text for s in shown for n in s.citations)
        assert {n for s in shown for n in s.citations} == {c.n for c in a.citations}
    for s in a.sentences:
        assert s.verified or s.text not in a.text  # an unsupported sentence never reaches the answer
    _assert_exact(a, kb_dir)


@pytest.mark.llm
@pytest.mark.slow
@needs_llama
def test_smollm2_in_process_answers_with_verified_citations_only(kb_index, kb_dir):
    settings = Settings(generator="llama:smollm2", **BUSY_CI)
    answers = [_ask_streaming(q, kb_index, settings) for q in KB_QUESTIONS]
    for streamed, a in answers:
        _assert_generated_contract(streamed, a, "llama:smollm2", kb_dir)
    # the model does answer some of them in its own words, verified and cited
    assert any(a.generator == "llama:smollm2" and not a.abstained for _, a in answers), [a.raw for _, a in answers]


@pytest.mark.llm
@pytest.mark.slow
@needs_llama
def test_smollm2_past_its_time_limit_is_a_one_line_error_and_an_extractive_fallback(kb_index):
    settings = Settings(generator="llama:smollm2", llm_timeout=0.001)
    msg = _gen_error(settings)
    assert "within 0.001 s" in msg and "QA_LLM_TIMEOUT" in msg
    a = answer("Who designed the Driftwood database?", index=kb_index, settings=settings)
    assert "Tomas Vik" in a.text and any("QA_LLM_TIMEOUT" in n for n in a.notes)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """A real OpenAI-compatible server (llama-cpp-python's) serving SmolLM2 on a free local port."""
    import httpx

    from qa.llm import smollm2_path

    port = _closed_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path()), "--model_alias", "smollm2"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"]
    log = tmp_path_factory.mktemp("llama_server") / "server.log"  # a file, not a pipe: a full pipe blocks the server
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer /v1/models within 90 s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.llm
@pytest.mark.slow
@needs_llama
def test_an_openai_compatible_server_answers_with_verified_citations_only(llama_server, kb_index, kb_dir):
    from qa.llm import generator_for

    # no QA_LLM_MODEL: the server's first model; five passages, as SmolLM2 cites up to [5] whatever it is given
    settings = Settings(generator=f"openai:{llama_server}", llm_passages=5, **BUSY_CI)
    assert generator_for(settings.generator).model(settings.llm) == "smollm2"  # type: ignore[attr-defined]
    answers = [_ask_streaming(q, kb_index, settings) for q in KB_QUESTIONS]
    for streamed, a in answers:
        _assert_generated_contract(streamed, a, f"openai:{llama_server}", kb_dir)
    # the server was reached and every reply judged: shown when verified, else the extractive answer with the
    # reason (SmolLM2 rarely writes a checkable answer; what it writes is model-dependent, the contract is not)
    for _, a in answers:
        judged = [n for n in a.notes if f"openai:{llama_server}" in n]
        assert a.generator.startswith("openai:") or judged, a.notes
        assert not any(w in n for n in judged for w in ("cannot reach", "did not answer", "HTTP ")), judged


@pytest.mark.llm
@pytest.mark.slow
@needs_llama
def test_a_wrong_model_name_lists_what_the_server_has(llama_server):
    msg = _gen_error(Settings(generator=f"openai:{llama_server}", llm_model="llama3.2"))
    assert "model 'llama3.2' not found" in msg and "smollm2" in msg and "QA_LLM_MODEL" in msg


@pytest.mark.llm
@pytest.mark.slow
@needs_llama
def test_a_server_slower_than_the_timeout_is_a_one_line_error(llama_server, kb_index):
    settings = Settings(generator=f"openai:{llama_server}", llm_model="smollm2", llm_timeout=0.01)
    msg = _gen_error(settings)
    assert "0.01 s" in msg and "QA_LLM_TIMEOUT" in msg
    a = answer("Who designed the Driftwood database?", index=kb_index, settings=settings)
    assert not a.abstained and "Tomas Vik" in a.text and any("QA_LLM_TIMEOUT" in n for n in a.notes)


def test_the_audit_flags_a_shown_number_or_name_its_quotes_do_not_hold():
    """benchmarks/audit_generated.py, the closing check over eval records, catches what it exists to catch."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("audit", Path(__file__).parents[1] / "benchmarks/audit_generated.py")
    audit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(audit)
    quote = {"n": 1, "section": "Lighthouse > Origins", "quote": "Ada Park wrote the first version in 2019."}
    record = {"id": "q1", "generator": "llama:x", "abstained": False, "citations": [quote]}
    good = {**record, "candidate_answer": "Ada Park wrote Lighthouse's first version in 2019. [1]"}
    bad = {**record, "candidate_answer": "Tomas Vik wrote it in 2020. [1] Ada Park helped. [2]"}
    counts, failures = audit.audit([good, bad, {**bad, "generator": "extractive"}])
    assert counts == {"answers": 2, "sentences": 3, "numbers": 2, "names": 5}
    assert failures == [
        "q1: number 2020 of “Tomas Vik wrote it in 2020.” is not in its quotes [1]",
        "q1: name Tomas of “Tomas Vik wrote it in 2020.” is not in its quotes [1]",
        "q1: name Vik of “Tomas Vik wrote it in 2020.” is not in its quotes [1]",
        "q1: “Ada Park helped.” cites [2], not a shown citation",
    ]
