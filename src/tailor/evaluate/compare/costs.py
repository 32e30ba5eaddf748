"""Cost from measured figures and the configured price table: setup, per 1,000 queries, per update.

    hour price  the GPU-hour price when the run used CUDA, else the CPU-hour price
    setup       ingest time (arms that retrieve) + data build and training time (arms with an adapter)
    queries     mean total latency x 1,000 at the hour price, plus API token prices for openai: arms
    update      re-ingest of the change set (retrieving arms) + retraining (adapter arms): measured when
                the run retrained (--retrain), else the first training time, marked as an estimate
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.config import Prices

SECONDS_PER_HOUR = 3600.0
STAGES = ("retrieve", "rerank", "generate", "total")


def latency_table(timings: Iterable[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """p50, p95 and mean of each stage over answers' `timings_ms`; refusals (no time taken) left out."""
    table = {}
    records = [t for t in timings if t.get("total", 0.0) > 0]
    for stage in STAGES:
        values = [t.get(stage, 0.0) for t in records]
        if values:
            table[stage] = {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
                            "mean": float(np.mean(values))}
    return table


def token_means(counts: Iterable[tuple[int, int]]) -> dict[str, float]:
    """Mean prompt and generated tokens over answers' (tokens_in, tokens_out)."""
    found = np.array(list(counts), dtype=float).reshape(-1, 2)
    return {"in_mean": float(np.mean(found[:, 0])), "out_mean": float(np.mean(found[:, 1]))}


def hour_price(prices: Prices) -> float:
    return prices.gpu_hour if torch.cuda.is_available() else prices.cpu_hour


def arm_costs(plan: ArmPlan, kb: dict[str, Any], latency: dict[str, dict[str, float]], tokens: dict[str, float],
              freshness: dict[str, Any] | None, prices: Prices) -> dict[str, Any]:
    per_hour = hour_price(prices)
    training = (plan.adapter_info or {}).get("training", {})
    train_seconds = float(training.get("wall_clock_s") or 0.0) + float(training.get("data_seconds") or 0.0)
    setup_seconds = (kb.get("ingest_seconds", 0.0) if plan.retrieves else 0.0) + train_seconds
    query_seconds = latency.get("total", {}).get("mean", 0.0) / 1000.0
    api = 0.0
    if plan.generator.startswith("openai:"):
        api = (tokens["in_mean"] * prices.input_per_million + tokens["out_mean"] * prices.output_per_million) / 1e6
    update_seconds, measured = _update_seconds(plan, freshness, train_seconds)
    basis = [f"{per_hour:g} {prices.currency}/hour ({'GPU' if torch.cuda.is_available() else 'CPU'})"]
    if api:
        basis.append("API token prices")
    if not measured and plan.adapter:
        basis.append("update cost estimated from the first training run (no --retrain)")
    return {
        "setup": round(setup_seconds / SECONDS_PER_HOUR * per_hour, 6),
        "setup_seconds": round(setup_seconds, 2),
        "per_1000_queries": round(1000 * (query_seconds / SECONDS_PER_HOUR * per_hour + api), 6),
        "per_update": round(update_seconds / SECONDS_PER_HOUR * per_hour, 6) if update_seconds is not None else None,
        "per_update_seconds": round(update_seconds, 2) if update_seconds is not None else None,
        "per_update_measured": measured,
        "basis": "; ".join(basis),
    }


def _update_seconds(plan: ArmPlan, freshness: dict[str, Any] | None, train_seconds: float) -> tuple[float | None, bool]:
    probe = (freshness or {}).get("arms", {}).get(plan.name)
    if probe and probe["time_to_fresh_measured"]:
        return probe["time_to_fresh_s"], True
    ingest = (freshness or {}).get("rag_update_seconds")
    if plan.adapter:
        return train_seconds + (ingest or 0.0 if plan.retrieves else 0.0), False
    return (ingest, ingest is not None) if plan.retrieves else (0.0, True)
