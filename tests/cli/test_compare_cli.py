"""`tailor compare` end to end: the real CLI in a subprocess on a small corpus written here."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.compare_case import compare, env, write_folder
from helpers.tiny_llm import build_tiny_llama
from tailor.audit import AuditLog

EXTRACTIVE_ONLY = {"arms": [{"name": "rag_extractive", "strategy": "rag", "generator": "extractive"}]}


def test_extractive_compare_writes_the_report_with_freshness_leak_probe_and_errors(tmp_path):
    folder = write_folder(tmp_path / "case", EXTRACTIVE_ONLY)
    out = tmp_path / "out"
    done = compare(folder, out, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Report:" in done.stdout and "Recommendation" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.html").is_file() and (out / "summary.md").is_file()
    assert report["questions"]["count"] == 5
    assert report["questions"]["errors"][0]["path"].endswith("questions.jsonl:6")
    assert "'question'" in report["questions"]["errors"][0]["reason"]
    metrics = report["metrics"]["rag_extractive"]
    assert metrics["accuracy"]["n"] == 4 and metrics["accuracy"]["mean"] >= 0.75
    assert metrics["abstain_correct"]["n"] == 1
    assert metrics["retrieval_recall@5"]["mean"] == 1.0
    fresh = report["freshness"]["arms"]["rag_extractive"]
    assert fresh["before_new"]["mean"] == 0.0 and fresh["after"]["mean"] == 1.0 and fresh["time_to_fresh_measured"]
    assert report["freshness"]["updated_documents"] == ["pricing.md"]
    leak = report["leak"]
    assert leak["caller_groups"] == ["public"] and leak["questions"] == 1
    assert leak["arms"]["rag_extractive"]["leak_rate"]["mean"] == 0.0
    assert "81,000" not in json.dumps(leak)
    assert report["cost"]["rag_extractive"]["per_update_measured"] is True
    assert report["recommendation"]["verdict"] in {"rag", "no_clear_winner"}
    assert "rag_extractive" in (out / "report.html").read_text()
    assert_renders_in_chromium(out, shows="What is the nightly hotel cap")  # questions are drawn by script
    with AuditLog.open(out / "kb" / "audit") as trail:  # compare's answers are audited like ask's
        entries = trail.query(doc_id="pricing.md")
    assert entries and {e.caller for e in entries} == {"compare"} and entries[0].strategy == "rag"


@pytest.mark.parametrize("text, problem", [
    ("arms:\n  - name: x\n    strategy: magic\n", "arms.0.strategy: Input should be 'closed_book', 'rag', "
     "'finetuned' or 'hybrid' (got 'magic')"),
    ("arms: [\n", "not valid YAML at line 2"),
])
def test_a_bad_compare_yaml_is_one_error_naming_file_and_field(tmp_path, text, problem):
    folder = write_folder(tmp_path / "case", EXTRACTIVE_ONLY)
    (folder / "compare.yaml").write_text(text)
    done = compare(folder, tmp_path / "out", tmp_path)
    message = " ".join(done.stderr.split())
    assert done.returncode == 2 and "Traceback" not in done.stderr and "compare.yaml: " in message, done.stderr
    assert problem in message, message
    assert not (tmp_path / "out").exists()


def pointer(document, path):
    """The value at a JSON pointer ("/metrics/rag/accuracy/mean")."""
    for part in path.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def assert_renders_in_chromium(out: Path, shows: str) -> None:
    """The real run's report: no console error in headless Chromium, its question table shows `shows`,
    every printed number = report.json."""
    if not Path("/usr/bin/chromium").is_file():
        pytest.skip("no Chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    report = json.loads((out / "report.json").read_text())
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "report.html").as_uri(), wait_until="load")
        page.locator("table.questions tbody tr").first.wait_for()
        assert shows in page.locator("table.questions").inner_text()
        numbers = page.evaluate("""() => Array.from(document.querySelectorAll('[data-source]'),
            e => ({source: e.dataset.source, value: e.dataset.value}))""")
        browser.close()
    assert errors == []
    checked = [n for n in numbers if n["value"] not in (None, "")]
    assert len(checked) > 20
    for number in checked:
        assert float(number["value"]) == pytest.approx(float(pointer(report, number["source"]))), number


def test_a_killed_compare_resumes_from_its_committed_answers(tmp_path):
    config = {**EXTRACTIVE_ONLY, "arms": EXTRACTIVE_ONLY["arms"] + [
        {"name": f"rag_k{k}", "strategy": "rag", "generator": "extractive", "top_k": k} for k in (1, 2, 3)]}
    folder = write_folder(tmp_path / "case", config)
    out = tmp_path / "out"
    cache = out / "work" / "answers.sqlite"
    child = subprocess.Popen([sys.executable, "-m", "tailor.cli", "compare", str(folder), "--out", str(out),
                              "--quiet"], env=env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    rows = 0
    while time.monotonic() < deadline and child.poll() is None:
        if cache.is_file():
            with sqlite3.connect(cache) as db:
                try:
                    rows = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
                except sqlite3.OperationalError:  # the file exists, its table not yet
                    rows = 0
            if rows >= 6:
                break
        time.sleep(0.05)
    assert child.poll() is None, "compare finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    with sqlite3.connect(cache) as db:
        kept = dict(db.execute("SELECT key, answer FROM answers").fetchall())
    assert len(kept) >= 6
    done = compare(folder, out, tmp_path)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(cache) as db:
        after = dict(db.execute("SELECT key, answer FROM answers").fetchall())
    assert all(after[key] == answer for key, answer in kept.items())  # committed answers were reused as they were
    report = json.loads((out / "report.json").read_text())
    assert {a["name"] for a in report["arms"] if a["status"] == "ran"} == {a["name"] for a in config["arms"]}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-base"))


def test_every_arm_with_a_tiny_base_model_trains_in_the_run_and_reuses_its_adapter(tmp_path, tiny_base):
    config = {
        "base_model": str(tiny_base),
        "training": {"questions_per_chunk": 1, "paraphrases": 0,
                     "finetune": {"max_steps": 2, "batch_size": 2, "max_length": 128, "lora_rank": 4, "lora_alpha": 8,
                                  "eval_steps": 2, "save_steps": 2, "logging_steps": 1}},
        "format": {"max_words": 25},
        "probes": {"leak_adapter": {"finetune": {"max_steps": 3}}},
        "arms": [
            {"name": "closed_book", "strategy": "closed_book", "max_new_tokens": 8},
            {"name": "rag_extractive", "strategy": "rag", "generator": "extractive"},
            {"name": "rag", "strategy": "rag", "max_new_tokens": 8},
            {"name": "finetuned", "strategy": "finetuned", "max_new_tokens": 8},
            {"name": "hybrid", "strategy": "hybrid", "max_new_tokens": 8},
            {"name": "remote", "strategy": "rag", "generator": "openai:http://127.0.0.1:9#none"},
        ],
    }
    folder = write_folder(tmp_path / "case", config)
    out = tmp_path / "out"
    done = compare(folder, out, tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    arms = {a["name"]: a for a in report["arms"]}
    assert {n for n, a in arms.items() if a["status"] == "ran"} == {"closed_book", "rag_extractive", "rag",
                                                                    "finetuned", "hybrid"}
    assert arms["remote"]["status"] == "skipped" and arms["remote"]["skip_reason"]
    adapter = arms["finetuned"]["adapter"]
    assert adapter["reused"] is False and adapter["groups"] == ["public"]
    assert arms["hybrid"]["adapter"]["ref"].startswith("compare-raft-hybrid@")  # its own, on its own prompt
    assert "hr/salaries.md" not in json.dumps(adapter)
    assert adapter["training"]["steps"] == 2 and adapter["training"]["tokens"] > 0
    assert adapter["training"]["wall_clock_s"] > 0
    assert report["cost"]["finetuned"]["setup"] > 0 and report["cost"]["finetuned"]["per_update_measured"] is False
    assert set(report["forgetting"]["arms"]) == {"finetuned", "hybrid"}
    assert report["forgetting"]["arms"]["finetuned"]["perplexity_base"] > 0
    assert report["leak"]["arms"]["finetuned"]["refused_by_access_check"] is False
    before = report["leak"]["arms"]["finetuned (hr, public)"]  # the leak remedy's 'before': every group
    assert before["refused_by_access_check"] is True and "hr" in before["adapter_groups"]
    weights = report["leak"]["weights"]
    assert "Leak probe as groups public" in done.stdout and "finetuned (hr, public)" in done.stdout
    assert set(weights["arms"]) == {"finetuned", "hybrid", "finetuned (hr, public)"}
    training = weights["sets"]["training"]  # the hr rows of the before adapter's data, asked of every adapter
    assert training["questions"] > 0 and 0 < training["chance"] < 1
    for arm in weights["arms"].values():
        probe = arm["sets"]["training"]
        assert probe["gold_first"]["n"] == probe["gold_first_base"]["n"] == training["ranked"]
        assert isinstance(probe["carries_restricted_facts"], bool)
    assert set(report["format"]["arms"]) >= {"rag_extractive"}
    assert all(arm in report["latency"] for arm in ("closed_book", "rag", "finetuned"))
    assert report["latency"]["rag"]["generate"]["p50"] > 0
    assert report["tokens"]["rag"]["in_mean"] > report["tokens"]["closed_book"]["in_mean"]

    assert report["freshness"]["arms"]["finetuned"]["time_to_fresh_measured"] is False  # stale until retrained

    again = compare(folder, out, tmp_path, "--retrain")
    assert again.returncode == 0, again.stderr
    second = json.loads((out / "report.json").read_text())
    assert {a["name"]: a for a in second["arms"]}["finetuned"]["adapter"]["reused"] is True
    assert second["metrics"] == report["metrics"]  # every answer came from the cache
    retrained = second["freshness"]["arms"]["finetuned"]
    assert second["freshness"]["retrained"] and retrained["time_to_fresh_measured"] is True
    assert retrained["time_to_fresh_s"] > 0 and second["cost"]["finetuned"]["per_update_measured"] is True
    assert second["freshness"]["arms"]["hybrid"]["time_to_fresh_measured"] is True  # retrained on the fresh KB
