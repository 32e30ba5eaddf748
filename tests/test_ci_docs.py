"""docs/ci.md: its GitHub Actions workflow is valid YAML with well-formed steps that cache what it says, and
every `tailor` command on the page exists with the flags it is given (the real CLI's typer commands)."""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from tailor.cli import app
from tailor.evaluate.compare.gate import FAIL_ON, Bound

PAGE = Path(__file__).resolve().parents[1] / "docs" / "ci.md"
BLOCK = re.compile(r"^( *)```(\w+)\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
SHELL_ENDS = {";", "&&", "||", "|", ">", ">>", "2>&1", "then", "fi"}


def blocks(language: str) -> list[str]:
    return [textwrap.dedent(text) for _, lang, text in BLOCK.findall(PAGE.read_text()) if lang == language]


def workflow() -> dict:
    [found] = [yaml.safe_load(text) for text in blocks("yaml") if "jobs:" in text]
    return found


def commands(workflow_only: bool = False) -> list[list[str]]:
    """Every `tailor ...` command line in the workflow's scripts (and the page's bash blocks), as argv."""
    scripts = [step["run"] for job in workflow()["jobs"].values() for step in job["steps"] if "run" in step]
    found = []
    for script in [*scripts, *([] if workflow_only else blocks("bash"))]:
        for line in script.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            for start in (i for i, word in enumerate(words) if word == "tailor"):
                argv = []
                for word in words[start + 1:]:
                    if word in SHELL_ENDS:
                        break
                    argv.append(word)
                found.append(argv)
    return found


def test_the_workflow_is_valid_yaml_triggered_by_docs_and_examples():
    flow = workflow()
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    for event in ("push", "pull_request"):
        assert set(triggers[event]["paths"]) == {"docs/**", "examples/**"}
    assert flow["permissions"]["pull-requests"] == "write"
    for job in flow["jobs"].values():
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w/-]+@v\d+", step["uses"]), step["uses"]


def test_the_workflow_caches_tailor_home_and_the_compare_out_folder_and_acts_on_the_exit_code():
    flow = workflow()
    [job] = flow["jobs"].values()
    home = flow["env"]["TAILOR_HOME"].replace("${{ github.workspace }}/", "")
    cached = {step["with"]["path"] for step in job["steps"] if step.get("uses", "").startswith("actions/cache/")}
    outs = {argv[argv.index("--out") + 1] for argv in commands(workflow_only=True) if argv[0] == "compare"}
    assert cached == {home, *outs} and len(outs) == 1
    gate = next(step for step in job["steps"] if step.get("name") == "Gate")
    assert "steps.compare.outputs.exit" in gate["if"] and "exit ${{ steps.compare.outputs.exit }}" in gate["run"]
    comment = next(step for step in job["steps"] if "gh pr comment" in step.get("run", ""))
    assert f"{next(iter(outs))}/summary.md" in comment["run"]


def resolve(argv: list[str]) -> tuple[Any, list[str]]:
    """The typer (click) command `argv` names, and its arguments."""
    command = typer.main.get_command(app)
    rest = list(argv)
    while hasattr(command, "commands"):  # a group
        name = rest.pop(0)
        assert name in command.commands, f"tailor has no command {name!r} ({' '.join(argv)})"
        command = command.commands[name]
    return command, rest


@pytest.mark.parametrize("argv", commands(), ids=" ".join)
def test_every_tailor_command_on_the_page_exists_with_its_flags(argv):
    command, rest = resolve(argv)
    options = {opt: param for param in command.params if param.param_type_name == "option"
               for opt in (*param.opts, *param.secondary_opts)}
    arguments = [param for param in command.params if param.param_type_name == "argument"]
    positional = 0
    while rest:
        word = rest.pop(0)
        if not word.startswith("--"):
            positional += 1
            continue
        name, _, value = word.partition("=")
        assert name in options, f"tailor {argv[0]} has no option {name} ({' '.join(argv)})"
        if options[name].is_flag:
            continue
        value = value or rest.pop(0)
        if name == "--fail-on":
            assert value in FAIL_ON
        if name in ("--min", "--max"):
            Bound.parse(value, name.lstrip("-"))
    assert positional <= len(arguments), argv


def test_the_page_shows_every_command_kind_it_documents():
    shown = {" ".join(argv[:1]) + " " + " ".join(w for w in argv if w.startswith("--")) for argv in commands()}
    for flag in ("--baseline", "--fail-on", "--min", "--max", "--history", "--sample"):
        assert any(flag in line for line in shown), flag


def test_the_compare_yaml_of_the_budget_section_is_a_valid_compare_configuration():
    from tailor.evaluate.compare.config import CompareConfig

    [snippet] = [yaml.safe_load(text) for text in blocks("yaml") if "question_split" in text]
    config = CompareConfig.model_validate(snippet)
    assert config.question_split is not None and config.question_split.sample == 64


def test_the_documented_exit_codes_are_the_cli_s():
    from tailor.cli._common import EXIT_PARTIAL
    from tailor.evaluate.compare.gate import EXIT_GATE

    rows = dict(re.findall(r"^\| (\d) \| (.+?) \|$", PAGE.read_text(), re.MULTILINE))
    assert "partial" in rows[str(EXIT_PARTIAL)] and "gate condition failed" in rows[str(EXIT_GATE)]
