"""Hostile and careless input to the real CLI: each case exits 2 (bad input) or 3 (partial), prints one line that
names the file and the field or line, never a traceback, and within a time bound. Every case is refused before
a model loads or a question is answered (`base_model: scratch`, an existing knowledge base), so each costs the
interpreter's start-up and little more."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

SECONDS = 90  # a hang guard on a shared machine (start-up with torch imported is most of it), not a speed target
DOCS = {"travel.md": "# Travel\n\nThe nightly hotel cap is EUR 180.\n", "support.md": "# Support\n\nOpen 8 to 18.\n"}
QUESTION = {"id": "q1", "question": "What is the nightly hotel cap?", "answers": ["EUR 180"]}
COMPARE = {"base_model": "scratch", "arms": [{"name": "rag", "strategy": "rag"}], "probes": {"forgetting": False}}
BOMB = "\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
                 + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]) + "\n"
DEEP_YAML = "[" * 200_000 + "]" * 200_000 + "\n"
DEEP_LINE = b"[" * 200_000 + b"]" * 200_000 + b"\n"
SETTINGS = {"base_model": "scratch", "arms": [{"name": "rag", "strategy": "rag"}]}


def run(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tailor.cli", *args], capture_output=True, text=True, env=env,
                          timeout=SECONDS * 3)
    return done, time.perf_counter() - started


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A documents folder and its knowledge base (ingested once), shared by the cases; each writes its own files."""
    root = tmp_path_factory.mktemp("hostile")
    for name, text in DOCS.items():
        (root / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "docs" / name).write_text(text)
    env = environment(root)
    done, _ = run("ingest", str(root / "docs"), "--kb", str(root / "kb"), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"root": root, "docs": root / "docs", "kb": root / "kb"}


def environment(root: Path) -> dict[str, str]:
    return {**os.environ, "TAILOR_HOME": str(root / "home"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "TAILOR_TEMPLATES": str(root / "templates"), "COLUMNS": "80"}


def folder(case: Path, world: dict[str, Path], compare: dict | str | bytes | None = None, questions: bytes | None = None,
           kb: bool = False) -> Path:
    """A compare folder: compare.yaml (a mapping, or text as given), questions.jsonl; docs/ or the shared kb."""
    target = case / "cmp"
    target.mkdir()
    config = {**COMPARE, **({"kb": str(world["kb"])} if kb else {})}
    if not kb:
        (target / "docs").symlink_to(world["docs"])
    text = compare if isinstance(compare, str | bytes) else yaml.safe_dump({**config, **(compare or {})})
    write(target / "compare.yaml", text)
    (target / "questions.jsonl").write_bytes(questions if questions is not None else json.dumps(QUESTION).encode() + b"\n")
    return target


def tune_folder(case: Path, summary: object, settings: str | None = None) -> Path:
    target = case / "tune"
    (target / "settings").mkdir(parents=True)
    (target / "settings" / "rag-1.yaml").write_text(settings if settings is not None else yaml.safe_dump(SETTINGS))
    (target / "tune.json").write_text(summary if isinstance(summary, str) else json.dumps(summary))
    return target


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


Case = Callable[[Path, dict[str, Path]], tuple[list[str], list[str]]]
"""(case folder, world) -> (the command's arguments, the texts one stderr line must hold)."""


def compare_yaml(text: str | bytes, *expect: str) -> Case:
    def case(c: Path, w: dict[str, Path]) -> tuple[list[str], list[str]]:
        target = folder(c, w, compare=text)
        return ["compare", str(target), "--out", str(c / "out")], [f"{target}/compare.yaml", *expect]
    return case


def config_file(command: str, name: str, data: str | bytes | None, *expect: str) -> Case:
    """`command --config FILE` (None: FILE is a folder)."""
    def case(c: Path, w: dict[str, Path]) -> tuple[list[str], list[str]]:
        path = write(c / name, data) if data is not None else c / name
        if data is None:
            path.mkdir()
        args = {"compare": lambda: ["compare", str(folder(c, w)), "--out", str(c / "out")],
                "tune": lambda: ["tune", str(folder(c, w)), "--out", str(c / "out")],
                "ingest": lambda: ["ingest", str(w["docs"]), "--kb", str(c / "kb")],
                "ask": lambda: ["ask", "What is the cap?", "--kb", str(w["kb"])],
                "serve": lambda: ["serve", "--kb", str(w["kb"]), "--port", "1"]}[command]()
        return [*args, "--config", str(path)], [str(path), *expect]
    return case


def questions_file(data: bytes, *expect: str) -> Case:
    def case(c: Path, w: dict[str, Path]) -> tuple[list[str], list[str]]:
        target = folder(c, w, questions=data, kb=True)
        return ["compare", str(target), "--out", str(c / "out")], [f"{target}/questions.jsonl", *expect]
    return case


def serve_settings(text: str | bytes | None, *expect: str) -> Case:
    def case(c: Path, w: dict[str, Path]) -> tuple[list[str], list[str]]:
        path = c / "rag-1.yaml"
        if text is None:
            path.mkdir()
        else:
            write(path, text)
        return ["serve", "--kb", str(w["kb"]), "--settings", str(path), "--port", "1"], [str(path), *expect]
    return case


def tuned(summary: object, settings: str | None, *expect: str) -> Case:
    def case(c: Path, w: dict[str, Path]) -> tuple[list[str], list[str]]:
        write(c / "outside.yaml", "arms: x\n")  # what a traversal would reach
        tune = tune_folder(c, summary, settings)
        return ["compare", str(folder(c, w)), "--out", str(c / "out"), "--tuned", str(tune)], list(expect)
    return case


def missing_kb(c: Path, w: dict[str, Path]) -> tuple[list[str], list[str]]:
    target = folder(c, w, compare={"kb": str(c / "nowhere")}, kb=True)
    return ["compare", str(target), "--out", str(c / "out")], [str(c / "nowhere")]


def docs_with_a_link_loop(c: Path, w: dict[str, Path]) -> tuple[list[str], list[str]]:
    write(c / "docs" / "a.md", "# A\n\nSome text.\n")
    (c / "docs" / "loop").symlink_to(c / "docs")
    return ["ingest", str(c / "docs"), "--kb", str(c / "kb")], [f"{c}/docs/loop", "symlink loop"]


def template_named_by_settings(template: str, *expect: str) -> Case:
    return serve_settings(yaml.safe_dump({**SETTINGS, "arms": [{"name": "rag", "strategy": "rag",
                                                                  "template": template}]}), "arms.0.template", *expect)


CASES: dict[str, Case] = {
    "compare.yaml alias bomb": compare_yaml(BOMB, "billion laughs"),
    "compare.yaml 200,000 deep": compare_yaml(DEEP_YAML, "nested too deeply"),
    "compare.yaml self-referencing alias": compare_yaml("a: &a [1, *a]\n", "contains it"),
    "compare.yaml binary": compare_yaml(bytes(range(256)), "cannot read the file"),
    "compare.yaml a list": compare_yaml("- base_model\n", "expected a mapping"),
    "compare.yaml not YAML": compare_yaml("arms: [\n", "not valid YAML at line 2"),
    "compare.yaml bad regex": compare_yaml(yaml.safe_dump({**COMPARE, "format": {"regex": "(unclosed"}}),
                                           "format.regex", "not a regular expression"),
    "compare.yaml unknown field": compare_yaml(yaml.safe_dump({**COMPARE, "bogus": 1}), "bogus"),
    "compare --config alias bomb": config_file("compare", "bomb.yaml", BOMB, "billion laughs"),
    "compare --config a folder": config_file("compare", "folder.yaml", None, "cannot read the file"),
    "compare --config deep JSON": config_file("compare", "deep.json", DEEP_LINE, "nested too deeply"),
    "tune compare.yaml alias bomb": config_file("tune", "bomb.yaml", BOMB, "billion laughs"),
    "ingest --config alias bomb": config_file("ingest", "kb.yaml", BOMB, "billion laughs"),
    "ask --config 200,000 deep": config_file("ask", "ask.yaml", DEEP_YAML, "nested too deeply"),
    "serve --config alias bomb": config_file("serve", "serve.yaml", BOMB, "billion laughs"),
    "questions binary": questions_file(b"\x89PNG\r\n\x1a\n" + bytes(range(128, 256)) * 4, "questions.jsonl:1: not UTF-8"),
    "questions 200,000 deep": questions_file(DEEP_LINE, "questions.jsonl:1: nested too deeply"),
    "questions empty": questions_file(b"", "no valid questions"),
    "questions only a BOM and CRLF": questions_file(b"\xef\xbb\xbf\r\n\r\n", "no valid questions"),
    "questions bad bytes in every line": questions_file(b'{"question": "caf\xc3?", "answers": ["x"]}\n' * 3,
                                                        "questions.jsonl:3: not UTF-8: byte 0xc3 at column 18"),
    "missing kb": missing_kb,
    "tuned settings alias bomb": tuned({"arms": {"rag": {"chosen": "rag-1"}}}, BOMB, "rag-1.yaml", "billion laughs"),
    "serve --settings alias bomb": serve_settings(BOMB, "billion laughs"),
    "serve --settings arms: x": serve_settings("base_model: scratch\narms: x\n", "arms: expected a list"),
    "serve --settings arms: [1]": serve_settings("base_model: scratch\narms: [1]\n", "arms.0: expected a mapping"),
    "serve --settings empty": serve_settings("", "arms: expected a list, missing"),
    "serve --settings a folder": serve_settings(None, "cannot read the file"),
    "serve --settings template ..": template_named_by_settings("../../../etc/passwd.jinja", "no '..'"),
    "serve --settings template absolute": template_named_by_settings("/etc/passwd.jinja", "is outside the package"),
    "serve --settings kb_index mismatch": serve_settings(
        yaml.safe_dump({**SETTINGS, "kb_index": {"chunk_tokens": 64, "overlap_tokens": 8}}), "kb_index",
        "cannot change without a new knowledge base"),
    "serve --settings model cannot load": serve_settings(
        yaml.safe_dump({**SETTINGS, "base_model": "no-such-model-anywhere"}), "no-such-model-anywhere", "cannot load"),
    "ingest docs with a link loop": docs_with_a_link_loop,
}

TUNE_FOLDERS = {  # tailor compare --tuned FOLDER
    "tune.json arms missing": tuned({"runs": 1}, None, "tune.json", "arms"),
    "tune.json arms a list": tuned({"arms": ["rag"]}, None, "tune.json", "arms"),
    "tune.json 200,000 deep": tuned("[" * 200_000 + "]" * 200_000, None, "tune.json", "nested too deeply"),
    "tune.json chosen ..": tuned({"arms": {"rag": {"chosen": "../../outside"}}}, None, "arms.rag.chosen", "no '..'"),
    "tuned settings arms: x": tuned({"arms": {"rag": {"chosen": "rag-1"}}}, "arms: x\n", "rag-1.yaml", "arms"),
}


def check(done: subprocess.CompletedProcess[str], seconds: float, expect: list[str]) -> None:
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode in (2, 3), (done.returncode, done.stderr[-3000:])
    lines = [line for line in done.stderr.splitlines() if all(text in line for text in expect)]
    assert lines, f"no stderr line holds {expect}:\n{done.stderr[-3000:]}"
    assert seconds < SECONDS, seconds


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_one_named_line_and_exit_2_or_3(world: dict[str, Path], tmp_path: Path, name: str):
    args, expect = CASES[name](tmp_path, world)
    done, seconds = run(*args, env=environment(world["root"]))
    check(done, seconds, expect)


@pytest.mark.parametrize("name", list(TUNE_FOLDERS))
def test_a_hostile_tune_folder_is_one_named_line(world: dict[str, Path], tmp_path: Path, name: str):
    args, expect = TUNE_FOLDERS[name](tmp_path, world)
    done, seconds = run(*args, env=environment(world["root"]))
    check(done, seconds, expect)
