// The Tailor web UI: plain DOM code over the /v1 API. Document and answer text is only ever set as
// text (textContent), never parsed as HTML: documents are data.
"use strict";

const KEY_STORAGE = "tailor.key";
const $ = (id) => document.getElementById(id);
let me = null;

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

class ApiError extends Error {}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY_STORAGE) || ""}`, ...options.headers };
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch { /* not JSON */ }
    if (response.status === 401 && me) signOut(message);
    throw new ApiError(message);
  }
  return response;
}

async function getJSON(path) {
  return (await api(path)).json();
}

function docUrl(docId) {
  return "/v1/documents/" + docId.split("/").map(encodeURIComponent).join("/");
}

// -- sign in ------------------------------------------------------------------------------------
async function signIn(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    me = await getJSON("/v1/me");
  } catch (error) {
    sessionStorage.removeItem(KEY_STORAGE);
    me = null;
    $("login-error").textContent = error.message;
    return;
  }
  $("login-error").textContent = "";
  $("who").textContent = `Key ${me.id} · groups ${me.groups.join(", ")}${me.admin ? " · admin" : ""}`;
  $("login-view").hidden = true;
  $("tabs").hidden = false;
  $("logout").hidden = false;
  for (const node of document.querySelectorAll("[data-admin]")) node.hidden = !me.admin;
  await loadStrategies();
  show("ask-view");
}

function signOut(message = "") {
  sessionStorage.removeItem(KEY_STORAGE);
  me = null;
  $("who").textContent = "";
  $("logout").hidden = true;
  $("tabs").hidden = true;
  for (const view of document.querySelectorAll(".view")) view.hidden = true;
  $("answers").replaceChildren();
  $("passage").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message;
  $("api-key").value = "";
}

function show(viewId) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== viewId;
  for (const tab of document.querySelectorAll("#tabs button")) {
    if (tab.dataset.view === viewId) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (viewId === "documents-view") loadDocuments();
  if (viewId === "reports-view") loadReports();
}

// -- ask ----------------------------------------------------------------------------------------
async function loadStrategies() {
  const models = (await getJSON("/v1/models")).data;
  const box = $("strategies");
  box.replaceChildren(box.querySelector("legend") || element("legend", { text: "Strategies" }));
  models.forEach((model, i) => {
    const id = `strategy-${i}`;
    const input = element("input", { type: "checkbox", id, name: "strategy", value: model.id });
    input.checked = model.id === "rag";
    box.append(element("div", { class: "choice" }, input,
      element("label", { for: id, text: model.id, title: model.description })));
  });
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  const chosen = [...document.querySelectorAll("input[name=strategy]:checked")].map((input) => input.value);
  $("ask-error").textContent = chosen.length ? "" : "Choose at least one strategy.";
  if (!question || !chosen.length) return;
  $("answers").replaceChildren();
  $("passage").hidden = true;
  const topK = Number($("top-k").value) || undefined;
  await Promise.all(chosen.map((strategy) => askOne(question, strategy, topK)));
}

async function askOne(question, strategy, topK) {
  const card = element("article", { class: "card answer", "aria-busy": "true" },
    element("h3", { text: strategy }));
  const text = element("p", { class: "answer-text" });
  card.append(text);
  $("answers").append(card);
  try {
    const response = await api("/v1/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, strategy, top_k: topK, stream: true }),
    });
    for await (const [name, data] of sseEvents(response)) {
      if (name === "token") text.textContent += data.text;
      else if (name === "answer") renderAnswer(card, text, data);
      else if (name === "error") throw new ApiError(data.error.message);
    }
  } catch (error) {
    card.append(element("p", { class: "error", role: "alert", text: error.message }));
  } finally {
    card.setAttribute("aria-busy", "false");
  }
}

async function* sseEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      yield [name, JSON.parse(data)];
    }
  }
}

function renderAnswer(card, textNode, answer) {
  const byMarker = new Map(answer.citations.map((c) => [c.marker, c]));
  textNode.replaceChildren();
  // "[n]" markers that match a citation become buttons; everything else stays plain text.
  for (const part of answer.text.split(/(\[\d+\])/)) {
    const marker = /^\[(\d+)\]$/.exec(part);
    const citation = marker && byMarker.get(Number(marker[1]));
    textNode.append(citation ? citationButton(citation, `[${citation.marker}]`) : part);
  }
  if (answer.abstained) {
    card.classList.add("abstained");
    card.insertBefore(element("p", { class: "badge", text: "Abstained: no answer given" }),
      textNode);
  }
  if (answer.citations.length) {
    const sources = element("ol", { class: "sources", "aria-label": `Sources of ${answer.model}` });
    for (const citation of dedupe(answer.citations)) {
      sources.append(element("li", { value: String(citation.marker) },
        citationButton(citation, citation.title || citation.doc_id)));
    }
    card.append(sources);
  }
  const timings = element("table", { class: "timings" },
    element("caption", { text: "Time per stage (ms)" }));
  for (const [stage, ms] of Object.entries(answer.timings_ms)) {
    timings.append(element("tr", {}, element("th", { scope: "row", text: stage }),
      element("td", { text: ms.toFixed(1) })));
  }
  card.append(timings);
}

function dedupe(citations) {
  const seen = new Set();
  return citations.filter((c) => !seen.has(c.marker) && seen.add(c.marker));
}

function citationButton(citation, label) {
  return element("button", {
    type: "button", class: "cite", text: label,
    "aria-label": `Show source ${citation.marker}: ${citation.title || citation.doc_id}`,
    onclick: () => showPassage(citation),
  });
}

async function showPassage(citation) {
  const panel = $("passage");
  try {
    const doc = await getJSON(docUrl(citation.doc_id));
    const text = doc.text;
    const mark = element("mark", { text: text.slice(citation.start, citation.end) });
    $("passage-text").replaceChildren(text.slice(0, citation.start), mark, text.slice(citation.end));
    $("passage-title").textContent = `[${citation.marker}] ${doc.title || doc.id}`;
    $("passage-meta").textContent = `${doc.id} · characters ${citation.start}–${citation.end}` +
      (citation.page ? ` · page ${citation.page}` : "");
    panel.hidden = false;
    mark.scrollIntoView({ block: "center" });
    $("passage-text").focus({ preventScroll: true });
  } catch (error) {
    $("ask-error").textContent = error.message;
  }
}

// -- documents ----------------------------------------------------------------------------------
async function loadDocuments() {
  const body = $("documents").querySelector("tbody");
  try {
    const documents = await getJSON("/v1/documents");
    body.replaceChildren(...documents.map((doc) => {
      const row = element("tr", {},
        element("td", { text: doc.id }), element("td", { text: doc.title }),
        element("td", { text: doc.groups.join(", ") }), element("td", { text: String(doc.chunks) }));
      if (me.admin) {
        row.append(element("td", {}, element("button", {
          type: "button", text: "Delete", "aria-label": `Delete ${doc.id}`,
          onclick: () => deleteDocument(doc.id),
        })));
      }
      return row;
    }));
  } catch (error) {
    $("upload-error").textContent = error.message;
  }
}

async function deleteDocument(docId) {
  if (!window.confirm(`Delete ${docId}?`)) return;
  try {
    await api(docUrl(docId), { method: "DELETE" });
  } catch (error) {
    $("upload-error").textContent = error.message;
  }
  await loadDocuments();
}

async function upload(event) {
  event.preventDefault();
  const form = new FormData();
  for (const file of $("upload-files").files) form.append("files", file);
  form.append("groups", $("upload-groups").value);
  $("upload-error").textContent = "";
  try {
    const accepted = await (await api("/v1/documents", { method: "POST", body: form })).json();
    await followJob(accepted.job.id);
  } catch (error) {
    $("upload-error").textContent = error.message;
  }
  await loadDocuments();
}

async function followJob(jobId) {
  for (;;) {
    const job = await getJSON(`/v1/jobs/${encodeURIComponent(jobId)}`);
    renderJob(job);
    if (!["queued", "running"].includes(job.status)) return;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

function renderJob(job) {
  const box = $("job");
  box.replaceChildren(element("p", { class: `status ${job.status}`, text: `Ingestion ${job.id}: ${job.status}` }));
  for (const [phase, { done, total }] of Object.entries(job.progress)) {
    const id = `progress-${phase}`;
    box.append(element("label", { for: id, text: `${phase} ${done}/${total}` }),
      element("progress", { id, max: String(Math.max(total, 1)), value: String(done) }));
  }
  if (job.errors.length) {
    const list = element("ul", { class: "errors", "aria-label": "Files not ingested" });
    for (const error of job.errors) list.append(element("li", { text: `${error.item}: ${error.reason}` }));
    box.append(list);
  }
  if (job.message) box.append(element("p", { class: "error", text: job.message }));
}

// -- reports ------------------------------------------------------------------------------------
async function loadReports() {
  const list = $("reports");
  try {
    const reports = await getJSON("/v1/reports");
    list.replaceChildren(...reports.map((report) => element("li", {},
      element("button", { type: "button", text: report.name, onclick: () => openReport(report) }),
      ` ${new Date(report.modified * 1000).toLocaleString()}`)));
    if (!reports.length) list.replaceChildren(element("li", { text: "No reports (start the server with --reports DIR)." }));
  } catch (error) {
    list.replaceChildren(element("li", { class: "error", text: error.message }));
  }
}

async function openReport(report) {
  // The frame loads the report from its own URL, so its own Content-Security-Policy governs it (a blob: URL
  // would inherit this page's, which blocks the report's script). The frame cannot send the key, so the URL
  // carries a one-minute link for this report and key, never the key; sandbox="allow-scripts" without
  // allow-same-origin gives the report an opaque origin, cut off from this page and its stored key.
  const frame = $("report-frame");
  try {
    const link = await (await api(`/v1/reports/${encodeURIComponent(report.name)}/link`, { method: "POST" })).json();
    frame.src = link.url;
    frame.hidden = false;
  } catch (error) {
    frame.hidden = true;
    $("reports").append(element("li", { class: "error", role: "alert", text: error.message }));
  }
}

// -- wiring -------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("api-key").value.trim());
  });
  $("logout").addEventListener("click", () => signOut());
  for (const tab of document.querySelectorAll("#tabs button")) {
    tab.addEventListener("click", () => show(tab.dataset.view));
  }
  $("ask-form").addEventListener("submit", ask);
  $("upload-form").addEventListener("submit", upload);
  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (saved) signIn(saved);
});
