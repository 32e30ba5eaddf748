"""Hostile files through the loaders (issue 16): each is a Document or a LoadError naming the file and what is
wrong, the files beside it still load, and a whole folder of them loads in bounded time and memory.

Two parts: files built to attack one parser (YAML aliases, nesting deeper than the stack, pdf flate bombs and
cyclic page trees, encryption, bad encodings), loaded together in a child process under an address-space
limit; and hypothesis mutations (truncation, flipped and inserted bytes) of a valid file of every format,
loaded in this process.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from helpers.documents import small_docx, small_pdf
from tailor.kb.loaders import load_file
from tailor.kb.loaders.yaml_values import MAX_YAML_VALUES, expanded_size, load_yaml
from tailor.records import Document, LoadError

MB = 1024 * 1024
CHILD_MEMORY = 2 << 30  # address space of the child that loads the hostile folder
CHILD_SECONDS = 120


def pdf_bytes(objects: list[bytes]) -> bytes:
    """A PDF with these objects (1 0 R is the catalog) and a correct cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def text_pdf(content: bytes) -> bytes:
    """One page drawing `content` (a flate-compressed content stream) in Helvetica: for streams no writer makes."""
    stream = zlib.compress(content, 9)
    return pdf_bytes([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ])


def laughs(levels: int = 9) -> str:
    """YAML whose last key expands to 9**levels values."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


VALID = {
    "note.txt": b"Leave policy\nEvery employee has 25 days of leave a year.\n",
    "page.md": b"---\ntitle: Leave\ntags: [hr, leave]\n---\n# Leave\n\nEvery employee has 25 days.\n",
    "page.html": b"<html><head><title>Leave</title></head><body><h1>Leave</h1><p>25 days.</p></body></html>",
    "doc.pdf": small_pdf(),
    "doc.docx": small_docx(),
    "corpus.jsonl": b'{"id": "a", "text": "Leave is 25 days."}\n{"id": "b", "title": "B", "text": "Travel."}\n',
}

# name -> (bytes, what the LoadError says, or None when the file must load as a document)
HOSTILE = {
    "laughs.md": (f"---\n{laughs()}---\n# Laughs\nbody\n".encode(), "billion laughs"),
    "recursive.md": (b"---\na: &a [1, *a]\n---\n# R\nbody\n", "recursive YAML"),
    "deep.html": (b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000 + b"</body></html>",
                  "nested too deeply"),
    "entities.html": (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                      + b"".join(b'<!ENTITY a%d "%s">' % (n, b"&a%d;" % (n - 1) * 10 if n > 1 else b"&a;" * 10)
                                 for n in range(1, 10))
                      + b"]><html><body><p>&a9; and text</p></body></html>", None),
    "deep.jsonl": (b'{"id": "deep", "text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
                   + b'{"id": "ok", "text": "The line after a deep one still loads."}\n', "line 1: nested too deeply"),
    "flate-bomb.pdf": (text_pdf(b"BT /F1 12 Tf (a) Tj ET\n" * (200 * MB // 23)), "decompresses past"),
    "cyclic.pdf": (pdf_bytes([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1 >>",
                              b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]), "invalid pdf"),
    "truncated.pdf": (VALID["doc.pdf"][: len(VALID["doc.pdf"]) // 2], "pdf"),
    "random.pdf": (bytes(range(256)) * 40, "invalid pdf"),
    "random.docx": (bytes(range(256)) * 40, "docx"),
    "truncated.docx": (VALID["doc.docx"][:4000], "docx"),
    "utf16-no-bom.txt": ("Plain words in UTF-16 without a byte-order mark".encode("utf-16-le"), "binary file"),
    "latin1.md": ("# Café\n\nNaïve façade, déjà vu.\n".encode("latin-1"), None),
    "bad-utf8.jsonl": (b'{"id": "x", "text": "caf\xc3"}\n', None),
    "nul-bytes.txt": (b"\x00" * 10_000, "binary file"),
    "long-line.md": (b"# One line\n" + b"word " * (3 * MB), None),
    "many-lines.jsonl": (b"".join(b'{"id": "%d", "text": "line %d"}\n' % (n, n) for n in range(20_000)), None),
}

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
    from tailor.kb.loaders import load_file
    report = {{}}
    for path in sorted(Path(sys.argv[1]).iterdir()):
        started = time.perf_counter()
        results = load_file(path)
        report[path.name] = {{
            "seconds": time.perf_counter() - started,
            "documents": sum(1 for r in results if not hasattr(r, "reason")),
            "errors": [[r.path, r.reason] for r in results if hasattr(r, "reason")],
        }}
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({{"files": report, "peak_kb": peak}}))
""")


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("hostile")
    for name, (data, _) in HOSTILE.items():
        (folder / name).write_bytes(data)
    (folder / "good.txt").write_bytes(VALID["note.txt"])
    child = subprocess.run([sys.executable, "-c", CHILD.format(memory=CHILD_MEMORY), str(folder)],
                           capture_output=True, text=True, timeout=CHILD_SECONDS)
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.splitlines()[-1]) | {"folder": str(folder)}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_is_a_named_error_or_a_document(hostile_report, name):
    outcome = hostile_report["files"][name]
    expected = HOSTILE[name][1]
    path = str(Path(hostile_report["folder"]) / name)
    if expected is None:
        assert outcome["documents"] >= 1 and outcome["errors"] == [], outcome
    else:
        assert outcome["errors"], outcome
        assert all(p == path for p, _ in outcome["errors"]), outcome
        assert any(expected in reason for _, reason in outcome["errors"]), outcome
    assert outcome["seconds"] < 30, outcome  # a hang guard on a shared machine, not a speed target


def test_the_good_file_beside_them_loads_and_memory_stays_bounded(hostile_report):
    assert hostile_report["files"]["good.txt"] == {**hostile_report["files"]["good.txt"], "documents": 1, "errors": []}
    assert hostile_report["files"]["deep.jsonl"]["documents"] == 1  # the line after the deep one
    # Imports (lxml, pypdf, docx, bs4) take ~100 MB; the 200 MB flate bomb and 10^9-value YAML never unfold.
    assert hostile_report["peak_kb"] < 600 * 1024, hostile_report["peak_kb"]


def test_yaml_anchors_used_normally_pass_and_their_expansion_is_counted():
    data = load_yaml("hr: &hr [hr, people]\nfiles:\n  a.md: {groups: *hr}\n  b.md: {groups: *hr}\n")
    assert data["files"]["b.md"]["groups"] == ["hr", "people"]
    # root {} + 2 keys + [hr, people] (3) + files {} with 2 keys and two {groups: [..]} of 5 each: 6 + 13.
    assert expanded_size(data) == 19  # the shared list is counted where each alias stands
    assert expanded_size(load_yaml(laughs(5)), limit=10**6) > 9**4
    with pytest.raises(Exception, match="billion laughs"):
        load_yaml(laughs(6), limit=MAX_YAML_VALUES)


def mutated(data: bytes, cut: int | None, flips: list[tuple[int, int]], insert: tuple[int, bytes] | None) -> bytes:
    buffer = bytearray(data[: cut if cut is not None else len(data)])
    for position, value in flips:
        if buffer:
            buffer[position % len(buffer)] = value
    if insert is not None:
        position, extra = insert
        buffer[position % (len(buffer) + 1): position % (len(buffer) + 1)] = extra
    return bytes(buffer)


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(VALID)),
       cut=st.one_of(st.none(), st.integers(min_value=0, max_value=6000)),
       flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8),
       insert=st.one_of(st.none(), st.tuples(st.integers(min_value=0), st.binary(min_size=1, max_size=64))))
def test_mutated_files_never_raise_and_every_error_names_its_file(tmp_path, name, cut, flips, insert):
    path = tmp_path / name
    path.write_bytes(mutated(VALID[name], cut, flips, insert))
    results = load_file(path)
    assert results and all(isinstance(r, Document | LoadError) for r in results)
    for error in (r for r in results if isinstance(r, LoadError)):
        assert error.path == str(path) and error.reason.strip(), error
        assert not error.reason.endswith(": "), error  # an exception with no message says nothing


@pytest.mark.parametrize("name", sorted(VALID))
def test_the_seed_files_are_valid(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(VALID[name])
    results = load_file(path)
    assert results and all(isinstance(r, Document) for r in results), results
