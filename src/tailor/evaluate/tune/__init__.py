"""`tailor tune`: each arm's settings searched on the development questions, the Pareto front of accuracy,
p50 latency and cost, and the chosen settings scored on the held-out questions beside the defaults."""

from tailor.evaluate.tune.config import Budget, TuneConfig
from tailor.evaluate.tune.runner import TuneResult, run_tune

__all__ = ["Budget", "TuneConfig", "TuneResult", "run_tune"]
