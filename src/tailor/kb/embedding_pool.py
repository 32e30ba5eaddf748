"""Several embedding workers, one per device: sentence-transformers' multi-process pool.

`SentenceTransformer.encode(texts, pool=...)` cuts the texts into chunks, queues them to the workers
and puts the vectors back in input order; each worker runs sentence-transformers' own worker loop.
Tailor starts the workers itself (the same pool layout `start_multi_process_pool` returns) because
that function cannot do three things an ingest needs:

- a worker exits when the process that started it dies: after a SIGKILLed ingest, the library's
  workers wait on their queue forever, holding their GPU memory;
- the CPU workers share the machine's cores (a group each) instead of each using all of them;
- the workers start at the same time: a spawned worker imports torch before it can receive the
  model, so starting them one by one costs one import per device.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


def parse_devices(devices: Sequence[str]) -> list[str]:
    """Each entry checked as a torch device ("cuda:0", "cpu", ...); a bad one is a ValueError naming it."""
    if not devices:
        return []
    import torch  # here, not at import: configs and the CLI load this module without needing torch

    checked = []
    for device in devices:
        try:
            checked.append(str(torch.device(device.strip())))
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"embed_devices: {device!r} is not a torch device (e.g. cuda:0, cpu)") from exc
    return checked


def cpu_threads_per_worker(devices: Sequence[str]) -> int:
    """The cores this process may use, split evenly between the CPU workers (at least one each)."""
    cpu_workers = sum(1 for d in devices if d.split(":")[0] == "cpu")  # parse_devices wrote them out
    return max(1, len(os.sched_getaffinity(0)) // max(1, cpu_workers))


def _exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=lambda: (parent.join(), os._exit(1)), daemon=True).start()


def _worker(device: str, cpu_threads: int, model: Any, inputs: Any, outputs: Any) -> None:
    import torch

    _exit_with_parent()
    if torch.device(device).type == "cpu":
        torch.set_num_threads(cpu_threads)
    type(model)._multi_process_worker(device, model, inputs, outputs)


class EmbeddingPool:
    """One spawned worker process per device, each holding a copy of `model` (a SentenceTransformer)."""

    def __init__(self, model: Any, devices: Sequence[str]) -> None:
        if not devices:
            raise ValueError("embed_devices: an embedding pool needs at least one device")
        self.model = model
        self.devices = parse_devices(devices)
        home = model.device
        model.to("cpu")
        model.share_memory()  # the workers map the CPU weights instead of receiving a copy through a pipe
        context = multiprocessing.get_context("spawn")
        inputs, outputs = context.Queue(), context.Queue()
        threads = cpu_threads_per_worker(self.devices)
        processes = [
            context.Process(target=_worker, args=(device, threads, model, inputs, outputs), daemon=True)
            for device in self.devices
        ]
        with ThreadPoolExecutor(len(processes)) as starter:
            list(starter.map(lambda process: process.start(), processes))
        self._pool = {"input": inputs, "output": outputs, "processes": processes}
        self._one_call_at_a_time = threading.Lock()  # the workers' output queue is shared by every call
        model.to(home)  # queries keep being embedded in this process, on its own device

    @property
    def workers(self) -> int:
        return len(self.devices)

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """L2-normalised float32 vectors of `texts`, in their order; each worker gets about an equal share."""
        chunk = max(1, min(batch_size, math.ceil(len(texts) / self.workers)))
        with self._one_call_at_a_time:
            vectors = self.model.encode(
                list(texts),
                pool=self._pool,
                chunk_size=chunk,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def close(self) -> None:
        if self._pool["processes"]:
            self.model.stop_multi_process_pool(self._pool)
            self._pool["processes"] = []
