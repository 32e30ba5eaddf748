"""The web UI in headless Chromium against a real server: sign in, upload, ask, open a citation;
a key of another group never sees the uploaded document; delete it; the API reference at /docs. Screenshots go
to out/test-artifacts/serve/."""

from pathlib import Path

import pytest

from helpers.serve_support import running
from tailor.serve.app import create_app
from tailor.serve.reports import ReportShelf

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts" / "serve"
QUESTION = "Which frame material does the Zephyr loom use?"
ZEPHYR = ("# Zephyr launch\n\nThe Zephyr loom ships on 3 May 2027.\n\n"
          "The Zephyr loom uses a titanium frame with carbon heddles.\n")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def ui(served, embedder):
    kb_path, settings, _ = served
    reports = settings.serve.reports
    (reports / "handbook-run").mkdir(parents=True)
    ReportShelf(reports).record(reports / "handbook-run", ["hr", "public"])
    (reports / "handbook-run" / "report.html").write_text("<!doctype html><title>r</title><h1>RAG wins</h1>")
    with running(create_app(kb_path, settings, embedder=embedder)) as base:
        yield base


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, base: str, key: str) -> None:
    page.goto(base)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Ask").wait_for()


def test_upload_ask_cite_and_groups_in_a_real_browser(browser, ui, keys, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: problems.append(r.url) if not r.url.startswith((ui, "data:")) else None)

    page.goto(ui)
    shot(page, "1-sign-in")
    page.get_by_label("API key").fill("tailor-knope.wrong")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("unknown or revoked API key").wait_for()
    problems.clear()  # the refused key's 401 is logged by the browser

    sign_in(page, ui, keys.admin)
    page.get_by_role("button", name="Documents").click()
    upload = tmp_path / "zephyr-launch.md"
    upload.write_text(ZEPHYR)
    page.get_by_label("Files").set_input_files(str(upload))
    page.get_by_label("Access groups").fill("hr")
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("succeeded").wait_for(timeout=60_000)
    page.get_by_role("cell", name="zephyr-launch.md", exact=True).wait_for()
    shot(page, "2-documents")

    page.get_by_role("button", name="Ask", exact=True).first.click()
    page.get_by_label("Question").fill(QUESTION)
    page.get_by_label("closed_book").check()
    page.get_by_role("button", name="Ask", exact=True).last.click()
    rag, closed_book = (page.locator("article.answer", has=page.get_by_role("heading", name=name, exact=True))
                        for name in ("rag", "closed_book"))
    rag.get_by_text("titanium frame").wait_for(timeout=60_000)
    closed_book.get_by_text("Abstained").wait_for(timeout=60_000)  # closed book with the extractive reader
    assert page.locator("article.answer").count() == 2
    rag.get_by_role("button", name="Show source 1").first.click()
    mark = page.locator("#passage-text mark")
    mark.wait_for()
    assert "titanium frame" in mark.inner_text() and mark.is_visible()
    assert "zephyr-launch.md" in page.locator("#passage-meta").inner_text()
    assert page.get_by_role("table", name="Time per stage (ms)").first.is_visible()
    shot(page, "3-answers-and-passage")

    page.get_by_role("button", name="Reports").click()
    page.get_by_role("button", name="handbook-run").click()
    frame = page.frame_locator("#report-frame")
    frame.get_by_text("RAG wins").wait_for()
    shot(page, "4-reports")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, ui, keys.public)
    assert page.get_by_role("button", name="Reports").is_hidden()
    page.get_by_label("Question").fill(QUESTION)
    page.get_by_role("button", name="Ask", exact=True).last.click()
    page.locator("article.answer").first.get_by_text("Abstained").wait_for(timeout=60_000)
    assert page.locator("#answers").get_by_text("zephyr").count() == 0
    shot(page, "5-other-group-abstains")
    page.get_by_role("button", name="Documents").click()
    page.get_by_role("cell", name="policies/travel.md").wait_for()
    assert page.get_by_role("cell", name="zephyr-launch.md").count() == 0
    assert page.locator("#upload-form").is_hidden()
    shot(page, "6-documents-other-group")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, ui, keys.admin)
    page.get_by_role("button", name="Documents").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete zephyr-launch.md").click()
    page.get_by_role("cell", name="zephyr-launch.md", exact=True).wait_for(state="detached")

    page.goto(f"{ui}/docs")  # the API reference, rendered without any outside script
    page.get_by_role("heading", name="POST /v1/chat/completions").wait_for()
    shot(page, "7-api-docs")
    assert problems == []
    context.close()
