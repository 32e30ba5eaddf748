// /docs: the OpenAPI document rendered without any outside script (the server may be offline).
"use strict";

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function schemaName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.type === "array") return `array of ${schemaName(schema.items)}`;
  if (schema.anyOf) return schema.anyOf.map(schemaName).join(" | ");
  return schema.type || "object";
}

function fields(schema, components) {
  const resolved = schema && schema.$ref ? components[schema.$ref.split("/").pop()] : schema;
  if (!resolved || !resolved.properties) return null;
  const required = new Set(resolved.required || []);
  const table = element("table", { class: "fields" },
    element("tr", {}, ...["field", "type", "required", "description"].map((t) => element("th", { scope: "col", text: t }))));
  for (const [name, property] of Object.entries(resolved.properties)) {
    table.append(element("tr", {}, element("td", {}, element("code", { text: name })),
      element("td", { text: schemaName(property) }), element("td", { text: required.has(name) ? "yes" : "" }),
      element("td", { text: property.description || "" })));
  }
  return table;
}

function operation(path, method, spec, components) {
  const section = element("section", { class: "card" },
    element("h2", {}, element("code", { text: `${method.toUpperCase()} ${path}` })));
  if (spec.summary) section.append(element("p", { text: spec.summary }));
  if (spec.description) section.append(element("p", { class: "hint", text: spec.description }));
  const parameters = (spec.parameters || []).map((p) => `${p.name} (${p.in}${p.required ? ", required" : ""})`);
  if (parameters.length) section.append(element("p", { text: `Parameters: ${parameters.join(", ")}` }));
  for (const [type, body] of Object.entries((spec.requestBody || {}).content || {})) {
    section.append(element("h3", { text: `Body (${type}): ${schemaName(body.schema)}` }));
    const table = fields(body.schema, components);
    if (table) section.append(table);
  }
  const codes = Object.entries(spec.responses || {}).map(([code, r]) => `${code} ${r.description || ""}`);
  section.append(element("p", { class: "hint", text: `Responses: ${codes.join("; ")}` }));
  return section;
}

document.addEventListener("DOMContentLoaded", async () => {
  const api = await (await fetch("/openapi.json")).json();
  const components = (api.components || {}).schemas || {};
  const list = document.getElementById("operations");
  for (const [path, methods] of Object.entries(api.paths)) {
    for (const [method, spec] of Object.entries(methods)) list.append(operation(path, method, spec, components));
  }
});
