"""Document loaders: every format, every error path, spans, ids, groups and order.

Fixture files are generated in tmp_path (pdfs with fpdf2, docx with python-docx); none are committed.
"""

from __future__ import annotations

import json
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfWriter

from tailor.kb.loaders import LOADERS, FunctionLoader, discover, load_documents, load_file
from tailor.kb.loaders.base import BINARY
from tailor.records import Document, LoadError, Page

# ---------------------------------------------------------------- helpers


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def make_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 10, text)
    pdf.output(str(path))
    return path


def make_docx(path: Path, title: str = "") -> Path:
    document = docx.Document()
    document.core_properties.title = title
    document.add_heading("Handbook", 0)
    document.add_heading("Leave", 1)
    document.add_paragraph("Staff get 25 days.")
    document.add_heading("Carry over", 2)
    document.add_paragraph("Up to 5 days carry over.")
    table = document.add_table(rows=2, cols=3)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"r{r}c{c}"
    document.add_heading("Expenses", 1)
    document.add_paragraph("Keep receipts.")
    document.save(str(path))
    return path


def one(path: Path, **kwargs: object) -> Document:
    docs, errors = load_documents([path], **kwargs)
    assert errors == [] and len(docs) == 1, errors
    return docs[0]


def error_for(path: Path) -> LoadError:
    docs, errors = load_documents([path])
    assert docs == [] and len(errors) == 1, (docs, errors)
    return errors[0]


def check_spans(doc: Document) -> None:
    """Sections start at their heading and tile the text from the first heading on; pages slice cleanly."""
    for i, s in enumerate(doc.sections):
        assert 0 <= s.start < s.end <= len(doc.text)
        assert doc.text[s.start : s.end].lstrip("# ").startswith(s.heading_path[-1])
        assert s.end == (doc.sections[i + 1].start if i + 1 < len(doc.sections) else len(doc.text))
    for p in doc.pages:
        assert 0 <= p.start < p.end <= len(doc.text)
        assert doc.text[p.start : p.end] == doc.text[p.start : p.end].strip()


# ---------------------------------------------------------------- txt


def test_txt_title_newlines_and_metadata(tmp_path: Path):
    path = write(tmp_path / "notes.txt", b"\r\n\r\n  " + b"x" * 200 + b"\r\nsecond line\rthird\r\n")
    doc = one(path)
    assert doc.text == "  " + "x" * 200 + "\nsecond line\nthird"
    assert doc.title == "x" * 120
    assert doc.id == "notes.txt" and doc.source == str(path) and doc.groups == ("public",)
    assert doc.metadata == {"format": "txt", "path": str(path)}
    assert doc.sections == [] and doc.pages == []


def test_txt_encodings(tmp_path: Path):
    assert one(write(tmp_path / "bom.txt", "\ufeffHéllo".encode())).text == "Héllo"
    assert one(write(tmp_path / "latin.txt", "Café crème".encode("latin-1"))).text == "Café crème"
    assert one(write(tmp_path / "u16.txt", "Grüße".encode("utf-16"))).text == "Grüße"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"abc\x00def" * 10, BINARY),
        (bytes(range(1, 32)) * 20, BINARY),
        (b"", "empty document"),
        (b" \n\t\r\n  ", "empty document"),
    ],
)
def test_txt_errors(tmp_path: Path, content: bytes, reason: str):
    path = write(tmp_path / "bad.txt", content)
    assert error_for(path) == LoadError(str(path), reason)


# ---------------------------------------------------------------- markdown

MARKDOWN = """---
title: Travel policy (2024)
owner: finance
updated: 2024-03-01
---

Intro before any heading.

# Travel policy

Book early.

## Per diem

```python
# not a heading
## nor this
```

### Europe ###

EUR 60.

### Asia

USD 50.

## Mileage

0.30/km.

# Appendix
"""


def test_markdown_front_matter_and_sections(tmp_path: Path):
    doc = one(write(tmp_path / "travel.md", MARKDOWN))
    assert doc.text.startswith("Intro before any heading.") and "---" not in doc.text
    assert doc.title == "Travel policy (2024)"
    assert doc.metadata == {
        "title": "Travel policy (2024)",
        "owner": "finance",
        "updated": "2024-03-01",
        "format": "md",
        "path": str(tmp_path / "travel.md"),
    }
    assert [s.heading_path for s in doc.sections] == [
        ("Travel policy",),
        ("Travel policy", "Per diem"),
        ("Travel policy", "Per diem", "Europe"),
        ("Travel policy", "Per diem", "Asia"),
        ("Travel policy", "Mileage"),
        ("Appendix",),
    ]
    check_spans(doc)
    europe = doc.sections[2]
    assert doc.text[europe.start : europe.end] == "### Europe ###\n\nEUR 60.\n\n"
    per_diem = doc.sections[1]
    assert "# not a heading" in doc.text[per_diem.start : per_diem.end]
    assert doc.text[doc.sections[-1].start :] == "# Appendix"


def test_markdown_titles(tmp_path: Path):
    assert one(write(tmp_path / "a.md", "Text\n\n## Sub\n\n# Main  title #\n")).title == "Main  title"
    assert one(write(tmp_path / "no-heading.md", "just text\n")).title == "no-heading"
    assert one(write(tmp_path / "b.md", "---\n---\n# Head\n")).title == "Head"


@pytest.mark.parametrize("front", ["title: [unclosed\n", "- a list\n- not a mapping\n"])
def test_markdown_malformed_front_matter(tmp_path: Path, front: str):
    path = write(tmp_path / "bad.md", f"---\n{front}---\n# Body\n")
    assert error_for(path).reason.startswith("malformed front matter")


# ---------------------------------------------------------------- html

HTML = """<!DOCTYPE html><html><head><title>  Expense   guide </title>
<style>body {color: red}</style><script>var tracking = 1;</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<header><h1>Corp intranet</h1></header>
<aside>Related links</aside>
<main>
  <h1>Expenses</h1>
  <p>Claim   within
     <b>30 days</b>.<!-- hidden comment --></p>
  <h2>Receipts</h2>
  <ul><li>Keep the original</li><li>Scan it <a href="#">here</a></li></ul>
  <p>Line one<br>Line two</p>
  <h3>Lost receipts</h3>
  <table><tr><th>Case</th><th>Action</th></tr><tr><td>Lost</td><td>Sign a declaration</td></tr></table>
  <h2>Travel</h2>
  <p>See travel policy.</p>
  <noscript>Enable JS</noscript><form><input name="q">Search</form>
</main>
<footer>Copyright</footer>
</body></html>"""


def test_html_text_sections_and_noise(tmp_path: Path):
    doc = one(write(tmp_path / "expenses.html", HTML))
    assert doc.title == "Expense guide"
    assert doc.text == (
        "Expenses\n\nClaim within 30 days.\n\nReceipts\n\n- Keep the original\n- Scan it here\n\n"
        "Line one\nLine two\n\nLost receipts\n\nCase | Action\nLost | Sign a declaration\n\n"
        "Travel\n\nSee travel policy."
    )
    for noise in (
        "Home",
        "tracking",
        "color",
        "Corp intranet",
        "Related",
        "Enable JS",
        "Search",
        "Copyright",
    ):
        assert noise not in doc.text
    assert [s.heading_path for s in doc.sections] == [
        ("Expenses",),
        ("Expenses", "Receipts"),
        ("Expenses", "Receipts", "Lost receipts"),
        ("Expenses", "Travel"),
    ]
    check_spans(doc)
    assert doc.metadata["format"] == "html"


def test_html_body_fallback_and_h1_title(tmp_path: Path):
    path = write(
        tmp_path / "page.htm", "<body><div><h1>Welcome</h1>Hi <i>there</i></div><script>x</script></body>"
    )
    doc = one(path)
    assert (doc.title, doc.text) == ("Welcome", "Welcome\n\nHi there")
    assert one(write(tmp_path / "bare.html", "<p>no title</p>")).title == "bare"


def test_html_without_text_is_empty(tmp_path: Path):
    path = write(tmp_path / "empty.html", "<html><body><nav>menu</nav><script>x()</script></body></html>")
    assert error_for(path).reason == "empty document"


# ---------------------------------------------------------------- pdf


def test_pdf_pages_and_spans(tmp_path: Path):
    path = make_pdf(
        tmp_path / "report.pdf", ["Quarterly report\nRevenue grew.", "", "Costs fell.\nOutlook stable."]
    )
    doc = one(path)
    assert [p.number for p in doc.pages] == [1, 3]  # the blank page 2 has no span; numbering holds
    assert doc.text[doc.pages[0].start : doc.pages[0].end] == "Quarterly report\nRevenue grew."
    assert doc.text[doc.pages[1].start : doc.pages[1].end] == "Costs fell.\nOutlook stable."
    assert doc.text == "Quarterly report\nRevenue grew.\n\nCosts fell.\nOutlook stable."
    assert doc.pages[0] == Page(1, 0, len("Quarterly report\nRevenue grew."))
    check_spans(doc)
    assert doc.title == "Quarterly report"
    assert doc.metadata["format"] == "pdf" and doc.metadata["page_count"] == 3


def test_pdf_metadata_title(tmp_path: Path):
    assert one(make_pdf(tmp_path / "t.pdf", ["body text"], title="Annual Review")).title == "Annual Review"


def test_pdf_encryption(tmp_path: Path):
    plain = make_pdf(tmp_path / "plain.pdf.src", ["Secret plans"])
    locked, open_ = tmp_path / "locked.pdf", tmp_path / "open.pdf"
    writer = PdfWriter(clone_from=plain)
    writer.encrypt("pw")
    writer.write(locked)
    writer = PdfWriter(clone_from=plain)
    writer.encrypt("", owner_password="owner")
    writer.write(open_)
    assert error_for(locked) == LoadError(str(locked), "encrypted pdf")
    assert one(open_).text == "Secret plans"


def test_pdf_errors(tmp_path: Path):
    scanned = make_pdf(tmp_path / "scan.pdf", ["", ""])
    assert error_for(scanned) == LoadError(str(scanned), "no text layer (scanned pdf?)")
    corrupt = write(tmp_path / "corrupt.pdf", b"%PDF-1.4\nthis is not really a pdf")
    assert error_for(corrupt).reason.startswith("invalid pdf: ")


# ---------------------------------------------------------------- docx


def test_docx_headings_tables_and_title(tmp_path: Path):
    doc = one(make_docx(tmp_path / "handbook.docx"))
    assert doc.title == "Handbook"
    assert doc.text == (
        "Handbook\n\nLeave\n\nStaff get 25 days.\n\nCarry over\n\nUp to 5 days carry over.\n\n"
        "r0c0 | r0c1 | r0c2\nr1c0 | r1c1 | r1c2\n\nExpenses\n\nKeep receipts."
    )
    assert [s.heading_path for s in doc.sections] == [("Leave",), ("Leave", "Carry over"), ("Expenses",)]
    check_spans(doc)
    assert "r1c0 | r1c1" in doc.text[doc.sections[1].start : doc.sections[1].end]
    assert doc.metadata["format"] == "docx"
    assert (
        one(make_docx(tmp_path / "titled.docx", title="Staff Handbook 2024")).title == "Staff Handbook 2024"
    )


def test_docx_corrupt(tmp_path: Path):
    path = write(tmp_path / "broken.docx", b"PK\x03\x04 not a zip")
    assert error_for(path).reason.startswith("invalid docx: ")


# ---------------------------------------------------------------- jsonl


def test_jsonl_lines_and_errors(tmp_path: Path):
    lines = [
        json.dumps({"_id": "d1", "title": "First", "text": "Alpha text"}),
        json.dumps({"id": "d2", "text": "Beta", "metadata": {"lang": "en"}, "groups": ["eng"]}),
        "{not json",
        json.dumps({"id": "d3", "text": "   "}),
        json.dumps({"id": 7, "text": "numeric id"}),
        "",
        json.dumps({"id": "d1", "text": "again"}),
        json.dumps(["a", "list"]),
        json.dumps({"text": "no id"}),
        json.dumps({"id": "d4", "text": "Gamma\r\nline"}),
    ]
    path = write(tmp_path / "corpus.jsonl", "\n".join(lines) + "\n")
    docs, errors = load_documents([path])
    assert [(d.id, d.title, d.text) for d in docs] == [
        ("d1", "First", "Alpha text"),
        ("d2", "d2", "Beta"),
        ("d4", "d4", "Gamma\nline"),
    ]
    assert docs[1].groups == ("eng",) and docs[0].groups == ("public",)
    assert docs[1].metadata == {"lang": "en", "format": "jsonl", "path": str(path)}  # no line: ids key records
    reasons = [e.reason for e in errors]
    assert all(e.path == str(path) for e in errors)
    assert reasons[0].startswith("line 3: invalid JSON")
    assert reasons[1:] == [
        "line 4: missing or empty text",
        "line 5: id must be a non-empty string, got 7",
        "line 7: duplicate id 'd1' (first on line 1)",
        "line 8: expected a JSON object",
        "line 9: missing id ('id' or '_id')",
    ]


def test_jsonl_empty_file(tmp_path: Path):
    assert error_for(write(tmp_path / "none.jsonl", "\n\n")).reason == "empty document"


# ---------------------------------------------------------------- discovery and ids


def make_tree(root: Path) -> None:
    write(root / "b.md", "# B\n")
    write(root / "a.txt", "a\n")
    write(root / "hr" / "salary-bands.md", "# Bands\n")
    write(root / "hr" / "z" / "deep.txt", "deep\n")
    write(root / "hr-notes.txt", "notes\n")
    write(root / "image.png", b"\x89PNG")
    write(root / ".hidden.md", "# hidden\n")
    write(root / ".git" / "config.txt", "hidden dir\n")
    write(root / "_meta.yaml", "defaults: {groups: [staff]}\n")


def test_discover_is_recursive_sorted_and_skips_noise(tmp_path: Path):
    root = tmp_path / "kb"
    make_tree(root)
    rel = [f.relative_to(root).as_posix() for f, r in discover([root]) if r == root]
    assert rel == ["a.txt", "b.md", "hr/salary-bands.md", "hr/z/deep.txt", "hr-notes.txt"]
    assert discover([root]) == discover([root])


def test_ids_are_relative_to_root(tmp_path: Path):
    root = tmp_path / "kb"
    make_tree(root)
    other = write(tmp_path / "elsewhere" / "single.md", "# Single\n")
    docs, errors = load_documents([root, other, root / "a.txt"])  # a.txt twice: loaded once
    assert errors == []
    assert [d.id for d in docs] == [
        "a.txt",
        "b.md",
        "hr/salary-bands.md",
        "hr/z/deep.txt",
        "hr-notes.txt",
        "single.md",
    ]
    assert docs[2].metadata["path"] == str(root / "hr" / "salary-bands.md")


def test_explicit_unsupported_and_missing_files_are_reported(tmp_path: Path):
    root = tmp_path / "kb"
    make_tree(root)
    data = write(tmp_path / "data.xyz", "x")
    missing = tmp_path / "missing.md"
    docs, errors = load_documents([data, missing, root / "image.png", root])
    assert errors == [
        LoadError(str(data), "unsupported file type .xyz"),
        LoadError(str(missing), "no such file"),
        LoadError(str(root / "image.png"), "unsupported file type .png"),
    ]
    assert len(docs) == 5


def test_duplicate_ids_across_roots(tmp_path: Path):
    first = write(tmp_path / "one" / "same.md", "# One\n")
    second = write(tmp_path / "two" / "same.md", "# Two\n")
    docs, errors = load_documents([tmp_path / "one", tmp_path / "two"])
    assert [d.source for d in docs] == [str(first)]
    assert errors == [
        LoadError(str(second), f"duplicate document id 'same.md' (already loaded from {first})")
    ]


def test_bad_files_do_not_stop_the_others(tmp_path: Path):
    write(tmp_path / "a-good.md", "# Good\n")
    write(tmp_path / "b-binary.txt", b"\x00\x01\x02")
    write(tmp_path / "c-empty.txt", "")
    write(tmp_path / "d-corrupt.pdf", b"%PDF garbage")
    write(tmp_path / "e-corrupt.docx", b"garbage")
    write(tmp_path / "f-good.txt", "fine\n")
    docs, errors = load_documents([tmp_path])
    assert [d.id for d in docs] == ["a-good.md", "f-good.txt"]
    assert [Path(e.path).name for e in errors] == [
        "b-binary.txt",
        "c-empty.txt",
        "d-corrupt.pdf",
        "e-corrupt.docx",
    ]


def test_unexpected_exception_becomes_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def explode(path: Path) -> list:
        raise RuntimeError("boom")

    monkeypatch.setitem(LOADERS, ".boom", FunctionLoader("boom", (".boom",), explode))
    path = write(tmp_path / "x.boom", "x")
    assert load_file(path) == [LoadError(str(path), "RuntimeError: boom")]


# ---------------------------------------------------------------- sidecar and groups

SIDECAR = """
defaults:
  groups: [staff]
files:
  hr/salary-bands.md:
    groups: [hr]
    title: "Salary bands 2024"
    metadata: {owner: people-team}
  corpus.jsonl:
    groups: [research]
    metadata: {source: beir}
"""


def sidecar_tree(root: Path, sidecar: str = SIDECAR) -> None:
    write(root / "_meta.yaml", sidecar)
    write(root / "hr" / "salary-bands.md", "# Bands\n")
    write(root / "open.md", "# Open\n")
    lines = [{"id": "c1", "text": "one"}, {"id": "c2", "text": "two", "groups": ["secret"]}]
    write(root / "corpus.jsonl", "\n".join(json.dumps(x) for x in lines))


def test_sidecar_groups_title_metadata(tmp_path: Path):
    sidecar_tree(tmp_path)
    docs, errors = load_documents([tmp_path])
    assert errors == []
    by_id = {d.id: d for d in docs}
    bands = by_id["hr/salary-bands.md"]
    assert (bands.groups, bands.title, bands.metadata["owner"]) == (
        ("hr",),
        "Salary bands 2024",
        "people-team",
    )
    assert by_id["open.md"].groups == ("staff",)  # sidecar defaults
    assert by_id["c1"].groups == ("research",) and by_id["c1"].metadata["source"] == "beir"
    assert by_id["c2"].groups == ("secret",)  # a jsonl line's own groups win


def test_group_precedence(tmp_path: Path):
    sidecar_tree(tmp_path / "kb")
    docs, _ = load_documents([tmp_path / "kb"], default_groups=("cli",))
    groups = {d.id: d.groups for d in docs}
    assert groups["hr/salary-bands.md"] == ("hr",)  # sidecar entry beats --group
    assert groups["open.md"] == ("cli",)  # --group beats sidecar defaults
    bare = write(tmp_path / "bare" / "x.md", "# X\n")
    assert one(bare).groups == ("public",)
    assert one(bare, default_groups=("cli",)).groups == ("cli",)


def test_sidecar_applies_to_explicit_file(tmp_path: Path):
    sidecar_tree(tmp_path)
    assert one(tmp_path / "open.md").groups == ("staff",)


MALFORMED_SIDECARS = [
    ("files: [unclosed\n", ""),
    ("- just\n- a list\n", "sidecar must be a mapping"),
    ("defaults: {groups: hr}\n", "groups must be a non-empty list"),
    ("defualts: {groups: [hr]}\n", "sidecar: unknown key(s) defualts"),
    ("files: [hr/salary-bands.md]\n", "files must be a mapping"),
    (b"files: {\xff\xfe: x}\n", "'utf-8' codec can't decode"),
]


def skipped(path: Path, meta: Path) -> LoadError:
    return LoadError(str(path), f"skipped because the sidecar {meta} is malformed")


@pytest.mark.parametrize(("sidecar", "reason"), MALFORMED_SIDECARS)
def test_malformed_sidecar_blocks_every_file_under_its_root(
    tmp_path: Path, sidecar: str | bytes, reason: str
):
    sidecar_tree(tmp_path / "kb")
    meta = write(tmp_path / "kb" / "_meta.yaml", sidecar)
    write(tmp_path / "kb" / "hr" / "z" / "deep.txt", "deep\n")
    other = write(tmp_path / "other" / "fine.md", "# Fine\n")
    docs, errors = load_documents([tmp_path / "kb", other])
    assert [d.id for d in docs] == ["fine.md"]  # other roots are unaffected
    assert errors[0].path == str(meta)
    assert errors[0].reason.startswith(f"malformed sidecar, no file under {tmp_path / 'kb'} is loaded: ")
    assert reason in errors[0].reason
    assert errors[1:] == [
        skipped(tmp_path / "kb" / name, meta)
        for name in ("corpus.jsonl", "hr/salary-bands.md", "hr/z/deep.txt", "open.md")
    ]


def test_malformed_sidecar_blocks_files_named_directly(tmp_path: Path):
    sidecar_tree(tmp_path)
    meta = write(tmp_path / "_meta.yaml", "files: [unclosed\n")
    bands, open_ = tmp_path / "hr" / "salary-bands.md", tmp_path / "open.md"
    docs, errors = load_documents([bands, open_])
    assert docs == []
    assert len(errors) == 3 and errors[0].path == str(meta)  # the sidecar is reported once
    assert errors[1:] == [skipped(bands, meta), skipped(open_, meta)]


@pytest.mark.parametrize("kind", ["folder", "dangling link"])
def test_unreadable_sidecar_is_malformed(tmp_path: Path, kind: str):
    write(tmp_path / "open.md", "# Open\n")
    meta = tmp_path / "_meta.yaml"
    if kind == "folder":
        meta.mkdir()
    else:
        meta.symlink_to(tmp_path / "nowhere.yaml")
    docs, errors = load_documents([tmp_path])
    assert docs == [] and len(errors) == 2
    assert errors[0].path == str(meta) and errors[0].reason.startswith("malformed sidecar")
    assert errors[1] == skipped(tmp_path / "open.md", meta)


def test_empty_sidecar_is_not_malformed(tmp_path: Path):
    sidecar_tree(tmp_path, "")
    docs, errors = load_documents([tmp_path])
    assert errors == [] and {d.groups for d in docs} == {("public",), ("secret",)}


def test_sidecar_bad_entries(tmp_path: Path):
    sidecar = """
files:
  gone.md: {groups: [hr]}
  hr/salary-bands.md: {group: [hr]}
  open.md: {title: "Open door"}
"""
    sidecar_tree(tmp_path, sidecar)
    docs, errors = load_documents([tmp_path])
    meta = str(tmp_path / "_meta.yaml")
    assert errors == [
        LoadError(meta, "entry 'gone.md' names a missing file"),
        LoadError(
            meta,
            "entry 'hr/salary-bands.md': entry: unknown key(s) group (allowed: groups, metadata, title); "
            "the file is not loaded",
        ),
    ]
    assert [(d.id, d.title) for d in docs] == [("c1", "c1"), ("c2", "c2"), ("open.md", "Open door")]


# ---------------------------------------------------------------- files named directly find their root


def test_explicit_file_uses_nearest_parent_sidecar(tmp_path: Path):
    kb = tmp_path / "kb"
    write(
        kb / "_meta.yaml", "defaults: {groups: [staff]}\nfiles:\n  hr/secret.md: {groups: [hr], title: Pay}\n"
    )
    secret = write(kb / "hr" / "secret.md", "# Secret\n")
    doc = one(secret)
    assert (doc.id, doc.groups, doc.title, doc.source) == ("hr/secret.md", ("hr",), "Pay", str(secret))
    assert one(kb) == doc  # exactly as if the folder had been ingested
    deep = one(write(kb / "hr" / "a" / "b" / "deep.md", "# Deep\n"))
    assert (deep.id, deep.groups) == ("hr/a/b/deep.md", ("staff",))  # sidecar defaults


def test_explicit_file_relative_path_and_dotdot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    kb = tmp_path / "kb"
    write(kb / "_meta.yaml", "files:\n  hr/secret.md: {groups: [hr]}\n")
    write(kb / "hr" / "secret.md", "# Secret\n")
    write(kb / "pub" / "x.md", "# X\n")
    monkeypatch.chdir(kb / "hr")
    doc = one(Path("secret.md"))
    assert (doc.id, doc.groups, doc.source) == ("hr/secret.md", ("hr",), "secret.md")
    doc = one(Path("../pub/../hr/secret.md"))
    assert (doc.id, doc.groups) == ("hr/secret.md", ("hr",))


def test_explicit_file_stops_at_the_nearest_sidecar(tmp_path: Path):
    write(tmp_path / "_meta.yaml", "defaults: {groups: [outer]}\n")
    write(tmp_path / "team" / "_meta.yaml", "files:\n  hr/secret.md: {groups: [hr]}\n")
    secret = write(tmp_path / "team" / "hr" / "secret.md", "# Secret\n")
    doc = one(secret)
    assert (doc.id, doc.groups) == ("hr/secret.md", ("hr",))


def test_explicit_file_blocked_by_parent_sidecar_entry(tmp_path: Path):
    write(tmp_path / "_meta.yaml", "files:\n  hr/secret.md: {group: [hr]}\n")
    docs, errors = load_documents([write(tmp_path / "hr" / "secret.md", "# Secret\n")])
    assert docs == [] and [e.path for e in errors] == [str(tmp_path / "_meta.yaml")]


def test_explicit_file_without_any_sidecar_keeps_its_folder_as_root(tmp_path: Path):
    doc = one(write(tmp_path / "a" / "b" / "note.md", "# Note\n"))
    assert (doc.id, doc.groups) == ("note.md", ("public",))


def test_explicit_file_and_its_folder_share_one_sidecar_read(tmp_path: Path):
    sidecar_tree(tmp_path, "defualts: {}\n")
    docs, errors = load_documents([tmp_path / "hr" / "salary-bands.md", tmp_path])
    assert docs == [] and sum(e.path.endswith("_meta.yaml") for e in errors) == 1
    assert [Path(e.path).name for e in errors[1:]] == ["salary-bands.md", "corpus.jsonl", "open.md"]


def test_a_subfolder_given_alone_keeps_the_parent_sidecar_groups(tmp_path):
    kb = tmp_path / "kb"
    (kb / "hr").mkdir(parents=True)
    (kb / "hr" / "secret.md").write_text("# Secret\n\nBand L4 pays well.\n")
    (kb / "_meta.yaml").write_text("files:\n  hr/secret.md:\n    groups: [hr]\n")
    docs, errors = load_documents([kb / "hr"])
    assert not errors
    assert [(d.id, d.groups) for d in docs] == [("hr/secret.md", ("hr",))]


def test_sidecar_keys_that_are_not_normalised_block_their_file(tmp_path):
    kb = tmp_path / "kb"
    (kb / "hr").mkdir(parents=True)
    (kb / "hr" / "s.md").write_text("# S\n\nRestricted text.\n")
    (kb / "open.md").write_text("# Open\n\nPublic text.\n")
    (kb / "_meta.yaml").write_text("files:\n  hr//s.md:\n    groups: [hr]\n")
    docs, errors = load_documents([kb])
    assert [d.id for d in docs] == ["open.md"]
    assert any("not a plain relative path" in e.reason for e in errors)
