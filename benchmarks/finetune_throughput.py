"""Training throughput and peak memory: our recipe against a plain `transformers.Trainer` + PEFT run.

    python benchmarks/finetune_throughput.py [--epochs 2] [--repeats 2] [--threads 1]

Same model (the from-scratch demonstration model), same data (handbook QA with 2 template paraphrases),
same LoRA (r=64, all linear layers), same learning rate and epochs. Each arm runs in its own process
(so peak memory is its own), the arms alternate, and the median of the repeats is reported.

    ours           tailor.finetune.train: TRL SFTTrainer, packing (best-fit decreasing, padding-free),
                   answer-only loss, bf16 + SDPA on CUDA
    ours unpacked  the same recipe with packing off and the plain arm's batch size (isolates packing)
    plain          transformers.Trainer + peft.get_peft_model, the same prompt/answer token ids and
                   answer-only labels, batches padded to their longest sequence, fp32

Throughput counts real (non-padding) tokens per second of the training loop. Peak memory is the CUDA
peak allocation on GPU, the process's peak RSS on CPU (which includes Python and torch themselves).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from _common import print_table, write_result
from finetune_common import handbook_kb, qa_dataset, scratch_base, set_threads

LORA = {"r": 64, "lora_alpha": 64, "lora_dropout": 0.0, "target_modules": "all-linear"}
LEARNING_RATE = 2e-3


def peak_memory() -> int:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_ours(base: Path, data: Path, out: Path, epochs: float, batch_size: int, max_length: int, packing: bool) -> dict:
    from tailor.finetune.config import FinetuneConfig
    from tailor.finetune.train import finetune

    config = FinetuneConfig(
        base_model=str(base), dataset=data, home=out, name="throughput", lora_rank=LORA["r"],
        lora_alpha=LORA["lora_alpha"], lora_dropout=LORA["lora_dropout"], epochs=epochs, batch_size=batch_size,
        learning_rate=LEARNING_RATE, warmup=0, max_length=max_length, packing=packing, eval_steps=100_000,
        save_steps=100_000, early_stopping_metric="none", logging_steps=1_000,
    )
    train = finetune(config).metrics["train"]
    return {"tokens": train["num_input_tokens_seen"], "seconds": train["train_runtime"], "steps": train["global_step"],
            "train_loss": train["train_loss"]}


def run_plain(base: Path, data: Path, out: Path, epochs: float, batch_size: int) -> dict:
    from datasets import load_dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(base)

    def encode(row: dict) -> dict:
        prompt = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * len(prompt_ids) + ids[len(prompt_ids):]}

    rows = load_dataset("json", data_files=str(data / "train.jsonl"))["train"]
    dataset = rows.map(encode, remove_columns=rows.column_names)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(task_type="CAUSAL_LM", **LORA))
    args = TrainingArguments(
        output_dir=str(out), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=LEARNING_RATE, save_strategy="no", report_to="none", logging_steps=1_000, seed=0,
        include_num_input_tokens_seen="non_padding", disable_tqdm=True, dataloader_pin_memory=torch.cuda.is_available(),
    )
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    output = trainer.train()
    return {"tokens": trainer.state.num_input_tokens_seen, "seconds": output.metrics["train_runtime"],
            "steps": trainer.state.global_step, "train_loss": output.training_loss}


def child(args: argparse.Namespace) -> None:
    """One arm in this process; prints its result as JSON on the last line."""
    set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.arm == "ours":
            result = run_ours(args.base, args.data, Path(tmp), args.epochs, args.ours_batch, args.max_length, True)
        elif args.arm == "ours-unpacked":
            result = run_ours(args.base, args.data, Path(tmp), args.epochs, args.plain_batch, args.max_length, False)
        else:
            result = run_plain(args.base, args.data, Path(tmp), args.epochs, args.plain_batch)
    result["tokens_per_second"] = result["tokens"] / result["seconds"]
    result["peak_memory_bytes"] = peak_memory()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ours-batch", type=int, default=1, help="packed blocks per step (SDPA: 1 block of max_length)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--plain-batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--arm", choices=["ours", "ours-unpacked", "plain"], help=argparse.SUPPRESS)
    parser.add_argument("--base", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        child(args)
        return
    kb = handbook_kb()
    base = scratch_base()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        card = qa_dataset(kb, data, paraphrases=2, questions_per_chunk=0)
        runs: dict[str, list[dict]] = {"ours": [], "ours-unpacked": [], "plain": []}
        for _ in range(args.repeats):
            for arm in runs:
                command = [sys.executable, __file__, "--arm", arm, "--base", str(base), "--data", str(data),
                           *sum(([f"--{k.replace('_', '-')}", str(v)] for k, v in vars(args).items()
                                 if k in ("epochs", "ours_batch", "max_length", "plain_batch", "threads") and v is not None), [])]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode:
                    sys.exit(f"{arm} failed:\n{done.stderr[-3000:]}")
                runs[arm].append(json.loads(done.stdout.strip().splitlines()[-1]))
    summary = {arm: {key: statistics.median(r[key] for r in results)
                     for key in ("tokens_per_second", "peak_memory_bytes", "seconds", "tokens", "steps", "train_loss")}
               for arm, results in runs.items()}
    speedup = summary["ours"]["tokens_per_second"] / summary["plain"]["tokens_per_second"]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({set_threads(args.threads)} threads)"
    print_table(f"LoRA training throughput on {device}, {card['examples']['train']} examples x {args.epochs} epochs",
                ["arm", "tokens/s", "speed-up", "peak memory (MiB)", "train s", "real tokens", "steps", "train loss"],
                [[arm, s["tokens_per_second"], s["tokens_per_second"] / summary["plain"]["tokens_per_second"],
                  s["peak_memory_bytes"] / 2**20, s["seconds"], int(s["tokens"]), int(s["steps"]), s["train_loss"]]
                 for arm, s in summary.items()])
    path = write_result("finetune_throughput", {"device": device, "args": {k: str(v) for k, v in vars(args).items()},
                                                "examples": card["examples"], "summary": summary, "runs": runs,
                                                "speedup": speedup})
    print(f"speed-up {speedup:.2f}x; wrote {path}")


if __name__ == "__main__":
    main()
