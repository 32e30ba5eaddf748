"""The extractive reader: the offline default. No LLM; it quotes the retrieved sentence(s) that best
answer the question, with exact document spans, and abstains when it is probably wrong.

Nothing is embedded at question time (the question's vector is the retriever's): sentences are
compared with the question through stemmed terms and word-piece vectors (`WordPieces`), and the
passage through the retriever's dense score. Two small linear models, both fit on the calibration
half of SQuAD v2 (articles 0-7) by `benchmarks/squad_extractive.py --calibrate`
(docs/decisions/0005-extractive-reader.md):

- ranking, a conditional logit (softmax over the sentences of the top hits) on the IDF-weighted
  recall of the question's terms in the sentence and in its ±1 window, the reciprocal rank of the
  hit, the word-piece soft match, and an answer-type cue (a how-many question wants a number, a
  when question a date, who/where a name);
- confidence, a logistic model on the best sentence: the question's cosine with its passage, its
  share of the ranking softmax, its recall and window recall, and four mismatch flags (a negated
  question, a number or a name of the question missing from the passage, a word of the question
  turned into its opposite in the sentence: `antonyms.py`). Below `abstain_below` the reader says
  it does not know.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator as PyGenerator
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from tailor.generate.antonyms import flips_a_word, words
from tailor.generate.prompts import Prompt
from tailor.generate.readers import Reading
from tailor.generate.sentences import (
    WordPieces,
    content_terms,
    idf_weights,
    soft_matches,
    split_sentences,
    unseen_weight,
    weighted_recall,
)
from tailor.kb.embedding import Embedder
from tailor.records import Citation, Hit

ABSTAIN_TEXT = "I don't know: the knowledge base does not seem to contain the answer."
RANKING = {"recall": 2.94, "context": 1.96, "rank": 2.16, "soft_match": 2.61, "answer_type": 0.73}
CONFIDENCE = {
    "bias": -2.84,
    "passage_cosine": 2.28,
    "share": 1.8,
    "recall": 0.77,
    "context": -0.64,
    "negation": -2.03,
    "number": -0.87,
    "name": -0.61,
    "antonym": -0.67,
}
ABSTAIN_BELOW = 0.28  # the threshold closest to both targets on the calibration half
_NEGATION = re.compile(r"\b(not|never|no|none|nothing|nobody|neither|nor|without|cannot)\b|n't\b", re.I)
_NUMBER = re.compile(r"\d+")
_NAME = re.compile(r"\b[A-Z][\w-]+")
_PIECE = re.compile(r"\S+\s*")
# What a question asks for, by its wording, and what in a sentence can be that answer; first match wins.
_NUMERAL = (
    r"\b\d[\d,.]*\b|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty"
    r"|forty|fifty|hundred|thousand|million|billion|dozen|half|percent)\b"
)
_DATE = (
    r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b(january|february|march|april|may|june|july|august|september"
    r"|october|november|december)\b|\bcentur(y|ies)\b|\b\d+(st|nd|rd|th)\b"
)
_NAME_INSIDE = r"(?<!^)\b[A-Z][\w-]+"  # a capitalised word that does not open the sentence
ANSWER_TYPES: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "number": (
        re.compile(
            r"\bhow (many|much|long|old|far|large|big|often|tall|high|fast)\b"
            r"|\bwhat (percentage|percent|number|amount|proportion)\b",
            re.I,
        ),
        re.compile(_NUMERAL, re.I),
    ),
    "date": (
        re.compile(
            r"\bwhen\b|\b(what|which|in what) (year|century|decade|date|month|day|time|period|era)\b", re.I
        ),
        re.compile(_DATE, re.I),
    ),
    "person": (re.compile(r"\bwho(m|se)?\b", re.I), re.compile(_NAME_INSIDE)),
    "place": (
        re.compile(r"\bwhere\b|\b(what|which) (country|city|state|region|continent)\b", re.I),
        re.compile(_NAME_INSIDE),
    ),
}


class AnswerTypeCue:
    """+1 for a sentence that has the kind of answer the question asks for (a number, a date, a name)
    and the question does not; -1 for one that has none; 0 for every sentence of other questions."""

    def __init__(self, question: str) -> None:
        self.answers = next((a for asks, a in ANSWER_TYPES.values() if asks.search(question)), None)
        self.question_words = {w.lower() for w in re.findall(r"\w+", question)}

    def __call__(self, sentence: str) -> float:
        if self.answers is None:
            return 0.0
        found = (m.group().lower() not in self.question_words for m in self.answers.finditer(sentence))
        return 1.0 if any(found) else -1.0


@dataclass(frozen=True)
class AnalysedSentence:
    """What the reader derives from a chunk's text alone, for one of its sentences."""

    start: int
    end: int
    terms: tuple[str, ...]
    context: tuple[str, ...]  # the terms of the sentence and its two neighbours
    pieces: np.ndarray  # content word-piece ids


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


def rank(candidates: Sequence[Candidate], weights: dict[str, float] = RANKING) -> list[Candidate]:
    """Score each candidate with `weights` and sort them, best first."""
    for candidate in candidates:
        candidate.score = sum(w * candidate.features[name] for name, w in weights.items())
    return sorted(candidates, key=lambda c: -c.score)


def confidence(features: dict[str, float]) -> float:
    """Probability that the best-ranked sentence holds the answer (logistic, fit on SQuAD v2)."""
    z = CONFIDENCE["bias"] + sum(CONFIDENCE[name] * value for name, value in features.items())
    return 1.0 / (1.0 + math.exp(-z))


class ExtractiveReader:
    """Picks answer sentences from hits; embeds nothing unless a hit lacks its dense score (bm25 mode)."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        abstain_below: float = ABSTAIN_BELOW,
        max_chunks: int = 5,
        max_sentences: int = 1,
        min_words: int = 3,
        pieces: WordPieces | None = None,
    ) -> None:
        self.embedder = embedder
        self.abstain_below = abstain_below
        self.max_chunks = max_chunks
        self.max_sentences = max_sentences
        self.min_words = min_words
        self.pieces = pieces or WordPieces.default()
        # A chunk's text is read again whenever it is retrieved again: what depends on it alone is kept.
        self._analysed = lru_cache(maxsize=4096)(self._analyse)

    def extract(self, question: str, hits: Sequence[Hit]) -> Extract:
        """The best sentence(s) of the first `max_chunks` hits, or an abstention."""
        candidates = self.candidates(question, hits)
        if not candidates:
            return Extract([], 0.0, abstained=True)
        sure = confidence(self.confidence_features(question, candidates))
        if sure < self.abstain_below:
            return Extract([], sure, abstained=True)
        return Extract(candidates[: self.max_sentences], sure, abstained=False)

    def read(self, question: str, prompt: Prompt) -> Reading:
        return self._reading(self.extract(question, prompt.hits))

    def read_batch(self, questions: Sequence[str], prompts: Sequence[Prompt]) -> list[Reading]:
        return [self.read(q, p) for q, p in zip(questions, prompts, strict=True)]

    def stream(self, question: str, prompt: Prompt) -> PyGenerator[str, None, Reading]:
        """Yield the answer text word by word; the generator returns the Reading."""
        extract = self.extract(question, prompt.hits)
        yield from _PIECE.findall(extract.text)
        return self._reading(extract)

    @staticmethod
    def _reading(extract: Extract) -> Reading:
        return Reading(text=extract.text, citations=extract.citations(), abstained=extract.abstained)

    def candidates(self, question: str, hits: Sequence[Hit]) -> list[Candidate]:
        """Every sentence worth reading in the first `max_chunks` hits, with its features, best first."""
        pool = self._pool(hits[: self.max_chunks])
        if not pool:
            return []
        question_terms = content_terms(question)
        idf = idf_weights(sentence.terms for _, sentence in pool)
        unseen = unseen_weight(len(pool))
        (question_pieces,) = self.pieces.rows([question])
        soft = soft_matches(question_pieces, [self.pieces.vectors[sentence.pieces] for _, sentence in pool])
        answer_type = AnswerTypeCue(question)
        for (candidate, sentence), match in zip(pool, soft, strict=True):
            candidate.features = {
                "recall": weighted_recall(question_terms, sentence.terms, idf, unseen),
                "context": weighted_recall(question_terms, sentence.context, idf, unseen),
                "rank": 1.0 / candidate.block,
                "soft_match": match,
                "answer_type": answer_type(candidate.text),
            }
        return rank([c for c, _ in pool])

    def confidence_features(self, question: str, ranked: Sequence[Candidate]) -> dict[str, float]:
        """What the confidence model reads about the best of `ranked` (sorted, scores set)."""
        best = ranked[0]
        scores = np.array([c.score for c in ranked])
        hit = best.hit
        passage = " ".join([hit.doc_title, *hit.chunk.heading_path, hit.chunk.text])  # what was retrieved
        names = _NAME.findall(question)[1:]  # the first capital starts the question
        return {
            "passage_cosine": self._passage_cosine(question, best.hit),
            "share": float(1.0 / np.exp(scores - scores[0]).sum()),
            "recall": best.features["recall"],
            "context": best.features["context"],
            "negation": float(bool(_NEGATION.search(question)) and not _NEGATION.search(best.text)),
            "number": float(any(n not in passage for n in _NUMBER.findall(question))),
            "name": float(any(n.lower() not in passage.lower() for n in names)),
            "antonym": float(flips_a_word(words(question), words(best.text))),
        }

    def _passage_cosine(self, question: str, hit: Hit) -> float:
        """The retriever's dense score; a bm25-only search has none, so the chunk is embedded then."""
        if "dense" in hit.scores:
            return hit.scores["dense"]
        return float(self.embedder.embed_documents([hit.chunk.text])[0] @ self.embedder.embed_query(question))

    def _pool(self, hits: Sequence[Hit]) -> list[tuple[Candidate, AnalysedSentence]]:
        """Every sentence of the hits worth reading, once (overlapping chunks repeat sentences)."""
        pool = []
        seen: set[tuple[str, int, int]] = set()
        for block, hit in enumerate(hits, start=1):
            for sentence in self._analysed(hit.chunk.text):
                key = (hit.chunk.doc_id, hit.chunk.start + sentence.start, hit.chunk.start + sentence.end)
                if key not in seen:
                    seen.add(key)
                    pool.append((Candidate(block, hit, sentence.start, sentence.end), sentence))
        return pool

    def _analyse(self, text: str) -> tuple[AnalysedSentence, ...]:
        """The sentences of a chunk worth reading, with their terms, their window's terms and word pieces."""
        spans = split_sentences(text)
        terms = [content_terms(text[a:b]) for a, b in spans]
        kept = [i for i, (a, b) in enumerate(spans) if len(text[a:b].split()) >= self.min_words]
        pieces = self.pieces.ids([text[a:b] for a, b in (spans[i] for i in kept)])
        return tuple(
            AnalysedSentence(spans[i][0], spans[i][1], tuple(terms[i]),
                             tuple(t for j in range(max(0, i - 1), min(len(spans), i + 2)) for t in terms[j]), ids)
            for i, ids in zip(kept, pieces, strict=True)
        )
