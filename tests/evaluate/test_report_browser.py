"""report.html in headless Chromium: it loads with no console error and no request leaving the file,
its numbers equal report.json, its charts load, and a citation opens the passage with the quote marked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report_html import PAYLOAD, arm_of, displayed_matches, load_sample, resolve

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
    """The sample, with script in one answer: it must show as text and never run."""
    report = load_sample()
    report["per_question"][2]["answers"]["rag_scratch"]["text"] += " " + PAYLOAD
    return report


@pytest.fixture(scope="module")
def browser_page(report, tmp_path_factory) -> Iterator[tuple[Any, dict[str, list[str]]]]:
    sync_api = pytest.importorskip("playwright.sync_api")
    paths = write_report(report, tmp_path_factory.mktemp("browser"))
    events: dict[str, list[str]] = {"console_errors": [], "page_errors": [], "failed": [], "requests": []}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: events["console_errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: events["page_errors"].append(str(error)))
        page.on("requestfailed", lambda request: events["failed"].append(request.url))
        page.on("request", lambda request: events["requests"].append(request.url))
        page.goto(paths["html"].as_uri(), wait_until="load")
        yield page, events
        browser.close()


def test_loads_without_errors_or_outside_requests(browser_page):
    page, events = browser_page
    assert events["console_errors"] == [] and events["page_errors"] == [] and events["failed"] == []
    assert all(url.startswith(("file:", "data:")) for url in events["requests"]), events["requests"]
    assert page.evaluate("() => window.__pwned") is None
    assert PAYLOAD in page.locator("table.questions").inner_text()


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


def test_citation_click_reveals_the_passage_with_the_quote_highlighted(browser_page, report, tmp_path):
    page, events = browser_page
    citation = report["per_question"][1]["answers"]["rag_extractive"]["citations"][0]
    link = page.locator("a.citation[href='#q053-rag_extractive-c1']")
    passage = page.locator("#q053-rag_extractive-c1")
    assert not passage.is_visible()
    link.click()
    assert page.evaluate("() => location.hash") == "#q053-rag_extractive-c1"
    assert passage.is_visible() and passage.locator("mark").is_visible()
    assert passage.locator("mark").inner_text() == citation["quote"]
    assert passage.locator("blockquote").text_content() == citation["passage"]

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
