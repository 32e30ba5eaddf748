"""Training throughput and peak memory: our recipe against a plain `transformers.Trainer` + PEFT run.

    python benchmarks/finetune_throughput.py [--epochs 1] [--repeats 2] [--threads N]     # the real model
    python benchmarks/finetune_throughput.py --base scratch --epochs 2 --threads 1          # the scratch model

Same data (handbook QA with 2 template paraphrases, no validation split: the training loop alone is timed,
not the evaluation `tailor finetune` runs when there is one), same learning rate and epochs, each arm in its own
process (so peak memory is its own), the arms alternating, the median of the repeats reported.

With the real model (SmolLM2-135M-Instruct, the default base), results/finetune_throughput_real.json:

    ours            `tailor finetune` with the model's measured defaults (tailor.base_models): LoRA r=16 in
                    the top 10 of 30 blocks, bf16 autocast, packed 4 x 256-token blocks attended per example
                    (tailor.finetune.packed_attention), the 20 frozen blocks run once per example
                    (tailor.finetune.frozen_blocks), the loss projected from the answer positions only
                    (tailor.finetune.cpu_loss)
    ours, TRL head  the same, with TRL's fused LM head (scores every position off Triton): isolates the loss
    naive           transformers.Trainer + peft.get_peft_model, LoRA r=16 on every Linear of every block,
                    batches of 8 padded to their longest, fp32 (the configuration issue 17 measured)

With the scratch model, results/finetune_throughput.json: ours / ours-unpacked / plain with one LoRA
(r=64, all linear layers) for every arm, so the recipe alone differs.

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

from tailor.base_models import DEFAULT_BASE_MODEL, resolve_base_model

SCRATCH_LORA = {"lora_rank": 64, "lora_alpha": 64, "lora_dropout": 0.0}
SCRATCH_PLAIN_LORA = {"r": 64, "lora_alpha": 64, "lora_dropout": 0.0, "target_modules": "all-linear"}  # the same, in PEFT's names
SCRATCH_LEARNING_RATE = 2e-3
NAIVE_LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}
ARMS = {"real": ["ours", "ours-trl-head", "naive"], "scratch": ["ours", "ours-unpacked", "plain"]}
SUMMARY_KEYS = ("tokens_per_second", "peak_memory_bytes", "seconds", "tokens", "steps", "train_loss")


def peak_memory() -> int:
    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_ours(base: str, data: Path, out: Path, epochs: float, fields: dict) -> dict:
    from tailor.finetune.config import FinetuneConfig
    from tailor.finetune.train import finetune

    config = FinetuneConfig(
        base_model=base, dataset=data, home=out, name="throughput", epochs=epochs, warmup=0, eval_steps=100_000,
        save_steps=100_000, early_stopping_metric="none", logging_steps=1_000, **fields,
    )
    train = finetune(config).metrics["train"]
    return {"tokens": train["num_input_tokens_seen"], "seconds": train["train_runtime"], "steps": train["global_step"],
            "train_loss": train["train_loss"]}


def run_plain(base: Path, data: Path, out: Path, epochs: float, batch_size: int, lora: dict, learning_rate: float) -> dict:
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
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32),
                           LoraConfig(task_type="CAUSAL_LM", **lora))
    args = TrainingArguments(
        output_dir=str(out), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate, save_strategy="no", report_to="none", logging_steps=1_000, seed=0,
        include_num_input_tokens_seen="non_padding", disable_tqdm=True, dataloader_pin_memory=torch.cuda.is_available(),
    )
    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    output = trainer.train()
    return {"tokens": trainer.state.num_input_tokens_seen, "seconds": output.metrics["train_runtime"],
            "steps": trainer.state.global_step, "train_loss": output.training_loss}


def run_arm(args: argparse.Namespace, out: Path) -> dict:
    if args.base == "scratch":
        scratch = {**SCRATCH_LORA, "learning_rate": SCRATCH_LEARNING_RATE, "max_length": args.max_length}
        if args.arm == "plain":
            return run_plain(args.model, args.data, out, args.epochs, args.plain_batch, SCRATCH_PLAIN_LORA,
                             SCRATCH_LEARNING_RATE)
        packed = args.arm == "ours"
        batch = args.ours_batch if packed else args.plain_batch
        return run_ours(str(args.model), args.data, out, args.epochs, {**scratch, "batch_size": batch, "packing": packed})
    from tailor.base_models import BUNDLED

    if args.arm == "naive":
        rate = BUNDLED[DEFAULT_BASE_MODEL].training["learning_rate"]
        return run_plain(args.model, args.data, out, args.epochs, args.plain_batch, NAIVE_LORA, rate)
    if args.arm == "ours-trl-head":
        import trl

        import tailor.finetune.train as recipe

        recipe.LabelledPositionsSFTTrainer = trl.SFTTrainer  # the ablation: TRL's own loss on every position
    return run_ours(DEFAULT_BASE_MODEL, args.data, args.home, args.epochs, {})


def child(args: argparse.Namespace) -> None:
    """One arm in this process; prints its result as JSON on the last line."""
    set_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_arm(args, Path(tmp))
    result["tokens_per_second"] = result["tokens"] / result["seconds"]
    result["peak_memory_bytes"] = peak_memory()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", choices=["real", "scratch"], default="real",
                        help=f"real: {DEFAULT_BASE_MODEL} (default); scratch: the from-scratch demonstration model")
    parser.add_argument("--epochs", type=float, default=None, help="default: 1 (real), 2 (scratch)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ours-batch", type=int, default=1, help="scratch: packed blocks per step")
    parser.add_argument("--max-length", type=int, default=256, help="scratch: tokens per packed block")
    parser.add_argument("--plain-batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--arm", help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.epochs = args.epochs if args.epochs is not None else (1 if args.base == "real" else 2)
    if args.arm:
        child(args)
        return
    kb = handbook_kb()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"  # the real model is converted once here and shared by the arms
        model = Path(resolve_base_model(DEFAULT_BASE_MODEL, home)) if args.base == "real" else scratch_base()
        data = Path(tmp) / "data"
        card = qa_dataset(kb, data, paraphrases=2, questions_per_chunk=0, val_fraction=0)
        runs: dict[str, list[dict]] = {arm: [] for arm in ARMS[args.base]}
        shared = ["--base", args.base, "--model", str(model), "--data", str(data), "--home", str(home),
                  *sum(([f"--{k.replace('_', '-')}", str(v)] for k, v in vars(args).items()
                        if k in ("epochs", "ours_batch", "max_length", "plain_batch", "threads") and v is not None), [])]
        for _ in range(args.repeats):
            for arm in runs:
                done = subprocess.run([sys.executable, __file__, "--arm", arm, *shared], capture_output=True, text=True,
                                      check=False)
                if done.returncode:
                    sys.exit(f"{arm} failed:\n{done.stderr[-3000:]}")
                runs[arm].append(json.loads(done.stdout.strip().splitlines()[-1]))
    summary = {arm: {key: statistics.median(r[key] for r in results) for key in SUMMARY_KEYS}
               for arm, results in runs.items()}
    baseline = summary[ARMS[args.base][-1]]["tokens_per_second"]
    speedup = summary["ours"]["tokens_per_second"] / baseline
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({set_threads(args.threads)} threads)"
    name = DEFAULT_BASE_MODEL if args.base == "real" else "scratch model"
    print_table(f"LoRA training throughput, {name} on {device}, {card['examples']['train']} examples x {args.epochs} epochs",
                ["arm", "tokens/s", "speed-up", "peak memory (MiB)", "train s", "real tokens", "steps", "train loss"],
                [[arm, f"{s['tokens_per_second']:.0f}", f"{s['tokens_per_second'] / baseline:.2f}x",
                  f"{s['peak_memory_bytes'] / 2**20:.0f}", f"{s['seconds']:.1f}", int(s["tokens"]), int(s["steps"]),
                  f"{s['train_loss']:.3f}"] for arm, s in summary.items()])
    result = "finetune_throughput_real" if args.base == "real" else "finetune_throughput"
    path = write_result(result, {"device": device, "base_model": name, "args": {k: str(v) for k, v in vars(args).items()},
                                 "examples": card["examples"], "summary": summary, "runs": runs, "speedup": speedup})
    print(f"speed-up {speedup:.2f}x; wrote {path}")


if __name__ == "__main__":
    main()
