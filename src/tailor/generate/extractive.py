"""The extractive reader: the offline default. No LLM; it quotes the retrieved sentence(s) that best
answer the question, with exact document spans, and abstains when no sentence is convincing.

Each candidate sentence (from the top hits) gets four features: embedding cosine with the question,
IDF-weighted recall of the question's stemmed terms in the sentence, the same recall over the
sentence with its neighbours, and the reciprocal rank of its hit. A logistic model over them, fit on
one half of SQuAD v2 (docs/decisions/0005-extractive-reader.md), ranks the sentences and its
probability for the best one is the confidence that the answer is there at all.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Generator as PyGenerator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tailor.generate.prompts import Prompt
from tailor.generate.readers import Reading
from tailor.generate.sentences import content_terms, idf_weights, split_sentences, weighted_recall
from tailor.kb.embedding import Embedder
from tailor.records import Citation, Hit

ABSTAIN_TEXT = "I don't know: the knowledge base does not seem to contain the answer."
# Fit on SQuAD v2 articles 0-7 (calibration half); see the decision record for how and for the numbers.
WEIGHTS = {"cosine": 4.0, "recall": 3.0, "context": 1.0, "rank": 1.0}
BIAS = -4.0
ABSTAIN_BELOW = 0.5
_PIECE = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class Candidate:
    """A sentence of a hit: block number, span in the chunk, and its features and score."""

    block: int
    hit: Hit
    start: int
    end: int
    features: dict[str, float]
    score: float = 0.0

    @property
    def text(self) -> str:
        return self.hit.chunk.text[self.start : self.end]


@dataclass
class Extract:
    """What the reader found: the chosen candidates (best first), or none and `abstained`."""

    chosen: list[Candidate]
    confidence: float
    abstained: bool

    @property
    def text(self) -> str:
        if self.abstained:
            return ABSTAIN_TEXT
        return " ".join(f"{c.text} [{c.block}]" for c in self.chosen)

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
                support=c.score,
            )
            for i, c in enumerate(self.chosen)
        ]


class ExtractiveReader:
    """Picks answer sentences from hits; sentence vectors are cached in memory (LRU) across questions."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        abstain_below: float = ABSTAIN_BELOW,
        max_chunks: int = 5,
        max_candidates: int = 16,
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
        best = candidates[0].score
        if best < self.abstain_below:
            return Extract([], best, abstained=True)
        chosen = [c for c in candidates[: self.max_sentences] if c.score >= self.abstain_below]
        return Extract(chosen, best, abstained=False)

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
        """Scored candidate sentences, best first (at most `max_candidates` are embedded and scored)."""
        pool = self._pool(hits[: self.max_chunks])
        if not pool:
            return []
        question_terms = content_terms(question)
        idf = idf_weights(terms for *_, terms, _ in pool)
        unseen = math.log(1.0 + (len(pool) + 1) / 0.5)
        scored = []
        for block, hit, start, end, terms, context in pool:
            features = {
                "recall": weighted_recall(question_terms, terms, idf, unseen),
                "context": weighted_recall(question_terms, context, idf, unseen),
                "rank": 1.0 / block,
            }
            scored.append(Candidate(block, hit, start, end, features))
        scored.sort(key=lambda c: -(c.features["recall"] + 0.5 * c.features["context"] + 0.1 * c.features["rank"]))
        scored = scored[: self.max_candidates]
        cosines = self._vectors_for([c.text for c in scored]) @ self.embedder.embed_query(question)
        ranked = [
            Candidate(c.block, c.hit, c.start, c.end, {**c.features, "cosine": float(cos)}) for c, cos in zip(scored, cosines, strict=True)
        ]
        ranked = [
            Candidate(c.block, c.hit, c.start, c.end, c.features, _probability(c.features)) for c in ranked
        ]
        return sorted(ranked, key=lambda c: -c.score)

    def _pool(self, hits: Sequence[Hit]) -> list[tuple[int, Hit, int, int, list[str], list[str]]]:
        """Every sentence of the hits worth reading, once (overlapping chunks repeat sentences)."""
        pool = []
        seen: set[tuple[str, int, int]] = set()
        for block, hit in enumerate(hits, start=1):
            spans = split_sentences(hit.chunk.text)
            terms = [content_terms(hit.chunk.text[a:b]) for a, b in spans]
            for i, (start, end) in enumerate(spans):
                key = (hit.chunk.doc_id, hit.chunk.start + start, hit.chunk.start + end)
                if key in seen or len(hit.chunk.text[start:end].split()) < self.min_words:
                    continue
                seen.add(key)
                context = [t for j in range(max(0, i - 1), min(len(spans), i + 2)) for t in terms[j]]
                pool.append((block, hit, start, end, terms[i], context))
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


def _probability(features: dict[str, float]) -> float:
    z = BIAS + sum(WEIGHTS[name] * features[name] for name in WEIGHTS)
    return 1.0 / (1.0 + math.exp(-z))
