"""Generation speed of the real model on a CPU: batched (and int8) against plain one-at-a-time fp32 `generate`.

    python benchmarks/generation_speed.py [--model smollm2-135m-instruct] [--questions 48] [--batch-size 8]

The same handbook questions (a seeded sample) through the closed_book and rag arms, each arm three ways,
one after the other in this process on the same prompts:

    plain    fp32, one question at a time through `generate` (HFGenerator with batch_size 1, `answer`)
    batched  fp32, `answer_batch`: questions sorted by prompt length, `--batch-size` at a time, left padded
    int8     batched, with the decoder's Linear layers dynamically quantised to int8 (per-channel)
    bf16     batched, with every weight in bfloat16

It reports questions/s and the speed-up over plain, and the accuracy of each on the same questions with a
95% bootstrap CI (plus the number of answers that differ from plain's). Greedy decoding throughout.
Results: results/generation_speed.json.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from _common import REPO, print_table, write_result

from tailor.evaluate.compare.questions import load_questions
from tailor.evaluate.compare.scoring import score_answer
from tailor.evaluate.compare.stats import estimate_dict
from tailor.generate.strategies import AskConfig, make_strategy
from tailor.kb.knowledge_base import KnowledgeBase

HANDBOOK = REPO / "examples" / "handbook"
WAYS = {"plain": {"batch_size": 1, "quantize": None}, "batched": {"quantize": None}, "int8": {"quantize": "int8"},
        "bf16": {"quantize": "bf16"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--questions", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    answerable = [q for q in load_questions(HANDBOOK / "questions.jsonl").questions if q.answerable]
    questions = random.Random(args.seed).sample(answerable, min(args.questions, len(answerable)))
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as folder:
        kb = KnowledgeBase.open(Path(folder) / "kb")
        kb.ingest([HANDBOOK / "docs"], sync=True)
        for arm in ("closed_book", "rag"):
            texts: dict[str, list[str]] = {}
            for way, settings in WAYS.items():
                config = AskConfig(strategy=arm, generator=f"hf:{args.model}", max_new_tokens=args.max_new_tokens,
                                   **{"batch_size": args.batch_size, **settings})
                strategy = make_strategy(config, kb)
                strategy.answer(questions[0].question, questions[0].groups)  # load the model, warm up
                started = time.perf_counter()
                if way == "plain":
                    answers = [strategy.answer(q.question, q.groups) for q in questions]
                else:
                    answers = strategy.answer_batch([q.question for q in questions], [q.groups for q in questions])
                seconds = time.perf_counter() - started
                texts[way] = [a.text for a in answers]
                accuracy = [score_answer(q, a.to_dict(), arm == "rag")["accuracy"]
                            for q, a in zip(questions, answers, strict=True)]
                results.setdefault(arm, {})[way] = {
                    "seconds": round(seconds, 2), "questions_per_s": round(len(questions) / seconds, 3),
                    "accuracy": estimate_dict(accuracy, 1000, 0),
                    "differ_from_plain": sum(a != b for a, b in zip(texts[way], texts["plain"], strict=True)),
                    "tokens_out_mean": sum(a.tokens_out for a in answers) / len(answers),
                }
            plain = results[arm]["plain"]["questions_per_s"]
            for way, found in results[arm].items():
                found["speedup"] = round(found["questions_per_s"] / plain, 2)
                acc = found["accuracy"]
                rows.append([arm, way, f"{found['questions_per_s']:.2f}", f"{found['speedup']:.2f}x",
                             f"{acc['mean']:.3f} [{acc['low']:.3f}, {acc['high']:.3f}]", found["differ_from_plain"]])
                print(rows[-1], flush=True)
        kb.close()
    print_table(f"{args.model}: {len(questions)} handbook questions, greedy, {args.max_new_tokens} new tokens at most",
                ["arm", "way", "questions/s", "vs plain", "accuracy [95% CI]", "answers differing from plain"], rows)
    write_result("generation_speed", {"model": args.model, "questions": len(questions), "batch_size": args.batch_size,
                                      "max_new_tokens": args.max_new_tokens, "load_average": os.getloadavg(),
                                      "arms": results})


if __name__ == "__main__":
    main()
