"""RAFT context as a retrieving arm sees it: its retriever, its focus and its template (Zhang et al. 2024).

The pieces are the answering strategy's own (`KBRetriever`, `SentenceFocus`, `PromptBuilder`, the model's
measured defaults), composed as `make_strategy` composes them, so a training row's prompt is the prompt the
arm is asked for the same question and hits. What RAFT changes is the hits:

    oracle kept     the retriever's top k; when it missed the oracle chunk, the oracle replaces the last hit
    oracle dropped  the top k hits of other documents: every chunk of the oracle's document is left out, so
                    the answer must come from what training put into the weights

Searches run as the training groups, and hits of documents the dataset may not show (another split, an
excluded document) are passed over for the next ones.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import tailor.finetune.strategies  # noqa: F401  (registers the hybrid strategy and its template)
from tailor.generate.extractive import ExtractiveReader
from tailor.generate.focus import SentenceFocus
from tailor.generate.prompts import Prompt, PromptBuilder, bare_question
from tailor.generate.strategies import STRATEGIES, AskConfig, Focus, KBRetriever, with_model_defaults
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Hit


@dataclass
class RetrievedContext:
    kb: KnowledgeBase
    prompts: PromptBuilder
    top_k: int
    mode: str | None
    groups: tuple[str, ...]
    focus: Focus | None = None
    settings: dict[str, Any] | None = None  # what the card records of the prompt

    @classmethod
    def for_arm(cls, config: AskConfig, kb: KnowledgeBase, groups: Sequence[str]) -> RetrievedContext:
        """The context of the arm `config` describes (its generator names the model whose defaults apply)."""
        config = with_model_defaults(config)
        if not STRATEGIES[config.strategy].retrieves:
            raise ValueError(f"strategy {config.strategy!r} retrieves nothing: RAFT context needs a retrieving arm")
        retriever = KBRetriever(kb, config.top_k, config.mode)
        focus = None
        if config.focus_sentences:
            focus = SentenceFocus(ExtractiveReader(retriever.embedder), config.focus_sentences, config.focus_window)
        template = config.template or STRATEGIES[config.strategy].template
        settings = {"strategy": config.strategy, "template": template, "top_k": config.top_k, "mode": config.mode,
                    "focus_sentences": config.focus_sentences or 0, "focus_window": config.focus_window,
                    "groups": list(groups)}
        return cls(kb, PromptBuilder(template), config.top_k, config.mode, tuple(groups), focus, settings)

    def hits(self, question: str, oracle: Hit, keep: bool, allowed: Collection[str]) -> list[Hit]:
        """The context of one row: the oracle kept (`keep`) or its document dropped; only `allowed` documents.
        A multiple-choice question is searched for without its options, as the arm searches."""
        own = oracle.chunk.doc_id
        k = self.top_k
        while True:
            found, _ = KBRetriever(self.kb, k, self.mode).run(bare_question(question), self.groups)
            usable = [h for h in found if h.chunk.doc_id in allowed]
            others = [h for h in usable if h.chunk.doc_id != own]
            if len(others) >= self.top_k or len(found) < k:
                break
            k *= 2
        if not keep:
            return others[: self.top_k]
        shown = usable[: self.top_k]
        if any(h.chunk.id == oracle.chunk.id for h in shown):
            return shown
        return shown[: self.top_k - 1 if len(shown) >= self.top_k else None] + [oracle]

    def prompt(self, question: str, hits: list[Hit]) -> Prompt:
        """The arm's prompt for these hits (`PipelineStrategy._prompt`: focused first when it focuses; only the
        prompt shows a multiple-choice question's options, retrieval and focus read it bare)."""
        if not (self.focus and hits):
            return self.prompts.build(question, hits)
        return self.prompts.build(question, self.focus(bare_question(question), hits).hits)
