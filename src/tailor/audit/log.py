"""The audit trail: one append-only SQLite row per answer, in rotated files under one folder.

A row's `outcome` says how the question ended: "answered" (abstentions included), "refused" before any
answering (an adapter the caller may not use; `reason` is what the caller was told) or "interrupted"
(a stream closed before its end, e.g. the client went away: the text and documents as far as it went).

    audit-<YYYY-MM>-<NNNN>.sqlite   a file per UTC month, and a new one whenever `max_rows` is reached

Rows are committed in transactions (each row with its document index; WAL journal, fsync by
default), so a process killed at any moment leaves every row whole or absent, and `record` returns
only once its row is committed. Threads share one connection and commit in turn: the rows that
arrive while one commit runs are written together by the next (group commit: one fsync for all of
them under load). Writers in several processes serialise on SQLite's write lock (`BEGIN IMMEDIATE`),
which also makes the row-count check and the inserts one step, so a file never holds more than
`max_rows`. Triggers refuse UPDATE and DELETE. Queries read every file,
newest first.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tailor.audit.config import AuditConfig
from tailor.audit.entry import AuditEntry, ChunkRef
from tailor.audit.redact import SecretRedactor
from tailor.batching import GroupRunner
from tailor.records import Answer
from tailor.sqlite_wal import use_wal

FILE_NAME = re.compile(r"^audit-(\d{4}-\d{2})-(\d{4})\.sqlite$")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # UTC, fixed width: text order is time order
SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    caller TEXT,
    groups TEXT NOT NULL,
    strategy TEXT NOT NULL,
    generator TEXT NOT NULL,
    adapter TEXT,
    adapter_version INTEGER,
    kb_version INTEGER,
    question TEXT,
    question_sha256 TEXT,
    answer_sha256 TEXT,
    answer_chars INTEGER,
    abstained INTEGER NOT NULL,
    retrieved TEXT NOT NULL,
    cited TEXT NOT NULL,
    timings_ms TEXT NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    outcome TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS answers_caller ON answers (caller);
CREATE INDEX IF NOT EXISTS answers_at ON answers (at);
CREATE TABLE IF NOT EXISTS answer_docs (
    doc_id TEXT NOT NULL,
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    PRIMARY KEY (doc_id, answer_id)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS answers_no_update BEFORE UPDATE ON answers
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS answers_no_delete BEFORE DELETE ON answers
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS answer_docs_no_update BEFORE UPDATE ON answer_docs
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS answer_docs_no_delete BEFORE DELETE ON answer_docs
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
COMMIT;
"""
COLUMNS = (
    "at", "caller", "groups", "strategy", "generator", "adapter", "adapter_version", "kb_version", "question",
    "question_sha256", "answer_sha256", "answer_chars", "abstained", "retrieved", "cited", "timings_ms",
    "tokens_in", "tokens_out", "outcome", "reason",
)
OUTCOMES = ("answered", "refused", "interrupted")  # a file written before outcomes were recorded: answered
INSERT = f"INSERT INTO answers ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _utc(moment: datetime) -> datetime:
    """Aware datetimes as UTC; a naive one is taken as local time (what a person types)."""
    return moment.astimezone(UTC)


def _adapter_ref(adapter: str | None) -> tuple[str | None, int | None]:
    """"name@3" -> ("name", 3); anything else is kept whole, without a version."""
    if adapter is None:
        return None, None
    name, _, version = adapter.rpartition("@")
    return (name, int(version)) if name and version.isdigit() else (adapter, None)


@dataclass(frozen=True)
class AuditRecord:
    """One answer to append, with how it was asked: the arguments of `AuditLog.record`."""

    answer: Answer
    caller: str | None
    groups: Sequence[str]
    kb_version: int | None
    adapter: str | None = None
    at: datetime | None = None
    outcome: str = "answered"
    reason: str | None = None


@dataclass
class _Pending:
    """A row waiting for its commit; `done` once written, or with the `error` that stopped it."""

    period: str
    row: tuple[Any, ...]
    doc_ids: list[str]
    finished: bool = False
    error: BaseException | None = None

    def check(self) -> None:
        if self.error is not None:
            raise self.error


class AuditLog:
    """Records every answer (`record`) and finds them again (`query`); thread- and process-safe."""

    def __init__(self, folder: Path, config: AuditConfig, redactor: SecretRedactor) -> None:
        self.folder = folder
        self.config = config
        self.redactor = redactor
        # Rows that arrive during a commit go in the next one. `_commit` is looked up at each batch, as a
        # method call would (tests observe it on the class).
        self._commits = GroupRunner(lambda batch: self._commit(batch))
        self._writer: tuple[Path, sqlite3.Connection] | None = None

    @classmethod
    def open(cls, path: Path, config: AuditConfig | None = None) -> AuditLog:
        """The trail in folder `path` (created if missing)."""
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"audit trail {folder} is a file; give a folder")
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, config or AuditConfig(), SecretRedactor.from_environment())

    # -- writing ----------------------------------------------------------------------------------
    def record(
        self,
        answer: Answer,
        *,
        caller: str | None,
        groups: Sequence[str],
        kb_version: int | None,
        adapter: str | None = None,
        at: datetime | None = None,
        outcome: str = "answered",
        reason: str | None = None,
    ) -> None:
        """Append one answer: `caller` is an id (a key's id, never the key), `groups` what it asked as,
        `adapter` the registry reference ("name@version"), `at` the time (default now), `outcome` and
        `reason` how it ended (module docstring)."""
        self.record_all([AuditRecord(answer, caller, groups, kb_version, adapter, at, outcome, reason)])

    def record_all(self, records: Sequence[AuditRecord]) -> None:
        """Append several answers in one commit (a batch of compare's answers); each as `record` would."""
        pending = []
        for item in records:
            if item.outcome not in OUTCOMES:
                raise ValueError(f"outcome must be one of {OUTCOMES}, got {item.outcome!r}")
            if isinstance(item.groups, str):
                raise TypeError("groups must be a sequence of group names, e.g. ('public',), not a string")
            when = _utc(item.at or datetime.now(UTC))
            row, doc_ids = self._row(item.answer, item.caller, item.groups, item.kb_version, item.adapter, when,
                                     item.outcome, item.reason)
            pending.append(_Pending(when.strftime("%Y-%m"), row, doc_ids))
        self._commits.submit_all(pending)
        for item in pending:
            item.check()

    def record_refusal(
        self,
        question: str,
        reason: str,
        *,
        strategy: str,
        generator: str,
        caller: str | None,
        groups: Sequence[str],
        kb_version: int | None,
        adapter: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Append a question that was refused before any answering (e.g. an adapter the caller may not
        use), with the `reason` it was told; the other arguments as for `record`."""
        answer = Answer(question=question, text="", abstained=True, strategy=strategy, generator=generator)
        self.record(answer, caller=caller, groups=groups, kb_version=kb_version, adapter=adapter, at=at,
                    outcome="refused", reason=reason)

    def _row(
        self, answer: Answer, caller: str | None, groups: Sequence[str], kb_version: int | None,
        adapter: str | None, when: datetime, outcome: str, reason: str | None,
    ) -> tuple[tuple[Any, ...], list[str]]:
        clean = self.redactor.text
        exact = self.redactor.exact
        retrieved = [(exact(h.chunk.id), exact(h.chunk.doc_id)) for h in answer.hits]
        cited = list(dict.fromkeys((exact(c.chunk_id), exact(c.doc_id)) for c in answer.citations))
        adapter_name, adapter_version = _adapter_ref(adapter)
        question = {"keep": clean(answer.question), "hash": None, "drop": None}[self.config.question]
        question_hash = _sha256(answer.question) if self.config.question == "hash" else None
        keeps_answer = self.config.answer == "hash" and outcome != "refused"
        row = (
            when.strftime(TIME_FORMAT),
            clean(caller) if caller is not None else None,
            json.dumps(sorted({clean(g) for g in groups})),
            clean(answer.strategy),
            clean(answer.generator),
            clean(adapter_name) if adapter_name is not None else None,
            adapter_version,
            kb_version,
            question,
            question_hash,
            _sha256(answer.text) if keeps_answer else None,
            len(answer.text) if keeps_answer else None,
            int(answer.abstained),
            json.dumps(retrieved),
            json.dumps(cited),
            json.dumps(answer.timings_ms),
            answer.tokens_in,
            answer.tokens_out,
            outcome,
            clean(reason) if reason is not None else None,
        )
        return row, list(dict.fromkeys(doc for _, doc in cited + retrieved))

    def _commit(self, batch: list[_Pending]) -> None:
        """Write `batch` in as few transactions as its months and the files' `max_rows` allow."""
        try:
            for period in dict.fromkeys(p.period for p in batch):
                self._append(period, [p for p in batch if p.period == period])
        except BaseException as exc:
            for pending in batch:
                if not pending.finished:
                    pending.error = exc
            raise
        finally:
            for pending in batch:
                pending.finished = True

    def _append(self, period: str, rows: list[_Pending]) -> None:
        number = self._current_number(period)
        while rows:
            db = self._connection(self.folder / f"audit-{period}-{number:04d}.sqlite")
            db.execute("BEGIN IMMEDIATE")
            try:
                room = self.config.max_rows - db.execute("SELECT coalesce(max(id), 0) FROM answers").fetchone()[0]
                taken, rows = rows[: max(room, 0)], rows[max(room, 0) :]
                for pending in taken:
                    answer_id = db.execute(INSERT, pending.row).lastrowid
                    db.executemany("INSERT INTO answer_docs (doc_id, answer_id) VALUES (?, ?)",
                                   [(doc_id, answer_id) for doc_id in pending.doc_ids])
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            for pending in taken:
                pending.finished = True
            if rows:  # this file is full
                number += 1

    def _current_number(self, period: str) -> int:
        """The file this writer last used in `period`, else the newest one on disk (1 when none)."""
        if self._writer is not None:
            match = FILE_NAME.match(self._writer[0].name)
            if match and match.group(1) == period:
                return int(match.group(2))
        numbers = [n for p, n, _ in self._files() if p == period]
        return max(numbers, default=1)

    def _connection(self, path: Path) -> sqlite3.Connection:
        if self._writer is not None and self._writer[0] == path:
            return self._writer[1]
        if self._writer is not None:
            self._writer[1].close()
        db = self._connect(path, create=True)
        use_wal(db, self.config.busy_timeout_s)
        db.execute(f"PRAGMA synchronous={'FULL' if self.config.durable else 'NORMAL'}")
        db.executescript(SCHEMA)
        if "outcome" not in _columns(db):  # a file written before outcomes were recorded
            _add_outcome_columns(db)
        self._writer = (path, db)
        return db

    def _connect(self, path: Path, create: bool = False) -> sqlite3.Connection:
        uri = f"file:{quote(str(path))}?mode={'rwc' if create else 'rw'}"  # a reader never creates a file
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                               timeout=self.config.busy_timeout_s)

    # -- reading ----------------------------------------------------------------------------------
    def _files(self) -> list[tuple[str, int, Path]]:
        found = [(m.group(1), int(m.group(2)), p) for p in self.folder.iterdir() if (m := FILE_NAME.match(p.name))]
        return sorted(found)

    def files(self) -> list[Path]:
        """The trail's files, oldest first."""
        return [path for _, _, path in self._files()]

    def query(
        self,
        doc_id: str | None = None,
        key_id: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
        outcome: str | None = None,
    ) -> list[AuditEntry]:
        """Answers that were given or cited `doc_id`, asked by caller `key_id`, at or after `since`, that
        ended in `outcome` (see OUTCOMES); all given filters apply, newest first, at most `limit`."""
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        where, params = [], []
        if doc_id is not None:
            where.append("id IN (SELECT answer_id FROM answer_docs WHERE doc_id = ?)")
            params.append(doc_id)
        if key_id is not None:
            where.append("caller = ?")
            params.append(key_id)
        since_utc = _utc(since) if since is not None else None
        if since_utc is not None:
            where.append("at >= ?")
            params.append(since_utc.strftime(TIME_FORMAT))
        entries: list[AuditEntry] = []
        for period, _, path in reversed(self._files()):
            if len(entries) >= limit or (since_utc is not None and period < since_utc.strftime("%Y-%m")):
                break
            db = self._connect(path)
            db.row_factory = sqlite3.Row
            try:
                columns = _columns(db)
                by_outcome = outcome is not None and "outcome" in columns  # older files hold answers only
                if not columns or (outcome not in (None, "answered") and not by_outcome):
                    rows = []
                else:
                    found = where + (["coalesce(outcome, 'answered') = ?"] if by_outcome else [])
                    sql = f"SELECT * FROM answers {'WHERE ' + ' AND '.join(found) if found else ''} ORDER BY id DESC LIMIT ?"
                    values = (*params, *([outcome] if by_outcome else []), limit - len(entries))
                    rows = db.execute(sql, values).fetchall()
            except sqlite3.DatabaseError as exc:
                raise sqlite3.DatabaseError(f"audit trail file {path}: {exc}") from exc
            finally:
                db.close()
            entries += [_entry(path, row) for row in rows]
        return entries

    def close(self) -> None:
        with self._commits.idle():
            if self._writer is not None:
                self._writer[1].close()
                self._writer = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _add_outcome_columns(db: sqlite3.Connection) -> None:
    """Under the write lock, checked again there: another writer may have just added them."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if "outcome" not in _columns(db):
            db.execute("ALTER TABLE answers ADD COLUMN outcome TEXT")
            db.execute("ALTER TABLE answers ADD COLUMN reason TEXT")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _columns(db: sqlite3.Connection) -> set[str]:
    """The columns of the `answers` table (none when the file has no table yet)."""
    return {row[1] for row in db.execute("PRAGMA table_info(answers)")}


def _entry(path: Path, row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=f"{path.stem.removeprefix('audit-')}:{row['id']}",
        at=datetime.strptime(row["at"], TIME_FORMAT).replace(tzinfo=UTC),
        caller=row["caller"],
        groups=json.loads(row["groups"]),
        strategy=row["strategy"],
        generator=row["generator"],
        adapter=row["adapter"],
        adapter_version=row["adapter_version"],
        kb_version=row["kb_version"],
        question=row["question"],
        question_sha256=row["question_sha256"],
        answer_sha256=row["answer_sha256"],
        answer_chars=row["answer_chars"],
        abstained=bool(row["abstained"]),
        retrieved=[ChunkRef(*ref) for ref in json.loads(row["retrieved"])],
        cited=[ChunkRef(*ref) for ref in json.loads(row["cited"])],
        timings_ms=json.loads(row["timings_ms"]),
        tokens_in=row["tokens_in"],
        tokens_out=row["tokens_out"],
        outcome=(row["outcome"] if "outcome" in row.keys() else None) or "answered",
        reason=row["reason"] if "reason" in row.keys() else None,
    )
