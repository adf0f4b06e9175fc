"""Chunking is pure: structure in, chunks with exact offsets out (no model needed)."""

from pathlib import Path

from pdfgen import make_pdf

from qa.chunk import chunk_document, estimate_tokens, split_sentences
from qa.load import load_file, load_folder, scan
from qa.types import Document

MD = """# Kata Containers

Kata Containers runs each pod in a lightweight virtual machine. It merged two earlier projects.

## Memory

Memory pressure is reduced by same-page merging. Each VM still boots its own kernel.

- A list item that is a claim.
- Another item, e.g. a second one.

## Related pages

- [gVisor](gvisor.md)
"""


def test_sections_follow_headings_and_offsets_are_exact():
    doc = Document("kata.md", "Kata Containers", MD, "md")
    chunks = chunk_document(doc, max_tokens=200)
    assert [c.section for c in chunks] == ["Kata Containers", "Kata Containers > Memory"]
    for c in chunks:
        assert MD[c.start : c.end] == c.text
        for s, e in c.sentences:
            assert c.start <= s < e <= c.end
    memory = chunks[1].sentence_texts()
    assert memory[0] == "Memory pressure is reduced by same-page merging."
    assert "A list item that is a claim." in memory  # the list marker is not part of the quote
    assert not any("gVisor" in c.text for c in chunks)  # navigation links carry no claims


def test_section_names_read_as_text_not_markdown():
    md = "# Stream\\[src\\]\n\n## The `pipe()` *method*\n\nIt connects a readable stream to a writable one.\n"
    (chunk,) = chunk_document(Document("stream.md", "Stream[src]", md, "md"))
    assert chunk.section == "Stream[src] > The pipe() method"


def test_code_is_searched_with_its_chunk_but_never_quoted():
    md = "# Vectors\n\nCall `Vec::new` to make an empty vector.\n\n```\nlet v: Vec<i32> = Vec::new();\n```\n\nThe type annotation tells Rust what the vector holds.\n"
    (chunk,) = chunk_document(Document("vectors.md", "Vectors", md, "md"))
    assert "let v: Vec<i32>" in chunk.text  # embedded and keyword-indexed with the prose around it
    assert chunk.sentence_texts() == [
        "Call `Vec::new` to make an empty vector.",
        "The type annotation tells Rust what the vector holds.",
    ]


def test_no_chunk_exceeds_the_token_budget_and_sentences_stay_whole():
    para = " ".join(f"Sentence number {i} talks about container runtimes and their isolation." for i in range(60))
    doc = Document("long.md", "Long", f"# Long\n\n{para}\n", "md")
    chunks = chunk_document(doc, max_tokens=128)
    assert len(chunks) > 3
    for c in chunks:
        assert estimate_tokens([c.indexed_text])[0] <= 128 + 4
        assert c.text.endswith(".") and c.text.startswith("Sentence number")


def test_an_overlong_sentence_is_cut_at_word_boundaries():
    words = " ".join(f"word{i}" for i in range(600))
    doc = Document("w.txt", "W", words + ".", "txt")
    chunks = chunk_document(doc, max_tokens=100)
    assert len(chunks) >= 6
    assert "".join(c.text.replace(" ", "") for c in chunks) == (words + ".").replace(" ", "")


def test_sentence_splitter_knows_abbreviations_and_scraped_text():
    text = "Dr. Ortiz met e.g. the U.S. team. KubeCon grew fast.Day 2 began early! Did it end?"
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans == ["Dr. Ortiz met e.g. the U.S. team.", "KubeCon grew fast.", "Day 2 began early!", "Did it end?"]


def test_raw_web_text_without_headings_chunks_sensibly(seeds_dir: Path):
    for doc in load_folder(seeds_dir):
        chunks = chunk_document(doc, max_tokens=200)
        assert chunks, doc.source
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text
            assert c.section.startswith(doc.title)
            assert estimate_tokens([c.text])[0] < 400


MAN_PAGE = """TAR(1)                            GNU TAR Manual                            TAR(1)

OPTIONS
       --hole-detection=METHOD
              Use METHOD to detect holes in sparse files.  This option implies --sparse.  Valid
              values for METHOD are seek and raw.  Default is seek with fallback to raw.

       -p
       --preserve-permissions
              Extract information about file permissions.
"""


def test_hard_wrapped_text_keeps_sentences_whole_and_options_with_their_description():
    doc = Document(source="tar.txt", title="tar", text=MAN_PAGE, format="txt")
    header, chunk = chunk_document(doc, max_tokens=200)
    assert chunk.section == "tar > OPTIONS"
    sentences = [" ".join(s.split()) for s in chunk.sentence_texts()]
    assert "Valid values for METHOD are seek and raw." in sentences  # not cut at the line break
    assert "--hole-detection=METHOD Use METHOD to detect holes in sparse files." in sentences
    assert "-p --preserve-permissions Extract information about file permissions." in sentences


def test_a_pdf_page_of_wrapped_paragraphs_under_headings_keeps_sentences_whole(tmp_path: Path):
    page = [
        "Tide gauge network",
        "The network covers 312 stations along the coast of Norway, from the southern",
        "border to the Russian frontier. Each station reports a reading every ninety",
        "seconds over a low-power radio link.",
        "Maintenance",
        "Technicians visit every station once a year to replace the battery and to clean",
        "the sensor housing, which collects salt deposits over the winter months.",
    ]
    (tmp_path / "gauges.pdf").write_bytes(make_pdf([page]))
    doc = load_file(scan(tmp_path)[0])
    chunks = chunk_document(doc, max_tokens=200)
    sentences = [" ".join(s.split()) for c in chunks for s in c.sentence_texts()]
    assert "Each station reports a reading every ninety seconds over a low-power radio link." in sentences
    assert chunks[-1].section == "Tide gauge network > Maintenance (p. 1)"
