"""The real CLI end to end: base-model scratch -> data build -> finetune -> adapters ls (subprocesses) -> promote -> merge -> rm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tailor.cli import app
from tailor.finetune.scratch import LABEL


def tailor(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "tailor.cli", *args], env=env, capture_output=True, text=True, timeout=180)
    if check:
        assert done.returncode == 0, f"tailor {' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def test_cli_end_to_end(small_kb, tmp_path, cli_env):
    base, data = tmp_path / "base", tmp_path / "data"
    scratch = tailor("base-model", "scratch", "--out", str(base), "--kb", str(small_kb), "--vocab-size", "500",
                     "--hidden-size", "32", "--layers", "1", "--heads", "2", "--intermediate-size", "64",
                     "--max-steps", "3", env=cli_env)
    assert LABEL in scratch.stdout

    config = tmp_path / "data.yaml"
    config.write_text(f"kb: {small_kb}\nout: {data}\nquestions_per_chunk: 5\nval_fraction: 0.25\n")
    card = json.loads(tailor("data", "build", "--config", str(config), "--questions-per-chunk", "2", "--json",
                             env=cli_env).stdout)
    assert card["config"]["questions_per_chunk"] == 2 and card["config"]["val_fraction"] == 0.25  # flag beats file
    assert card["examples"]["train"] > 0 and card["groups"] == ["public"]
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "What is the nightly hotel cap?", "answer": "EUR 180"}\nnot json\n')
    partial = tailor("data", "build", "--kb", str(small_kb), "--out", str(tmp_path / "partial"), "--qa-file", str(qa),
                     "--questions-per-chunk", "0", env=cli_env, check=False)
    assert partial.returncode == 3 and f"{qa}:2: not JSON" in " ".join(partial.stderr.split())
    assert (tmp_path / "partial" / "card.json").is_file()
    assert "answers: 100% short numbers, 0% short names" in partial.stdout  # the card's answer shapes

    trained = tailor("finetune", "--base-model", str(base), "--dataset", str(data), "--name", "e2e", "--max-steps", "4",
                     "--eval-steps", "2", "--save-steps", "2", "--batch-size", "4", "--max-length", "512",
                     "--eval-samples", "2", "--eval-max-new-tokens", "4", "--groups", "public", "--no-progress",
                     env=cli_env)
    assert "e2e@1" in trained.stdout and LABEL in trained.stdout and "for callers holding public" in trained.stdout
    plan, estimate = (next(line for line in trained.stdout.splitlines() if line.startswith(start))
                      for start in ("training: ", "estimate: "))
    assert " rows, " in plan and " tokens a pass, " in plan and "epochs = 4 steps on 1 thread(s)" in plan
    assert " s a step, 4 steps in about " in estimate  # measured over the first steps, printed with stdout a pipe

    (listed,) = json.loads(tailor("adapters", "ls", "--json", env=cli_env).stdout)
    assert listed["ref"] == "e2e@1" and listed["base_model"]["kind"] == LABEL and listed["cost"]["steps"] == 4
    assert listed["groups"] == ["public"]
    assert json.loads((Path(listed["path"]) / "dataset_card.json").read_text())["restricted"]["groups"] == ["public"]
    assert (Path(listed["path"]) / "adapter" / "adapter_config.json").is_file()

    # The rest in-process (same CLI object, no interpreter start-up each time).
    runner, home = CliRunner(), ["--home", cli_env["TAILOR_HOME"]]
    assert "e2e now resolves to e2e@1" in runner.invoke(app, ["adapters", "promote", "e2e", *home]).output
    assert json.loads(runner.invoke(app, ["adapters", "show", "e2e", *home]).output)["promoted"] is True
    merged = tmp_path / "merged"
    assert runner.invoke(app, ["adapters", "merge", "e2e", "--out", str(merged), *home]).exit_code == 0
    assert (merged / "model.safetensors").is_file() and not (merged / "adapter_config.json").exists()
    assert "removed e2e@1" in runner.invoke(app, ["adapters", "rm", "e2e", *home]).output
    assert json.loads(runner.invoke(app, ["adapters", "ls", "--json", *home]).output) == []


def test_cli_errors_tables_and_strategies_in_process(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")
    runner = CliRunner()
    listed = runner.invoke(app, ["strategies"])
    assert listed.exit_code == 0 and "finetuned" in listed.output and "hybrid" in listed.output
    missing = runner.invoke(app, ["adapters", "show", "nope", "--home", str(tmp_path)])
    assert missing.exit_code == 1 and "no adapter named 'nope'" in missing.output
    bad = runner.invoke(app, ["finetune", "--base-model", "m", "--dataset", "d", "--lora-rank", "0"])
    assert bad.exit_code == 2 and "lora_rank" in bad.output
    empty = runner.invoke(app, ["adapters", "ls", "--home", str(tmp_path)])
    assert empty.exit_code == 0 and "adapter" in empty.output
    no_kb = runner.invoke(app, ["data", "build", "--kb", str(tmp_path / "none"), "--out", str(tmp_path / "d")])
    assert no_kb.exit_code == 1 and "tailor ingest" in no_kb.output
