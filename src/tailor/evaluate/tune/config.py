"""What `tailor tune` is given: the compare configuration it tunes, the arms, the budget, the split."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.splits import QuestionSplit

TunedArm = Literal["rag", "finetuned", "hybrid"]
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


class Budget(BaseModel):
    """How much searching an arm gets: a number of trials, or minutes of trials (resumed runs count theirs)."""

    model_config = ConfigDict(extra="forbid")

    trials: int | None = Field(None, ge=1)
    seconds: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one(self) -> Budget:
        if (self.trials is None) == (self.seconds is None):
            raise ValueError("a budget is a number of trials or a time, e.g. 30 or 20m")
        return self

    @classmethod
    def parse(cls, text: str) -> Budget:
        """'30' (trials), '20m', '90s', '1.5h'."""
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
        if not found:
            raise ValueError(f"--budget {text!r}: give trials (30) or a time (20m, 90s, 1h)")
        number, unit = found.groups()
        if not unit:
            return cls(trials=int(float(number)))
        return cls(seconds=float(number) * UNITS[unit])

    def share(self, parts: int) -> Budget:
        """One arm's part when `parts` arms share the budget."""
        if self.trials is not None:
            return Budget(trials=max(1, self.trials // parts))
        assert self.seconds is not None
        return Budget(seconds=self.seconds / parts)

    def describe(self) -> str:
        return f"{self.trials} trials" if self.trials is not None else f"{self.seconds / 60:g} min"


class TuneConfig(BaseModel):
    """Everything `tailor tune` needs; `compare` is the configuration whose arms are tuned."""

    model_config = ConfigDict(extra="forbid")

    compare: CompareConfig
    out: Path = Field(Path("out/tune"), description="Study, caches, report.html, tune.json, settings/")
    arms: list[TunedArm] = Field(
        default_factory=list, description="Arms searched, in this order; none given: rag and finetuned (documents), "
        "rag and hybrid (an examples folder: k and the demonstration format)",
    )
    budget: Budget = Field(default_factory=lambda: Budget(seconds=1200.0), description="Shared by the arms")
    rag_share: float = Field(
        0.75, gt=0, lt=1, description="Part of a shared budget the rag arm gets (a fine-tune trial costs minutes)"
    )
    early_stop_fraction: float = Field(
        0.5, ge=0, lt=1, description="A trial first answers this share of the dev questions and stops when a "
        "finished trial beats it beyond its CI at no more latency and cost; 0: never stop early",
    )
    reranker: str | None = Field(None, description="CrossEncoder id or path: adds rerank on/off to the space")
    sampler_seed: int = 0

    @model_validator(mode="after")
    def _arms(self) -> TuneConfig:
        examples = self.compare.examples is not None
        if not self.arms:
            self.arms = ["rag", "hybrid"] if examples else ["rag", "finetuned"]
        if "hybrid" in self.arms and not examples:
            raise ValueError("the hybrid arm is tuned on an examples folder only (its k and demonstration format)")
        return self

    @property
    def split(self) -> QuestionSplit:
        """The compare configuration's by-document split (its defaults when it has none)."""
        return self.compare.question_split or QuestionSplit()

    def arm_budget(self, arm: TunedArm) -> Budget:
        if len(self.arms) == 1:
            return self.budget
        if self.budget.trials is not None:
            return self.budget.share(len(self.arms))
        assert self.budget.seconds is not None
        share = self.rag_share if arm == "rag" else (1 - self.rag_share) / (len(self.arms) - 1)
        return Budget(seconds=self.budget.seconds * share)
