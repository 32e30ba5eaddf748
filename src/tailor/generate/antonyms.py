"""Word pairs of opposite meaning, for the extractive reader's confidence model.

A question that turns a word of the passage into its opposite ("What did the treaty decrease?" against
"The treaty increased ...") matches that passage almost as well as the real question would: same terms,
and antonyms sit close together in embedding space. Such a question has no answer there. The list is
general English, written for Tailor, not mined from any dataset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PAIRS = """
increase decrease, increased decreased, increases decreases, increase reduce, rise fall, rose fell,
first last, largest smallest, biggest smallest, highest lowest, most least, more less, more fewer,
before after, earliest latest, earlier later, oldest youngest, older younger, maximum minimum,
major minor, win lose, won lost, start end, began ended, begin end, north south, east west,
northern southern, eastern western, above below, upper lower, inside outside, positive negative,
success failure, successful unsuccessful, legal illegal, accept reject, accepted rejected,
allow forbid, allowed banned, private public, strong weak, strongest weakest, long short,
longest shortest, high low, higher lower, early late, best worst, better worse, same different,
common rare, gain loss, gained lost, open close, opened closed, import export, imports exports,
majority minority, internal external, ancient modern, rich poor, wealthy poor, male female,
men women, ally enemy, allies enemies, buy sell, bought sold, lend borrow, agreed disagreed,
support oppose, supported opposed, include exclude, included excluded, top bottom, full empty,
permanent temporary, visible invisible, direct indirect, primary secondary, dependent independent,
true false, correct incorrect, possible impossible, official unofficial, domestic foreign,
heavier lighter, heavy light, faster slower, fast slow, hot cold, warm cool, wet dry, young old,
new old, newer older
"""


def _opposites(pairs: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for pair in pairs.split(","):
        a, b = pair.split()
        found.setdefault(a, set()).add(b)
        found.setdefault(b, set()).add(a)
    return {word: frozenset(others) for word, others in found.items()}


OPPOSITES = _opposites(_PAIRS)
_WORD = re.compile(r"[a-z]+")


def words(text: str) -> frozenset[str]:
    """The lower-cased alphabetic words of a text."""
    return frozenset(_WORD.findall(text.lower()))


def flips_a_word(question: Iterable[str], sentence: frozenset[str]) -> bool:
    """Whether a word of the question is absent from the sentence while one of its opposites is there."""
    return any(word not in sentence and OPPOSITES.get(word, frozenset()) & sentence for word in question)
