"""Reading a question (pure logic): clean-up, follow-up resolution, the expected answer type."""

import pytest

from qa.errors import InputError
from qa.query import answer_kind, main_clause, parse, resolve_followup
from qa.read import cue, lacks_unit


@pytest.mark.parametrize(
    ("follow_up", "previous", "resolved"),
    [
        ("and where was it open sourced?", "Who introduced gVisor?", "Where was gVisor open sourced?"),
        ("and who designed it?", "What is Driftwood?", "Who designed Driftwood?"),
        ("what about its governance?", "Which foundation backs Kata Containers?", "Kata Containers's governance?"),
        ("Who founded Weaveworks?", "Who introduced gVisor?", "Who founded Weaveworks?"),  # standalone: unchanged
    ],
)
def test_follow_ups_borrow_the_subject_of_the_previous_question(follow_up, previous, resolved):
    assert resolve_followup(follow_up, [previous]) == resolved


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people attended KubeCon in Austin?", "number"),
        ("When did Lighthouse 1.0 ship?", "time"),
        ("Who gave the talk on when bare metal beats the cloud?", "person"),  # the first question word decides
        ("Where did Oliver Beattie work when he spoke?", "place"),
        ("Why do clusters lag behind the latest release?", "reason"),
        ("What is a service mesh?", "other"),
        ("What is the default number of retries?", "number"),  # "what is the number/size/share of ..." is a count
        ("What was the size of the crowd?", "number"),
        ("What is Saad Malik's role at Spectro Cloud?", "role"),  # a job title
        ("What is the job title of the speaker who opened day 2?", "role"),
        ("What was the title of the Austin talk?", "other"),  # a talk's title is not a job
        ("In what year did Google unveil Kubernetes?", "time"),  # "what year" outranks the "what" it starts with
        ("Which company did the CTO co-found?", "organization"),
        ("Which city hosted KubeCon EU 2022?", "place"),
        ("What is the reason clusters lag behind?", "reason"),
        ("When decompressing, which suffixes does xz replace?", "other"),  # an opening clause sets the scene
        ("In his keynote, who did Kohn thank?", "person"),
        ("When was Kubernetes 1.9 released?", "time"),
        ("In which Kubernetes version was the Workloads API introduced?", "version"),
        ("A later chapter says how long references stay valid. What is the aim of lifetimes?", "other"),
    ],
)
def test_answer_kind_comes_from_the_first_question_phrase(question, kind):
    assert answer_kind(question) == kind


@pytest.mark.parametrize(
    ("question", "main"),
    [
        ("Who introduced the runtime that the ICCLab author called a life-saver?", "Who introduced the runtime"),
        (
            "Where in Copenhagen was the conference at which Google open sourced gVisor?",
            "Where in Copenhagen was the conference",
        ),
        ("The hash maps chapter defers that question. What is the aim of lifetimes?", None),  # the asking sentence
        ("Who designed Driftwood?", None),
    ],
)
def test_the_main_clause_is_what_is_asked_about_the_thing_a_relative_clause_describes(question, main):
    assert main_clause(question) == main


def test_parse_truncates_long_questions_with_a_note_and_refuses_empty_ones():
    q = parse("Who designed Driftwood? " + "x " * 5000, max_chars=100)
    assert len(q.text) <= 100 and "truncated" in q.notes[0]
    with pytest.raises(InputError, match="empty"):
        parse(" \n ", max_chars=100)


@pytest.mark.parametrize(
    ("sentence", "holds_a_count"),
    [
        ("The conference drew 4300 participants.", True),
        ("Twelve projects graduated.", True),
        ("Google donated Kubernetes in 2015.", False),  # a year answers "when", not "how many"
        ("Paul, one of the youngest engineers, rode to Valencia.", False),  # "one of" counts nothing
        ("Booleans are one byte in size.", True),
    ],
)
def test_how_many_questions_look_for_a_count_not_a_year(sentence, holds_a_count):
    assert cue("number", sentence, "How many people came?") == (1.0 if holds_a_count else 0.0)


@pytest.mark.parametrize(
    ("sentence", "names_someone"),
    [
        ("Craig Box (Google) introduced gVisor.", True),  # a name that opens the sentence counts
        ("On day 2, Liz Rice moderated.", True),
        ("In Copenhagen it rained all week.", False),  # a capitalised opening word is no name
    ],
)
def test_a_who_question_looks_for_a_name(sentence, names_someone):
    assert cue("person", sentence, "Who introduced it?") == (1.0 if names_someone else 0.0)


@pytest.mark.parametrize(
    ("sentence", "holds_a_title"),
    [
        ("Aparna Sinha, product manager from Google, gave the update.", True),
        ("Saad Malik, co-founder and CTO of Spectro Cloud, sat on the panel.", True),
        ("KubeCon is a developers' conference with many engineers.", False),  # people in general hold no title
    ],
)
def test_a_job_title_question_looks_for_a_title(sentence, holds_a_title):
    assert cue("role", sentence, "What is her job title?") == (1.0 if holds_a_title else 0.0)


@pytest.mark.parametrize(
    ("question", "sentence", "lacking"),
    [
        ("How many kilometres did Paul ride?", "Paul rode from Saarbrücken to Valencia in 4 days.", True),
        ("How many kilometres did Paul ride?", "The trip covered 1,900 km.", False),
        ("How much did a ticket cost?", "Academic tickets were very cheap, and 4300 people came.", True),
        ("How much did a ticket cost?", "A ticket cost $1,200.", False),
        ("How many megabytes does a VM use?", "Each VM needs 40 MB.", False),
        ("How long does a boot take?", "Booting is quick on 2 cores.", True),
        ("How many sessions ran at once?", "Talks ran in four or five rooms.", False),  # a count, no unit to hold
        ("Which sed switch splits input on zero bytes?", "-z separates lines by NUL.", False),  # not a quantity
        ("On what date was the report published?", "The report came out at KubeCon EU 2022.", True),
        ("On what date was the report published?", "The report was published on June 28, 2022.", False),
    ],
)
def test_a_question_naming_a_unit_wants_an_amount_in_that_unit(question, sentence, lacking):
    assert lacks_unit(answer_kind(question), question, [sentence]) is lacking
