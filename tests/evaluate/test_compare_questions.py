import json

from tailor.evaluate.compare.questions import load_questions


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_valid_lines_load_and_each_bad_line_is_reported_with_file_line_and_field(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", [
        json.dumps({"id": "a", "question": "What is the cap?", "answers": ["EUR 180"], "doc_ids": ["travel.md"]}),
        "{not json",
        json.dumps({"id": "b", "question": "", "answers": ["x"]}),
        json.dumps({"id": "c", "question": "Unknown?", "answerable": False}),
        json.dumps({"id": "d", "question": "Which?", "answers": ["blue"], "choices": ["red", "green"]}),
        json.dumps({"id": "a", "question": "Again?", "answers": ["y"]}),
        json.dumps({"id": "e", "question": "Groups?", "answers": ["z"], "groups": "hr"}),
    ])
    found = load_questions(path)
    assert [q.id for q in found.questions] == ["a", "c", "e"]
    assert found.questions[1].answerable is False
    assert found.questions[2].groups == ("hr",)
    reasons = {e.path: e.reason for e in found.errors}
    assert set(reasons) == {f"{path}:2", f"{path}:3", f"{path}:5", f"{path}:6"}
    assert "'question'" in reasons[f"{path}:3"]
    assert "'choices'" in reasons[f"{path}:5"]
    assert "duplicate id 'a'" in reasons[f"{path}:6"]


def test_answerable_question_without_answers_is_rejected(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", [json.dumps({"question": "Why?", "answerable": True})])
    found = load_questions(path)
    assert not found.questions
    assert "needs 'answers'" in found.errors[0].reason


def test_default_caller_is_public_and_ids_default_to_line_numbers(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", ["", json.dumps({"question": "Q?", "answer": "A"})])
    (question,) = load_questions(path).questions
    assert question.id == "line2" and question.groups == ("public",) and question.answers == ("A",)
