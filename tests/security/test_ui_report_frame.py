"""The web UI's Reports view runs the report's own script (issue 25, item 6): the report is loaded from its
`/reports/...` URL into a sandboxed frame with a one-minute link, so the report's own Content-Security-Policy
governs the frame (not the UI page's, as a `blob:` URL did), the question rows draw, the frame has an opaque
origin, and the key is never in a URL. A screenshot goes to out/test-artifacts/security/."""

import json
import time
from pathlib import Path

import httpx
import pytest

from helpers.serve_support import Keys, running
from tailor.evaluate.report import write_report
from tailor.serve.app import create_app
from tailor.serve.keys import KeyStore
from tailor.serve.report_links import ReportLinks
from tailor.serve.reports import ReportShelf

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "evaluate" / "fixtures" / "report_sample.json"
ARTIFACTS = REPO / "out" / "test-artifacts" / "security"
H = Keys.header

# Run inside the frame: its policies, origin and reach, and whether an injected inline script runs.
PROBE_FRAME = """async () => {
  const violations = [];
  document.addEventListener("securitypolicyviolation", (e) => violations.push(e.effectiveDirective));
  const injected = document.createElement("script");
  injected.textContent = "window.__injected = 1";
  document.body.append(injected);
  await new Promise((resolve) => setTimeout(resolve, 100));
  let parentStorage;
  try { parentStorage = String(window.parent.sessionStorage.length); } catch (e) { parentStorage = e.name; }
  return {
    meta: document.querySelector('meta[http-equiv="Content-Security-Policy"]').content,
    origin: window.origin,
    injectedRan: window.__injected === 1,
    violations,
    parentStorage,
    status: document.getElementById("questions-status").textContent,
  };
}"""


@pytest.fixture(scope="module")
def reports_server(served, embedder):
    kb_path, settings, _ = served
    shelf = ReportShelf(settings.serve.reports)
    for name, groups in (("sample-run", ["public"]), ("hr-run", ["hr", "public"]), ("regrouped", ["public"])):
        folder = settings.serve.reports / name
        write_report(json.loads(SAMPLE.read_text()), folder)
        shelf.record(folder, groups)
    app = create_app(kb_path, settings, embedder=embedder)
    with running(app) as base:
        yield base, app.state.serve


def link(base: str, key: str, name: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/reports/{name}/link", headers=H(key))


def test_a_link_opens_one_report_for_one_key_and_never_holds_the_key(reports_server, keys, served):
    base, state = reports_server
    issued = link(base, keys.public_admin, "sample-run")
    assert issued.status_code == 200 and issued.json()["expires_in"] == 60
    url = issued.json()["url"]
    assert url.startswith("/reports/sample-run/report.html?access=")
    assert keys.public_admin.split(".", 1)[1] not in url  # the key's secret is never in a URL

    page = httpx.get(base + url)  # no Authorization header: the frame cannot send one
    assert page.status_code == 200 and "questions-data" in page.text
    assert page.headers["content-security-policy"] == "sandbox allow-scripts; frame-ancestors 'self'"
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"

    access = url.split("access=", 1)[1]
    assert httpx.get(f"{base}/reports/regrouped/report.html?access={access}").status_code == 401  # one report
    key_id, expires, mac = access.split(".")
    for forged in (f"{key_id}.{int(expires) + 3600}.{mac}", f"{key_id}.{expires}.{mac[:-2]}AA", f"{key_id}..{mac}",
                   "", "x", f"{keys.admin.split('.')[0].removeprefix('tailor-')}.{expires}.{mac}"):
        refused = httpx.get(f"{base}/reports/sample-run/report.html", params={"access": forged})
        assert refused.status_code == 401 and refused.json()["error"]["param"] == "access", forged

    assert link(base, keys.public, "sample-run").status_code == 403  # not an admin key
    hidden, missing = link(base, keys.public_admin, "hr-run"), link(base, keys.public_admin, "no-such-run")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"] == "name: no report hr-run"

    later = link(base, keys.public_admin, "regrouped").json()["url"]
    ReportShelf(served[1].serve.reports).record(served[1].serve.reports / "regrouped", ["hr"])
    assert httpx.get(base + later).status_code == 404  # the report's groups are checked again on use


def test_an_expired_link_or_a_revoked_key_opens_nothing(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    key, _ = store.create(("public",), admin=True)
    links = ReportLinks()
    assert links.check(links.issue(key, "run"), "run", store) == key
    assert links.check(links.issue(key, "run"), "other", store) is None
    assert links.check(ReportLinks().issue(key, "run"), "run", store) is None  # another server's secret
    expired = ReportLinks(ttl_seconds=-1)
    assert expired.check(expired.issue(key, "run"), "run", store) is None
    access = links.issue(key, "run")
    time.sleep(0.01)
    store.revoke(key.id)
    assert links.check(access, "run", store) is None


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_the_reports_view_draws_the_question_rows_under_the_reports_own_policy(browser, reports_server, keys):
    base, _ = reports_server
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    problems, report_headers = [], {}
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda r: problems.append(r.url) if not r.url.startswith(base) else None)
    page.on("response", lambda r: report_headers.update(r.headers) if "/reports/sample-run/" in r.url else None)

    page.goto(base)
    page.get_by_label("API key").fill(keys.admin)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Reports").click()
    page.get_by_role("button", name="sample-run").click()
    rows = page.frame_locator("#report-frame").locator("table.questions tbody tr")
    rows.first.wait_for(timeout=30_000)
    assert rows.count() > 0

    table = page.frame_locator("#report-frame").locator("table.questions")
    assert table.evaluate("t => getComputedStyle(t).borderCollapse") == "collapse"  # its inline styles apply
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-report-frame.png"), full_page=True)
    page.frame_locator("#report-frame").locator("#questions-status").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "ui-report-frame-questions.png"), full_page=True)
    assert problems == []  # no console error, no blocked script or style, no request leaving the server

    frame_element = page.locator("#report-frame")
    assert frame_element.get_attribute("sandbox") == "allow-scripts"
    src = frame_element.get_attribute("src")
    assert src.startswith("/reports/sample-run/report.html?access=") and keys.admin.split(".", 1)[1] not in src
    assert report_headers["content-security-policy"] == "sandbox allow-scripts; frame-ancestors 'self'"
    probe = frame_element.element_handle().content_frame().evaluate(PROBE_FRAME)
    assert "script-src 'sha256-" in probe["meta"] and "default-src 'none'" in probe["meta"]
    assert probe["injectedRan"] is False and "script-src-elem" in probe["violations"]  # its meta policy rules
    assert probe["origin"] == "null"  # opaque: the report's script cannot act as the UI's origin ...
    assert probe["parentStorage"] == "SecurityError"  # ... nor read the key the UI keeps in sessionStorage
    assert "Loading" not in probe["status"]
    context.close()
