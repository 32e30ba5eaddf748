"""Reading report.json defensively: every value keeps its JSON pointer, so a bad value is reported by
its place in the file, and every printed number can point back to the value it shows.

Display formats are picked from `FORMATS` by kind; a number is shown rounded, never re-computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any


class ReportError(ValueError):
    """report.json does not have the shape the renderer needs; the message names the field."""


def _money(value: float) -> str:
    """Cents from 1 up; below, 4 decimals or 3 significant digits, whichever shows more (0.0000120)."""
    if abs(value) >= 1 or value == 0:
        return f"{value:.2f}"
    return f"{value:.{max(4, 2 - math.floor(math.log10(abs(value))))}f}"


def _count(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _p_value(value: float) -> str:
    return f"{value:.3f}" if value == 0 or value >= 0.001 else f"{value:.1e}"


# Every format prints a plain decimal (no units, no thousands separators), so the text parses back.
FORMATS: dict[str, Callable[[float], str]] = {
    "rate": lambda v: f"{v:.3f}",
    "signed": lambda v: f"{v:+.3f}",
    "ms": lambda v: f"{v:.1f}",
    "seconds": lambda v: f"{v:.1f}",
    "money": _money,
    "count": _count,
    "p_value": _p_value,
    "decimal": lambda v: f"{v:.2f}",
}


@dataclass(frozen=True)
class Number:
    """One printed number: the exact value from report.json, its display text and where it came from."""

    value: float
    text: str
    source: str  # JSON pointer (RFC 6901) into report.json
    metric: str
    stat: str
    arm: str | None = None
    stage: str | None = None


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95% confidence interval and sample size (any of the last three may be absent)."""

    mean: Number
    low: Number | None
    high: Number | None
    n: Number | None

    @property
    def error_below(self) -> float:
        return max(self.mean.value - self.low.value, 0.0) if self.low else 0.0

    @property
    def error_above(self) -> float:
        return max(self.high.value - self.mean.value, 0.0) if self.high else 0.0


def _pointer_part(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class ReportField:
    """A value of report.json at `path`; a missing key reads as None, a wrong type raises ReportError."""

    value: Any
    path: tuple[str | int, ...] = ()

    @property
    def pointer(self) -> str:
        return "".join("/" + _pointer_part(part) for part in self.path)

    def error(self, expected: str) -> ReportError:
        where = self.pointer or "(top level)"
        return ReportError(f"report.json {where}: expected {expected}, got {type(self.value).__name__}")

    @property
    def present(self) -> bool:
        return self.value is not None

    def field(self, key: str) -> ReportField:
        if self.value is None:
            return ReportField(None, (*self.path, key))
        if not isinstance(self.value, dict):
            raise self.error("an object")
        return ReportField(self.value.get(key), (*self.path, key))

    def entries(self) -> list[tuple[str, ReportField]]:
        """(key, field) pairs of an object, in file order; none when the value is null."""
        if self.value is None:
            return []
        if not isinstance(self.value, dict):
            raise self.error("an object")
        return [(str(key), ReportField(item, (*self.path, str(key)))) for key, item in self.value.items()]

    def elements(self) -> list[ReportField]:
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            raise self.error("a list")
        return [ReportField(item, (*self.path, i)) for i, item in enumerate(self.value)]

    def each(self) -> Iterator[ReportField]:
        """The elements one at a time, from a list or any other iterable (a generator is read once)."""
        if self.value is None:
            return
        if isinstance(self.value, str | bytes | dict) or not isinstance(self.value, Iterable):
            raise self.error("a list")
        for i, item in enumerate(self.value):
            yield ReportField(item, (*self.path, i))

    def text(self, default: str = "") -> str:
        if self.value is None:
            return default
        if isinstance(self.value, str):
            return self.value
        if isinstance(self.value, int | float) and not isinstance(self.value, bool):
            return str(self.value)
        raise self.error("a string")

    def required_text(self) -> str:
        text = self.text()
        if not text:
            raise ReportError(f"report.json {self.pointer}: a non-empty string is required")
        return text

    def texts(self) -> list[str]:
        return [element.text() for element in self.elements()]

    def flag(self) -> bool:
        if self.value is None:
            return False
        if not isinstance(self.value, bool):
            raise self.error("true or false")
        return self.value

    def finite(self) -> float | None:
        """The value, checked to be a number; None when it is null or not finite."""
        if self.value is None:
            return None
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.error("a number")
        return self.value if math.isfinite(self.value) else None

    def number(
        self,
        kind: str,
        metric: str,
        arm: str | None = None,
        stat: str | None = None,
        stage: str | None = None,
    ) -> Number | None:
        """The value as a printed number; None when it is null or not finite (shown as a dash)."""
        value = self.finite()
        if value is None:
            return None
        return Number(
            value=value,
            text=FORMATS[kind](value),
            source=self.pointer,
            metric=metric,
            stat=stat or str(self.path[-1]),
            arm=arm,
            stage=stage,
        )

    def estimate(
        self, metric: str, arm: str | None = None, kind: str = "rate", bound_kind: str = "rate"
    ) -> Estimate | None:
        """A {"mean", "low", "high", "n"} object; None when null or when its mean is not finite."""
        if self.value is None:
            return None
        mean = self.field("mean").number(kind, metric, arm)
        if mean is None:
            if self.field("mean").value is None:
                raise ReportError(f"report.json {self.pointer}: 'mean' is required")
            return None
        return Estimate(
            mean=mean,
            low=self.field("low").number(bound_kind, metric, arm),
            high=self.field("high").number(bound_kind, metric, arm),
            n=self.field("n").number("count", metric, arm),
        )
