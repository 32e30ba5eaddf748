"""Answering from labelled examples: retrieved train examples shown as demonstrations, or voted on.

A knowledge base of examples holds one document per train example: its text is the example's input and its
metadata's `output` the output the organisation produced. The strategies here reuse the document pipeline
(retrieval as the caller's groups, a template, a reader) with the example templates:

    closed_book  examples_closed_book    the input alone, with the label set when there is one
    rag          examples_demonstrations the k most similar train examples as input/output pairs, then the input
    finetuned    examples_finetuned      the input alone (the adapter learnt the outputs; trained on this prompt)
    hybrid       examples_demonstrations the rag prompt read by an adapter trained on that very prompt

The extractive analogue reads no prompt: `NearestExampleReader` answers with the output of the nearest
train example, or for labels the majority of the k nearest (ties go to the nearer example).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator as PyGenerator
from collections.abc import Sequence
from dataclasses import dataclass

from tailor.generate.base import GenerationConfig
from tailor.generate.citations import CitationChecker
from tailor.generate.prompts import Prompt, PromptBuilder, neutralise
from tailor.generate.readers import LLMReader, Reader, Reading
from tailor.generate.registry import FACTORIES, make_generator
from tailor.generate.strategies import AskConfig, KBRetriever, PipelineStrategy, Strategy
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Hit

EXAMPLE_TEMPLATES = {
    "closed_book": "examples_closed_book",
    "rag": "examples_demonstrations",
    "finetuned": "examples_finetuned",
    "hybrid": "examples_demonstrations",
}
MAX_LABEL_CHARS = 4000
"""A label set longer than this is left out of the closed-book prompt (it would crowd out the input)."""
OUTPUT_KEY = "output"
"""The metadata field of an example document that holds its output."""


@dataclass(frozen=True)
class Demonstration:
    """What the template sees of one retrieved example: its number, input and output, fence-safe."""

    n: int
    input: str
    output: str


@dataclass(frozen=True)
class DemonstrationPrompt(Prompt):
    """A prompt and the train examples it shows (the kNN reader votes on their outputs)."""

    demonstrations: tuple[Demonstration, ...] = ()


def shown_labels(labels: Sequence[str] | None) -> list[str]:
    """The label set as the closed-book prompt lists it; empty when there is none or it does not fit."""
    if not labels or sum(len(label) + 2 for label in labels) > MAX_LABEL_CHARS:
        return []
    return list(labels)


class DemonstrationPrompts:
    """Renders an example template for an input and its retrieved train examples (deduplicated by example)."""

    def __init__(self, template: str, kb: KnowledgeBase | None = None, labels: Sequence[str] | None = None) -> None:
        self.builder = PromptBuilder(template)
        self.kb = kb
        self.labels = shown_labels(labels)

    def demonstrations(self, hits: Sequence[Hit]) -> tuple[list[Hit], tuple[Demonstration, ...]]:
        """The hits of distinct examples, nearest first, and the examples they stand for."""
        kept: list[Hit] = []
        shown: list[Demonstration] = []
        seen: set[str] = set()
        for hit in hits:
            doc_id = hit.chunk.doc_id
            document = self.kb.document(doc_id, groups=None) if self.kb is not None and doc_id not in seen else None
            if document is None or OUTPUT_KEY not in document.metadata:
                continue
            seen.add(doc_id)
            kept.append(hit)
            shown.append(Demonstration(len(shown) + 1, neutralise(document.text),
                                       neutralise(str(document.metadata[OUTPUT_KEY]))))
        return kept, tuple(shown)

    def build(self, question: str, hits: list[Hit]) -> DemonstrationPrompt:
        kept, shown = self.demonstrations(hits)
        # The nearest example goes last, next to the input it resembles most.
        user = self.builder._render("user", {"question": neutralise(question), "demonstrations": list(reversed(shown)),
                                         "labels": self.labels})
        messages = [{"role": "system", "content": self.builder.system}, {"role": "user", "content": user}]
        return DemonstrationPrompt(messages=messages, hits=kept, demonstrations=shown)  # type: ignore[arg-type]


class NearestExampleReader:
    """The judge-free floor: the output of the nearest train example, or the k nearest's majority label."""

    name = "knn"

    def __init__(self, vote: bool) -> None:
        self.vote = vote

    def read(self, question: str, prompt: Prompt) -> Reading:
        shown = getattr(prompt, "demonstrations", ())
        if not shown:
            return Reading(text="I don't know.", abstained=True)
        if not self.vote:
            return Reading(text=shown[0].output)
        counts = Counter(d.output for d in shown)
        top = max(counts.values())
        return Reading(text=next(d.output for d in shown if counts[d.output] == top))

    def read_batch(self, questions: Sequence[str], prompts: Sequence[Prompt]) -> list[Reading]:
        return [self.read(q, p) for q, p in zip(questions, prompts, strict=True)]

    def stream(self, question: str, prompt: Prompt) -> PyGenerator[str, None, Reading]:
        reading = self.read(question, prompt)
        yield reading.text
        return reading


def example_reader(config: AskConfig, kb: KnowledgeBase, labels: Sequence[str] | None) -> Reader:
    """kNN for the extractive generator, else the LLM of the generator spec (with its adapter)."""
    kind = config.generator.partition(":")[0]
    if kind == "extractive":
        return NearestExampleReader(vote=bool(labels))
    if kind not in FACTORIES:
        raise ValueError(f"unknown generator {config.generator!r}")
    generator = make_generator(config.generator, adapter=config.adapter, model=config.model,
                               quantize=config.quantize, batch_size=config.batch_size)
    checker = CitationChecker(kb.embedder, threshold=config.support_threshold)
    generation = GenerationConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature)
    return LLMReader(generator, checker, generation)


def example_strategy(config: AskConfig, kb: KnowledgeBase, labels: Sequence[str] | None) -> Strategy:
    """The strategy `config.strategy` over a knowledge base of train examples."""
    if config.strategy not in EXAMPLE_TEMPLATES:
        raise ValueError(f"unknown strategy {config.strategy!r} for examples; known: {', '.join(EXAMPLE_TEMPLATES)}")
    retrieves = config.strategy in ("rag", "hybrid")
    template = config.template or EXAMPLE_TEMPLATES[config.strategy]
    return PipelineStrategy(
        name=config.strategy,
        reader=example_reader(config, kb, labels),
        prompts=DemonstrationPrompts(template, kb if retrieves else None,  # type: ignore[arg-type]
                                     labels if config.strategy == "closed_book" else None),
        retriever=KBRetriever(kb, config.top_k, config.mode) if retrieves else None,
    )
