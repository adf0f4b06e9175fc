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
    assert "mira" in v.reason and "holm" in v.reason
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


def test_digit_groups_and_number_words_in_the_passage_count_as_the_same_number():
    passages = ["Driftwood ingests about 400000 readings per second; a silent gauge alarms after ten minutes."]
    assert verify("Driftwood ingests about 400,000 readings per second [1].", passages)[0].verified
    assert verify("A silent gauge alarms after 10 minutes [1].", passages)[0].verified


def test_an_uncited_sentence_is_not_verified():
    [v] = verify("Ada Park wrote the first version of Lighthouse.", PASSAGES)
    assert not v.verified and v.reason == "cites nothing"


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


# --- failures: one line, naming the fix ---------------------------------------------------------


def _gen_error(settings: Settings) -> str:
    from qa.generate import build_messages, generator_for

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
    passages = prompt_passages(base.passages, settings)
    n = 1 + next(i for i, p in enumerate(passages) if p.chunk.source == "driftwood.txt")
    raw = f"Driftwood was designed by Tomas Vik [{n}]. It compresses readings with zstd on a GPU [{n}]. It is fast [9]."
    a = verified_answer(base, passages, raw, kb_index, "fake", settings)
    assert not a.abstained and a.raw == raw and a.generator == "fake"
    assert a.text == "Driftwood was designed by Tomas Vik. [1]"
    assert [s.verified for s in a.sentences] == [True, False, False]
    assert any("2 of 3 generated sentences dropped" in note for note in a.notes)
    [c] = a.citations
    assert c.source == "driftwood.txt" and "designed by Tomas Vik" in c.quote
    _assert_exact(a, kb_dir)


@pytest.mark.slow
def test_an_answer_with_nothing_verified_is_an_abstention_that_keeps_the_passages(kb_index):
    from qa.generate import verified_answer
    from qa.pipeline import answer as extractive_answer

    base = extractive_answer("Who designed Driftwood?", index=kb_index)
    invented = "Driftwood was designed by Linus Torvalds in 1991 [1]."
    a = verified_answer(base, base.passages, invented, kb_index, "fake", Settings())
    assert a.abstained and a.citations == () and "could not be verified" in a.text
    assert a.passages == base.passages and not a.sentences[0].verified
    for declined in ["NOT IN DOCUMENTS", "The passages do not say. NOT IN DOCUMENTS"]:
        model_declined = verified_answer(base, base.passages, declined, kb_index, "fake", Settings())
        assert model_declined.abstained and "don't say" in model_declined.text


@pytest.mark.slow
def test_an_answer_without_any_citation_is_a_generator_error(kb_index):
    from qa.generate import verified_answer
    from qa.pipeline import answer as extractive_answer

    base = extractive_answer("Who designed Driftwood?", index=kb_index)
    with pytest.raises(GeneratorError, match=r"cited no passage \[n\]"):
        verified_answer(base, base.passages, "Tomas Vik designed Driftwood.", kb_index, "fake", Settings())
    # a model that goes on numbering passages of its own ("[6] ...") cited nothing it was given either
    with pytest.raises(GeneratorError, match=r"only passages it was not given \(\[6\]\)"):
        verified_answer(base, base.passages, "[6] Driftwood: Tomas Vik designed it.", kb_index, "fake", Settings())


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
    if a.generator == "extractive":  # the model wrote no citations: the extractive answer, with a note
        assert any(n.startswith("generator failed") for n in a.notes)
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

    from qa.generate import smollm2_path

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
    from qa.generate import generator_for

    settings = Settings(generator=f"openai:{llama_server}", **BUSY_CI)  # no QA_LLM_MODEL: the server's first model
    assert generator_for(settings.generator).model(settings.llm) == "smollm2"  # type: ignore[attr-defined]
    answers = [_ask_streaming(q, kb_index, settings) for q in KB_QUESTIONS]
    for streamed, a in answers:
        _assert_generated_contract(streamed, a, f"openai:{llama_server}", kb_dir)
    assert any(a.generator.startswith("openai:") for _, a in answers), [a.notes for _, a in answers]


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
