"""Load a dataset in the BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailor.evaluate.metrics import Qrels
from tailor.jsonl import jsonl_lines

_QRELS_HEADER = ["query-id", "corpus-id", "score"]


@dataclass
class BeirDataset:
    """Documents (id -> {"title", "text"}), queries (id -> text) and relevance judgements."""

    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: Qrels


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a text file with their 1-based numbers."""
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.strip():
                yield lineno, line.strip()


def _read_jsonl(path: Path, fields: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """JSON objects of a .jsonl file, each checked to hold ``fields``."""
    for line in jsonl_lines(path):
        if line.error is not None:
            raise ValueError(f"{line.where}: {line.error}")
        record, lineno = line.value, line.number
        missing = [name for name in fields if name not in record]
        if missing:
            raise ValueError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
        yield record


def _read_qrels(path: Path) -> Qrels:
    qrels: Qrels = {}
    for lineno, line in _lines(path):
        fields = [field.strip() for field in line.split("\t")]
        if lineno == 1 and fields == _QRELS_HEADER:
            continue
        if len(fields) != 3:
            raise ValueError(f"{path}:{lineno}: expected 3 tab-separated fields, got {len(fields)}")
        query_id, doc_id, score = fields
        try:
            qrels.setdefault(query_id, {})[doc_id] = int(score)
        except ValueError as err:
            raise ValueError(f"{path}:{lineno}: score {score!r} is not an integer") from err
    return qrels


def load_beir(folder: Path, split: str = "test") -> BeirDataset:
    """Read a BEIR folder, keeping only the queries judged in ``qrels/<split>.tsv``."""
    folder = Path(folder)
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv")
    corpus = {
        str(record["_id"]): {"title": record.get("title") or "", "text": record["text"]}
        for record in _read_jsonl(folder / "corpus.jsonl", ("_id", "text"))
    }
    queries_path = folder / "queries.jsonl"
    all_queries = {
        str(record["_id"]): record["text"] for record in _read_jsonl(queries_path, ("_id", "text"))
    }
    unknown = sorted(set(qrels) - set(all_queries))
    if unknown:
        raise ValueError(
            f"{queries_path}: {len(unknown)} query id(s) of qrels/{split}.tsv are missing, e.g. {unknown[0]!r}"
        )
    queries = {qid: all_queries[qid] for qid in qrels}
    return BeirDataset(corpus=corpus, queries=queries, qrels=qrels)
