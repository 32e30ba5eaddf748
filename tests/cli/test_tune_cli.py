"""`tailor tune` end to end: the real CLI in a subprocess, killed mid-study and resumed, then its chosen
settings run by `tailor compare --tuned`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import optuna

from helpers.compare_case import env
from helpers.tune_case import write_tune_folder
from tailor.evaluate.tune.study import storage_url


def tune(folder, out, tmp_path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tailor.cli", "tune", str(folder), "--arms", "rag", "--budget", "3", "--out",
            str(out), "--early-stop", "0", *extra]


def completed(out) -> list[optuna.trial.FrozenTrial]:
    if not (out / "study.sqlite").is_file():
        return []
    try:
        study = optuna.load_study(study_name="tailor-tune-rag", storage=storage_url(out))
    except KeyError:  # the study row is not written yet
        return []
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def test_a_killed_tune_resumes_its_study_and_compare_runs_the_tuned_point(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = write_tune_folder(tmp_path / "case")
    out = tmp_path / "out"
    child = subprocess.Popen(tune(folder, out, tmp_path, "--quiet"), env=env(tmp_path), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and child.poll() is None and not completed(out):
        time.sleep(0.1)
    assert child.poll() is None, "tune finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = [(t.number, t.params, t.values) for t in completed(out)]
    assert kept

    done = subprocess.run(tune(folder, out, tmp_path), capture_output=True, text=True, env=env(tmp_path), timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Held-out accuracy" in done.stdout and "rag trial" in done.stderr
    report = json.loads((out / "tune.json").read_text())
    search = report["arms"]["rag"]["search"]
    assert search["trials"] == 3 and search["resumed_from"] == len(kept)
    assert [(t.number, t.params, t.values) for t in completed(out)][: len(kept)] == kept

    ran = subprocess.run([sys.executable, "-m", "tailor.cli", "compare", str(folder), "--tuned", str(out),
                          "--arms", "rag", "--max-questions", "2", "--out", str(tmp_path / "cmp"), "--quiet", "--json"],
                         capture_output=True, text=True, env=env(tmp_path), timeout=600)
    assert ran.returncode == 0, ran.stderr
    config = json.loads((tmp_path / "cmp" / "report.json").read_text())["config"]
    chosen = report["arms"]["rag"]["front"][0]["settings"]
    (arm,) = config["arms"]
    assert (arm["top_k"], arm["template"], config["kb_index"]["chunk_tokens"]) == (
        chosen["top_k"], chosen["template"], chosen["chunk_tokens"])
