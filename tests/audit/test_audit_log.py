"""The audit trail's files: what a row holds, rotation, append-only, SIGKILL, concurrent writers, no secrets."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from audit_writer import numbered_answer

from tailor.audit import AuditConfig, AuditLog
from tailor.audit.entry import ChunkRef
from tailor.audit.log import SCHEMA

WRITER = Path(__file__).with_name("audit_writer.py")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def trail_bytes(folder: Path) -> bytes:
    """Every byte the trail wrote: databases, write-ahead logs and shared-memory files."""
    return b"".join(path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file())


def test_a_row_holds_ids_and_hashes_and_queries_filter_by_document_caller_and_time(tmp_path):
    log = AuditLog.open(tmp_path / "trail")
    start = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    for i in range(6):
        log.record(numbered_answer(i), caller=f"k{i % 2}", groups=["public", "hr"], kb_version=4,
                   adapter="hr-qa@3" if i == 5 else None, at=start + timedelta(hours=i))
    newest = log.query()
    assert [e.kb_version for e in newest] == [4] * 6 and [e.tokens_in for e in newest] == [5, 4, 3, 2, 1, 0]
    entry = newest[0]
    assert (entry.caller, entry.groups, entry.strategy, entry.generator) == ("k1", ["hr", "public"], "rag", "extractive")
    assert (entry.adapter, entry.adapter_version, entry.at) == ("hr-qa", 3, start + timedelta(hours=5))
    assert entry.retrieved[0] == ChunkRef("doc5#0", "doc5") and len(entry.retrieved) == 5
    assert entry.cited == [ChunkRef("doc5#0", "doc5")] and entry.timings_ms == {"total": 5.0}
    # question hashed by default; the answer only as a hash and a length
    assert entry.question is None and entry.question_sha256 == sha256("question 5")
    assert (entry.answer_sha256, entry.answer_chars) == (sha256("answer 5"), len("answer 5"))
    assert b"question 5" not in trail_bytes(tmp_path / "trail") and b"answer 5" not in trail_bytes(tmp_path / "trail")

    # doc3 is retrieved by answers 0..3 (documents doc<i>..doc<i+4>), cited by answer 3 only
    assert [e.tokens_in for e in log.query(doc_id="doc3")] == [3, 2, 1, 0]
    assert [e.tokens_in for e in log.query(key_id="k0")] == [4, 2, 0]
    assert [e.tokens_in for e in log.query(since=start + timedelta(hours=4))] == [5, 4]
    assert [e.tokens_in for e in log.query(doc_id="doc3", key_id="k1", since=start + timedelta(hours=2))] == [3]
    assert [e.tokens_in for e in log.query(limit=2)] == [5, 4] and log.query(doc_id="nowhere") == []
    documents = log.query(doc_id="doc3", limit=1)[0].to_dict()["documents"]
    assert documents[0] == {"doc_id": "doc3", "cited": True, "retrieved": True, "deleted": None}
    with pytest.raises(ValueError, match="limit"):
        log.query(limit=0)
    with pytest.raises(TypeError, match="sequence of group names"):
        log.record(numbered_answer(0), caller="k0", groups="hr", kb_version=None)


def test_refusals_are_recorded_with_their_reason_and_filtered_apart_from_answers(tmp_path):
    log = AuditLog.open(tmp_path / "trail")
    start = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    log.record(numbered_answer(1), caller="k1", groups=["public"], kb_version=2, at=start)
    log.record_refusal("What does band L4 pay?", "adapter hr-qa needs groups ['hr']", strategy="finetuned",
                       generator="hf:tiny", caller="k1", groups=["public"], kb_version=2, adapter="hr-qa@3",
                       at=start + timedelta(hours=1))
    refusal, answer = log.query()
    assert (refusal.outcome, refusal.reason) == ("refused", "adapter hr-qa needs groups ['hr']")
    assert (answer.outcome, answer.reason) == ("answered", None)
    assert (refusal.strategy, refusal.adapter, refusal.adapter_version, refusal.abstained) == ("finetuned", "hr-qa", 3, True)
    assert refusal.retrieved == refusal.cited == [] and (refusal.answer_sha256, refusal.answer_chars) == (None, None)
    assert refusal.question_sha256 == sha256("What does band L4 pay?")
    assert [e.outcome for e in log.query(outcome="refused")] == ["refused"]
    assert [e.tokens_in for e in log.query(outcome="answered")] == [1] and log.query(outcome="interrupted") == []
    assert refusal.to_dict()["reason"] == "adapter hr-qa needs groups ['hr']"
    with pytest.raises(ValueError, match="outcome"):
        log.query(outcome="lost")


def test_a_file_written_before_refusals_existed_is_read_and_extended(tmp_path):
    folder = tmp_path / "trail"
    folder.mkdir()
    old = sqlite3.connect(folder / "audit-2026-11-0001.sqlite")
    old.executescript(SCHEMA.replace(",\n    outcome TEXT,\n    reason TEXT", ""))
    assert "outcome" not in {row[1] for row in old.execute("PRAGMA table_info(answers)")}
    old.execute("INSERT INTO answers (at, groups, strategy, generator, abstained, retrieved, cited, timings_ms, "
                "tokens_in, tokens_out) VALUES ('2026-11-01T00:00:00.000000Z', '[]', 'rag', 'x', 0, '[]', '[]', "
                "'{}', 0, 0)")
    old.commit()
    old.close()
    reader = AuditLog.open(folder)
    assert reader.query(outcome="refused") == [] and [e.outcome for e in reader.query(outcome="answered")] == ["answered"]
    at = datetime(2026, 11, 5, tzinfo=UTC)
    reader.record_refusal("q", "no", strategy="finetuned", generator="hf:x", caller="k", groups=["public"],
                          kb_version=None, at=at)
    assert [(e.outcome, e.reason) for e in reader.query()] == [("refused", "no"), ("answered", None)]
    assert len(reader.files()) == 1


def test_question_and_answer_modes(tmp_path):
    kept = AuditLog.open(tmp_path / "keep", AuditConfig(question="keep", answer="drop"))
    kept.record(numbered_answer(1), caller=None, groups=["public"], kb_version=None)
    (entry,) = kept.query()
    assert (entry.question, entry.question_sha256, entry.answer_sha256, entry.answer_chars) == ("question 1", None, None, None)
    assert (entry.caller, entry.kb_version) == (None, None)
    dropped = AuditLog.open(tmp_path / "drop", AuditConfig(question="drop"))
    dropped.record(numbered_answer(1), caller="k", groups=["public"], kb_version=1)
    (entry,) = dropped.query()
    assert (entry.question, entry.question_sha256) == (None, None) and entry.answer_chars == len("answer 1")


def test_files_rotate_by_month_and_by_rows_and_queries_read_across_them(tmp_path):
    log = AuditLog.open(tmp_path, AuditConfig(max_rows=3))
    october, november = datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(4):
        log.record(numbered_answer(i), caller="k", groups=["public"], kb_version=1, at=october + timedelta(minutes=i))
    for i in range(4, 11):
        log.record(numbered_answer(i), caller="k", groups=["public"], kb_version=1, at=november + timedelta(minutes=i))
    names = [path.name for path in log.files()]
    assert names == ["audit-2026-10-0001.sqlite", "audit-2026-10-0002.sqlite", "audit-2026-11-0001.sqlite",
                     "audit-2026-11-0002.sqlite", "audit-2026-11-0003.sqlite"]
    assert [e.tokens_in for e in log.query()] == list(range(10, -1, -1))
    assert [e.tokens_in for e in log.query(since=november)] == list(range(10, 3, -1))
    assert [e.id for e in log.query(limit=2)] == ["2026-11-0003:1", "2026-11-0002:3"]
    log.close()
    reopened = AuditLog.open(tmp_path, AuditConfig(max_rows=3))  # a new writer continues the newest file
    reopened.record(numbered_answer(11), caller="k", groups=["public"], kb_version=1, at=november)
    assert reopened.query(limit=1)[0].id == "2026-11-0003:2"


def test_rows_cannot_be_changed_or_deleted(tmp_path):
    log = AuditLog.open(tmp_path)
    log.record(numbered_answer(0), caller="k", groups=["public"], kb_version=1)
    db = sqlite3.connect(log.files()[0])
    for statement in ("UPDATE answers SET caller = 'x'", "DELETE FROM answers", "DELETE FROM answer_docs",
                      "UPDATE answer_docs SET doc_id = 'x'"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(statement)
    assert db.execute("SELECT caller FROM answers").fetchall() == [("k",)]


def check_rows(folder: Path) -> dict[str, int]:
    """Every row complete and consistent with the answer it numbers; per caller, numbers 0..n-1 with no gap
    or duplicate (a writer records them in order). Returns the count per caller."""
    counts: dict[str, list[int]] = {}
    for path in sorted(folder.glob("audit-*.sqlite")):
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        docs: dict[int, set[str]] = {}
        for doc_id, answer_id in db.execute("SELECT doc_id, answer_id FROM answer_docs"):
            docs.setdefault(answer_id, set()).add(doc_id)
        for row_id, caller, i, question, answer_hash, retrieved, cited, timings in db.execute(
            "SELECT id, caller, kb_version, question, answer_sha256, retrieved, cited, timings_ms FROM answers"
        ):
            expected = numbered_answer(i)
            assert question == expected.question and answer_hash == sha256(expected.text)
            assert json.loads(retrieved) == [[h.chunk.id, h.chunk.doc_id] for h in expected.hits]
            assert json.loads(cited) == [[c.chunk_id, c.doc_id] for c in expected.citations]
            assert json.loads(timings) == expected.timings_ms
            assert docs.pop(row_id) == {h.chunk.doc_id for h in expected.hits}  # the index went in with the row
            counts.setdefault(caller, []).append(i)
        assert not docs  # no index entry without its row
        db.close()
    for caller, numbers in counts.items():
        assert sorted(numbers) == list(range(len(numbers))), caller
    return {caller: len(numbers) for caller, numbers in counts.items()}


def test_a_writer_killed_mid_record_leaves_only_whole_rows(tmp_path):
    rng = random.Random(8)
    written = {}
    for attempt in range(4):
        caller = f"run{attempt}"
        writer = subprocess.Popen([sys.executable, str(WRITER), str(tmp_path), caller, "-1", "1000000"])
        deadline = time.monotonic() + 60
        while not AuditLog.open(tmp_path).query(key_id=caller, limit=1):
            assert writer.poll() is None and time.monotonic() < deadline, "the writer never recorded a row"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        written = check_rows(tmp_path)
        assert written[caller] >= 1
    assert set(written) == {f"run{n}" for n in range(4)}
    survivor = AuditLog.open(tmp_path, AuditConfig(question="keep"))  # still writable after the kills
    survivor.record(numbered_answer(0), caller="after", groups=["public"], kb_version=0)
    assert check_rows(tmp_path)["after"] == 1


def test_threads_sharing_one_log_lose_no_row_and_rotation_holds(tmp_path):
    log = AuditLog.open(tmp_path, AuditConfig(question="keep", max_rows=50))

    def write(caller: str) -> None:
        for i in range(40):
            log.record(numbered_answer(i), caller=caller, groups=["public"], kb_version=i)

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert check_rows(tmp_path) == {f"t{n}": 40 for n in range(6)}
    sizes = [sqlite3.connect(path).execute("SELECT count(*) FROM answers").fetchone()[0] for path in log.files()]
    assert sizes == [50, 50, 50, 50, 40]


def test_rows_arriving_during_a_commit_are_committed_together_and_share_its_failure(tmp_path, monkeypatch):
    log = AuditLog.open(tmp_path, AuditConfig(question="keep"))
    first_commit, release, batches = threading.Event(), threading.Event(), []
    commit = AuditLog._commit

    def observed_commit(self, batch):
        batches.append(len(batch))
        if len(batches) == 1:  # hold the first commit until the other writers have queued their rows
            first_commit.set()
            release.wait(10)
        if len(batches) == 3:
            raise sqlite3.OperationalError("disk I/O error")
        commit(self, batch)

    monkeypatch.setattr(AuditLog, "_commit", observed_commit)

    def write(caller: str, errors: list[str]) -> None:
        try:
            log.record(numbered_answer(0), caller=caller, groups=["public"], kb_version=0)
        except sqlite3.OperationalError as exc:
            errors.append(str(exc))

    errors: list[str] = []
    leader = threading.Thread(target=write, args=("leader", errors))
    leader.start()
    assert first_commit.wait(10)
    followers = [threading.Thread(target=write, args=(f"f{n}", errors)) for n in range(5)]
    for thread in followers:
        thread.start()
    time.sleep(0.3)  # the five queue behind the held commit
    release.set()
    for thread in [leader, *followers]:
        thread.join(10)
    assert batches == [1, 5]  # one transaction for the five
    assert check_rows(tmp_path) == {"leader": 1} | {f"f{n}": 1 for n in range(5)}
    failing = [threading.Thread(target=write, args=(f"x{n}", errors)) for n in range(3)]
    for thread in failing:
        thread.start()
    for thread in failing:
        thread.join(10)
    failed = batches[2]  # the batch whose commit fails: every caller in it gets the error, later ones land
    assert len(errors) == failed and set(errors) == {"disk I/O error"}
    assert sum(caller.startswith("x") for caller in check_rows(tmp_path)) == 3 - failed


def test_two_processes_lose_no_row_and_rotation_holds(tmp_path):
    writers = [subprocess.Popen([sys.executable, str(WRITER), str(tmp_path), f"p{n}", "120", "70"]) for n in range(2)]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    assert check_rows(tmp_path) == {"p0": 120, "p1": 120}
    sizes = [sqlite3.connect(path).execute("SELECT count(*) FROM answers").fetchone()[0]
             for path in sorted(tmp_path.glob("audit-*.sqlite"))]
    assert sizes == [70, 70, 70, 30]


def test_no_credential_reaches_the_files(tmp_path, monkeypatch):
    openai_key = "sk-proj-" + "Q7" * 20
    tailor_token = "tailor-k3f9a01bc22." + "s3cr3tPart_" * 4
    monkeypatch.setenv("OPENAI_API_KEY", openai_key)
    monkeypatch.setenv("TAILOR_ADMIN_TOKEN", "plainsecretvalue-without-shape")
    log = AuditLog.open(tmp_path, AuditConfig(question="keep"))
    answer = numbered_answer(0)
    answer.question = f"why does {openai_key} fail? plainsecretvalue-without-shape"
    answer.generator = "openai:https://alice:pw-hunter2@llm.internal/v1?api_key=abc123def456#gpt"
    log.record(answer, caller="k3f9a01bc22", groups=["public"], kb_version=1)
    log.record(answer, caller=tailor_token, groups=["public", f"Bearer {tailor_token}"], kb_version=1)  # misuse
    raw = trail_bytes(tmp_path)
    for secret in (openai_key, "s3cr3tPart_", "plainsecretvalue-without-shape", "pw-hunter2", "abc123def456"):
        assert secret.encode() not in raw, secret
    misused, proper = log.query()
    assert proper.caller == "k3f9a01bc22" and misused.caller == "tailor-k3f9a01bc22.[redacted]"
    assert proper.generator == "openai:https://[redacted]@llm.internal/v1?api_key=[redacted]#gpt"
    assert proper.question == "why does [redacted] fail? [redacted]"
    assert proper.question_sha256 is None and misused.groups == ["Bearer [redacted]", "public"]


def test_record_all_writes_a_batch_in_one_commit_and_checks_every_record_before_writing(tmp_path, monkeypatch):
    from tailor.audit import AuditRecord

    log = AuditLog.open(tmp_path, AuditConfig(question="keep"))
    batches = []
    commit = AuditLog._commit
    monkeypatch.setattr(AuditLog, "_commit", lambda self, batch: (batches.append(len(batch)), commit(self, batch)))
    log.record_all([AuditRecord(numbered_answer(0), f"c{i}", ["public"], 0) for i in range(4)])
    assert batches == [4]
    assert check_rows(tmp_path) == {f"c{i}": 1 for i in range(4)}
    with pytest.raises(ValueError, match="outcome"):
        log.record_all([AuditRecord(numbered_answer(0), "ok", ["public"], 0),
                        AuditRecord(numbered_answer(0), "bad", ["public"], 0, outcome="lost")])
    assert "ok" not in check_rows(tmp_path) and batches == [4]
