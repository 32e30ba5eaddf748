"""Every YAML and JSON Tailor reads goes through one bounded reader (tailor.bounded), and every JSON Lines file
through one line reader (tailor.jsonl): alias bombs, deep nesting and oversized files are refused in
milliseconds, under a memory cap, naming the file and field; lines split on `\\n` only, one bad line is one
error (`path:line: reason`) and the rest is read."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tailor.bounded import MAX_DEPTH, DataBoundError, check_shape, parse_json, parse_yaml
from tailor.config_files import ConfigFileError, read_data, read_mapping
from tailor.evaluate.compare.questions import load_questions
from tailor.jsonl import JsonlError, jsonl_lines, read_jsonl
from tailor.kb.loaders.jsonl import load_jsonl


def laughs(levels: int, fan: int = 10) -> str:
    lines = ["a0: &a0 [" + ", ".join(["x"] * fan) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


BOMBS = {
    "nine-levels.yaml": laughs(9),  # 10^10 values through 91 nodes: 43 s and an 8 GiB abort before
    "wide.yaml": laughs(3, fan=60),  # 60^4 = 13 M values
    "self.yaml": "a: &a [1, *a]\n",  # contains itself
    "deep.yaml": "[" * 200_000 + "]" * 200_000 + "\n",
    "deep.json": "[" * 200_000 + "]" * 200_000,
    "nested-70.json": '{"a": ' * 70 + "1" + "}" * 70,
}

PROBE = textwrap.dedent("""
    import resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))
    from tailor.config_files import ConfigFileError, read_mapping
    started = time.perf_counter()
    try:
        read_mapping(sys.argv[1])
        print("accepted")
    except ConfigFileError as exc:
        print(f"{time.perf_counter() - started:.3f} {exc}")
""")


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_bomb_is_refused_in_under_a_second_under_a_memory_cap_naming_the_file(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_text(BOMBS[name])
    done = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    seconds, _, message = done.stdout.strip().partition(" ")
    assert float(seconds) < 1.0, done.stdout
    assert message.startswith(f"{path}: "), message
    assert any(word in message for word in ("billion laughs", "contains it", "nested too deeply")), message


def test_the_refusal_names_the_field_where_the_bound_was_passed():
    with pytest.raises(DataBoundError, match=r"^a4\.\d+: expands to over 100,000 values"):
        parse_yaml(laughs(9))
    with pytest.raises(DataBoundError, match=r"^a\.a\.a\.a\.a\.a\.a\.a\.\.\. \(64 levels\): nested too deeply"):
        parse_json('{"a": ' * 70 + "1" + "}" * 70)


def test_anchors_used_as_people_use_them_pass_and_are_counted_where_they_stand():
    data = parse_yaml("hr: &hr [hr, people]\nfiles:\n  a.md: {groups: *hr}\n  b.md: {groups: *hr}\n")
    assert data["files"]["b.md"]["groups"] == ["hr", "people"]
    assert check_shape(data) == 19
    assert parse_json("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None


def test_size_is_bounded_before_parsing(tmp_path: Path):
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:  # sparse: 17 MiB of nothing, no disk used
        handle.truncate(17 * 2**20)
    started = time.perf_counter()
    with pytest.raises(ConfigFileError, match=r"big\.yaml: 17,825,792 bytes, over the 16,777,216"):
        read_mapping(big)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(DataBoundError, match="bytes, over the 10"):
        parse_json("[" + "1," * 10 + "1]", max_bytes=10)


def test_config_files_of_each_kind_are_bounded_and_name_the_file(tmp_path: Path):
    toml, js, listed, folder = tmp_path / "a.toml", tmp_path / "tune.json", tmp_path / "list.yaml", tmp_path / "dir"
    toml.write_text("a = " + "[" * 70 + "1" + "]" * 70 + "\n")
    js.write_text('{"arms": [1, 2,]}')
    listed.write_text("- a\n- b\n")
    folder.mkdir()
    for path, problem in ((toml, "nested too deeply"), (js, "not valid JSON at line 1, column 16"),
                          (listed, "expected a mapping of settings, got list"), (folder, "cannot read the file")):
        with pytest.raises(ConfigFileError) as caught:
            read_mapping(path)
        assert str(caught.value).startswith(f"{path}: ") and problem in str(caught.value), caught.value
    (tmp_path / "ok.json").write_text('{"arms": {"rag": {"chosen": "rag-1"}}}')
    assert read_data(tmp_path / "ok.json") == {"arms": {"rag": {"chosen": "rag-1"}}}


# ---------------------------------------------------------------- JSON Lines


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def q(text: str, qid: str) -> bytes:
    return json.dumps({"id": qid, "question": text, "answers": ["x"]}, ensure_ascii=False).encode()


def test_lines_split_on_newline_only_and_bad_lines_are_errors_for_themselves(tmp_path: Path):
    path = write(tmp_path / "questions.jsonl", b"\r\n".join([
        b"\xef\xbb\xbf" + q("first after a BOM?", "q1"),
        q("has\u2028a line\u2029separator\x85and NEL?", "q2"),
        b'{"id": "q3", "question": "caf\xc3 broken?", "answers": ["x"]}',
        b"[" * 200_000 + b"]" * 200_000,
        b"{not json",
        q("last?", "q6"),
    ]) + b"\r\n")
    found = load_questions(path)
    assert [x.id for x in found.questions] == ["q1", "q2", "q6"]
    assert found.questions[1].question == "has\u2028a line\u2029separator\x85and NEL?"
    assert [(e.path, e.reason) for e in found.errors] == [
        (f"{path}:3", f"{path}:3: not UTF-8: byte 0xc3 at column 30"),
        (f"{path}:4", f"{path}:4: nested too deeply (over 64 levels)"),
        (f"{path}:5", f"{path}:5: not JSON: Expecting property name enclosed in double quotes (column 2)"),
    ]


def test_the_reader_reports_line_numbers_of_the_file_not_of_a_split_string(tmp_path: Path):
    path = write(tmp_path / "x.jsonl", q("a\u2028b", "1") + b"\n\n" + b"[1]\n")
    lines = list(jsonl_lines(path))
    assert [(line.number, line.error) for line in lines] == [(1, None), (3, "expected a JSON object, got list")]
    with pytest.raises(JsonlError, match=rf"^{path}:3: expected a JSON object, got list$"):
        read_jsonl(path)
    with pytest.raises(JsonlError, match=r"missing\.jsonl: file not found"):
        read_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(JsonlError, match=r"cannot read"):
        read_jsonl(tmp_path)


def test_the_document_loader_keeps_its_own_errors_and_splits_the_same_way(tmp_path: Path):
    path = write(tmp_path / "corpus.jsonl", b"\xef\xbb\xbf" + b"\n".join([
        json.dumps({"id": "a", "text": "Leave\u2028is 25 days."}).encode(),
        b"{oops",
        b'{"id": "deep", "text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        json.dumps({"id": "b", "text": "Travel."}).encode(),
    ]) + b"\n")
    loaded = load_jsonl(path)
    assert [getattr(x, "id", None) for x in loaded] == ["a", None, None, "b"]
    assert loaded[0].text == "Leave\u2028is 25 days."
    assert loaded[1].reason.startswith("line 2: invalid JSON: Expecting property name")
    assert loaded[2].reason.startswith("line 3: nested too deeply")
