from tailor.kb.chunking import DocumentChunker, contextualize
from tailor.records import Document, Page, Section


def word_offsets(text: str) -> list[tuple[int, int]]:
    """A whitespace tokenizer: one token per word, enough to test token accounting exactly."""
    import re

    return [m.span() for m in re.finditer(r"\S+", text)]


def make_doc(text: str, **kw) -> Document:
    return Document(id="doc.md", text=text, title="Doc", source="doc.md", **kw)


def sentences(n: int, words: int = 10) -> str:
    return " ".join(f"Sentence {i} " + " ".join(f"w{i}_{j}" for j in range(words - 3)) + "." for i in range(n))


def test_every_chunk_is_an_exact_span_within_the_token_budget():
    text = "\n\n".join(sentences(6) for _ in range(8))
    doc = make_doc(text)
    chunks = DocumentChunker(word_offsets, chunk_tokens=50, overlap_tokens=8).run(doc)
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert len(word_offsets(chunk.text)) <= 50
        assert chunk.doc_id == "doc.md"
    # Together the chunks cover every word of the document.
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_chunks_prefer_paragraph_then_sentence_boundaries():
    paragraph = sentences(3)  # 30 words
    text = "\n\n".join([paragraph] * 4)
    chunks = DocumentChunker(word_offsets, chunk_tokens=70, overlap_tokens=0).run(make_doc(text))
    for chunk in chunks:
        assert chunk.text.endswith(".")
        assert chunk.text.startswith("Sentence")


def test_overlap_repeats_the_tail_of_the_previous_chunk_starting_on_a_word():
    text = sentences(40)
    chunks = DocumentChunker(word_offsets, chunk_tokens=60, overlap_tokens=10).run(make_doc(text))
    for previous, current in zip(chunks, chunks[1:], strict=False):
        assert current.start < previous.end  # overlapping
        assert previous.end - current.start < len(previous.text)
        assert current.start == 0 or text[current.start - 1].isspace()


def test_ids_are_stable_and_ordered():
    doc = make_doc(sentences(50))
    chunker = DocumentChunker(word_offsets, chunk_tokens=40, overlap_tokens=5)
    first, second = chunker.run(doc), chunker.run(doc)
    assert [c.id for c in first] == [f"doc.md#{i}" for i in range(len(first))]
    assert first == second


def test_heading_path_travels_with_chunks_and_small_sections_merge():
    intro = "# Guide\n"
    travel = "## Travel\nTrains are booked in second class. " * 2
    big = "## Expenses\n" + sentences(20)
    text = intro + travel + big
    s1 = len(intro)
    s2 = s1 + len(travel)
    sections = [
        Section(0, s1, ("Guide",)),
        Section(s1, s2, ("Guide", "Travel")),
        Section(s2, len(text), ("Guide", "Expenses")),
    ]
    chunks = DocumentChunker(word_offsets, chunk_tokens=60, overlap_tokens=0).run(make_doc(text, sections=sections))
    # "# Guide" alone is a sliver: it joins the Travel section, whose common path is ("Guide",).
    assert chunks[0].start == 0 and chunks[0].heading_path == ("Guide",)
    assert "Trains are booked" in chunks[0].text
    expense_chunks = [c for c in chunks if c.start >= s2]
    assert expense_chunks and all(c.heading_path == ("Guide", "Expenses") for c in expense_chunks)
    # Chunks do not straddle the Travel/Expenses boundary.
    assert all(c.end <= s2 or c.start >= s2 for c in chunks)


def test_page_of_each_chunk():
    page1, page2 = sentences(8), sentences(8)
    text = page1 + "\n\n" + page2
    pages = [Page(1, 0, len(page1)), Page(2, len(page1) + 2, len(text))]
    chunks = DocumentChunker(word_offsets, chunk_tokens=30, overlap_tokens=0).run(make_doc(text, pages=pages))
    assert chunks[0].page == 1
    assert chunks[-1].page == 2
    for chunk in chunks:
        expected = 1 if chunk.start < len(page1) + 2 else 2
        assert chunk.page == expected


def test_whitespace_only_regions_make_no_chunks():
    doc = make_doc("   \n\n  Hello world.  \n\n   ")
    chunks = DocumentChunker(word_offsets, chunk_tokens=30, overlap_tokens=0).run(doc)
    assert [c.text for c in chunks] == ["Hello world."]


def test_real_tokenizer_budget(embedder):
    text = "\n\n".join(sentences(5, words=14) for _ in range(10))
    chunks = DocumentChunker(embedder.token_offsets, chunk_tokens=64, overlap_tokens=8).run(make_doc(text))
    assert len(chunks) > 3
    for chunk in chunks:
        assert len(embedder.token_offsets(chunk.text)) <= 64


def test_contextualize_prefixes_title_and_headings():
    doc = make_doc("x")
    chunk = DocumentChunker(word_offsets, 30, 0).run(doc)[0]
    assert contextualize(chunk, "Doc") == "Doc\nx"
    from dataclasses import replace

    assert contextualize(replace(chunk, heading_path=("A", "B")), "Doc") == "Doc > A > B\nx"
