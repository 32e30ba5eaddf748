"""Rows of each dataset format, built from questions and the corpus they were asked about.

All rows carry `id` and `doc_ids`; question rows are TRL conversational prompt-completion rows
(`prompt`, `completion` message lists) plus `question` and gold `answers` for evaluation by generation.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tailor.finetune import formats
from tailor.finetune.config import DataConfig
from tailor.generate.sentences import split_sentences
from tailor.records import Chunk, Hit
from tailor.squad_metrics import normalize_answer

if TYPE_CHECKING:
    from tailor.finetune.retrieved import RetrievedContext


@dataclass
class SourceDoc:
    id: str
    title: str
    source: str
    chunks: list[Chunk]


@dataclass
class Corpus:
    """What a dataset is built from: the documents visible to `groups` at KB `version`."""

    uri: str
    version: int
    groups: tuple[str, ...]
    docs: dict[str, SourceDoc]


@dataclass
class QAItem:
    """A question with its gold answers and the documents (and chunk, when known) it comes from."""

    id: str
    question: str
    answers: list[str]
    doc_ids: list[str]
    source: str
    chunk_id: str | None = None


@dataclass
class BuildContext:
    """What every row builder may read: the corpus, the document split, the config, one seeded RNG."""

    corpus: Corpus
    split: dict[str, set[str]]
    config: DataConfig
    rng: random.Random
    skipped: Counter[str] = field(default_factory=Counter)
    retrieved: RetrievedContext | None = None  # raft: the asking arm's retrieval and prompt, else sampled context


Row = dict[str, Any]
RowBuilder = Callable[[list[QAItem], str, BuildContext], list[Row]]


def _overlap(a: str, b: str) -> int:
    return len(set(normalize_answer(a).split()) & set(normalize_answer(b).split()))


def oracle_chunk(item: QAItem, corpus: Corpus) -> Chunk | None:
    """The chunk the answer comes from: the known one, else the best chunk of the item's documents."""
    chunks = [c for d in item.doc_ids for c in corpus.docs[d].chunks]
    if item.chunk_id:
        return next((c for c in chunks if c.id == item.chunk_id), None)

    def score(chunk: Chunk) -> tuple[bool, int]:
        text = normalize_answer(chunk.text)
        return any(normalize_answer(a) in text for a in item.answers), _overlap(chunk.text, item.question)

    return max(chunks, key=score, default=None)


def supporting_sentence(text: str, item: QAItem) -> str:
    """The sentence of `text` that states the answer (best question overlap), else the closest one."""
    sentences = [text[s:e] for s, e in split_sentences(text)] or [text]
    answer = normalize_answer(item.answers[0])

    def score(sentence: str) -> tuple[bool, int]:
        return answer in normalize_answer(sentence), _overlap(sentence, f"{item.question} {item.answers[0]}")

    return max(sentences, key=score)


def _question_row(item: QAItem, prompt: list[dict[str, str]], completion: str) -> Row:
    return {
        "id": item.id,
        "prompt": prompt,
        "completion": formats.assistant(completion),
        "question": item.question,
        "answers": item.answers,
        "doc_ids": item.doc_ids,
        "source": item.source,
    }


def _answer(item: QAItem, ctx: BuildContext) -> str:
    """The first gold answer in the configured form."""
    docs = ctx.corpus.docs
    title = next((docs[d].title for d in item.doc_ids if d in docs), "")
    return ctx.config.answer_template.format(answer=item.answers[0], title=title)


def qa_rows(items: list[QAItem], name: str, ctx: BuildContext) -> list[Row]:
    """Closed book: the question alone; the completion is the first gold answer in the configured form."""
    rows = [_question_row(item, formats.closed_book_prompt(item.question), _answer(item, ctx)) for item in items]
    ctx.rng.shuffle(rows)
    return rows


def raft_rows(items: list[QAItem], name: str, ctx: BuildContext) -> list[Row]:
    """RAFT: the oracle chunk (kept with probability p in training, always in validation) among k
    distractors; with `ctx.retrieved` the asking arm's own retrieval and prompt (`retrieved_raft_rows`),
    else distractors sampled from the corpus, shuffled, and a completion that quotes the oracle and ends with
    the answer line.

    Training distractors come from training documents only, so no validation text is ever trained on.
    """
    if ctx.retrieved is not None:
        return retrieved_raft_rows(items, name, ctx)
    corpus, rng = ctx.corpus, ctx.rng
    pool_docs = ctx.split["train"] if name == "train" else set(corpus.docs)
    rows = []
    for item in items:
        oracle = oracle_chunk(item, corpus)
        if oracle is None:
            ctx.skipped["raft_no_oracle_chunk"] += 1
            continue
        pool = [c for d in sorted(pool_docs - set(item.doc_ids)) for c in corpus.docs[d].chunks]
        context = rng.sample(pool, min(ctx.config.raft_distractors, len(pool)))
        kept = name != "train" or rng.random() < ctx.config.raft_oracle_p
        if kept:
            context.append(oracle)
        rng.shuffle(context)
        hits = [Hit(c, 0.0, corpus.docs[c.doc_id].title, corpus.docs[c.doc_id].source) for c in context]
        block = context.index(oracle) + 1 if kept else None
        completion = formats.raft_completion(supporting_sentence(oracle.text, item), item.answers[0], block)
        row = _question_row(item, formats.raft_prompt(item.question, hits), completion)
        rows.append({**row, "oracle_in_context": kept, "context_ids": [c.id for c in context]})
    rng.shuffle(rows)
    return rows


def retrieved_raft_rows(items: list[QAItem], name: str, ctx: BuildContext) -> list[Row]:
    """RAFT on the prompt the arm is asked with: its retriever's hits (the oracle kept with probability p in
    training, else its document dropped: `RetrievedContext.hits`), its focus and template; the completion is
    the answer in the configured form, as the arm is scored and as the closed-book rows teach it."""
    assert ctx.retrieved is not None
    docs = ctx.corpus.docs
    allowed = ctx.split["train"] if name == "train" else set(docs)
    rows = []
    for item in items:
        oracle = oracle_chunk(item, ctx.corpus)
        if oracle is None:
            ctx.skipped["raft_no_oracle_chunk"] += 1
            continue
        kept = name != "train" or ctx.rng.random() < ctx.config.raft_oracle_p
        source = docs[oracle.doc_id]
        hits = ctx.retrieved.hits(item.question, Hit(oracle, 0.0, source.title, source.source), kept, allowed)
        row = _question_row(item, ctx.retrieved.prompt(item.question, hits).messages, _answer(item, ctx))
        rows.append({**row, "oracle_in_context": kept, "oracle_id": oracle.id, "context_ids": [h.chunk.id for h in hits]})
    ctx.rng.shuffle(rows)
    return rows


def cpt_rows(items: list[QAItem], name: str, ctx: BuildContext) -> list[Row]:
    """Continued pre-training: the text of every chunk of the split's documents."""
    docs = ctx.corpus.docs
    rows = [
        {"id": chunk.id, "text": formats.cpt_text(docs[d].title, chunk.text), "doc_ids": [d]}
        for d in sorted(ctx.split[name])
        for chunk in docs[d].chunks
    ]
    ctx.rng.shuffle(rows)
    return rows


EXAMPLE_FORMATS: dict[str, RowBuilder] = {"qa": qa_rows, "raft": raft_rows, "cpt": cpt_rows}
