"""The offline question writer on public articles: do its answers match what people asked?

    python benchmarks/training_data_quality.py [--squad DIR] [--articles N]

Every paragraph of SQuAD v2 (dev half, Wikipedia) is split into sentences; the offline writer asks
its questions about each sentence, and the data builder's checks (`validate_pair`) drop what it
would drop. A generated question *matches* when its answer equals a human answer on the same
sentence (SQuAD token F1 >= 0.5 against any answer whose start lies in the sentence). Reported
before (the writer with its fact filters off) and after (filters on), with the filter's rejections
by reason and the shape of the kept answers (tailor.finetune.fact_filter):

- matched / all: matched questions over every generated question;
- matched / asked: the same over the questions on sentences a person asked about;
- asked sentences covered: sentences with a human answer that got at least one matching question.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import datasets_dir, print_table, write_result

from tailor.finetune.fact_filter import answer_shapes
from tailor.finetune.offline_qa import OfflineQAWriter
from tailor.finetune.qa_records import QAWriter, WriterReport
from tailor.finetune.synthetic import validate_pair
from tailor.generate.sentences import split_sentences
from tailor.squad_metrics import token_f1

MATCH_F1 = 0.5


def sentences_with_answers(article: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(sentence, human answers starting in it) for every sentence of every paragraph of the article."""
    found = []
    for paragraph in article["paragraphs"]:
        context = paragraph["context"]
        answers = [(a["answer_start"], a["text"]) for qa in paragraph["qas"] if not qa.get("is_impossible")
                   for a in qa["answers"]]
        for start, end in split_sentences(context):
            found.append((context[start:end], sorted({text for at, text in answers if start <= at < end})))
    return found


def measure(writer: QAWriter, articles: list[dict[str, Any]]) -> dict[str, Any]:
    report = WriterReport()
    questions = matched = on_asked = matched_on_asked = asked = covered = 0
    answers: list[str] = []
    for article in articles:
        title = article["title"].replace("_", " ")
        for sentence, human in sentences_with_answers(article):
            pairs = [p for p in writer.questions(sentence, title, 100, report) if validate_pair(p, sentence) is None]
            hits = [bool(human) and token_f1(p.answer, human) >= MATCH_F1 for p in pairs]
            questions += len(pairs)
            matched += sum(hits)
            answers += [p.answer for p in pairs]
            if human:
                asked += 1
                on_asked += len(pairs)
                matched_on_asked += sum(hits)
                covered += any(hits)
    return {
        "questions": questions,
        "matched": matched,
        "matched_share": round(matched / questions, 4) if questions else None,
        "questions_on_asked_sentences": on_asked,
        "matched_share_on_asked": round(matched_on_asked / on_asked, 4) if on_asked else None,
        "asked_sentences": asked,
        "asked_sentences_covered": round(covered / asked, 4) if asked else None,
        "rejected": dict(Counter(report.filtered).most_common()),
        "answer_shapes": answer_shapes(answers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=datasets_dir() / "squad_v2_dev_half")
    parser.add_argument("--articles", type=int, default=0, help="First N articles only (0: all)")
    args = parser.parse_args()
    source = args.squad / "dev-v2.0.json"
    if not source.is_file():
        print(f"skipped: no SQuAD v2 at {args.squad} (set TAILOR_DATASETS or --squad)")
        return
    articles = json.loads(source.read_text())["data"]
    articles = articles[: args.articles] if args.articles else articles
    started = time.perf_counter()
    results = {"before": measure(OfflineQAWriter(filters=False), articles), "after": measure(OfflineQAWriter(), articles)}
    columns = ["writer", "questions", "matched / all", "matched / asked", "asked sentences covered",
               "short number answers", "short name answers"]
    print_table(
        f"Offline questions on SQuAD v2 dev-half ({len(articles)} articles): answer = a human answer (F1 >= {MATCH_F1})",
        columns,
        [[name, r["questions"], r["matched_share"], r["matched_share_on_asked"], r["asked_sentences_covered"],
          r["answer_shapes"]["short_number"], r["answer_shapes"]["short_name"]] for name, r in results.items()],
    )
    print("rejected by the fact filter: " + ", ".join(f"{k} {v}" for k, v in results["after"]["rejected"].items()))
    path = write_result("training_data_quality", {
        "dataset": str(args.squad), "articles": len(articles), "match_f1": MATCH_F1, "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
