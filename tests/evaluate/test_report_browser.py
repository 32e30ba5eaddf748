"""report.html in headless Chromium: it loads with no console error and no request leaving the file,
its numbers equal report.json, its charts load, a citation opens the passage with the quote marked, and
at 5,000 questions the page stays under 5 MB, opens within 2 s and filters and pages its questions."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report_html import (
    FIVE_ARMS,
    PAYLOAD,
    TWO_ARMS,
    arm_of,
    displayed_matches,
    expected_outcome,
    large_report,
    load_sample,
    resolve,
    with_payloads,
)

from tailor.evaluate.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM}")

READ_NUMBERS = """() => Array.from(document.querySelectorAll('[data-metric]'), e => ({
    source: e.dataset.source, value: e.dataset.value, arm: e.dataset.arm ?? null, text: e.textContent.trim()}))"""
READ_IMAGES = """() => Array.from(document.images, i => ({
    complete: i.complete, width: i.naturalWidth, alt: i.alt, scheme: i.src.split(':')[0]}))"""


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """The sample, with script in the text of question q131 and its answer, quote, passage and title: it
    must show as text and never run; and a character outside the BMP before a quote, which is still marked."""
    report = with_payloads(load_sample())
    citation = report["per_question"][1]["answers"]["rag_extractive"]["citations"][0]
    citation["passage"] = "🧵 " + citation["passage"]
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, path: Path, fragment: str = "") -> tuple[Any, dict[str, list[str]]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    events: dict[str, list[str]] = {"console_errors": [], "page_errors": [], "failed": [], "requests": []}
    page.on("console", lambda m: events["console_errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: events["page_errors"].append(str(error)))
    page.on("requestfailed", lambda request: events["failed"].append(request.url))
    page.on("request", lambda request: events["requests"].append(request.url))
    page.goto(path.as_uri() + fragment, wait_until="load")
    page.locator("table.questions tbody tr").first.wait_for()
    return page, events


@pytest.fixture(scope="module")
def browser_page(browser, report, tmp_path_factory) -> Iterator[tuple[Any, dict[str, list[str]]]]:
    page, events = open_page(browser, write_report(report, tmp_path_factory.mktemp("browser"))["html"])
    yield page, events
    page.close()


def test_loads_without_errors_or_outside_requests(browser_page):
    page, events = browser_page
    assert events["console_errors"] == [] and events["page_errors"] == [] and events["failed"] == []
    assert all(url.startswith(("file:", "data:")) for url in events["requests"]), events["requests"]
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("table.questions").inner_text().count(PAYLOAD) >= 2  # question, answer
    assert page.locator("table.questions script, table.questions img").count() == 0


def test_numbers_equal_report_json(browser_page, report):
    page, _ = browser_page
    numbers = page.evaluate(READ_NUMBERS)
    assert len(numbers) > 300
    for number in numbers:
        expected = resolve(report, number["source"])
        assert float(number["value"]) == expected, number
        assert displayed_matches(number["text"], expected), number
        if number["arm"] is not None:
            assert arm_of(report, number["source"]) in number["arm"].split(" vs "), number


def test_charts_load(browser_page):
    page, _ = browser_page
    images = page.evaluate(READ_IMAGES)
    assert len(images) == 7  # correctness, grounding, freshness, latency, format, forgetting, leak
    for image in images:
        assert image["complete"] and image["width"] > 0 and image["alt"] and image["scheme"] == "data"


def test_answers_show_their_outcome_abstention_and_unanswerable_questions(browser_page, report):
    page, _ = browser_page
    rows = page.locator("table.questions tbody tr")
    assert rows.count() == 4
    assert "unanswerable" in rows.nth(3).locator("th").inner_text()
    assert "unanswerable" not in rows.nth(0).locator("th").inner_text()
    for row, question in zip(range(4), report["per_question"], strict=True):
        shown = rows.nth(row).locator("td .badge[class*=outcome-]").all_inner_texts()
        assert shown == [expected_outcome(question, answer) for answer in question["answers"].values()]
    assert rows.nth(3).locator("td .badge", has_text="abstained").count() == 2


def test_citation_click_reveals_the_passage_with_the_quote_highlighted(browser_page, report, tmp_path):
    page, events = browser_page
    for question, arm in ((1, "rag_extractive"), (2, "rag_scratch")):  # the second one full of script
        citation = report["per_question"][question]["answers"][arm]["citations"][0]
        anchor = f"{report['per_question'][question]['id']}.{arm}.c1"
        passage = page.locator(f"[id='{anchor}']")
        assert not passage.is_visible()
        page.locator(f"a.citation[href='#{anchor}']").click()
        assert page.evaluate("() => location.hash") == f"#{anchor}"
        assert passage.is_visible() and passage.locator("mark").is_visible()
        assert passage.locator("mark").inner_text() == citation["quote"]
        assert passage.locator("blockquote").text_content() == citation["passage"]
    marker = page.locator("a.marker").first
    assert (
        marker.inner_text() == "[1]"
        and page.locator(f"[id='{marker.get_attribute('href')[1:]}']").count() == 1
    )
    assert page.evaluate("() => window.__pwned") is None

    page.get_by_label("Show every cited passage").check()
    assert page.locator(".passage:visible").count() == page.locator(".passage").count() > 1
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if os.access(ARTIFACTS, os.W_OK):
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    except OSError:
        pass  # the artifact copy is a convenience; the screenshot above is the check
    assert events["console_errors"] == [] and events["page_errors"] == []


def test_in_the_web_uis_sandboxed_frame_a_citation_opens_its_passage(browser, report, tmp_path):
    """tailor serve shows a report from a blob URL in <iframe sandbox="allow-scripts">, where the browser
    refuses fragment links: the script opens the passage instead."""
    html = write_report(report, tmp_path)["html"].read_text(encoding="utf-8")
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    frame_page = '<iframe id="report-frame" sandbox="allow-scripts" width="1200" height="800"></iframe>'
    page.route("http://ui.test/", lambda route: route.fulfill(content_type="text/html", body=frame_page))
    page.goto("http://ui.test/")
    page.evaluate(
        "html => document.getElementById('report-frame').src = URL.createObjectURL(new Blob([html], {type: 'text/html'}))",
        html,
    )
    frame = page.frame_locator("#report-frame")
    citation = report["per_question"][0]["answers"]["rag_extractive"]["citations"][0]
    frame.locator("a.citation[href='#q001.rag_extractive.c1']").click()
    assert frame.locator(".passage.open mark").inner_text() == citation["quote"]
    assert frame.locator(".passage:visible").count() == 1 and errors == []
    page.close()


def outcomes(report: dict[str, Any], arms: list[str]) -> list[set[str]]:
    return [
        {expected_outcome(q, q["answers"][arm]) for arm in arms if arm in q["answers"]}
        for q in report["per_question"]
    ]


def expected_counts(report: dict[str, Any]) -> dict[tuple[tuple[str, str], ...], int]:
    """Filters (by the label each select shows) and how many questions report.json says they match."""
    rows = report["per_question"]
    cited = [{c["doc_id"] for a in q["answers"].values() for c in a["citations"]} for q in rows]
    document = rows[7]["gold_doc_ids"][0]
    return {
        (): len(rows),
        (("arm", "rag_extractive"), ("outcome", "abstained")): sum(
            "abstained" in found for found in outcomes(report, ["rag_extractive"])
        ),
        (("outcome", "wrong"),): sum("wrong" in found for found in outcomes(report, list(TWO_ARMS))),
        (("outcome", "refused"),): 0,
        (("group", "hr"),): sum("hr" in q["groups"] for q in rows),
        (("document", document),): sum(
            document in q["gold_doc_ids"] or document in docs for q, docs in zip(rows, cited, strict=True)
        ),
        (("group", "finance"), ("arm", "rag_scratch"), ("outcome", "correct")): sum(
            "finance" in q["groups"] and "correct" in found
            for q, found in zip(rows, outcomes(report, ["rag_scratch"]), strict=True)
        ),
    }


@pytest.fixture(scope="module")
def large_reports(tmp_path_factory) -> dict[str, tuple[dict[str, Any], Path, float]]:
    """5,000 questions with two arms and with five: report.json, report.html and write_report's seconds."""
    written = {}
    for arms in (TWO_ARMS, FIVE_ARMS):
        report = large_report(load_sample(), 5000, arms)
        started = time.perf_counter()
        paths = write_report(report, tmp_path_factory.mktemp(f"arms{len(arms)}"))
        written[f"{len(arms)} arms"] = (report, paths["html"], time.perf_counter() - started)
    return written


@pytest.mark.parametrize("arms", ["2 arms", "5 arms"])
def test_5000_questions_stay_under_5_mb_and_open_within_2_s(browser, large_reports, arms):
    _, html, render_seconds = large_reports[arms]
    size = html.stat().st_size
    started = time.perf_counter()
    page, events = open_page(browser, html)  # "load", then the first page of questions rendered
    seconds = time.perf_counter() - started
    print(
        f"\n{arms}: report.html {size / 1e6:.2f} MB, opened in {seconds:.2f} s, written in {render_seconds:.1f} s"
    )
    assert size <= 5_000_000 and seconds <= 2.0
    assert page.locator("table.questions tbody tr").count() == 50
    assert events["console_errors"] == [] and events["page_errors"] == []
    page.close()


def test_5000_questions_filter_and_page_as_report_json_counts(browser, large_reports):
    report, html, _ = large_reports["2 arms"]
    page, _ = open_page(browser, html)
    status = page.locator("#questions-status")
    for filters, expected in expected_counts(report).items():
        for name in ("arm", "outcome", "document", "group"):
            page.select_option(
                f"#filter-{name}", label=dict(filters).get(name, "all arms" if name == "arm" else "any")
            )
        assert int(status.get_attribute("data-matching")) == expected, filters
        assert int(status.get_attribute("data-pages")) == max(1, math.ceil(expected / 50)), filters
        rows = page.locator("table.questions tbody tr")
        assert rows.count() == min(expected, 50), filters
        if dict(filters).get("arm"):
            assert page.locator("table.questions thead th").all_inner_texts() == [
                "Question",
                dict(filters)["arm"],
            ]
    page.select_option("#filter-group", label="any")
    page.fill("#filter-text", report["per_question"][4321]["question"][5:40].upper())
    assert status.get_attribute("data-matching") == "1"
    assert page.locator("table.questions tbody .qid").inner_text() == "q04321"

    page.fill("#filter-text", "")
    page.select_option("#filter-outcome", label="any")
    page.get_by_role("button", name="Next").click()
    assert status.inner_text() == "Questions 51–100 of 5000, page 2 of 100"
    assert page.locator("table.questions tbody .qid").first.inner_text() == "q00050"
    page.get_by_label("Page", exact=True).fill("100")
    page.get_by_label("Page", exact=True).press("Enter")
    assert page.get_by_role("button", name="Next").is_disabled()
    assert page.locator("table.questions tbody .qid").all_inner_texts()[-1] == "q04999"
    page.get_by_role("button", name="Previous").click()
    assert status.inner_text() == "Questions 4901–4950 of 5000, page 99 of 100"
    numbers = page.evaluate(READ_NUMBERS)
    assert numbers and all(float(n["value"]) == resolve(report, n["source"]) for n in numbers)
    page.close()


def test_a_link_to_a_question_or_passage_opens_its_page(browser, large_reports):
    report, html, _ = large_reports["2 arms"]
    page, _ = open_page(browser, html, "#q-q04321")
    assert page.locator("#questions-status").get_attribute("data-page") == "87"
    assert page.locator("#q-q04321").is_visible()
    page.close()
    index, citation = next(
        (i, cited[0])
        for i, q in enumerate(report["per_question"])
        if i >= 50
        and (cited := q["answers"]["rag_scratch"]["citations"])
        and cited[0]["quote"] in cited[0]["passage"]
    )  # on page 2 or later
    page, _ = open_page(browser, html, f"#q{index:05d}.rag_scratch.c1")
    passage = page.locator(f"[id='q{index:05d}.rag_scratch.c1']")
    assert passage.is_visible() and passage.locator("mark").inner_text() == citation["quote"]
    page.close()
