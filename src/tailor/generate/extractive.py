"""The extractive reader: the offline default. No LLM; it quotes the retrieved sentence(s) that best
answer the question, with exact document spans, and abstains when it is probably wrong.

Two small linear models, both fit on the calibration half of SQuAD v2 (articles 0-7) by
`benchmarks/squad_extractive.py --calibrate` (docs/decisions/0005-extractive-reader.md):

- ranking: every sentence of the top hits is scored from its IDF-weighted recall of the question's
  stemmed terms, the same recall over the sentence and its neighbours, the reciprocal rank of its
  hit, and its embedding cosine with the question (a conditional logit: softmax over sentences);
- confidence: the best sentence's probability of holding the answer, from its cosine and recall
  and three mismatch flags (a negated question, a number or a name of the question missing from
  the passage). Below `abstain_below` the reader says it does not know.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Generator as PyGenerator
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tailor.generate.prompts import Prompt
from tailor.generate.readers import Reading
from tailor.generate.sentences import (
    content_terms,
    idf_weights,
    split_sentences,
    unseen_weight,
    weighted_recall,
)
from tailor.kb.embedding import Embedder
from tailor.records import Citation, Hit

ABSTAIN_TEXT = "I don't know: the knowledge base does not seem to contain the answer."
RANKING = {"recall": 3.51, "context": 2.16, "rank": 2.11, "cosine": 2.5}
CONFIDENCE = {
    "bias": -3.04,
    "cosine": 2.92,
    "recall": 1.17,
    "negation": -2.07,
    "number": -0.86,
    "name": -0.37,
}
ABSTAIN_BELOW = 0.28  # maximises sentence accuracy + abstention F1 on the calibration half
_NEGATION = re.compile(r"\b(not|never|no|none|nothing|nobody|neither|nor|without|cannot)\b|n't\b", re.I)
_NUMBER = re.compile(r"\d+")
_NAME = re.compile(r"\b[A-Z][\w-]+")
_PIECE = re.compile(r"\S+\s*")


@dataclass
class Candidate:
    """A sentence of a hit: its block number, span in the chunk, features and ranking score."""

    block: int
    hit: Hit
    start: int
    end: int
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0

    @property
    def text(self) -> str:
        return self.hit.chunk.text[self.start : self.end]


@dataclass
class Extract:
    """The chosen sentences (best first) and the confidence that the first one answers the question."""

    chosen: list[Candidate]
    confidence: float
    abstained: bool

    @property
    def text(self) -> str:
        return ABSTAIN_TEXT if self.abstained else " ".join(f"{c.text} [{c.block}]" for c in self.chosen)

    def citations(self) -> list[Citation]:
        return [
            Citation(
                marker=c.block,
                chunk_id=c.hit.chunk.id,
                doc_id=c.hit.chunk.doc_id,
                title=c.hit.doc_title,
                source=c.hit.doc_source,
                start=c.hit.chunk.start + c.start,
                end=c.hit.chunk.start + c.end,
                quote=c.text,
                page=c.hit.chunk.page,
                sentence=i,
            )
            for i, c in enumerate(self.chosen)
        ]


def confidence_features(question: str, best: Candidate) -> dict[str, float]:
    """What the confidence model reads: the best sentence's cosine and recall, and mismatch flags."""
    passage = best.hit.chunk.text.lower()
    names = _NAME.findall(question)[1:]  # the first capital starts the question
    return {
        "cosine": best.features["cosine"],
        "recall": best.features["recall"],
        "negation": float(bool(_NEGATION.search(question)) and not _NEGATION.search(best.text)),
        "number": float(any(n not in passage for n in _NUMBER.findall(question))),
        "name": float(any(n.lower() not in passage for n in names)),
    }


def confidence(question: str, best: Candidate) -> float:
    """Probability that the best-ranked sentence holds the answer (logistic, fit on SQuAD v2)."""
    features = confidence_features(question, best)
    z = CONFIDENCE["bias"] + sum(CONFIDENCE[name] * value for name, value in features.items())
    return 1.0 / (1.0 + math.exp(-z))


class ExtractiveReader:
    """Picks answer sentences from hits; sentence vectors are cached in memory (LRU) across questions."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        abstain_below: float = ABSTAIN_BELOW,
        max_chunks: int = 5,
        max_candidates: int = 8,
        max_sentences: int = 1,
        min_words: int = 3,
        cache_size: int = 50_000,
    ) -> None:
        self.embedder = embedder
        self.abstain_below = abstain_below
        self.max_chunks = max_chunks
        self.max_candidates = max_candidates
        self.max_sentences = max_sentences
        self.min_words = min_words
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def extract(self, question: str, hits: Sequence[Hit]) -> Extract:
        """The best sentence(s) of the first `max_chunks` hits, or an abstention."""
        candidates = self.candidates(question, hits)
        if not candidates:
            return Extract([], 0.0, abstained=True)
        sure = confidence(question, candidates[0])
        if sure < self.abstain_below:
            return Extract([], sure, abstained=True)
        return Extract(candidates[: self.max_sentences], sure, abstained=False)

    def read(self, question: str, prompt: Prompt) -> Reading:
        return self._reading(self.extract(question, prompt.hits))

    def stream(self, question: str, prompt: Prompt) -> PyGenerator[str, None, Reading]:
        """Yield the answer text word by word; the generator returns the Reading."""
        extract = self.extract(question, prompt.hits)
        yield from _PIECE.findall(extract.text)
        return self._reading(extract)

    @staticmethod
    def _reading(extract: Extract) -> Reading:
        return Reading(text=extract.text, citations=extract.citations(), abstained=extract.abstained)

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """Ranked candidate sentences, best first; only the `max_candidates` best by words are embedded."""
        pool = self._pool(hits[: self.max_chunks])
        if not pool:
            return []
        question_terms = content_terms(question)
        idf = idf_weights(terms for _, terms, _ in pool)
        unseen = unseen_weight(len(pool))
        for candidate, terms, context in pool:
            candidate.features["recall"] = weighted_recall(question_terms, terms, idf, unseen)
            candidate.features["context"] = weighted_recall(question_terms, context, idf, unseen)
            candidate.features["rank"] = 1.0 / candidate.block
        shortlist = sorted((c for c, _, _ in pool), key=lambda c: -self._lexical(c))[: self.max_candidates]
        cosines = self._vectors_for([c.text for c in shortlist]) @ self.embedder.embed_query(question)
        for candidate, cosine in zip(shortlist, cosines, strict=True):
            candidate.features["cosine"] = float(cosine)
            candidate.score = sum(weight * candidate.features[name] for name, weight in RANKING.items())
        return sorted(shortlist, key=lambda c: -c.score)

    @staticmethod
    def _lexical(candidate: Candidate) -> float:
        """The ranking score without its embedding term: what decides which sentences get embedded."""
        return sum(w * candidate.features[name] for name, w in RANKING.items() if name != "cosine")

    def _pool(self, hits: Sequence[Hit]) -> list[tuple[Candidate, list[str], list[str]]]:
        """Every sentence of the hits worth reading, once (overlapping chunks repeat sentences)."""
        pool = []
        seen: set[tuple[str, int, int]] = set()
        for block, hit in enumerate(hits, start=1):
            text = hit.chunk.text
            spans = split_sentences(text)
            terms = [content_terms(text[a:b]) for a, b in spans]
            for i, (start, end) in enumerate(spans):
                key = (hit.chunk.doc_id, hit.chunk.start + start, hit.chunk.start + end)
                if key in seen or len(text[start:end].split()) < self.min_words:
                    continue
                seen.add(key)
                context = [t for j in range(max(0, i - 1), min(len(spans), i + 2)) for t in terms[j]]
                pool.append((Candidate(block, hit, start, end), terms[i], context))
        return pool

    def _vectors_for(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            for text, vector in zip(missing, self.embedder.embed_documents(missing), strict=True):
                self._vectors[text] = vector
        for text in texts:
            self._vectors.move_to_end(text)
        while len(self._vectors) > self._cache_size:
            self._vectors.popitem(last=False)
        return np.stack([self._vectors[t] for t in texts])
