"""Knowledge injection: what does a LoRA adapter learn of the handbook's facts?

    python benchmarks/finetune_knowledge.py --base real [--epochs 2] [--learning-rate 1e-3]   # SmolLM2-135M
    python benchmarks/finetune_knowledge.py [--epochs 30] [--threads 1] [--kb-vocab]          # the scratch model

With `--base real` the adapter is trained with the bundled model's measured defaults (tailor.base_models;
`--epochs` and `--learning-rate` override them) and the result goes to finetune_knowledge_real.json.
The handbook is ingested and the scratch base model built (both cached, see finetune_common.py).
QA data is built from the handbook's original questions (its human paraphrases are held back), split
by document, once as is and once with 2 template paraphrases per question; a LoRA adapter is trained
on each with `tailor.finetune.train`. Closed-book accuracy (SQuAD EM / F1 of greedy answers) is then
measured, for the base model and each adapter, on:

    trained      the original questions about training documents (seen verbatim in training)
    paraphrased  the handbook's human paraphrases of those questions (never seen in training)
    held-out     the original questions about the held-out documents (facts never trained on)

--kb-vocab uses a base whose tokenizer also learned the KB's words (the ablation of decision 0006).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import print_table, write_result
from finetune_common import handbook_kb, qa_dataset, questions, scratch_base, set_threads
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from tailor.base_models import DEFAULT_BASE_MODEL, resolve_base_model
from tailor.finetune.config import FinetuneConfig
from tailor.finetune.evaluation import generate_answers, score
from tailor.finetune.formats import closed_book_prompt
from tailor.finetune.train import finetune

ARMS = {"qa": 0, "qa + 2 paraphrases": 2}  # arm -> template paraphrases per training question


def evaluation_sets(card: dict) -> dict[str, list[dict]]:
    train_docs, held_docs = set(card["documents"]["train"]), set(card["documents"]["validation"])
    public = [q for q in questions() if q["answerable"] and "public" in q["groups"]]
    originals = [q for q in public if not q["paraphrase_of"]]
    trained = [q for q in originals if set(q["doc_ids"]) <= train_docs]
    trained_ids = {q["id"] for q in trained}
    return {
        "trained": trained,
        "paraphrased": [q for q in public if q["paraphrase_of"] in trained_ids],
        "held-out": [q for q in originals if set(q["doc_ids"]) <= held_docs],
    }


def accuracy(model, tokenizer, items: list[dict]) -> dict[str, float]:
    answers = generate_answers(model, tokenizer, [closed_book_prompt(q["question"]) for q in items], max_new_tokens=24)
    return {**score(answers, [q["answers"] for q in items]), "n": len(items)}


def recipe(args: argparse.Namespace) -> dict:
    """The FinetuneConfig fields of an arm: the bundled defaults for the real model, else the scratch recipe."""
    given = {"epochs": args.epochs, "learning_rate": args.learning_rate, "lora_layers": args.lora_layers}
    if args.base == "real":
        rank = {"lora_rank": args.lora_rank, "lora_alpha": 2 * args.lora_rank} if args.lora_rank else {}
        return {"base_model": DEFAULT_BASE_MODEL, **rank, **{k: v for k, v in given.items() if v is not None}}
    rank = args.lora_rank or 64
    return {"method": "lora", "lora_rank": rank, "lora_alpha": rank, "lora_dropout": 0.0,
            "batch_size": 1, "warmup": 0.02, "max_length": 256, "epochs": args.epochs or 30,
            "learning_rate": args.learning_rate or 2e-3}


def train_arm(base: Path, kb: Path, tmp: Path, paraphrases: int, args: argparse.Namespace) -> tuple[dict, object]:
    data = tmp / f"data-{paraphrases}"
    card = qa_dataset(kb, data, paraphrases=paraphrases, questions_per_chunk=args.synthetic)
    config = FinetuneConfig(
        **{"base_model": str(base), **recipe(args)}, dataset=data, home=args.home, name=f"knowledge-{paraphrases}",
        eval_steps=100_000, save_steps=100_000, early_stopping_metric="none", logging_steps=50,
    )
    return card, finetune(config).entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", choices=["real", "scratch"], default="scratch",
                        help=f"real: {DEFAULT_BASE_MODEL}; scratch: the from-scratch demonstration model")
    parser.add_argument("--epochs", type=float, default=None, help="default: the real model's own, 30 for scratch")
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the real model's own, 2e-3 scratch")
    parser.add_argument("--lora-rank", type=int, default=None, help="default: the real model's own (alpha 2x rank), 64 scratch")
    parser.add_argument("--lora-layers", type=int, default=None, help="real: LoRA in the last N of its 30 blocks")
    parser.add_argument("--synthetic", type=int, default=0, help="offline synthetic questions per chunk")
    parser.add_argument("--kb-vocab", action="store_true", help="base whose tokenizer learned the KB's words")
    parser.add_argument("--arm", action="append", choices=list(ARMS), help="arms to run (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    kb = handbook_kb()
    rows, results, training = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        args.home = Path(tmp) / "home"
        if args.base == "real":
            base = Path(resolve_base_model(DEFAULT_BASE_MODEL, args.home))
        else:
            base = scratch_base(kb if args.kb_vocab else None)
        tokenizer = AutoTokenizer.from_pretrained(base)
        plain = AutoModelForCausalLM.from_pretrained(base)
        arms = [arm for arm in ARMS if arm in (args.arm or ARMS)]
        for arm in arms:
            card, entry = train_arm(base, kb, Path(tmp), ARMS[arm], args)
            adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(entry.weights))
            cost = entry.manifest["cost"]
            training[arm] = {"examples": card["examples"], "seconds": cost["wall_clock_s"], "tokens": cost["train_tokens"],
                             "steps": cost["steps"]}
            for name, items in evaluation_sets(card).items():
                if arm == arms[0]:
                    results.setdefault("base model", {})[name] = before = accuracy(plain, tokenizer, items)
                    rows.append(["base model", name, before["n"], before["exact_match"], before["f1"]])
                results.setdefault(arm, {})[name] = after = accuracy(adapted, tokenizer, items)
                rows.append([arm, name, after["n"], after["exact_match"], after["f1"]])
    vocabulary = "KB-aware tokenizer" if args.kb_vocab else "general-text tokenizer"
    model = (f"{DEFAULT_BASE_MODEL}, {recipe(args)}" if args.base == "real"
             else f"from-scratch demonstration model, {vocabulary}, LoRA r={recipe(args)['lora_rank']}")
    print_table(f"Closed-book accuracy, {model}",
                ["model", "questions", "n", "EM", "F1"], sorted(rows, key=lambda r: (r[1], r[0] != "base model")))
    for arm, facts in training.items():
        print(f"{arm}: {facts['examples']['train']} examples, {facts['steps']} steps, {facts['tokens']:,} tokens, "
              f"{facts['seconds']:.0f}s")
    name = "finetune_knowledge_real" if args.base == "real" else (
        "finetune_knowledge_kb_vocab" if args.kb_vocab else "finetune_knowledge")
    arguments = {k: str(v) for k, v in vars(args).items() if k != "home"}
    path = write_result(name, {"model": model, "threads": threads, "args": arguments, "results": results,
                               "training": training})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
