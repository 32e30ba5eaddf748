"""Trainer callbacks of the recipe: evaluation by generation, a JSON-lines metrics log, TensorBoard.

(The progress bar is TRL's `RichProgressCallback`; TensorBoard is transformers' own writer, pointed
at a fixed folder.) Only the world's main process writes files or draws.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from accelerate.utils import gather_object
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.integrations import TensorBoardCallback

from tailor.finetune.evaluation import generate_answers, score
from tailor.jsonl import read_jsonl


class GenerationEvalCallback(TrainerCallback):
    """At every evaluation, answer validation questions by greedy generation and score EM / F1.

    The scores are added to the evaluation metrics as `eval_exact_match` and `eval_f1`, so the best
    checkpoint and early stopping (`metric_for_best_model`) can use them, and are logged like any
    other metric. Questions are split across processes and the answers gathered, so under DDP every
    rank computes the same scores and stops at the same step.
    """

    def __init__(self, trainer: Trainer, rows: list[dict[str, Any]], max_new_tokens: int, limit: int | None) -> None:
        self.trainer = trainer
        self.rows = rows
        self.max_new_tokens = max_new_tokens
        self.limit = limit
        self.last: list[dict[str, Any]] = []

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        rows = self.rows[: self.limit] if self.limit else self.rows
        accelerator = self.trainer.accelerator
        model = accelerator.unwrap_model(self.trainer.model)
        with accelerator.split_between_processes(list(range(len(rows)))) as mine:
            answers = generate_answers(
                model,
                self.trainer.processing_class,
                [rows[i]["prompt"] for i in mine],
                max_new_tokens=self.max_new_tokens,
                batch_size=args.per_device_eval_batch_size,
            )
            gathered = gather_object(list(zip(mine, answers, strict=True)))
        predictions = [answer for _, answer in sorted(gathered)]
        scores = {f"eval_{k}": v for k, v in score(predictions, [r["answers"] for r in rows]).items()}
        scores["eval_generated"] = len(rows)
        self.last = [
            {"question": r["question"], "prediction": p, "answers": r["answers"]} for r, p in zip(rows, predictions, strict=True)
        ]
        if metrics is not None:
            metrics.update(scores)
        self.trainer.log(scores)


class JsonlMetricsCallback(TrainerCallback):
    """Appends every log event to a JSON-lines file, tagged with a session id and its elapsed time.

    A resumed run appends a new session to the same file, so the wall-clock of all sessions together
    (`wall_clock_seconds`) is the real cost of the run, interruptions included.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.session = uuid.uuid4().hex[:12]
        self.started = time.time()

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self.started = time.time()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero:
            return
        now = time.time()
        line = {"time": now, "session": self.session, "elapsed_s": round(now - self.started, 3),
                "step": state.global_step, **(logs or {})}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            handle.write(json.dumps(line, default=float) + "\n")


class TensorBoardLogCallback(TensorBoardCallback):
    """transformers' TensorBoard logger, writing into `folder` instead of a new `runs/<date_host>` per session.

    A resumed run adds its event file to the same folder, so TensorBoard shows one curve over all
    sessions. transformers closes its writer when training ends and opens a new one for the final
    evaluation; `close` ends that one too, before the folder is published.
    """

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.logging_dir = str(folder)

    def close(self) -> None:
        if self.tb_writer is not None:
            self.tb_writer.close()
            self.tb_writer = None


def wall_clock_seconds(path: Path) -> float:
    """Sum over the sessions of a metrics log of each session's last elapsed time."""
    if not Path(path).is_file():
        return 0.0
    sessions: dict[str, float] = {}
    for event in read_jsonl(path):
        sessions[event["session"]] = max(sessions.get(event["session"], 0.0), event["elapsed_s"])
    return round(sum(sessions.values()), 3)
