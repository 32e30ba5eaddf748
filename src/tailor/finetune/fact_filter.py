"""What the offline writer refuses to turn into a training fact, each refusal under a named reason.

Text converted from articles carries reference markers, licence and header lines, author lists,
URLs, table debris and sentence fragments cut at a chunk's edge. None of it is a fact a reader of the
documents would be asked about, and a cloze over it ("... NHP models [what number] [133]?" -> "132")
teaches the adapter to answer with a citation number. The writer asks each check in turn:

    line      licence_or_header                 the whole line is boilerplate
    sentence  url, doi, author_list,            the sentence is not prose
              table_debris, fragment, no_verb
    answer    bracketed_numeral, bare_number    the span is not an answer a person would give

Reference markers ("[12]", "[3, 4]", "(Smith et al., 2019)") are cut out of a sentence before any
check, so the fact they decorate is kept and no marker becomes an answer. `answer_shapes` describes
the kept answers for the data card (`data_quality`): a set of mostly short numbers and names teaches an adapter to
answer any question with one.
"""

from __future__ import annotations

import random
import re
from typing import Any

from tailor.finetune.qa_records import WriterReport

KEPT_SAMPLE = 8
REASONS = (
    "licence_or_header", "url", "doi", "author_list", "table_debris", "fragment", "no_verb",
    "bracketed_numeral", "bare_number",
)

_LICENCE = re.compile(
    r"©|\(c\)\s*\d{4}|\bcopyright\b|all rights reserved|\blicen[cs]ed? (?:under|to)\b|creative commons|"
    r"\bcc[- ]by\b|open[- ]access article|distributed under the terms|permits unrestricted|"
    r"^\s*(?:received|accepted|published(?: online)?|revised|correspondence|keywords|issn|e-?mail|"
    r"funding|competing interests|conflicts? of interest|author contributions|academic editor|citation)\s*:|"
    r"\bpage \d+ of \d+\b|\bvol\.\s*\d+|\bpp\.\s*\d+",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://|\bwww\.|\b[\w-]+\.(?:com|org|net|edu|gov|io)(?:/|\b)", re.IGNORECASE)
_DOI = re.compile(r"\bdoi\s*:|\b10\.\d{4,9}/\S+", re.IGNORECASE)
_SURNAME = r"[A-Z][a-zA-Z'’-]+"
_AUTHOR_LIST = re.compile(
    rf"(?:{_SURNAME},?\s+(?:[A-Z]\.?\s?){{1,3}}(?:,|;|\s+and\b|\s*&)\s*){{2,}}"  # Smith J, Doe AB, and Lee C
    rf"|(?:(?:[A-Z]\.\s?){{1,3}}{_SURNAME}(?:,|\s+and\b|\s*&)\s*){{2,}}"  # J. Smith, A. B. Doe and C. Lee
    rf"|\b{_SURNAME} et al\b"
)
_REFERENCE_MARKER = re.compile(
    r"\s?\[(?:\d+(?:\s*[,–-]\s*\d+)*|citation needed|[a-z]|note \d+)\]"
    r"|\s?\((?:[A-Z][\w'-]+(?: et al\.?| and [A-Z][\w'-]+)?,? (?:19|20)\d\d[a-z]?(?:[;,] ?)?)+\)"
)
_NUMERIC = re.compile(r"^[\d.,:;%±()+\-–/×x*]*\d[\d.,:;%±()+\-–/×x*]*$")
# Finite verbs a sentence of prose needs at least one of; beyond these, any word in -ed counts.
_AUXILIARIES = frozenset(
    """is are was were be been am has have had do does did can could will would shall should may might must
    isn't aren't wasn't weren't hasn't haven't hadn't doesn't didn't can't cannot won't""".split()
)
_IRREGULAR = frozenset(
    """became began bought brought built came caught chose drove ate fell felt fought found flew forgot gave
    got went grew held hid kept knew laid led left lent lay lost made meant met paid put ran rang rose said
    saw sold sent set shook shot showed shut sang sat slept spoke spent spread stood stole struck swore took
    taught tore told thought threw understood woke wore won wrote fled bore bred fed forbade""".split()
)
_VERB_STEMS = (
    "accept add allow appear apply ask become begin belong bring build call carry cause change choose "
    "claim come consider consist contain continue cost cover create decide define depend describe develop "
    "die do eat employ enable end enter estimate exist expect explain fall feel find follow form get give go "
    "grow happen have hold help include increase indicate involve keep know lead learn leave let lie like "
    "live look lose make mean measure meet move need occur offer open own pay play point produce protect "
    "provide reach read receive reduce refer reflect remain remember report represent require result return "
    "run say see seem sell send serve set show sit speak stand start stay suggest support take talk tell "
    "tend think try turn use vary want win work write"
).split()
VERB_FORMS = frozenset(
    form for stem in _VERB_STEMS for form in (stem, stem + "s", stem + "es", stem.removesuffix("y") + "ies")
)
_NOT_VERBS_IN_ED = frozenset("bed red need seed speed feed hundred kindred sacred naked wicked shed".split())


def strip_reference_markers(sentence: str) -> str:
    """The sentence without "[12]", "[3, 4]", "[citation needed]" or "(Smith et al., 2019)"."""
    return _REFERENCE_MARKER.sub("", sentence).strip()


def line_reason(line: str) -> str | None:
    """Why the whole line is boilerplate rather than content, or None."""
    return "licence_or_header" if _LICENCE.search(line) else None


def sentence_reason(sentence: str, table: bool = False) -> str | None:
    """Why a sentence (reference markers already cut) is no source of facts, or None. A table row is
    structured data: it needs no verb, but a row of mostly numbers is still debris."""
    for reason, pattern in (("url", _URL), ("doi", _DOI), ("author_list", _AUTHOR_LIST)):
        if pattern.search(sentence):
            return reason
    if _is_table_debris(sentence):
        return "table_debris"
    if table:
        return None
    if sentence[:1].islower() or sentence[:1] in ",;:)]-–":
        return "fragment"
    if not has_verb(sentence) and _heading_like(sentence):
        return "no_verb"
    return None


def answer_reason(sentence: str, start: int, end: int, kind: str) -> str | None:
    """Why the span sentence[start:end] of the given kind (offline_qa.SPANS) is no answer, or None."""
    before, after = sentence[:start].rstrip()[-1:], sentence[end:].lstrip()[:1]
    if before and after and before in "([{" and after in ")]}" and kind != "year":
        return "bracketed_numeral" if any(ch.isdigit() for ch in sentence[start:end]) else None
    if kind == "number":
        return "bare_number"
    return None


def has_verb(sentence: str) -> bool:
    """A finite verb among the words: an auxiliary, a common or irregular verb, or a word in -ed."""
    for word in re.findall(r"[A-Za-z']+", sentence):
        lower = word.lower()
        if lower in _AUXILIARIES or lower in _IRREGULAR or lower in VERB_FORMS:
            return True
        if word.islower() and len(word) > 3 and lower.endswith("ed") and lower not in _NOT_VERBS_IN_ED:
            return True
    return False


def _heading_like(sentence: str) -> bool:
    """No closing full stop, or three words in four capitalised: a heading or caption, not a sentence whose
    verb the short list of `has_verb` missed ("Norman names predominate there.")."""
    words = [w for w in sentence.split() if w[:1].isalpha()]
    capitalised = sum(w[:1].isupper() for w in words)
    return not sentence.rstrip("\"')]").endswith((".", "!", "?")) or capitalised > 0.75 * len(words)


def _is_table_debris(sentence: str) -> bool:
    """Mostly numbers, or four numbers in a row: cells of a table flattened into a line."""
    tokens = sentence.replace("|", " ").split()
    numeric = [bool(_NUMERIC.match(t.strip(",;"))) for t in tokens]
    runs = any(all(numeric[i : i + 4]) for i in range(len(numeric) - 3))
    return len(tokens) >= 4 and (runs or sum(numeric) / len(tokens) > 0.5)


def answer_shapes(answers: list[str]) -> dict[str, float | int]:
    """Shares of answers that are a short number (<= 3 words, one a number: "48%", "14 days"), a short name (<= 3 capitalised
    words) or anything else, and the median length in words."""
    if not answers:
        return {"answers": 0, "short_number": 0.0, "short_name": 0.0, "other": 0.0, "median_words": 0}
    counts = {"short_number": 0, "short_name": 0, "other": 0}
    for answer in answers:
        words = answer.split()
        if len(words) <= 3 and any(_NUMERIC.match(w) for w in words):
            counts["short_number"] += 1
        elif len(words) <= 3 and all(w[:1].isupper() or not w[:1].isalpha() for w in words):
            counts["short_name"] += 1
        else:
            counts["other"] += 1
    lengths = sorted(len(a.split()) for a in answers)
    return {"answers": len(answers), **{k: round(v / len(answers), 4) for k, v in counts.items()},
            "median_words": lengths[len(lengths) // 2]}


def data_quality(writer: WriterReport, rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """The data card's account of the training rows: what the writer refused, by reason, with samples;
    a seeded sample of the question rows kept; and the shape of their answers."""
    questions = [row for row in rows if row.get("question") and row.get("answers")]
    kept = random.Random(seed).sample(questions, min(KEPT_SAMPLE, len(questions)))
    return {
        "rejected": dict(sorted(writer.filtered.items(), key=lambda item: -item[1])),
        "rejected_samples": writer.filtered_samples,
        "reference_markers_cut": writer.markers_cut,
        "kept_sample": [{"question": r["question"], "answer": r["answers"][0], "source": r.get("source")} for r in kept],
        "answer_shapes": answer_shapes([row["answers"][0] for row in questions]),
    }
