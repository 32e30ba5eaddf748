"""The compare report renderer: report.html and summary.md from a report.json dict."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import itertools
import json
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup

from tailor.evaluate.report import ReportError, build_view, render_html, render_summary, write_report
from tailor.evaluate.report.fields import FORMATS

SAMPLE = Path(__file__).parent / "fixtures" / "report_sample.json"
PAYLOAD = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
OPTIONAL_SECTIONS = ("freshness", "format", "forgetting", "leak", "judge")


def load_sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text())


def resolve(document: Any, pointer: str) -> Any:
    """The value at a JSON pointer (RFC 6901)."""
    for part in pointer.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        document = document[int(key)] if isinstance(document, list) else document[key]
    return document


def arm_of(report: dict[str, Any], pointer: str) -> str:
    """The arm a number belongs to, from where it sits in report.json."""
    parts = pointer.split("/")[1:]
    if parts[0] == "arms":
        return report["arms"][int(parts[1])]["name"]
    if parts[0] == "comparisons":
        return report["comparisons"][int(parts[1])]["a"]
    names = {arm["name"] for arm in report["arms"]}
    return next(part for part in parts if part in names)


def displayed_matches(text: str, value: float) -> bool:
    """The displayed text is the value rounded to the digits shown (half a unit of the last digit)."""
    shown = Decimal(text)
    half_unit = Decimal(5).scaleb(shown.as_tuple().exponent - 1)
    return abs(float(shown) - value) <= float(half_unit) + 1e-12


def soup_of(report: dict[str, Any]) -> BeautifulSoup:
    return BeautifulSoup(render_html(build_view(report)), "html.parser")


def embedded(page: BeautifulSoup) -> dict[str, Any]:
    """The per-question data the page's script reads: gzipped JSON in base64."""
    return json.loads(gzip.decompress(base64.b64decode(page.find("script", id="questions-data").string)))


def utf16_slice(text: str, start: int, end: int) -> str:
    """text[start:end] with JavaScript's string offsets."""
    return text.encode("utf-16-le")[2 * start : 2 * end].decode("utf-16-le")


def expected_outcome(question: dict[str, Any], answer: dict[str, Any], primary: str = "accuracy") -> str:
    """The outcome filter's meaning, from report.json: see the note above the page's question table."""
    if answer["abstained"]:
        return "refused" if answer["timings_ms"].get("total") == 0 else "abstained"
    if not question["answerable"]:
        return "wrong"
    score = answer["scores"].get(primary)
    return "unscored" if score is None else "correct" if score >= 0.5 else "wrong"


def with_payloads(report: dict[str, Any]) -> dict[str, Any]:
    """The sample with script in every kind of document text of question q131 and in the sections."""
    report = copy.deepcopy(report)
    answer = report["per_question"][2]["answers"]["rag_scratch"]
    answer["text"] = f"Look: {PAYLOAD} [1]"
    citation = answer["citations"][0]
    citation["quote"] = f"Please {PAYLOAD} first."
    citation["passage"] = (
        f"Before. {citation['quote']} After </blockquote></div></script><script>alert(1)</script>"
    )
    citation["title"] = PAYLOAD
    report["per_question"][2]["question"] = PAYLOAD
    report["arms"][4]["skip_reason"] = PAYLOAD
    report["recommendation"]["rules"][0]["because"] = PAYLOAD
    report["config"]["note"] = PAYLOAD
    report["freshness"]["arms"]["finetuned"]["stale_answers"][0]["answer"] = PAYLOAD
    return report


@pytest.fixture(scope="module")
def sample() -> dict[str, Any]:
    return load_sample()


@pytest.fixture(scope="module")
def written(sample, tmp_path_factory) -> dict[str, Path]:
    return write_report(sample, tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def page(written) -> BeautifulSoup:
    return BeautifulSoup(written["html"].read_text(encoding="utf-8"), "html.parser")


def test_writes_report_html_and_summary_md_only(written):
    assert set(written) == {"html", "summary"}
    assert written["html"].name == "report.html" and written["summary"].name == "summary.md"
    assert sorted(p.name for p in written["html"].parent.iterdir()) == ["report.html", "summary.md"]


def test_every_printed_number_equals_report_json(page, sample):
    numbers = page.select("[data-metric]")
    assert len(numbers) > 300
    for element in numbers:
        source = element["data-source"]
        expected = resolve(sample, source)
        assert float(element["data-value"]) == expected, source
        assert element["data-value"] == repr(expected), source
        assert displayed_matches(element.get_text(), expected), (source, element.get_text(), expected)
        if element.has_attr("data-arm"):
            assert arm_of(sample, source) in element["data-arm"].split(" vs "), source
        if element.has_attr("data-stage"):
            assert element["data-stage"] in source.split("/"), source


def test_every_recorded_number_is_printed(page, sample):
    printed = {element["data-source"] for element in page.select("[data-source]")}
    expected = {
        f"/metrics/{arm}/{metric}/{stat}"
        for arm, metrics in sample["metrics"].items()
        for metric in metrics
        for stat in ("mean", "low", "high", "n")
    }
    expected |= {
        f"/latency/{arm}/{stage}/{stat}"
        for arm, stages in sample["latency"].items()
        for stage in stages
        for stat in ("p50", "p95")
    }
    expected |= {f"/cost/{arm}/per_1000_queries" for arm in sample["cost"]}
    expected |= {
        f"/comparisons/{i}/{key}"
        for i in range(len(sample["comparisons"]))
        for key in ("diff", "low", "high", "p_value")
    }
    expected |= {f"/freshness/arms/{arm}/after/mean" for arm in sample["freshness"]["arms"]}
    expected |= {f"/leak/arms/{arm}/leak_rate/mean" for arm in sample["leak"]["arms"]}
    expected |= {
        f"/leak/weights/arms/{arm}/sets/{name}/{key}/mean"
        for arm, entry in sample["leak"]["weights"]["arms"].items()
        for name in entry["sets"]
        for key in ("gold_first", "gold_first_base", "excess", "stated")
    }
    expected |= {f"/leak/weights/sets/{name}/chance" for name in sample["leak"]["weights"]["sets"]}
    expected |= {f"/format/arms/{arm}/mean" for arm in sample["format"]["arms"]}
    expected |= {
        f"/forgetting/arms/finetuned/{key}/mean"
        for key in ("perplexity_change", "general_accuracy_change", "domain_gain")
    }
    assert expected - printed == set()
    # format_adherence and leak_rate are printed once, from their own sections
    assert not any(
        source.endswith(("/format_adherence/mean", "/leak_rate/mean")) and source.startswith("/metrics")
        for source in printed
    )


def test_all_sections_and_charts_present(page):
    for section in (
        "verdict",
        "arms",
        "correctness",
        "grounding",
        "significance",
        "freshness",
        "latency",
        "cost",
        "format",
        "forgetting",
        "leak",
        "questions",
        "run",
    ):
        assert page.find(id=section), section
    images = page.find_all("img")
    assert len(images) == 7
    for section in ("correctness", "grounding", "freshness", "latency", "format", "forgetting", "leak"):
        assert page.find(id=section).find("img"), section
    assert "ranks the restricted answer first" in page.select_one("#leak img")["alt"]
    for image in images:
        assert image["alt"].strip()
        assert image["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(image["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_is_self_contained(page):
    assert page.find("link") is None
    for element in page.find_all(src=True):
        assert element["src"].startswith("data:")
    for element in page.find_all(href=True):
        assert element["href"].startswith("#"), element["href"]
    data, script = page.find_all("script")
    assert data["type"] == "application/gzip" and set(script.attrs) == set()
    csp = dict(
        part.strip().split(" ", 1)
        for part in page.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"].split(";")
    )
    assert csp["default-src"] == "'none'" and csp["img-src"] == "data:" and "connect-src" not in csp
    digest = base64.b64encode(hashlib.sha256(script.string.encode()).digest()).decode()
    assert csp["script-src"] == f"'sha256-{digest}'"  # that script alone: no 'unsafe-inline', no eval


def test_a_page_without_questions_has_no_script():
    report = load_sample()
    del report["per_question"]
    page = soup_of(report)
    assert page.find("script") is None
    assert "script-src" not in page.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]


def test_verdict_lists_fired_rules_and_collapses_the_others(page, sample):
    verdict = page.find(id="verdict")
    rules = sample["recommendation"]["rules"]
    assert sample["recommendation"]["headline"] in verdict.get_text()
    fired = verdict.select_one(".rules-fired").get_text()
    hidden = verdict.select_one("details.rules-not-fired")
    assert hidden is not None and not hidden.has_attr("open")
    for rule in rules:
        assert rule["because"] in (fired if rule["fired"] else hidden.get_text())
        assert rule["because"] not in (hidden.get_text() if rule["fired"] else fired)


def test_every_arm_states_generator_and_model_and_skipped_arms_their_reason(page, sample):
    rows = {row.th.get_text(): row.get_text() for row in page.find(id="arms").select("table tbody tr")}
    for arm in sample["arms"]:
        assert arm["generator"] in rows[arm["name"]] and arm["model"] in rows[arm["name"]]
    skipped = page.select_one(".skipped").get_text()
    assert "hybrid" in skipped and sample["arms"][4]["skip_reason"] in skipped
    assert "hybrid" not in [th.get_text() for th in page.select("#correctness tbody th")]


def test_cost_says_when_the_per_update_cost_is_estimated(page):
    rows = {row.th.get_text(): row.get_text() for row in page.select("#cost table")[1].select("tbody tr")}
    assert "estimated, not measured" in rows["finetuned"]
    assert "measured" in rows["rag_extractive"] and "estimated" not in rows["rag_extractive"]


def test_significance_shows_winners_and_ties(page, sample):
    results = [row.select("td")[-1].get_text() for row in page.select("#significance tbody tr")]
    assert results == [f"{c['winner']} wins" if c["winner"] else "tie" for c in sample["comparisons"]]


def check_embedded(data: dict[str, Any], report: dict[str, Any]) -> None:
    """Every question, answer, outcome, score and citation of report.json is in the page's data, exactly."""
    rows = report["per_question"]
    assert len(data["questions"]) == len(rows)
    arms = {arm: i for i, arm in enumerate(data["arms"])}
    metrics = [name for name, _ in data["metrics"]]
    for row, (qid, _, question, answerable, gold, documents, groups, answers) in zip(
        rows, data["questions"], strict=True
    ):
        assert (qid, question, answerable, gold, groups) == (
            row["id"],
            row["question"],
            row["answerable"],
            row["gold"],
            row["groups"],
        )
        assert [data["documents"][d] for d in documents] == row["gold_doc_ids"]
        assert {arm for arm, i in arms.items() if answers[i]} == set(row["answers"])
        for arm, answer in row["answers"].items():
            text, outcome, scores, citations = answers[arms[arm]]
            assert (text, outcome) == (
                answer["text"],
                expected_outcome(row, answer, report["primary_metric"]),
            )
            assert {metrics[m]: value for m, value in scores} == answer["scores"]
            for (marker, source, passage, quote, page, supported), cited in zip(
                citations, answer["citations"], strict=True
            ):
                document, title, path = data["sources"][source]
                shown = [
                    marker,
                    data["documents"][document],
                    title,
                    path,
                    data["passages"][passage],
                    page,
                    supported,
                ]
                assert shown == [
                    cited[k] for k in ("marker", "doc_id", "title", "source", "passage", "page", "supported")
                ]
                marked = utf16_slice(cited["passage"], *quote) if isinstance(quote, list) else quote
                assert marked == cited["quote"]


def test_the_page_embeds_every_question_answer_score_and_citation(page, sample):
    data = embedded(page)
    check_embedded(data, sample)
    assert data["arms"] == ["closed_book", "rag_extractive", "rag_scratch", "finetuned"]
    assert [row[1] for row in data["questions"]] == ["q001", "q053", "q131", "q169"]  # element ids
    assert len(data["passages"]) < sum(
        len(a["citations"]) for q in sample["per_question"] for a in q["answers"].values()
    )  # each passage once


def test_outcomes_follow_abstention_the_access_check_and_the_primary_metric():
    report = load_sample()
    refused = report["per_question"][0]["answers"]["finetuned"]
    refused.update(text="Refused: the adapter was trained on groups hr", abstained=True)
    refused["timings_ms"] = {"retrieve": 0.0, "rerank": 0.0, "generate": 0.0, "total": 0.0}
    del report["per_question"][1]["answers"]["closed_book"]["scores"]["accuracy"]
    outcomes = {
        (row[0], arm): answer[1]
        for row in embedded(soup_of(report))["questions"]
        for arm, answer in zip(
            ["closed_book", "rag_extractive", "rag_scratch", "finetuned"], row[7], strict=True
        )
    }
    assert outcomes[("q001", "finetuned")] == "refused"
    assert outcomes[("q053", "closed_book")] == "unscored"
    assert outcomes[("q169", "rag_extractive")] == "abstained"  # unanswerable, declined
    assert outcomes[("q169", "closed_book")] == "wrong"  # unanswerable, answered
    assert outcomes[("q001", "rag_extractive")] == "correct" and outcomes[("q001", "closed_book")] == "wrong"
    report["primary_metric"] = "f1"  # 0.5 and above is correct
    outcomes = [row[7][0][1] for row in embedded(soup_of(report))["questions"]]
    assert outcomes == ["wrong", "wrong", "correct", "wrong"]


def test_quotes_are_marked_by_javascript_string_offsets():
    report = load_sample()
    citation = report["per_question"][0]["answers"]["rag_extractive"]["citations"][0]
    citation["passage"] = "🧵 Threads: " + citation["passage"]  # one character, two UTF-16 units
    quote = embedded(soup_of(report))["questions"][0][7][1][3][0][3]
    assert quote[0] == citation["passage"].index(citation["quote"]) + 1
    assert utf16_slice(citation["passage"], *quote) == citation["quote"]


def test_per_question_is_read_once_and_may_be_a_generator(sample):
    report = copy.deepcopy(sample)
    rows = report["per_question"]
    report["per_question"] = (row for row in rows)
    data = embedded(soup_of(report))
    report["per_question"] = rows
    check_embedded(data, report)


def test_document_text_renders_inert():
    report = with_payloads(load_sample())
    html = render_html(build_view(report))
    page = BeautifulSoup(html, "html.parser")
    assert len(page.find_all("script")) == 2 and page.find(attrs={"onerror": True}) is None
    assert "<script>window" not in html and "<img src=x" not in html and "alert(1)" not in html
    assert html.count("&lt;script&gt;window.__pwned = 1&lt;/script&gt;") >= 4  # the sections rendered here
    check_embedded(embedded(page), report)  # the questions' text is data, exactly as in report.json
    summary = render_summary(build_view(report))
    assert "<script>" not in summary and "&lt;script&gt;" in summary


def test_optional_sections_are_omitted_when_null():
    report = load_sample()
    for key in OPTIONAL_SECTIONS:
        report[key] = None
    for key in ("comparisons", "latency", "cost", "per_question", "recommendation", "tokens", "prices"):
        del report[key]
    for metrics in report["metrics"].values():
        metrics.pop("format_adherence", None)
    page = soup_of(report)
    for section in (
        "verdict",
        "significance",
        "freshness",
        "latency",
        "cost",
        "format",
        "forgetting",
        "leak",
        "questions",
    ):
        assert page.find(id=section) is None, section
    assert page.find(id="correctness") and page.find(id="arms")
    assert len(page.find_all("img")) == 2
    assert "Tailor compare" in render_summary(build_view(report))


def test_minimal_report_renders():
    report = {"arms": [{"name": "rag", "status": "skipped", "skip_reason": "no knowledge base"}]}
    page = soup_of(report)
    assert "no knowledge base" in page.select_one(".skipped").get_text()
    assert page.find(id="correctness") is None and page.find("img") is None


def test_format_and_leak_fall_back_to_the_arm_metrics():
    report = load_sample()
    report["format"] = report["leak"] = None
    report["metrics"]["finetuned"]["format_adherence"] = {"mean": 0.5, "low": 0.0, "high": 1.0, "n": 4}
    report["metrics"]["finetuned"]["leak_rate"] = {"mean": 0.25, "low": 0.0, "high": 0.75, "n": 4}
    page = soup_of(report)
    assert (
        page.select_one('#format [data-source="/metrics/finetuned/format_adherence/mean"]').get_text()
        == "0.500"
    )
    assert page.select_one('#leak [data-source="/metrics/finetuned/leak_rate/mean"]').get_text() == "0.250"


def test_judge_counts_are_shown_per_arm():
    report = load_sample()
    report["judge"] = {
        "generator": "openai:http://127.0.0.1:8000/v1",
        "arms": {"rag_scratch": {"judged": 3, "failed": 1}},
    }
    page = soup_of(report)
    assert page.select_one('[data-source="/judge/arms/rag_scratch/failed"]').get_text() == "1"
    assert "openai:http://127.0.0.1:8000/v1" in page.find(id="arms").get_text()


def test_a_non_finite_number_is_shown_as_a_dash():
    report = load_sample()
    report["metrics"]["closed_book"]["f1"]["mean"] = float("nan")
    page = soup_of(report)
    assert page.select('[data-source^="/metrics/closed_book/f1"]') == []
    assert page.find(id="correctness").find(string="—") is not None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(arms={"rag": {}}), r"/arms: expected a list"),
        (lambda r: r["arms"][1].update(name=""), r"/arms/1/name: a non-empty string"),
        (lambda r: r["arms"][1].update(status="done"), r"/arms/1/status: expected 'ran' or 'skipped'"),
        (lambda r: r["arms"].append(copy.deepcopy(r["arms"][0])), r"/arms: arm names must be unique"),
        (
            lambda r: r["metrics"]["rag_scratch"]["f1"].update(mean="0.3"),
            r"/metrics/rag_scratch/f1/mean: expected a number",
        ),
        (
            lambda r: r["metrics"]["rag_scratch"]["f1"].pop("mean"),
            r"/metrics/rag_scratch/f1: 'mean' is required",
        ),
        (lambda r: r["latency"].update(rag_scratch=[1, 2]), r"/latency/rag_scratch: expected an object"),
        (
            lambda r: r["per_question"][0]["answers"]["rag_scratch"].update(abstained="no"),
            r"/per_question/0/answers/rag_scratch/abstained: expected true or false",
        ),
    ],
)
def test_bad_input_names_the_field(change, message):
    report = load_sample()
    change(report)
    with pytest.raises(ReportError, match=message):
        build_view(report)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (2.5, "2.50"),
        (0.0, "0.00"),
        (0.0027, "0.00270"),
        (0.05, "0.0500"),
        (1.2e-05, "0.0000120"),
        (-0.25, "-0.2500"),
    ],
)
def test_money_keeps_three_significant_digits_below_one(value, shown):
    assert FORMATS["money"](value) == shown


def test_top_level_must_be_an_object():
    with pytest.raises(ReportError, match="top level"):
        build_view([])  # type: ignore[arg-type]


def test_summary_has_verdict_arms_and_skips(written, sample):
    summary = written["summary"].read_text()
    assert summary.startswith("## Tailor compare: Use RAG")
    assert "**Recommendation: rag**" in summary
    for arm in sample["arms"][:4]:
        escaped = arm["name"].replace("_", "\\_")
        row = next(line for line in summary.splitlines() if line.startswith(f"| {escaped} |"))
        assert sample["metrics"][arm["name"]]["accuracy"]["mean"] == float(row.split("|")[4].split()[0])
    assert "Skipped **hybrid**" in summary and "RAFT" in summary
    assert "rag\\_scratch − finetuned = +0.000 [-0.500, 0.500]: tie" in summary
    assert len(summary.splitlines()) < 30


def test_what_the_verdict_costs_is_stated_beside_it_in_the_page_and_the_summary():
    report = load_sample()
    report["recommendation"]["beside"] = ("rag_extractive: 0.0009 USD per 1,000 queries, p50 12 ms, absorbs new data "
                                          "in 6.4 s (re-index, measured); finetuned: <b>~196 s</b> (retrain)")
    verdict = soup_of(report).find(id="verdict")
    assert "absorbs new data in 6.4 s (re-index, measured)" in verdict.select_one(".beside").get_text()
    assert verdict.find("b") is None
    summary = render_summary(build_view(report))
    assert "**Beside it:** rag\\_extractive: 0.0009 USD per 1,000 queries" in summary and "&lt;b&gt;" in summary
    del report["recommendation"]["beside"]
    assert soup_of(report).select_one("#verdict .beside") is None


def test_summary_escapes_markdown_in_names():
    report = load_sample()
    report["arms"][0]["model"] = "a|b *c* [x](http://e.example)"
    summary = render_summary(build_view(report))
    assert "a\\|b \\*c\\* \\[x\\](http://e.example)" in summary


SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]
TWO_ARMS = ("rag_extractive", "rag_scratch")
FIVE_ARMS = ("closed_book", "rag_extractive", "rag_scratch", "finetuned", "hybrid")


def large_report(
    report: dict[str, Any], questions: int, arms: tuple[str, ...], seed: int = 0
) -> dict[str, Any]:
    """The sample with `questions` questions answered by `arms`, citing 4,800 distinct passages of 300-600
    characters (600 documents of 8 chunks) in pseudo-words with Zipf frequencies, which gzip compresses
    less than the handbook's prose (2.6x), so neither de-duplication nor compression flatters the size."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choices(SYLLABLES, k=rng.choice((1, 2, 2, 3)))) for _ in range(6000)]
    frequencies = list(itertools.accumulate(1 / (rank + 20) for rank in range(len(vocabulary))))

    def sentence() -> str:
        return (
            " ".join(rng.choices(vocabulary, cum_weights=frequencies, k=rng.randint(8, 20))).capitalize()
            + "."
        )

    def passage() -> str:
        text, length = f"Section {rng.randint(1, 9)}.{rng.randint(1, 9)}\n", rng.randint(300, 600)
        while len(text) < length:
            text += sentence() + " "
        return text.strip()

    documents = [(f"area-{d % 12}/doc-{d:04d}.md", f"Document {d}: {sentence()[:30]}") for d in range(600)]
    chunks = [(d, passage()) for d in range(len(documents)) for _ in range(8)]
    report = copy.deepcopy(report)
    report["arms"][4].update(status="ran", skip_reason=None)
    report["per_question"] = []
    for i in range(questions):
        gold = rng.randrange(len(documents))
        retrieved = [gold * 8 + rng.randrange(8), *rng.sample(range(len(chunks)), 4)]
        row = {
            "id": f"q{i:05d}",
            "question": sentence()[:-1] + "?",
            "answerable": rng.random() < 0.9,
            "groups": rng.choice((["public"], ["public"], ["hr"], ["finance", "public"])),
        }
        row.update(
            gold=[" ".join(rng.choices(vocabulary, k=2))] if row["answerable"] else [],
            gold_doc_ids=[documents[gold][0]] if row["answerable"] else [],
            answers={
                arm: answer(rng, arm, row, [chunks[c] for c in retrieved], documents, sentence)
                for arm in arms
            },
        )
        report["per_question"].append(row)
    return report


def answer(
    rng: random.Random,
    arm: str,
    row: dict[str, Any],
    retrieved: list[tuple[int, str]],
    documents: list[tuple[str, str]],
    sentence: Any,
) -> dict[str, Any]:
    """One arm's answer as compare records it: the extractive reader quotes one passage, the model cites
    one to three, the arms without retrieval cite none, and an adapter is refused to callers without hr."""
    timings = {"retrieve": 12.5, "generate": rng.uniform(10, 900), "total": 950.0}
    if arm in ("finetuned", "hybrid") and "hr" not in row["groups"] and rng.random() < 0.5:
        timings = dict.fromkeys(timings, 0.0)
        return {
            "text": "Refused: the adapter was trained on groups hr",
            "abstained": True,
            "scores": {},
            "citations": [],
            "timings_ms": timings,
        }
    retrieves = arm in ("rag_extractive", "rag_scratch", "hybrid")
    abstained = rng.random() < (0.05 if row["answerable"] else 0.5)
    citations = []
    if retrieves and not abstained:
        for marker, (document, text) in enumerate(
            rng.sample(retrieved[:3], 1 if arm == "rag_extractive" else rng.randint(1, 3)), 1
        ):
            quote = (
                rng.choice(text.split("\n", 1)[1].split(". ")).rstrip(".") + "."
                if rng.random() < 0.9
                else sentence()
            )
            citations.append(
                {
                    "marker": marker,
                    "doc_id": documents[document][0],
                    "title": documents[document][1],
                    "source": f"corpus/docs/{documents[document][0]}",
                    "quote": quote,
                    "passage": text,
                    "start": 0,
                    "end": len(quote),
                    "page": None,
                    "supported": rng.random() < 0.85,
                }
            )
    if abstained:
        text = "I cannot answer that from the documents."
    elif arm == "rag_extractive":
        text = citations[0]["quote"] + " [1]"
    else:
        text = " ".join(
            sentence() + (f" [{m}]" if m <= len(citations) else "") for m in range(1, rng.randint(2, 4))
        )
    scores = (
        {"retrieval_recall@5": 1.0, "retrieval_mrr": 1 / rng.randint(1, 5), "retrieval_ndcg@5": rng.random()}
        if retrieves
        else {}
    )
    if not row["answerable"]:
        scores["abstain_correct"] = float(abstained)
    else:
        stated = float(not abstained and rng.random() < 0.6)
        scores.update(
            abstain_wrong=float(abstained),
            exact_match=0.0,
            f1=0.0 if abstained else rng.random(),
            contains=stated,
            accuracy=stated,
        )
        if citations:
            scores.update(grounded=rng.choice((1.0, 0.5, 2 / 3)), citation_precision=1.0, citation_recall=1.0)
    return {
        "text": text,
        "abstained": abstained,
        "scores": scores,
        "citations": citations,
        "timings_ms": timings,
    }


@pytest.mark.slow
@pytest.mark.parametrize("arms", [TWO_ARMS, FIVE_ARMS])
def test_rendering_5000_questions_takes_seconds(sample, tmp_path, arms):
    report = large_report(sample, 5000, arms)
    write_report(sample, tmp_path)  # warm: matplotlib's font cache and the template
    started = time.perf_counter()
    written = write_report(report, tmp_path)
    assert time.perf_counter() - started < 8.0  # 1.9-4.4 s on the shared 2-core machine (load average 7)
    check_embedded(embedded(BeautifulSoup(written["html"].read_text(), "html.parser")), report)


def test_the_weights_leak_probe_is_shown_per_adapter_and_question_set(page):
    rows = page.select("#leak table")[1].select("tbody tr")
    cells = {
        (r.th.get_text(), r.select("td")[0].get_text()): [td.get_text() for td in r.select("td")]
        for r in rows
    }
    assert set(cells) == {("finetuned", "questions"), ("finetuned", "training")}
    assert cells[("finetuned", "training")][1].startswith("0.450 [0.300, 0.600]"), cells
    assert cells[("finetuned", "training")][-1] == "yes" and cells[("finetuned", "questions")][-1] == "no"


def test_an_adapter_shows_its_data_card_and_a_budget_that_cut_its_training(sample):
    report = copy.deepcopy(sample)
    adapter = next(arm["adapter"] for arm in report["arms"] if arm["adapter"])
    adapter["data_card"] = "work/data-compare-qa/card.json"
    adapter["data_quality"] = {"rejected": {"bare_number": 12, "url": 3},
                               "answer_shapes": {"short_number": 0.35, "short_name": 0.58}}
    adapter["training"]["time_budget"] = {"budget_minutes": 10, "stopped_by": "estimate", "epochs": 1.7,
                                          "planned_epochs": 6}
    cell = " ".join(soup_of(report).find(string=lambda s: s and "data card" in s).parent.parent.get_text().split())
    assert "data card work/data-compare-qa/card.json: refused bare_number 12, url 3" in cell
    assert "answers 0.350 short numbers, 0.580 short names" in cell
    assert "cut by the 10.00-minute budget after 1.70 of 6.00 epochs" in cell
    untouched = " ".join(soup_of(sample).get_text().split())
    assert "data card" not in untouched and "budget" not in untouched
