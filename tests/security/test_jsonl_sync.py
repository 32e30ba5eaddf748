"""`ingest --sync` and jsonl files: records are keyed by id, so a deleted line leaves the index and the
lines after it stay unchanged (issue 25, item 5), on the embedded store and on Milvus Lite."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RECORDS = [
    {"id": "leave", "text": "Annual leave is 25 days, booked through the HR portal."},
    {"id": "secret", "text": "The vault code is heliotrope-4471; it opens the archive room.", "groups": ["hr"]},
    {"id": "travel", "text": "Trains are booked in second class for trips under four hours."},
    {"id": "laptops", "text": "Laptops are replaced every four years by the IT desk."},
    {"id": "parking", "text": "Parking permits are issued by reception on the first floor."},
]
CANARY = "heliotrope-4471 vault code archive room"
MODES = ("dense", "bm25", "hybrid")
BACKENDS = {"local": "kb", "milvus-lite": "kb.db"}


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def texts_found(kb, query: str) -> list[str]:
    """Every chunk text any search mode returns for `query`, searching as an administrator (all groups)."""
    return [hit.chunk.text for mode in MODES for hit in kb.search(query, k=10, mode=mode, groups=None).hits]


@pytest.fixture(params=sorted(BACKENDS))
def kb(request, make_kb):
    return make_kb(BACKENDS[request.param])


def test_a_deleted_line_leaves_every_search_mode_and_the_listing(tmp_path, kb):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", RECORDS)
    assert sorted(kb.ingest([corpus]).added) == sorted(r["id"] for r in RECORDS)
    assert any("heliotrope-4471" in text for text in texts_found(kb, CANARY))

    write_jsonl(corpus, [r for r in RECORDS if r["id"] != "secret"])
    plain = kb.ingest([corpus])  # without --sync nothing is removed, and the shifted lines are not rewritten
    assert (plain.removed, plain.updated, plain.unchanged, plain.version) == ([], [], 4, None)

    report = kb.ingest([corpus], sync=True)
    assert report.removed == ["secret"]
    assert (report.added, report.updated, report.unchanged, report.chunks) == ([], [], 4, 0)  # nothing re-embedded
    assert not [text for text in texts_found(kb, CANARY) if "heliotrope" in text]
    assert kb.document("secret", groups=None) is None
    assert [d.id for d in kb.documents(groups=None)] == sorted(["laptops", "leave", "parking", "travel"])
    stats = kb.stats()
    assert stats["documents"] == 4 and "hr" not in stats["groups"]
    assert stats["chunks"] == 4


def test_failing_lines_an_emptied_file_and_an_unreadable_one(tmp_path, kb):
    """A file that was read keeps exactly the records it yields (a line that now fails is removed, with
    its error); a file that cannot be read at all keeps its records."""
    folder = tmp_path / "docs"
    folder.mkdir()
    edited = write_jsonl(folder / "edited.jsonl", RECORDS[:3])
    emptied = write_jsonl(folder / "emptied.jsonl", [RECORDS[3]])
    broken = write_jsonl(folder / "broken.jsonl", [RECORDS[4]])
    kb.ingest([folder])

    lines = edited.read_text().splitlines()
    edited.write_text("\n".join([lines[0], '{"id": "secret", "text": "unterminated', lines[2]]) + "\n")
    emptied.write_text("")
    broken.write_bytes(b"\x00\x01binary now\x00")
    report = kb.ingest([folder], sync=True)

    assert sorted(report.removed) == ["laptops", "secret"]
    assert (report.updated, report.unchanged) == ([], 2)
    reasons = {Path(e.path).name: e.reason for e in report.errors}
    assert reasons["edited.jsonl"].startswith("line 2: invalid JSON")
    assert reasons["emptied.jsonl"] == "empty document"
    assert reasons["broken.jsonl"].startswith("binary file")
    assert [d.id for d in kb.documents(groups=None)] == ["leave", "parking", "travel"]
    assert not [text for text in texts_found(kb, CANARY) if "heliotrope" in text]


def test_a_record_moved_to_another_file_is_kept_and_a_deleted_file_goes(tmp_path, kb):
    folder = tmp_path / "docs"
    folder.mkdir()
    first = write_jsonl(folder / "a.jsonl", RECORDS[:3])
    write_jsonl(folder / "b.jsonl", RECORDS[3:])
    kb.ingest([folder])

    write_jsonl(first, RECORDS[:2])
    write_jsonl(folder / "c.jsonl", RECORDS[2:3])  # "travel" moves from a.jsonl to c.jsonl
    (folder / "b.jsonl").unlink()
    report = kb.ingest([folder], sync=True)
    assert sorted(report.removed) == ["laptops", "parking"]
    assert report.updated == ["travel"]  # its source changed; same text
    assert Path(kb.document("travel", groups=None).source).name == "c.jsonl"
    assert [d.id for d in kb.documents(groups=None)] == ["leave", "secret", "travel"]


def tailor(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "tailor.cli", *args], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_the_cli_sync_removes_the_deleted_line(tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", RECORDS)
    kb = str(tmp_path / "kb")
    tailor("ingest", str(corpus), "--kb", kb, "--json")
    before = tailor("search", CANARY, "--kb", kb, "--mode", "bm25", "--all-groups", "--json").stdout
    assert "heliotrope-4471" in before
    write_jsonl(corpus, [r for r in RECORDS if r["id"] != "secret"])

    report = json.loads(tailor("ingest", str(corpus), "--kb", kb, "--sync", "--json").stdout)
    assert (report["removed"], report["updated"], report["unchanged"], report["chunks"]) == (["secret"], [], 4, 0)
    for mode in MODES:
        result = json.loads(tailor("search", CANARY, "--kb", kb, "--mode", mode, "--all-groups", "--json").stdout)
        assert not [hit for hit in result["hits"] if "heliotrope" in json.dumps(hit)], mode
    listed = json.loads(tailor("kb", "ls", "--kb", kb, "--json").stdout)
    assert "secret" not in [d["id"] for d in listed] and len(listed) == 4
    stats = json.loads(tailor("kb", "stats", "--kb", kb, "--json").stdout)
    assert stats["documents"] == 4 and "hr" not in stats["groups"]
