"""How a small model is best prompted for RAG, chosen on the handbook's DEVELOPMENT questions only.

    python benchmarks/rag_prompt_choice.py [--model smollm2-135m-instruct] [--variants all|NAME,...]

The handbook's questions are split by document (tailor.evaluate.compare.splits, seed 0, 30 % dev); only
the dev part is asked here, so the report's questions (the test part, `question_split` in
examples/handbook/compare.yaml) never take part in the choice. Each variant is a prompt template, the
number of retrieved chunks in the prompt and the answer length; every variant answers every dev
question as its caller groups, greedily, batched. The score is compare's: accuracy on the answerable
questions and correct abstention on the unanswerable ones, pooled ("correct"), with a 95% bootstrap CI.
Results: results/rag_prompt_choice.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import REPO, print_table, write_result

from tailor.evaluate.compare.questions import load_questions
from tailor.evaluate.compare.scoring import score_answer
from tailor.evaluate.compare.splits import split_by_document
from tailor.evaluate.compare.stats import estimate_dict
from tailor.generate.strategies import AskConfig, make_strategy
from tailor.kb.knowledge_base import KnowledgeBase

HANDBOOK = REPO / "examples" / "handbook"
# name -> AskConfig fields: the prompt template, chunks retrieved (top_k), sentences of them shown
# (focus_sentences; 0: whole chunks), answer tokens
VARIANTS = {
    "rag k3": {"template": "rag", "top_k": 3, "focus_sentences": 0, "max_new_tokens": 32, "focus_abstain_below": 0},
    "rag k1": {"template": "rag", "top_k": 1, "focus_sentences": 0, "max_new_tokens": 32, "focus_abstain_below": 0},
    "brief k1": {"template": "rag_brief", "top_k": 1, "focus_sentences": 0, "max_new_tokens": 32, "focus_abstain_below": 0},
    "brief k3": {"template": "rag_brief", "top_k": 3, "focus_sentences": 0, "max_new_tokens": 32, "focus_abstain_below": 0},
    "plain k1": {"template": "rag_plain", "top_k": 1, "focus_sentences": 0, "max_new_tokens": 32, "focus_abstain_below": 0},
    "quoted k1": {"template": "rag_quoted", "top_k": 1, "focus_sentences": 0, "max_new_tokens": 32, "focus_abstain_below": 0},
    "quoted k2": {"template": "rag_quoted", "top_k": 2, "focus_sentences": 0, "max_new_tokens": 32, "focus_abstain_below": 0},
    "titled k1": {"template": "rag_titled", "top_k": 1, "focus_sentences": 0, "max_new_tokens": 32, "focus_abstain_below": 0},
    "titled k2": {"template": "rag_titled", "top_k": 2, "focus_sentences": 0, "max_new_tokens": 32, "focus_abstain_below": 0},
    "quoted k5 s1": {"template": "rag_quoted", "top_k": 5, "focus_sentences": 1, "max_new_tokens": 32, "focus_abstain_below": 0},
    "quoted k5 s2": {"template": "rag_quoted", "top_k": 5, "focus_sentences": 2, "max_new_tokens": 32, "focus_abstain_below": 0},
    "quoted k5 s3": {"template": "rag_quoted", "top_k": 5, "focus_sentences": 3, "max_new_tokens": 32, "focus_abstain_below": 0},
    "quoted k5 s5": {"template": "rag_quoted", "top_k": 5, "focus_sentences": 5, "max_new_tokens": 32, "focus_abstain_below": 0},
    "titled k5 s3": {"template": "rag_titled", "top_k": 5, "focus_sentences": 3, "max_new_tokens": 32, "focus_abstain_below": 0},
    # abstain without generating below the extractive reader's confidence (its own default threshold)
    "quoted k5 s1 a.28": {"template": "rag_quoted", "top_k": 5, "focus_sentences": 1, "max_new_tokens": 32,
                          "focus_abstain_below": 0.28},
    "quoted k5 s2 a.28": {"template": "rag_quoted", "top_k": 5, "focus_sentences": 2, "max_new_tokens": 32,
                          "focus_abstain_below": 0.28},
    "quoted k5 s1 a.15": {"template": "rag_quoted", "top_k": 5, "focus_sentences": 1, "max_new_tokens": 32,
                          "focus_abstain_below": 0.15},
}
# What `python benchmarks/rag_prompt_choice.py` runs: the decision's table (decision 0009)
SHORTLIST = ["rag k3", "rag k1", "brief k1", "quoted k1", "quoted k2", "quoted k5 s1", "quoted k5 s2",
             "quoted k5 s3", "quoted k5 s1 a.15", "quoted k5 s1 a.28"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--variants", default=",".join(SHORTLIST), help="comma-separated variant names, or all")
    parser.add_argument("--quantize", default=None, choices=[None, "int8"])
    parser.add_argument("--dev-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    questions = load_questions(HANDBOOK / "questions.jsonl").questions
    dev = split_by_document(questions, args.dev_fraction, args.seed)["dev"]
    wanted = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as folder:
        kb = KnowledgeBase.open(Path(folder) / "kb")
        kb.ingest([HANDBOOK / "docs"], sync=True)
        for name in wanted:
            config = AskConfig(strategy="rag", generator=f"hf:{args.model}", quantize=args.quantize, **VARIANTS[name])
            strategy = make_strategy(config, kb)
            started = time.perf_counter()
            answers = strategy.answer_batch([q.question for q in dev], [q.groups for q in dev])
            seconds = time.perf_counter() - started
            scores = [score_answer(q, a.to_dict(), retrieves=True) for q, a in zip(dev, answers, strict=True)]
            correct = [s.get("accuracy", s.get("abstain_correct", 0.0)) for s in scores]
            accuracy = [s["accuracy"] for s in scores if "accuracy" in s]
            abstain = [s["abstain_correct"] for s in scores if "abstain_correct" in s]
            pooled = estimate_dict(correct, 1000, 0)
            results[name] = {**VARIANTS[name], "correct": pooled,
                             "accuracy": estimate_dict(accuracy, 1000, 0), "abstain_correct": estimate_dict(abstain, 1000, 0),
                             "seconds": round(seconds, 1),
                             "examples": [{"question": q.question, "gold": list(q.answers), "answer": a.text}
                                          for q, a in list(zip(dev, answers, strict=True))[:8]]}
            rows.append([name, f"{pooled['mean']:.3f} [{pooled['low']:.3f}, {pooled['high']:.3f}]",
                         f"{sum(accuracy) / max(len(accuracy), 1):.3f}", f"{sum(abstain) / max(len(abstain), 1):.3f}",
                         f"{seconds:.0f}"])
            print(rows[-1], flush=True)
        kb.close()
    best = max(results, key=lambda n: results[n]["correct"]["mean"])
    print_table(f"RAG prompt on {len(dev)} dev questions ({args.model})",
                ["variant", "correct [95% CI]", "accuracy", "abstain_correct", "seconds"], rows)
    print(f"best: {best}")
    write_result("rag_prompt_choice", {"model": args.model, "quantize": args.quantize, "dev_questions": len(dev),
                                       "split": {"dev_fraction": args.dev_fraction, "seed": args.seed},
                                       "variants": results, "best": best})


if __name__ == "__main__":
    main()
