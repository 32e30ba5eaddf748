"""`tailor data build`: training data from a knowledge base, split by document, with a card.

    corpus    the documents (and their chunks) visible to the configured access groups, less the excluded
              ones (those evaluation questions were written from), which no row ever shows
    split     documents, not questions, go to train or validation: a fact tested in validation
              was never in a training example
    questions from a QA file and/or a synthetic writer (LLM or offline), validated, de-duplicated
    format    qa (closed book), raft (oracle + distractors: sampled, with a quote + answer completion, or a
              retrieving arm's own retrieval and prompt, `RetrievedContext`) or cpt (raw text)
    write     train.jsonl + validation.jsonl (`datasets.load_dataset("json", ...)` or `load_dataset(DIR)`)
              and card.json: counts, rejects, file hashes, KB version and groups; `quality`: what the
              writer refused as no fact, by reason, a sample of the kept rows, the answers' shape

Access groups. A document is readable by a set of groups when it shares at least one group with
them (the knowledge base's rule). The card records the groups the data was read as (`groups`), each
document's own groups (`document_groups`) and `adapter_groups`: the groups a caller must all hold
to use an adapter trained on the data, the union over the documents the rows show the model (RAFT
context included) of each document's groups that the readers held. A caller holding all of them
shares a group with every such document. `restrict_dataset` keeps only the rows a narrower set of
groups can read (`tailor finetune --groups`).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.finetune.config import DataConfig
from tailor.finetune.examples import EXAMPLE_FORMATS, BuildContext, Corpus, QAItem, SourceDoc
from tailor.finetune.fact_filter import data_quality
from tailor.finetune.qa_records import QAPair, QAWriter, WriterReport
from tailor.finetune.synthetic import make_writer, validate_pair
from tailor.jsonl import jsonl_lines, read_jsonl
from tailor.kb.knowledge_base import canonical_uri, open_existing_store
from tailor.kb.store import SearchFilter
from tailor.squad_metrics import normalize_answer

if TYPE_CHECKING:
    from tailor.finetune.retrieved import RetrievedContext

SPLITS = ("train", "validation")


@dataclass
class BuildReport:
    """Items that did not become examples, by reason, and the question writer's own report."""

    skipped: Counter[str] = field(default_factory=Counter)
    writer: WriterReport = field(default_factory=WriterReport)
    errors: list[dict[str, str]] = field(default_factory=list)  # input lines that could not be read: path, reason


def load_corpus(kb: str | Path, groups: list[str]) -> Corpus:
    """Documents of `groups` with their chunks, read straight from the store (no embedder needed)."""
    return read_corpus(kb, groups)[0]


def read_corpus(kb: str | Path, groups: list[str]) -> tuple[Corpus, dict[str, list[str]]]:
    """The corpus of `groups`, and each of its documents' own access groups (read in the same pass)."""
    store = open_existing_store(kb)
    try:
        docs, doc_groups = {}, {}
        for doc in store.list_documents(SearchFilter(tuple(groups))):
            # Chunk ids are "<doc id>#<n>" (tailor.kb.chunking).
            found = store.get_chunks([f"{doc.id}#{i}" for i in range(doc.n_chunks)])
            chunks = [found[f"{doc.id}#{i}"][0] for i in range(doc.n_chunks)]
            docs[doc.id] = SourceDoc(doc.id, doc.title, doc.source, chunks)
            doc_groups[doc.id] = sorted(doc.groups)
        return Corpus(uri=canonical_uri(kb), version=store.version(), groups=tuple(groups), docs=docs), doc_groups
    finally:
        store.close()


def split_documents(doc_ids: list[str], val_fraction: float, seed: int) -> dict[str, set[str]]:
    """A seeded shuffle of the documents, the last `val_fraction` of them (at least one) held out."""
    order = sorted(doc_ids)
    random.Random(seed).shuffle(order)
    n_val = 0 if val_fraction <= 0 or len(order) < 2 else max(1, round(len(order) * val_fraction))
    return {"train": set(order[: len(order) - n_val]), "validation": set(order[len(order) - n_val :])}


def read_qa_file(path: Path, corpus: Corpus, report: BuildReport) -> list[QAItem]:
    """QA pairs from JSONL; unanswerable ones and ones about documents the groups cannot see are skipped.
    A line that is not a QA pair is reported (`path:line` and why) and the rest are read."""
    items = []
    for line in jsonl_lines(path):
        n = line.number
        try:
            if line.error is not None:
                raise ValueError(line.error)
            row = _qa_row(line.value)
        except ValueError as exc:
            report.skipped["invalid_line"] += 1
            report.errors.append({"path": f"{path}:{n}", "reason": str(exc)})
            continue
        answers = row.get("answers") or ([row["answer"]] if row.get("answer") else [])
        doc_ids = row.get("doc_ids") or ([row["doc_id"]] if row.get("doc_id") else [])
        if row.get("answerable") is False or not answers:
            report.skipped["unanswerable"] += 1
        elif any(d not in corpus.docs for d in doc_ids) or (
            row.get("groups") and not set(row["groups"]) & set(corpus.groups)
        ):
            report.skipped["not_visible"] += 1
        else:
            items.append(QAItem(str(row.get("id", f"{Path(path).stem}-{n}")), row["question"], answers, doc_ids, "file"))
    return items


def _qa_row(row: dict[str, Any]) -> dict[str, Any]:
    """One JSONL line as a QA record, or a ValueError that says what is wrong with it."""
    if not isinstance(row.get("question"), str) or not row["question"].strip():
        raise ValueError("'question' must be a non-empty string")
    answers = row.get("answers", [row["answer"]] if "answer" in row else [])
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise ValueError("'answers' must be a list of strings ('answer': one string)")
    for key in ("doc_ids", "groups"):
        if key in row and not (isinstance(row[key], list) and all(isinstance(v, str) for v in row[key])):
            raise ValueError(f"'{key}' must be a list of strings")
    return row


def synthesize(corpus: Corpus, writer: QAWriter, per_chunk: int, report: BuildReport, seen: set[str]) -> list[QAItem]:
    """Ask the writer about every chunk; keep the pairs that validate and are new."""
    items = []
    for doc in corpus.docs.values():
        for chunk in doc.chunks:
            report.writer.requested += per_chunk
            for pair in writer.questions(chunk.text, doc.title, per_chunk, report.writer):
                if _accept(pair, chunk.text, report.writer, seen):
                    items.append(QAItem(f"syn-{chunk.id}-{len(items)}", pair.question, [pair.answer], [doc.id],
                                        "synthetic", chunk.id))
    return items


def paraphrase(items: list[QAItem], writer: QAWriter, n: int, report: BuildReport, seen: set[str]) -> list[QAItem]:
    """n rewordings of each item, same answers and documents."""
    extra = []
    for item in items:
        report.writer.requested += n
        for i, question in enumerate(writer.paraphrases(item.question, n, report.writer)):
            if _accept(QAPair(question, item.answers[0]), "", report.writer, seen, check=False):
                extra.append(QAItem(f"{item.id}-para{i}", question, item.answers, item.doc_ids, "paraphrase",
                                    item.chunk_id))
    return extra


def _accept(pair: QAPair, passage: str, report: WriterReport, seen: set[str], check: bool = True) -> bool:
    reason = validate_pair(pair, passage) if check else None
    key = normalize_answer(pair.question)
    if reason:
        report.reject("invalid", f"{reason}: {pair.question} -> {pair.answer}")
    elif key in seen:
        report.reject("duplicates", pair.question)
    else:
        seen.add(key)
        report.accepted += 1
        return True
    return False


def assign_splits(items: list[QAItem], split: dict[str, set[str]], report: BuildReport) -> dict[str, list[QAItem]]:
    """Each item goes where all its documents are; items spanning both splits are dropped."""
    out: dict[str, list[QAItem]] = {name: [] for name in SPLITS}
    for item in items:
        homes = {name for name in SPLITS for d in item.doc_ids if d in split[name]}
        if not item.doc_ids:
            report.skipped["no_doc_ids_train_only"] += 1
            out["train"].append(item)
        elif len(homes) == 1:
            out[homes.pop()].append(item)
        else:
            report.skipped["cross_split"] += 1
    return out


def build_dataset(config: DataConfig, retrieved: RetrievedContext | None = None) -> dict[str, Any]:
    """Build the dataset folder described by `config`; returns its card. `retrieved`: RAFT rows on a
    retrieving arm's own retrieval and prompt (format raft only)."""
    started = time.time()
    writer_spec = config.generator if config.generator and config.generator != "none" else None
    if config.format == "cpt" and config.qa_file:
        raise ValueError("format cpt trains on the raw chunk text; it takes no qa_file")
    if config.paraphrases and not writer_spec:
        raise ValueError("paraphrases are written by the generator; set one (e.g. offline)")
    if retrieved is not None and config.format != "raft":
        raise ValueError(f"retrieved context is RAFT's; format {config.format} takes none")
    corpus, doc_groups = read_corpus(config.kb, config.groups)
    excluded = set(config.exclude_documents) & set(corpus.docs)
    for doc_id in excluded:
        del corpus.docs[doc_id], doc_groups[doc_id]
    if not corpus.docs:
        raise ValueError(f"no documents in {config.kb} are visible to groups {config.groups}"
                         + (f" beyond the {len(excluded)} excluded" if excluded else ""))
    split = split_documents(list(corpus.docs), config.val_fraction, config.seed)
    report = BuildReport()
    items: dict[str, list[QAItem]] = {name: [] for name in SPLITS}
    if config.format != "cpt":
        seen: set[str] = set()
        found = read_qa_file(config.qa_file, corpus, report) if config.qa_file else []
        seen.update(normalize_answer(item.question) for item in found)
        writer = make_writer(writer_spec) if writer_spec else None
        if writer is not None:
            report.writer.writer = writer.name
            found += synthesize(corpus, writer, config.questions_per_chunk, report, seen)
        items = assign_splits(found, split, report)
        if writer is not None and config.paraphrases:
            items["train"] += paraphrase(items["train"], writer, config.paraphrases, report, seen)
    ctx = BuildContext(corpus, split, config, random.Random(config.seed), report.skipped, retrieved)
    rows = {name: EXAMPLE_FORMATS[config.format](items[name], name, ctx) for name in SPLITS}
    card = {
        "format": config.format,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "kb": {"uri": corpus.uri, "version": corpus.version},
        "groups": list(corpus.groups),
        "document_groups": doc_groups,
        "config": config.model_dump(mode="json"),
        "documents": {name: sorted(split[name]) for name in SPLITS},
        "excluded_documents": len(excluded),
        "raft_context": retrieved.settings if retrieved is not None else None,
        **_row_counts(rows),
        "generation": report.writer.to_dict() if report.writer.writer else None,
        "quality": data_quality(report.writer, rows["train"], config.seed),
        "skipped": dict(report.skipped),
        "errors": report.errors,
        "seconds": round(time.time() - started, 2),
    }
    card["adapter_groups"] = sorted(_readable_rows(rows, card, frozenset(corpus.groups))[1])
    return write_dataset(Path(config.out), rows, card)


def _row_counts(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "examples": {name: len(rows[name]) for name in SPLITS},
        "by_source": {name: dict(Counter(r.get("source", "chunk") for r in rows[name])) for name in SPLITS},
    }


# -- access groups ---------------------------------------------------------------------------------
def row_documents(row: dict[str, Any]) -> set[str]:
    """The documents whose text or facts a row shows the model: its own, and for RAFT its context's."""
    # Chunk ids are "<doc id>#<n>" (tailor.kb.chunking).
    return set(row.get("doc_ids") or ()) | {chunk.rpartition("#")[0] for chunk in row.get("context_ids") or ()}


def row_access(row: dict[str, Any], card: dict[str, Any], readers: frozenset[str]) -> frozenset[str] | None:
    """The groups through which `readers` read every document of the row; None when one is unreadable.

    A row of no KB document (a QA-file row without doc_ids), or a document the card has no groups for
    (a card built before they were recorded), was readable by the groups the data was read as; the only
    sufficient condition is then to hold all of them.
    """
    built_as = frozenset(card["groups"])
    known = card.get("document_groups", {})
    docs = row_documents(row)
    through: set[str] = set()
    for doc_groups in [known.get(d) for d in docs] if docs else [None]:
        if doc_groups is None:
            shared = built_as if built_as <= readers else frozenset()
        else:
            shared = readers & set(doc_groups)
        if not shared:
            return None
        through |= shared
    return frozenset(through)


def _readable_rows(
    rows: dict[str, list[dict[str, Any]]], card: dict[str, Any], readers: frozenset[str]
) -> tuple[dict[str, list[dict[str, Any]]], set[str]]:
    """The rows `readers` can read, per split, and the union of the groups they read them through."""
    kept: dict[str, list[dict[str, Any]]] = {name: [] for name in rows}
    needed: set[str] = set()
    for name, split_rows in rows.items():
        for row in split_rows:
            access = row_access(row, card, readers)
            if access is not None:
                kept[name].append(row)
                needed |= access
    return kept, needed


def unreadable_rows(source: Path, groups: Sequence[str], split: str = "train") -> list[dict[str, Any]]:
    """The rows of a dataset split that a caller holding `groups` may not read: what an adapter trained on
    it could tell that caller and retrieval never would."""
    card = read_card(source)
    readers = frozenset(groups)
    return [row for row in _read_rows(Path(source) / f"{split}.jsonl") if row_access(row, card, readers) is None]


def adapter_groups(card: dict[str, Any]) -> list[str]:
    """The groups a caller must all hold to use an adapter trained on this dataset. A card built before
    they were recorded gives the groups its data was read as: a superset, so never too permissive."""
    return list(card.get("adapter_groups") or card["groups"])


def restrict_dataset(source: Path, groups: Sequence[str], out: Path) -> dict[str, Any]:
    """Copy the dataset at `source` to `out` with only the rows a caller holding `groups` can read (it
    shares a group with every document a row shows); returns the new card, whose `adapter_groups` are
    recomputed and whose `restricted` section says what was dropped from which dataset."""
    if isinstance(groups, str) or not groups:
        raise ValueError("restrict a dataset to a non-empty list of groups, e.g. ['public']")
    card = read_card(source)
    readers = frozenset(groups)
    rows = {name: _read_rows(Path(source) / f"{name}.jsonl") for name in SPLITS}
    kept, needed = _readable_rows(rows, card, readers)
    if not kept["train"]:
        raise ValueError(f"no training row of {source} is readable by groups {sorted(readers)}")
    listed = {d for name in SPLITS for d in card["documents"][name]}
    readable_docs = {d for d in listed if row_access({"doc_ids": [d]}, card, readers) is not None}
    known = card.get("document_groups", {})
    restricted = {
        **{key: value for key, value in card.items() if key not in ("files", "hash")},
        "document_groups": {d: known[d] for d in sorted(readable_docs) if d in known},
        "documents": {name: sorted(set(card["documents"][name]) & readable_docs) for name in SPLITS},
        **_row_counts(kept),
        "adapter_groups": sorted(needed),
        "restricted": {
            "groups": sorted(readers),
            "source": {"path": str(source), "hash": card["hash"]},
            "dropped": {name: len(rows[name]) - len(kept[name]) for name in SPLITS},
        },
    }
    return write_dataset(Path(out), kept, restricted)


def _read_rows(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)


def write_dataset(out: Path, rows: dict[str, list[dict[str, Any]]], card: dict[str, Any]) -> dict[str, Any]:
    """Write the split files and the card into a temp folder, then swap it in place of `out`."""
    if out.exists() and any(out.iterdir()) and not (out / "card.json").is_file():
        raise FileExistsError(f"{out} exists and is not a tailor dataset; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    files = {}
    for name, split_rows in rows.items():
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in split_rows)
        (staging / f"{name}.jsonl").write_text(text)
        files[f"{name}.jsonl"] = hashlib.sha256(text.encode()).hexdigest()
    card = {**card, "files": files, "hash": dataset_hash(files)}
    (staging / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return card


def dataset_hash(files: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{name}:{files[name]}\n" for name in sorted(files)).encode()).hexdigest()


def read_card(folder: Path) -> dict[str, Any]:
    """The card of a dataset folder, after checking that the files still match their hashes."""
    if not (Path(folder) / "card.json").is_file():
        raise FileNotFoundError(f"{folder}: not a dataset built by `tailor data build` (no card.json)")
    card = json.loads((Path(folder) / "card.json").read_text())
    for name, expected in card["files"].items():
        actual = hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest()
        if actual != expected:
            raise ValueError(f"{folder}/{name} changed since it was built (hash mismatch); rebuild the dataset")
    return card
