"""Retrieval quality of a knowledge base on a BEIR-format dataset (document-level metrics)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tailor.evaluate.beir import BeirDataset
from tailor.evaluate.metrics import Run, evaluate_run
from tailor.records import Document, SearchResult

Search = Callable[[str, int, str], SearchResult]  # (query, k chunks, mode) -> result


def beir_documents(dataset: BeirDataset, groups: tuple[str, ...] = ("public",)) -> list[Document]:
    return [
        Document(id=doc_id, text=doc["text"], title=doc["title"], source=f"beir:{doc_id}", groups=groups)
        for doc_id, doc in dataset.corpus.items()
        if doc["text"].strip()
    ]


def document_run(result: SearchResult, depth: int) -> dict[str, float]:
    """Documents ranked by their best chunk; scores decrease strictly with rank (no ties)."""
    ranked: list[str] = []
    for hit in result.hits:
        if hit.chunk.doc_id not in ranked:
            ranked.append(hit.chunk.doc_id)
        if len(ranked) == depth:
            break
    return {doc_id: float(depth - i) for i, doc_id in enumerate(ranked)}


def evaluate_modes(
    dataset: BeirDataset,
    search: Search,
    modes: Sequence[str] = ("bm25", "dense", "hybrid"),
    depth: int = 100,
    chunks_per_doc: int = 3,
    on_query: Callable[[], None] | None = None,
) -> dict[str, dict[str, float]]:
    """nDCG@10, Recall@10/100, MRR@10 (and more) per mode, over the dataset's judged queries."""
    results = {}
    for mode in modes:
        run: Run = {}
        for query_id, text in dataset.queries.items():
            run[query_id] = document_run(search(text, depth * chunks_per_doc, mode), depth)
            if on_query:
                on_query()
        results[mode] = evaluate_run(dataset.qrels, run, ks=(10, 100))
    return results
