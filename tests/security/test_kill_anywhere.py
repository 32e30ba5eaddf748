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
        rows = db.execute("SELECT key, answer FROM answers").fetchall()
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
