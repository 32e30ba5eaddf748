"""Answering strategies: a reader (extractive or an LLM generator), an optional retriever and a template.

Strategies are entries in `STRATEGIES`, chosen by name in `AskConfig`. The fine-tuning work adds
`finetuned` (adapter, no retrieval) and `hybrid` (adapter and retrieval) as one entry each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tailor.base_models import preferred_settings
from tailor.config_files import read_mapping, validate
from tailor.generate.base import GenerationConfig, GeneratorError
from tailor.generate.citations import CitationChecker, NLISupport
from tailor.generate.extractive import ABSTAIN_BELOW, ExtractiveReader
from tailor.generate.focus import Focused, SentenceFocus
from tailor.generate.prompts import Prompt, PromptBuilder, bare_question
from tailor.generate.readers import LLMReader, Reader, Reading
from tailor.generate.registry import FACTORIES, make_generator
from tailor.kb.embedding import Embedder, make_embedder
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Answer, Hit


class AskConfig(BaseModel):
    """How a question is answered; loadable from the `ask:` section of a YAML file, every field a flag."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field("rag", description="Key in STRATEGIES (`tailor strategies` lists them)")
    generator: str = Field(
        "extractive", description="extractive | hf (the bundled smollm2-135m-instruct) | hf:<id, path, .gguf or "
        "short name> | openai:<base_url>#<model>"
    )
    adapter: str | None = Field(None, description="LoRA adapter folder loaded onto an hf: model")
    model: str | None = Field(None, description="Model name for an openai: generator without #<model>")
    top_k: int = Field(5, ge=1, description="Context blocks retrieved: more raises recall and prompt length")
    mode: Literal["dense", "bm25", "hybrid"] | None = Field(None, description="Search mode; None: the KB's")
    template: str | None = Field(
        None, description="Prompt template name or .jinja path; None: the strategy's"
    )
    max_new_tokens: int = Field(256, ge=1, description="Longest LLM answer, in tokens")
    focus_sentences: int | None = Field(
        None, ge=0, description="LLM RAG: give the prompt only the N best sentences of the hits (with neighbours); "
        "small models read short context better. 0: whole chunks; None: the model's measured default, else 0",
    )
    focus_window: int = Field(1, ge=0, description="Neighbouring sentences kept on each side of a focused one")
    focus_abstain_below: float | None = Field(
        None, ge=0, le=1, description="With focus: abstain without generating when the extractive reader's "
        "confidence in the best sentence is below this. None: the model's measured default, else never",
    )
    quantize: Literal["int8", "bf16"] | None = Field(
        None, description="hf: int8 dynamic quantisation of the decoder's Linear layers, or bf16 weights (faster on CPU)"
    )
    batch_size: int = Field(8, ge=1, description="hf: questions generated together when answering many at once")
    temperature: float = Field(0.0, ge=0, description="0 decodes greedily (reproducible answers)")
    abstain_below: float = Field(ABSTAIN_BELOW, ge=0, le=1, description="Extractive: confidence to answer")
    support_threshold: float = Field(0.5, ge=0, le=1, description="LLM citations: support below is flagged")
    nli_model: str | None = Field(None, description="CrossEncoder NLI model for citation support (optional)")

    @classmethod
    def from_file(cls, path: Path) -> AskConfig:
        """The file's `ask:` section, or the whole file when it has none (ConfigFileError names what is wrong)."""
        data = read_mapping(path)
        return validate(cls, data["ask"] if "ask" in data else data, path, "ask" if "ask" in data else None)


Interrupted = Callable[[Answer], None]
Focus = Callable[[str, Sequence[Hit]], Focused]


def _unsure() -> Reading:
    return Reading(text="I don't know.", abstained=True)


class Strategy(Protocol):
    """Answers a question as a set of access groups; `stream` yields text and returns the Answer.

    A stream closed before its end (the client went away) calls `on_close` with the answer as far as it
    went: the text sent, the hits it was given, no citations (they are parsed from the whole text).
    """

    name: str

    def answer(self, question: str, groups: Sequence[str]) -> Answer: ...

    def answer_batch(self, questions: Sequence[str], groups: Sequence[Sequence[str]]) -> list[Answer]: ...

    def stream(
        self, question: str, groups: Sequence[str], on_close: Interrupted | None = None
    ) -> PyGenerator[str, None, Answer]: ...


class QueryMemoEmbedder:
    """An embedder that remembers its recent query vectors (read-only), so that a question is embedded
    once per ask although both the retriever and the reader compare it with text."""

    def __init__(self, inner: Embedder, size: int = 256) -> None:
        self.inner = inner
        self.name = inner.name
        self.embed_query = lru_cache(maxsize=size)(self._embed_query)

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def clear(self) -> None:
        """Forget the remembered queries (the next ask of each question embeds it again)."""
        self.embed_query.cache_clear()

    def _embed_query(self, text: str) -> np.ndarray:
        vector = self.inner.embed_query(text).copy()
        vector.setflags(write=False)
        return vector

    def embed_documents(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        return self.inner.embed_documents(texts, show_progress=show_progress)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return self.inner.token_offsets(text)


class KBRetriever:
    """Top-k hits from a knowledge base, always searched as the caller's groups.

    The knowledge base's retriever is given a `QueryMemoEmbedder` (once), shared as `embedder` with
    the reader: the vectors are the same, only the second embedding of each question is saved.
    """

    def __init__(self, kb: KnowledgeBase, top_k: int = 5, mode: str | None = None) -> None:
        if not isinstance(kb.retriever.embedder, QueryMemoEmbedder):
            kb.retriever.embedder = QueryMemoEmbedder(kb.retriever.embedder)
        self.embedder: Embedder = kb.retriever.embedder
        self.kb = kb
        self.top_k = top_k
        self.mode = mode

    def run(self, question: str, groups: tuple[str, ...]) -> tuple[list[Hit], dict[str, float]]:
        result = self.kb.search(question, k=self.top_k, mode=self.mode, groups=groups)
        rerank = result.timings_ms.get("rerank_ms", 0.0)
        return result.hits, {"retrieve": result.timings_ms["total_ms"] - rerank, "rerank": rerank}


@dataclass
class PipelineStrategy:
    """Retrieve (optionally), render the template, read; time each stage (ms)."""

    name: str
    reader: Reader
    prompts: PromptBuilder
    retriever: KBRetriever | None = None
    focus: Focus | None = None  # narrows the hits the prompt shows (tailor.generate.focus)
    abstain_below: float = 0.0  # with focus: the focus's confidence under which the reader is not asked

    def answer(self, question: str, groups: Sequence[str]) -> Answer:
        run = self._run(question, groups, streaming=False)
        while True:
            try:
                next(run)
            except StopIteration as done:
                return done.value

    def answer_batch(self, questions: Sequence[str], groups: Sequence[Sequence[str]]) -> list[Answer]:
        """Each question as its own groups; the reader reads them together (an LLM generates in batches).
        Each answer's `generate` time is its share of the batch's: the time per question at that throughput."""
        retrieved = []
        for question, caller in zip(questions, groups, strict=True):
            _check_groups(caller)
            retrieved.append(self.retriever.run(bare_question(question), tuple(caller)) if self.retriever
                             else ([], {"retrieve": 0.0, "rerank": 0.0}))
        started = time.perf_counter()
        prompts = [self._prompt(q, hits) for q, (hits, _) in zip(questions, retrieved, strict=True)]
        asked = [i for i, (_, sure) in enumerate(prompts) if sure]
        found = iter(self.reader.read_batch([bare_question(questions[i]) for i in asked], [prompts[i][0] for i in asked]))
        readings = [next(found) if sure else _unsure() for _, sure in prompts]
        share = _ms(started) / max(len(questions), 1)
        answers = []
        for question, (hits, timings), reading in zip(questions, retrieved, readings, strict=True):
            timings = {**timings, "generate": share, "total": timings["retrieve"] + timings["rerank"] + share}
            answers.append(self._answer(question, hits, timings, reading))
        return answers

    def stream(
        self, question: str, groups: Sequence[str], on_close: Interrupted | None = None
    ) -> PyGenerator[str, None, Answer]:
        return self._run(question, groups, streaming=True, on_close=on_close)

    def _run(
        self, question: str, groups: Sequence[str], streaming: bool, on_close: Interrupted | None = None
    ) -> PyGenerator[str, None, Answer]:
        _check_groups(groups)
        hits: list[Hit] = []
        timings = {"retrieve": 0.0, "rerank": 0.0}
        if self.retriever:  # its times leave out loading the embedding model on first use
            hits, timings = self.retriever.run(bare_question(question), tuple(groups))
        started = time.perf_counter()
        prompt, sure = self._prompt(question, hits)
        generating = time.perf_counter()
        if not sure:
            reading = _unsure()
            if streaming:
                yield reading.text
        elif streaming:
            sent: list[str] = []
            try:
                reading: Reading = yield from _sending(self.reader.stream(bare_question(question), prompt), sent)
            except GeneratorExit:
                if on_close is not None:
                    timings["generate"] = _ms(generating)
                    timings["total"] = timings["retrieve"] + timings["rerank"] + _ms(started)
                    on_close(Answer(question=question, text="".join(sent), hits=hits, timings_ms=timings,
                                    strategy=self.name, generator=self.reader.name))
                raise
        else:
            reading = self.reader.read(bare_question(question), prompt)
        timings["generate"] = _ms(generating)
        timings["total"] = timings["retrieve"] + timings["rerank"] + _ms(started)
        return self._answer(question, hits, timings, reading)

    def _prompt(self, question: str, hits: list[Hit]) -> tuple[Prompt, bool]:
        """The prompt, and whether the reader should be asked (False: too unsure, abstain without it). Only the
        prompt shows a multiple-choice question's options; retrieval, focus and the reader read it bare."""
        if not (self.focus and hits):
            return self.prompts.build(question, hits), True
        focused = self.focus(bare_question(question), hits)
        return self.prompts.build(question, focused.hits), focused.confidence >= self.abstain_below

    def _answer(self, question: str, hits: list[Hit], timings: dict[str, float], reading: Reading) -> Answer:
        return Answer(
            question=question,
            text=reading.text,
            citations=reading.citations,
            abstained=reading.abstained,
            hits=hits,
            tokens_in=reading.tokens_in,
            tokens_out=reading.tokens_out,
            timings_ms=timings,
            strategy=self.name,
            generator=self.reader.name,
            dropped_markers=reading.dropped_markers,
            unsupported=reading.unsupported,
        )


def _check_groups(groups: Sequence[str]) -> None:
    if isinstance(groups, str) or not groups:
        raise ValueError("answer as a non-empty sequence of access groups, e.g. ('public',)")


def _sending(pieces: PyGenerator[str, None, Reading], sent: list[str]) -> PyGenerator[str, None, Reading]:
    """`pieces` passed on, each also appended to `sent`."""
    while True:
        try:
            piece = next(pieces)
        except StopIteration as done:
            return done.value
        sent.append(piece)
        try:
            yield piece
        except GeneratorExit:
            pieces.close()
            raise


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0


@dataclass(frozen=True)
class StrategySpec:
    """A named strategy: what it does, its default template, whether it retrieves or needs an adapter."""

    description: str
    template: str
    retrieves: bool
    needs_adapter: bool = False


STRATEGIES: dict[str, StrategySpec] = {
    "closed_book": StrategySpec(
        "The generator alone, no retrieval: what the model knows.", "closed_book", False
    ),
    "rag": StrategySpec(
        "Retrieve top-k chunks for the caller's groups; answer from them with [n] citations.", "rag", True
    ),
}


def _extractive(config: AskConfig, embedder: Embedder) -> Reader:
    if config.adapter:
        raise GeneratorError("an adapter can only be loaded onto an hf: generator")
    return ExtractiveReader(embedder, abstain_below=config.abstain_below)


def _llm(config: AskConfig, embedder: Embedder) -> Reader:
    generator = make_generator(config.generator, adapter=config.adapter, model=config.model,
                               quantize=config.quantize, batch_size=config.batch_size)
    nli = NLISupport(config.nli_model) if config.nli_model else None
    checker = CitationChecker(embedder, threshold=config.support_threshold, nli=nli)
    generation = GenerationConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature)
    return LLMReader(generator, checker, generation)


# Readers by the generator spec's kind: every LLM backend of the generator registry, plus extractive.
READERS: dict[str, Callable[[AskConfig, Embedder], Reader]] = {
    **{kind: _llm for kind in FACTORIES},
    "extractive": _extractive,
}


def make_reader(config: AskConfig, embedder: Embedder) -> Reader:
    kind = config.generator.partition(":")[0]
    if kind not in READERS:
        raise GeneratorError(f"unknown generator {config.generator!r}; kinds: {', '.join(sorted(READERS))}")
    return READERS[kind](config, embedder)


def with_model_defaults(config: AskConfig) -> AskConfig:
    """`config` with the settings measured best for its model (a bundled one) where it leaves them unset."""
    kind, _, target = config.generator.partition(":")
    preferred = preferred_settings(target, config.strategy) if kind == "hf" else {}
    unset = {k: v for k, v in preferred.items() if getattr(config, k) is None}
    return config.model_copy(update=unset) if unset else config


def make_strategy(config: AskConfig, kb: KnowledgeBase | None = None) -> Strategy:
    """The strategy named in `config`, reading from `kb` when it retrieves."""
    spec = STRATEGIES.get(config.strategy)
    if spec is None:
        raise ValueError(f"unknown strategy {config.strategy!r}; known: {', '.join(STRATEGIES)}")
    if spec.retrieves and kb is None:
        raise ValueError(f"strategy {config.strategy!r} retrieves: give it a knowledge base")
    if spec.needs_adapter and not config.adapter:
        raise ValueError(f"strategy {config.strategy!r} needs an adapter")
    config = with_model_defaults(config)
    retriever = KBRetriever(kb, config.top_k, config.mode) if spec.retrieves and kb is not None else None
    embedder = retriever.embedder if retriever else kb.embedder if kb is not None else make_embedder()
    reader = make_reader(config, embedder)
    focus = None
    if retriever and config.focus_sentences and not isinstance(reader, ExtractiveReader):
        focus = SentenceFocus(ExtractiveReader(embedder), config.focus_sentences, config.focus_window)
    abstain_below = config.focus_abstain_below if focus and config.focus_abstain_below is not None else 0.0
    return PipelineStrategy(
        name=config.strategy,
        reader=reader,
        prompts=PromptBuilder(config.template or spec.template),
        retriever=retriever,
        focus=focus,
        abstain_below=abstain_below,
    )
