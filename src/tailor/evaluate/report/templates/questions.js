// The per-question table of report.html. Its data (the shape is documented in questions.py) is embedded
// once, gzipped; this script unpacks it, filters and pages it, and renders one page of rows. Text from
// report.json only ever becomes text nodes or attribute values, never markup.
"use strict";

const PAGE_SIZE = 50;
const MARKER = /\[(\d+)\]/g;
const $ = (id) => document.getElementById(id);

async function unpack(block) {
  const binary = atob(block.textContent);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const data = JSON.parse(await new Response(stream).text());
  data.questions = data.questions.map(([id, anchor, text, answerable, gold, documents, groups, answers]) => (
    { id, anchor, text, answerable, gold, documents, groups, answers }
  ));
  return data;
}

// An element with attributes and children; strings become text nodes.
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function pointer(...parts) {
  return parts.map((part) => "/" + String(part).replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}

function sourceName(source, data) {
  const [doc, title] = data.sources[source];
  return title || data.documents[doc];
}

// -- one row ---------------------------------------------------------------------------------------
function questionCell({ id, text, answerable, gold, documents, groups }, data) {
  const cell = el("th", { scope: "row" }, el("span", { class: "qid" }, id), `: ${text}`);
  const notes = [
    [gold, "Gold", " / "],
    [documents.map((doc) => data.documents[doc]), "Documents", ", "],
    [groups, "Groups", ", "],
  ];
  if (!answerable) cell.append(el("br", {}), el("span", { class: "badge" }, "unanswerable"));
  for (const [values, label, separator] of notes) {
    if (!values.length) continue;
    cell.append(el("br", {}), el("span", { class: "note" }, `${label}: ${values.join(separator)}`));
  }
  return cell;
}

// The answer, each "[n]" that has a citation a link to the first passage cited as [n].
function linkedAnswer(text, idOfMarker) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    const id = idOfMarker.get(Number(match[1]));
    if (id === undefined) continue;
    parts.push(text.slice(last, match.index), el("a", { class: "marker", href: `#${id}` }, match[0]));
    last = match.index + match[0].length;
  }
  return el("p", { class: "answer" }, ...parts, text.slice(last));
}

// A score as the page's other numbers are printed: its exact value and its JSON pointer into report.json.
function score([metric, value], index, arm, data) {
  const [name, label] = data.metrics[metric];
  const number = el("span", {
    class: "num", "data-metric": name, "data-stat": "score", "data-value": String(value), "data-arm": arm,
    "data-source": pointer("per_question", index, "answers", arm, "scores", name),
  }, value.toFixed(3));
  return el("li", {}, `${label}: `, number);
}

function passage([marker, source, passageIndex, quote, page], id, data) {
  const [doc, , path] = data.sources[source];
  const text = data.passages[passageIndex];
  const found = Array.isArray(quote);  // [start, end] in the passage, else the quote's own text
  const meta = [el("code", {}, data.documents[doc])];
  if (page !== null) meta.push(`, page ${page}`);
  if (path) meta.push(`, ${path}`);
  const block = el(
    "div", { class: "passage", id, role: "note", "aria-label": `Passage cited as [${marker}]` },
    el("strong", {}, `[${marker}] ${sourceName(source, data)}`), " ", el("span", { class: "note" }, ...meta),
    found
      ? el("blockquote", {},
        text.slice(0, quote[0]), el("mark", {}, text.slice(quote[0], quote[1])), text.slice(quote[1]))
      : el("blockquote", {}, text),
  );
  if (!found && quote) {
    const note = "Quoted sentence (not found verbatim in the passage): ";
    block.append(el("p", { class: "note" }, note, el("q", {}, quote)));
  }
  return block;
}

function answerCell(question, index, column, data) {
  const answer = question.answers[column];
  if (!answer) return el("td", {}, el("span", { class: "missing" }, "no answer"));
  const [text, outcome, scores, citations] = answer;
  const arm = data.arms[column];
  const ids = citations.map((_, i) => `${question.anchor}.${data.anchors[column]}.c${i + 1}`);
  const idOfMarker = new Map();
  citations.forEach(([marker], i) => idOfMarker.has(marker) || idOfMarker.set(marker, ids[i]));
  const cell = el("td", {},
    linkedAnswer(text, idOfMarker), el("span", { class: `badge outcome-${outcome}` }, outcome));
  if (scores.length) {
    cell.append(el("ul", { class: "scores" }, ...scores.map((s) => score(s, index, arm, data))));
  }
  if (citations.length) {
    cell.append(el("ol", { class: "citations" }, ...citations.map(([marker, source, , , , supported], i) => {
      const name = `[${marker}] ${sourceName(source, data)}`;
      const item = el("li", {}, el("a", { class: "citation", href: `#${ids[i]}` }, name));
      if (!supported) item.append(" ", el("span", { class: "badge bad" }, "unsupported"));
      return item;
    })));
    cell.append(...citations.map((citation, i) => passage(citation, ids[i], data)));
  }
  return cell;
}

// A citation or marker link opens its passage by script, since the server's web UI shows reports in a
// sandboxed frame where the browser refuses a fragment link.
function openPassage(event) {
  const link = event.target.closest("a.citation, a.marker");
  if (!link) return;
  event.preventDefault();
  const id = link.getAttribute("href").slice(1);
  reveal($(id));
  history.replaceState(null, "", `#${id}`);
}

function reveal(element) {
  document.querySelector(".passage.open")?.classList.remove("open");
  if (element.classList.contains("passage")) element.classList.add("open");
  element.scrollIntoView({ block: "nearest" });
}

// -- filters and pages -----------------------------------------------------------------------------
function readFilters() {
  return {
    arm: $("filter-arm").value,
    outcome: $("filter-outcome").value,
    document: $("filter-document").value,
    group: $("filter-group").value,
    text: $("filter-text").value.trim().toLowerCase(),
  };
}

// A question matches when it has the group, and one shown arm's answer has the outcome, is about the
// document (a gold document of the question, or cited by that answer) and holds the text. With no arm,
// outcome, document or text chosen, every question of the group matches, answered or not.
function matcher(filters, columns, data) {
  const doc = filters.document === "" ? null : Number(filters.document);
  const byAnswer = filters.arm !== "" || filters.outcome || doc !== null || filters.text;
  return ({ id, text, gold, documents, groups, answers }) => {
    if (filters.group && !groups.includes(filters.group)) return false;
    if (!byAnswer) return true;
    const isGold = doc !== null && documents.includes(doc);
    const asked = `${id}\n${text}\n${gold.join("\n")}`.toLowerCase().includes(filters.text);
    return columns.some((column) => {
      if (!answers[column]) return false;
      const [said, outcome, , citations] = answers[column];
      if (filters.outcome && outcome !== filters.outcome) return false;
      const cited = () => citations.some(([, source]) => data.sources[source][0] === doc);
      if (doc !== null && !isGold && !cited()) return false;
      return asked || said.toLowerCase().includes(filters.text);
    });
  };
}

function fillOptions(select, entries) {
  select.append(...entries.map(([value, label]) => el("option", { value }, label)));
}

class QuestionTable {
  constructor(data) {
    this.data = data;
    this.page = 0;
    const groups = [...new Set(data.questions.flatMap((question) => question.groups))].sort();
    const documents = data.documents.map((name, i) => [String(i), name]);
    fillOptions($("filter-document"), documents.sort((a, b) => a[1].localeCompare(b[1])));
    fillOptions($("filter-group"), groups.map((group) => [group, group]));
    for (const id of ["filter-arm", "filter-outcome", "filter-document", "filter-group", "filter-text"]) {
      $(id).addEventListener("input", () => this.filter());
    }
    document.querySelector("table.questions").addEventListener("click", openPassage);
    $("page-previous").addEventListener("click", () => this.show(this.page - 1));
    $("page-next").addEventListener("click", () => this.show(this.page + 1));
    $("page-number").addEventListener("change", () => this.show($("page-number").valueAsNumber - 1 || 0));
    window.addEventListener("hashchange", () => this.open(location.hash));
    this.filter();
    this.open(location.hash);
  }

  // A URL naming a question row (#q-<question>) or a passage (#<question>.<arm>.c<n>, the only ids with
  // a dot) opens the page that holds it.
  open(hash) {
    const id = hash.slice(1);
    const anchor = id.includes(".") ? id.split(".")[0] : id.replace(/^q-/, "");
    const at = this.matching.findIndex((index) => this.data.questions[index].anchor === anchor);
    if (at < 0) return;
    this.show(Math.floor(at / PAGE_SIZE));
    if ($(id)) reveal($(id));
  }

  filter() {
    const filters = readFilters();
    this.columns = filters.arm === "" ? this.data.arms.map((_, i) => i) : [Number(filters.arm)];
    const matches = matcher(filters, this.columns, this.data);
    this.matching = [];  // indexes into data.questions (and report.json's per_question)
    for (const [i, question] of this.data.questions.entries()) {
      if (matches(question)) this.matching.push(i);
    }
    const head = el("tr", {}, el("th", { scope: "col" }, "Question"));
    head.append(...this.columns.map((column) => el("th", { scope: "col" }, this.data.arms[column])));
    document.querySelector("table.questions thead").replaceChildren(head);
    this.show(0);
  }

  show(page) {
    const pages = Math.max(1, Math.ceil(this.matching.length / PAGE_SIZE));
    this.page = Math.min(Math.max(page, 0), pages - 1);
    const shown = this.matching.slice(this.page * PAGE_SIZE, (this.page + 1) * PAGE_SIZE);
    document.querySelector("table.questions tbody").replaceChildren(...shown.map((index) => {
      const question = this.data.questions[index];
      const cells = this.columns.map((column) => answerCell(question, index, column, this.data));
      return el("tr", { id: `q-${question.anchor}` }, questionCell(question, this.data), ...cells);
    }));
    const total = this.data.questions.length;
    const from = this.page * PAGE_SIZE;
    const status = $("questions-status");
    status.textContent = (shown.length ? `Questions ${from + 1}–${from + shown.length}` : "No question")
      + ` of ${this.matching.length}` + (this.matching.length < total ? ` matching (${total} in all)` : "")
      + `, page ${this.page + 1} of ${pages}`;
    Object.assign(status.dataset, { matching: this.matching.length, page: this.page + 1, pages });
    Object.assign($("page-number"), { value: this.page + 1, max: pages });
    $("page-previous").disabled = this.page === 0;
    $("page-next").disabled = this.page === pages - 1;
  }
}

unpack($("questions-data")).then(
  (data) => new QuestionTable(data),
  (error) => {
    $("questions-status").textContent = `The questions could not be read (${error}); report.json holds them.`;
  },
);
