"""SIGKILL `tailor compare` at random moments, resume each time, and check the invariants (issue 16): every answer
committed before a kill is whole and is kept as it was by every later run (nothing torn, nothing duplicated, nothing
answered twice), and the resumed run ends with the scores of an uninterrupted run. The moments are drawn from the length of an uninterrupted
run, so they fall in ingest, answering, probes and report writing on any machine; the seed is in every failure
message (TAILOR_KILL_SEED replays one).

Ingest is killed at many moments by tests/kb/test_crash_safety.py (all-or-nothing versions, no lost or
duplicated chunk after a re-run).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.compare_case import compare, env, write_folder

ARMS = {"arms": [{"name": f"rag_k{k}", "strategy": "rag", "generator": "extractive", "top_k": k} for k in (1, 2, 3, 5)]}
SCORES = ("accuracy", "abstain_correct", "retrieval_recall@5", "citation_precision")


def answers(out: Path) -> dict[str, str]:
    cache = out / "work" / "answers.sqlite"
    if not cache.is_file():
        return {}
    with sqlite3.connect(cache) as db:
        try:
            rows = db.execute("SELECT key, answer FROM answers").fetchall()
        except sqlite3.OperationalError:  # killed after the file was made, before its table: nothing committed
            return {}
    assert len(rows) == len({key for key, _ in rows})
    assert all("text" in json.loads(answer) for _, answer in rows)  # every committed row is a whole answer
    return dict(rows)


def scores(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    return {"ran": sorted(a["name"] for a in report["arms"] if a["status"] == "ran"),
            "metrics": {arm: {name: values[name]["mean"] for name in SCORES if name in values}
                        for arm, values in report["metrics"].items()},
            "leak": report["leak"], "questions": report["questions"]["count"]}


def kill_after(folder: Path, out: Path, tmp_path: Path, seconds: float) -> bool:
    """Run compare and SIGKILL it after `seconds`; True when it was killed (not already finished)."""
    child = subprocess.Popen([sys.executable, "-m", "tailor.cli", "compare", str(folder), "--out", str(out), "--quiet"],
                             env=env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    killed = child.poll() is None
    if killed:
        child.send_signal(signal.SIGKILL)
    child.wait()
    return killed


def kill_and_resume(tmp_path: Path, moments: int, seed: int) -> None:
    folder = write_folder(tmp_path / "case", ARMS)
    reference = tmp_path / "reference"
    started = time.perf_counter()
    done = compare(folder, reference, tmp_path)
    duration = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    expected = scores(reference)

    draw = random.Random(seed)
    out = tmp_path / "out"
    killed, committed = 0, {}
    for moment in sorted(draw.uniform(0.05, 0.95) * duration for _ in range(moments)):
        killed += kill_after(folder, out, tmp_path, moment)
        kept = answers(out)
        changed = {key for key, answer in committed.items() if kept.get(key) != answer}
        assert not changed, f"seed {seed}, killed after {moment:.1f} s: committed answers lost or redone: {changed}"
        committed = kept
    assert killed, f"seed {seed}: no run was killed before it finished ({duration:.1f} s uninterrupted)"
    done = compare(folder, out, tmp_path)
    assert done.returncode == 0, f"seed {seed}: the resumed run failed: {done.stderr[-2000:]}"
    final = answers(out)
    assert all(final.get(key) == answer for key, answer in committed.items()), f"seed {seed}"
    assert len(final) == len(answers(reference)), f"seed {seed}"
    assert scores(out) == expected, f"seed {seed}"


def test_compare_killed_at_random_moments_resumes_to_the_uninterrupted_report(tmp_path):
    kill_and_resume(tmp_path, moments=3, seed=int(os.environ.get("TAILOR_KILL_SEED", time.time_ns() % 10**6)))


@pytest.mark.slow
def test_compare_killed_at_many_random_moments(tmp_path):
    kill_and_resume(tmp_path, moments=12, seed=int(os.environ.get("TAILOR_KILL_SEED", time.time_ns() % 10**6)))


@pytest.mark.slow
def test_a_5000_question_compare_killed_midway_answers_only_what_was_not_committed(tmp_path):
    """Issue 19: at 5,000 questions, a kill in the middle of the answers costs at most the batch in flight."""
    from datetime import UTC, datetime

    from tailor.audit import AuditLog, default_audit_dir

    folder = write_folder(tmp_path / "case", {"arms": [{"name": "rag", "strategy": "rag", "generator": "extractive"}],
                                              "probes": {"forgetting": False}})
    shutil.rmtree(folder / "changes")  # every committed row is then one of the 5,000 answers (no probe asks)
    templates = [q for line in (folder / "questions.jsonl").read_text().splitlines()[:-1]
                 if (q := json.loads(line)).get("groups", ["public"]) == ["public"]]
    rows = [{**templates[i % len(templates)], "id": f"s{i:04d}",
             "question": f"{templates[i % len(templates)]['question']} (asked {i})"} for i in range(5000)]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-m", "tailor.cli", "compare", str(folder), "--out", str(out), "--quiet"],
                             env=env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while len(answers(out)) < 2500 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert child.poll() is None, "the run ended before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = answers(out)
    resumed_at = datetime.now(UTC)
    done = compare(folder, out, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    final = answers(out)
    assert len(final) == 5000 and all(final[key] == answer for key, answer in kept.items())
    audit = AuditLog.open(default_audit_dir(out / "kb"))
    anew = [e for e in audit.query(since=resumed_at, limit=20_000) if e.caller == "compare" and e.strategy == "rag"]
    audit.close()
    batch = 8
    assert 5000 - len(kept) <= len(anew) <= 5000 - len(kept) + batch  # the batch in flight at the kill, at most
    assert len(json.loads((out / "report.json").read_text())["per_question"]) == 5000
