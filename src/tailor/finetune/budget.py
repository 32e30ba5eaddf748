"""How long training will take, a cap on it, and the threads it runs on.

    threads   `training_threads`: the cores this process may use (CPU affinity, the cgroup's CPU
              quota, OMP_NUM_THREADS), shared by the processes of one machine; never more than
              torch already uses
    plan      before the first step: rows, tokens, epochs and steps are printed
    warm-up   the first WARMUP_STEPS optimizer steps are timed (they are real training steps); from
              their rate the whole run is estimated and printed
    budget    `budget_minutes`: when the estimate is over it, the run is cut to the steps that fit
              (fewer epochs), the learning-rate schedule is refitted to end there, and a wall-clock
              check stops it at the budget whatever the estimate said; `record` says what happened,
              for the adapter's manifest
    epochs    a line per epoch with the elapsed time and an ETA, whether stdout is a terminal or a file
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import (
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
    get_scheduler,
)

WARMUP_STEPS = 4  # the first step pays for allocation and tracing; steps 2..4 give the rate
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


def cgroup_cpu_limit(path: Path = CGROUP_CPU_MAX) -> int | None:
    """Cores the cgroup's CPU quota allows (rounded up), or None without a quota or a readable file."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def process_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process can run on: its CPU affinity, capped by the cgroup's quota."""
    cores = len(os.sched_getaffinity(0))
    quota = cgroup_cpu_limit(cpu_max)
    return min(cores, quota) if quota else cores


def training_threads(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """Set torch's threads to this process's share of the cores it may use, and return it.

    The processes of one machine (LOCAL_WORLD_SIZE under torchrun) share its cores; OMP_NUM_THREADS,
    when set, is a further cap; and a count torch was already given (torch.set_num_threads) is never raised.
    """
    share = max(1, process_cores(cpu_max) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        share = min(share, max(1, int(os.environ["OMP_NUM_THREADS"])))
    threads = min(share, torch.get_num_threads())
    torch.set_num_threads(threads)
    return threads


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class TimeBudgetCallback(TrainerCallback):
    """Prints the plan, the warm-up estimate and a line per epoch; holds the run to `budget_minutes`."""

    def __init__(self, trainer: Trainer, rows: int, budget_minutes: float | None, threads: int,
                 say: Callable[[str], None]) -> None:
        self.trainer = trainer
        self.rows = rows
        self.budget_s = budget_minutes * 60 if budget_minutes else None
        self.threads = threads
        self.say = say
        self.record: dict[str, Any] = {"budget_minutes": budget_minutes, "threads": threads, "stopped_by": None}
        self.started = time.perf_counter()
        self.first_step = 0
        self.warm_from: float | None = None
        self.cap: int | None = None

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self.started = time.perf_counter()
        self.first_step = state.global_step
        tokens = sum(len(ids) for ids in self.trainer.train_dataset["input_ids"])
        epochs = args.num_train_epochs if args.max_steps <= 0 else state.max_steps / self._steps_per_epoch(state)
        self.record.update(rows=self.rows, tokens=tokens, planned_epochs=round(epochs, 2), planned_steps=state.max_steps)
        budget = f"; budget {self.budget_s / 60:g} min" if self.budget_s else ""
        self._say(state, f"training: {self.rows:,} rows, {tokens:,} tokens a pass, {epochs:g} epochs = "
                         f"{state.max_steps:,} steps on {self.threads} thread(s){budget}; timing the first steps")

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        done = state.global_step - self.first_step
        if done == 1:
            self.warm_from = time.perf_counter()
        elif done == WARMUP_STEPS and self.warm_from is not None:
            self._estimate(state, (time.perf_counter() - self.warm_from) / (WARMUP_STEPS - 1))
        if self.cap is not None and state.global_step >= self.cap:
            control.should_training_stop = True
            self.record["stopped_by"] = "estimate"
        elif self.budget_s and time.perf_counter() - self.started >= self.budget_s:
            control.should_training_stop = True
            self.record["stopped_by"] = "wall_clock"

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        elapsed = time.perf_counter() - self.started
        end = self.cap or state.max_steps
        done = max(1, state.global_step - self.first_step)
        eta = elapsed / done * max(0, end - state.global_step)
        self._say(state, f"epoch {state.epoch:.2f}: step {state.global_step:,}/{end:,}, {_duration(elapsed)} elapsed, "
                         f"ETA {_duration(eta)}")

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self.record.update(steps=state.global_step, epochs=round(state.epoch or 0.0, 2),
                           seconds=round(time.perf_counter() - self.started, 1))
        if self.record["stopped_by"]:
            self._say(state, f"stopped by the {self.budget_s / 60:g}-minute budget after {self.record['epochs']:g} of "
                             f"{self.record['planned_epochs']:g} epochs ({state.global_step:,} of "
                             f"{self.record['planned_steps']:,} steps)")

    def _estimate(self, state: TrainerState, per_step: float) -> None:
        elapsed = time.perf_counter() - self.started
        total = elapsed + per_step * (state.max_steps - state.global_step)
        self.record.update(seconds_per_step=round(per_step, 3), estimated_seconds=round(total, 1))
        line = f"estimate: {per_step:.2f} s a step, {state.max_steps:,} steps in about {_duration(total)}"
        if self.budget_s and total > self.budget_s:
            fits = state.global_step + int((self.budget_s - elapsed) / per_step)
            self.cap = max(state.global_step, min(fits, state.max_steps))
            self._refit_schedule(self.cap, state.global_step)
            epochs = self.cap / self._steps_per_epoch(state)
            self.record.update(capped_steps=self.cap, capped_epochs=round(epochs, 2))
            line += (f"; over the {self.budget_s / 60:g}-minute budget: training stops after {self.cap:,} steps "
                     f"({epochs:.2f} epochs)")
        self._say(state, line)

    def _refit_schedule(self, steps: int, done: int) -> None:
        """A new learning-rate schedule that ends at `steps`, advanced to where training is."""
        args = self.trainer.args
        schedule = get_scheduler(args.lr_scheduler_type, optimizer=self.trainer.optimizer,
                                 num_warmup_steps=args.get_warmup_steps(steps), num_training_steps=steps,
                                 scheduler_specific_kwargs=args.lr_scheduler_kwargs)
        with warnings.catch_warnings():  # stepping a schedule without an optimizer step is the point here
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(done):
                schedule.step()
        self.trainer.lr_scheduler = schedule

    def _steps_per_epoch(self, state: TrainerState) -> float:
        args = self.trainer.args
        batches = math.ceil(len(self.trainer.train_dataset) / (args.per_device_train_batch_size * args.world_size))
        return max(1.0, batches / args.gradient_accumulation_steps)

    def _say(self, state: TrainerState, line: str) -> None:
        if state.is_world_process_zero:
            self.say(line)
