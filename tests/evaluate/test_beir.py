"""load_beir on a tiny written folder, its error messages, and SciFact counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailor.evaluate.beir import load_beir


def write_beir(
    folder: Path, corpus: str | None = None, queries: str | None = None, qrels: str | None = None
) -> Path:
    docs = [{"_id": "d1", "title": "One", "text": "first doc"}, {"_id": "d2", "title": "", "text": "second"}]
    asked = [
        {"_id": "q1", "text": "first?"},
        {"_id": "q2", "text": "second?"},
        {"_id": "q3", "text": "unjudged"},
    ]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(corpus or "\n".join(json.dumps(d) for d in docs) + "\n")
    (folder / "queries.jsonl").write_text(queries or "\n".join(json.dumps(q) for q in asked) + "\n")
    (folder / "qrels" / "test.tsv").write_text(
        qrels or "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\td1\t0\n"
    )
    return folder


def test_load_beir(tmp_path: Path):
    dataset = load_beir(write_beir(tmp_path))
    assert dataset.corpus == {
        "d1": {"title": "One", "text": "first doc"},
        "d2": {"title": "", "text": "second"},
    }
    assert dataset.queries == {"q1": "first?", "q2": "second?"}
    assert dataset.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "d1": 0}}


def test_malformed_json_line(tmp_path: Path):
    write_beir(tmp_path, corpus='{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n')
    with pytest.raises(ValueError, match=r"corpus\.jsonl:2: not JSON"):
        load_beir(tmp_path)


def test_missing_field(tmp_path: Path):
    write_beir(tmp_path, queries='{"_id": "q1", "text": "a"}\n\n{"_id": "q2"}\n')
    with pytest.raises(ValueError, match=r"queries\.jsonl:3: missing field\(s\) text"):
        load_beir(tmp_path)


@pytest.mark.parametrize(
    ("qrels", "message"),
    [
        (
            "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2 d2 1\n",
            r"test\.tsv:3: expected 3 tab-separated fields, got 1",
        ),
        ("q1\td1\tyes\n", r"test\.tsv:1: score 'yes' is not an integer"),
    ],
)
def test_malformed_qrels_line(tmp_path: Path, qrels: str, message: str):
    write_beir(tmp_path, qrels=qrels)
    with pytest.raises(ValueError, match=message):
        load_beir(tmp_path)


def test_qrels_query_missing_from_queries(tmp_path: Path):
    write_beir(tmp_path, qrels="q9\td1\t1\n")
    with pytest.raises(
        ValueError, match=r"queries\.jsonl: 1 query id\(s\) of qrels/test\.tsv are missing, e\.g\. 'q9'"
    ):
        load_beir(tmp_path)


def test_missing_file(tmp_path: Path):
    write_beir(tmp_path)
    with pytest.raises(ValueError, match=r"dev\.tsv: file not found"):
        load_beir(tmp_path, split="dev")
    (tmp_path / "corpus.jsonl").unlink()
    with pytest.raises(ValueError, match=r"corpus\.jsonl: file not found"):
        load_beir(tmp_path)


def test_scifact_counts(beir_scifact_dir: Path):
    test = load_beir(beir_scifact_dir, split="test")
    assert len(test.corpus) == 5183
    assert len(test.queries) == 300
    assert sum(len(rels) for rels in test.qrels.values()) == 339
    train = load_beir(beir_scifact_dir, split="train")
    assert len(train.queries) == 809
    assert sum(len(rels) for rels in train.qrels.values()) == 919
