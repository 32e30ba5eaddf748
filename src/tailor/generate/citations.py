"""Check an LLM answer's [n] citations: map them to context blocks, narrow each to the passage that
supports it best, score that support, and flag what is unsupported or cites a block never given."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from tailor.generate.sentences import (
    content_terms,
    idf_weights,
    split_sentences,
    unseen_weight,
    weighted_recall,
)
from tailor.kb.embedding import Embedder
from tailor.records import Citation, Hit

# [1], [1, 2], [1;2] and runs like [1][2]; block numbers only, so "[sic]" or "[a]" are not markers.
MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+")
_ABSTAIN_START = re.compile(
    r"^\W*(i\s+(do\s+not|don't|cannot|can't)\s+(know|answer|tell|find|say)|unknown\b|no\s+answer\b"
    r"|(the\s+)?(context|documents?|blocks?|sources?)\s+(does|do)\s+not\s+(contain|say|mention|include))"
)
_ABSTAIN_ANYWHERE = re.compile(
    r"\b(i\s+(do\s+not|don't)\s+know|(does|do|is|are)\s+not\s+(contain|mention|include|provide|specif|state|cover)\w*"
    r"|no\s+information\s+(about|on)|not\s+(enough|sufficient)\s+information|cannot\s+be\s+(answered|determined)"
    r"|unable\s+to\s+answer)\b"
)


def is_abstention(text: str) -> bool:
    """Whether an answer says the context lacks the answer ("I don't know" and variants).

    A long answer that mentions a gap somewhere (or carries citations) still counts as an answer.
    """
    plain = text.lower().replace("\u2019", "'").strip()
    if not plain or _ABSTAIN_START.search(plain):
        return True
    return bool(_ABSTAIN_ANYWHERE.search(plain)) and len(plain.split()) <= 25 and not MARKER.search(plain)


def markers(text: str) -> list[int]:
    """Block numbers cited in `text`, in order of appearance, repeats removed."""
    found: list[int] = []
    for match in MARKER.finditer(text):
        for number in re.split(r"[,;]", match.group(1)):
            if int(number) not in found:
                found.append(int(number))
    return found


def answer_sentences(text: str) -> list[str]:
    """Sentences of an answer; markers that open a sentence ("... end. [2] Next") go to the one before."""
    sentences: list[str] = []
    for start, end in split_sentences(text):
        sentence = text[start:end]
        lead = _LEADING_MARKERS.match(sentence)
        if lead and sentences:
            sentences[-1] += " " + lead.group().strip()
            sentence = sentence[lead.end() :].strip()
        if sentence:
            sentences.append(sentence)
    return sentences


@dataclass
class CheckedAnswer:
    """Citations of the valid markers, the block numbers dropped, and the sentences left unsupported."""

    citations: list[Citation] = field(default_factory=list)
    dropped_markers: list[int] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def _claim(sentence: str) -> str:
    """An answer sentence without its markers."""
    return re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", sentence)).strip()


class NLISupport:
    """Entailment probability of a claim given a passage, from a sentence-transformers CrossEncoder."""

    def __init__(self, model: str, device: str | None = None) -> None:
        self.model_id = model
        self.device = device

    @cached_property
    def _model(self):  # noqa: ANN202 - sentence_transformers is imported lazily
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        return CrossEncoder(self.model_id, device=self.device)

    @cached_property
    def _entailment(self) -> int:
        labels = {i: str(label).lower() for i, label in self._model.config.id2label.items()}
        found = [i for i, label in labels.items() if label.startswith("entail")]
        if not found:
            raise ValueError(f"{self.model_id} has no entailment label (labels: {list(labels.values())})")
        return found[0]

    def score(self, pairs: list[tuple[str, str]]) -> list[float]:
        """P(entailment) for each (premise, hypothesis) pair."""
        logits = np.asarray(self._model.predict(pairs, show_progress_bar=False), dtype=np.float64)
        logits = logits.reshape(len(pairs), -1)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return [float(p) for p in probs[:, self._entailment]]


class CitationChecker:
    """Support of each cited claim = mean of IDF-weighted term recall and embedding cosine against the
    best sentence of the cited block (or the NLI entailment probability against the block, when set)."""

    def __init__(self, embedder: Embedder, threshold: float = 0.5, nli: NLISupport | None = None) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.nli = nli

    def check(self, text: str, hits: list[Hit]) -> CheckedAnswer:
        """Citations of every valid marker; invalid markers and sentences without support flagged."""
        sentences = answer_sentences(text)
        claims = [_claim(s) for s in sentences]
        checked = CheckedAnswer()
        cited: list[tuple[int, int]] = []  # (answer sentence, block number)
        for index, sentence in enumerate(sentences):
            for n in markers(sentence):
                if 1 <= n <= len(hits):
                    cited.append((index, n))
                elif n not in checked.dropped_markers:
                    checked.dropped_markers.append(n)
        checked.citations = [self._cite(i, n, hits[n - 1], claims[i]) for i, n in cited]
        if self.nli and checked.citations:
            pairs = [(hits[n - 1].chunk.text, claims[i]) for i, n in cited]
            for citation, prob in zip(checked.citations, self.nli.score(pairs), strict=True):
                citation.support = prob
        for citation in checked.citations:
            citation.supported = citation.support >= self.threshold
        supported = {c.sentence for c in checked.citations if c.supported}
        checked.unsupported = [claim for i, claim in enumerate(claims) if claim and i not in supported]
        return checked

    def attribute(self, text: str, hits: list[Hit]) -> CheckedAnswer:
        """Citations for an answer that carries no markers (small models rarely write them): each sentence
        is cited to the context block whose best passage supports it most, when that support clears the
        threshold; the rest is flagged unsupported, as in `check`."""
        claims = [_claim(s) for s in answer_sentences(text)]
        checked = CheckedAnswer()
        for index, claim in enumerate(claims):
            if not claim or not hits:
                continue
            best = max((self._cite(index, n, hit, claim) for n, hit in enumerate(hits, start=1)),
                       key=lambda c: c.support)
            if best.support >= self.threshold:
                checked.citations.append(best)
        supported = {c.sentence for c in checked.citations}
        checked.unsupported = [claim for i, claim in enumerate(claims) if claim and i not in supported]
        return checked

    def _cite(self, index: int, marker: int, hit: Hit, claim: str) -> Citation:
        chunk = hit.chunk
        spans = split_sentences(chunk.text) or [(0, len(chunk.text))]
        passages = [chunk.text[a:b] for a, b in spans]
        passage_terms = [content_terms(p) for p in passages]
        idf = idf_weights(passage_terms)
        claim_terms = content_terms(claim)
        unseen = unseen_weight(len(passages))
        lexical = np.array([weighted_recall(claim_terms, terms, idf, unseen) for terms in passage_terms])
        vectors = self.embedder.embed_documents([claim, *passages])
        cosine = np.clip(vectors[1:] @ vectors[0], 0.0, 1.0)
        support = 0.5 * lexical + 0.5 * cosine
        best = int(np.argmax(support))
        start, end = spans[best]
        return Citation(
            marker=marker,
            chunk_id=chunk.id,
            doc_id=chunk.doc_id,
            title=hit.doc_title,
            source=hit.doc_source,
            start=chunk.start + start,
            end=chunk.start + end,
            quote=passages[best],
            page=chunk.page,
            sentence=index,
            support=float(support[best]),
        )
