"""`tailor compare --baseline ... --fail-on ...` end to end: the real CLI in a subprocess on the small compare
case (extractive arm): an identical re-run passes, a corpus without the answer documents fails the regression
gate, a verdict change fails its gate, partial input is exit 3, bad gate flags are exit 2; the history."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.compare_case import DOCS, compare, env, write_folder

EXTRACTIVE = {"arms": [{"name": "rag_extractive", "strategy": "rag", "generator": "extractive"}]}


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The baseline run (its questions file has one bad line: a partial run) with a --min gate."""
    root = tmp_path_factory.mktemp("gate")
    folder = write_folder(root / "case", EXTRACTIVE)
    done = compare(folder, root / "out", root, "--min", "rag_extractive.accuracy=0.5")
    return root, done


def clean_copy(root: Path, tmp_path: Path, in_place: bool = False) -> tuple[Path, Path]:
    """The case without its bad question line (a copy, or the case itself: a document's source path is part of
    the KB's content fingerprint), and a copy of the baseline's OUT (its answers cached)."""
    folder = root / "case" if in_place else shutil.copytree(root / "case", tmp_path / "case")
    lines = (folder / "questions.jsonl").read_text().splitlines()
    (folder / "questions.jsonl").write_text("\n".join(line for line in lines if '"bad"' not in line) + "\n")
    out = shutil.copytree(root / "out", tmp_path / "out")
    return folder, out


def test_a_gated_run_with_a_skipped_question_line_passes_with_exit_3(first):
    _, done = first
    assert done.returncode == 3, done.stderr
    assert "gate passed on a partial run: 1 question line(s) or document(s) were skipped" in done.stdout


def test_an_identical_rerun_passes_shows_zero_differences_and_draws_the_history(first, tmp_path):
    root, _ = first
    folder, out = clean_copy(root, tmp_path, in_place=True)
    done = compare(folder, out, root, "--baseline", str(out), "--fail-on", "regression", "--fail-on",
                   "verdict-change", "--max", "rag_extractive.p50_ms=100000")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gate passed: 3 condition(s)" in done.stdout and "gate failed" not in done.stdout
    since = json.loads((out / "report.json").read_text())["baseline"]
    assert since["source"] == str(out / "report.json")  # read before this run replaced it
    assert since["questions"] == {"matched": 5, "added": [], "dropped": [], "reworded": []}
    assert since["differences"] and all(d["diff"] == 0 and d["change"] == "tie" for d in since["differences"])
    assert {d["metric"] for d in since["differences"]} >= {"accuracy", "grounded", "abstain_correct"}
    assert since["fingerprints"] == [] and since["verdict"]["changed"] is False
    summary = (out / "summary.md").read_text()
    assert "**Since the baseline**" in summary and "5 questions paired, 0 added, 0 dropped" in summary
    assert "Verdict unchanged" in summary and "**Trend** (last 2 runs, Accuracy)" in summary

    runs = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(runs) == 2 and runs[0]["arms"]["rag_extractive"]["mean"] == runs[1]["arms"]["rag_extractive"]["mean"]
    assert runs[1]["arms"]["rag_extractive"]["p50_ms"] > 0 and "per_1000_queries" in runs[1]["arms"]["rag_extractive"]
    assert runs[1]["fingerprints"]["kb_content"] and runs[1]["verdict"]
    page = (out / "report.html").read_text()
    assert 'id="since-baseline"' in page and 'id="history"' in page
    assert "Line chart of Accuracy per arm over the last 2 runs" in page

    table = subprocess.run([sys.executable, "-m", "tailor.cli", "compare", "--history", str(out)],
                           capture_output=True, text=True, env=env(root), timeout=300)
    assert table.returncode == 0, table.stderr
    assert "2 runs in" in table.stdout and "rag_extractive" in table.stdout and "1.000" in table.stdout


def test_removing_the_answer_documents_fails_the_regression_gate_naming_arm_metric_and_ci(first, tmp_path):
    root, _ = first
    folder, _ = clean_copy(root, tmp_path)
    out = tmp_path / "fresh-out"  # a KB of its own (the moved folder's documents are new sources)
    for name in DOCS:
        (folder / "docs" / name).unlink()
    (folder / "docs" / "canteen.md").write_text("# Canteen\n\nThe canteen serves soup on Mondays.\n")
    (folder / "docs" / "_meta.yaml").write_text("defaults:\n  groups: [public]\n")
    questions = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    questions = [q for q in questions if q["id"] != "q5"] + [{"id": "q6", "question": "What is served on Mondays?",
                                                               "answers": ["soup"], "doc_ids": ["canteen.md"]}]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions) + "\n")
    done = compare(folder, out, root, "--baseline", str(root / "out"), "--fail-on", "regression")
    assert done.returncode == 4, done.stdout + done.stderr
    failed = [line for line in done.stdout.splitlines() if line.startswith("gate failed")]
    assert failed == ["gate failed: regression: rag_extractive accuracy 1.000 -> 0.000, difference -1.000 "
                      "[-1.000, -1.000] (95% CI, 4 questions in both runs)"]
    since = json.loads((out / "report.json").read_text())["baseline"]
    assert since["questions"] == {"matched": 4, "added": ["q6"], "dropped": ["q5"], "reworded": []}
    assert "kb_content" in {f["name"] for f in since["fingerprints"]}
    assert "| rag\\_extractive | 1.000 | 0.000 | -1.000 [-1.000, -1.000] | **worse** |" in (
        out / "summary.md").read_text()


def test_a_verdict_change_and_a_missed_minimum_fail_with_exit_4(first, tmp_path):
    root, _ = first
    folder, out = clean_copy(root, tmp_path)
    old = json.loads((root / "out" / "report.json").read_text())
    old["recommendation"]["verdict"] = "hybrid"  # a baseline that recommended something else
    (tmp_path / "old.json").write_text(json.dumps(old))
    done = compare(folder, out, root, "--baseline", str(tmp_path / "old.json"), "--fail-on", "verdict-change",
                   "--min", "rag_extractive.accuracy=1.01", "--max", "rag_extractive.p50_ms=100000", "--json")
    assert done.returncode == 4, done.stdout + done.stderr
    printed = json.loads(done.stdout)
    verdict = printed["recommendation"]["verdict"]
    failures = printed["gate"]["failures"]
    assert len(failures) == 2
    assert failures[0].startswith(f"verdict changed: hybrid -> {verdict} (")
    assert failures[1].startswith("--min rag_extractive.accuracy=1.01: rag_extractive accuracy 1.000 [1.000, 1.000] "
                                  "is below 1.01")


@pytest.mark.parametrize("flags, problem", [
    (["--fail-on", "regression"], "--fail-on regression compares with a baseline: give --baseline OUT"),
    (["--fail-on", "slower", "--baseline", "x"], "--fail-on slower: expected one of regression, verdict-change"),
    (["--min", "rag_extractive.accuracy"], "expected ARM.MEASURE=VALUE"),
    (["--max", "rag.p50_ms=9"], "--max rag.p50_ms=9: no arm 'rag' in this run; arms: rag_extractive"),
    (["--baseline", "nowhere"], "--baseline nowhere: no report.json there"),
])
def test_a_gate_that_cannot_be_checked_is_exit_2_before_any_work(tmp_path, flags, problem):
    folder = write_folder(tmp_path / "case", EXTRACTIVE)
    done = compare(folder, tmp_path / "out", tmp_path, *flags)
    assert done.returncode == 2, done.stdout + done.stderr
    assert problem in " ".join(done.stderr.split()) and "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "kb").exists()


def test_history_of_a_folder_without_runs_is_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tailor.cli", "compare", "--history", str(tmp_path)],
                          capture_output=True, text=True, env=env(tmp_path), timeout=300)
    assert done.returncode == 2 and "history.jsonl: no history" in " ".join(done.stderr.split())
