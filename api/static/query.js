// The query page: examples, running a query against /sparql, results as a table.
// Every value is inserted with textContent (never innerHTML): results are untrusted text.
"use strict";
(function () {
  const form = document.getElementById("form");
  const query = document.getElementById("query");
  const format = document.getElementById("format");
  const status = document.getElementById("status");
  const results = document.getElementById("results");
  const examples = document.getElementById("examples");
  let base = "";
  let list = [];

  function localHref(iri) {
    if (base && iri.startsWith(base)) {
      const rest = iri.slice(base.length);
      if (rest.startsWith("id/") || rest.startsWith("ontology") || rest.startsWith("graph/")) return "/" + rest;
    }
    return iri;
  }

  function cell(term) {
    const td = document.createElement("td");
    if (!term) return td;
    if (term.type === "uri") {
      const a = document.createElement("a");
      a.href = localHref(term.value);
      a.textContent = term.value;
      td.appendChild(a);
    } else {
      td.textContent = term.value;
      if (term["xml:lang"]) {
        const span = document.createElement("span");
        span.className = "lang";
        span.textContent = " @" + term["xml:lang"];
        td.appendChild(span);
      }
    }
    return td;
  }

  function table(data) {
    const t = document.createElement("table");
    t.id = "result-table";
    const head = t.createTHead().insertRow();
    for (const v of data.head.vars) {
      const th = document.createElement("th");
      th.textContent = v;
      head.appendChild(th);
    }
    const body = t.createTBody();
    for (const b of data.results.bindings) {
      const tr = body.insertRow();
      for (const v of data.head.vars) tr.appendChild(cell(b[v]));
    }
    return t;
  }

  async function run(event) {
    event.preventDefault();
    results.textContent = "";
    status.className = "";
    status.textContent = "running…";
    const started = performance.now();
    const fmt = format.value;
    const body = new URLSearchParams({ query: query.value });
    if (fmt) body.set("format", fmt);
    let response;
    try {
      response = await fetch("/sparql", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded",
                   "Accept": "application/sparql-results+json, text/turtle;q=0.9" },
        body,
      });
    } catch (err) {
      status.className = "error";
      status.textContent = "network error: " + err;
      return;
    }
    const ms = Math.round(performance.now() - started);
    const type = response.headers.get("content-type") || "";
    if (!response.ok) {
      status.className = "error";
      let detail = await response.text();
      try { const e = JSON.parse(detail); detail = e.error + ": " + e.detail; } catch (_) { /* plain text */ }
      status.textContent = response.status + " — " + detail;
      return;
    }
    if (!fmt && type.startsWith("application/sparql-results+json")) {
      const data = await response.json();
      if ("boolean" in data) {
        status.textContent = "ASK → " + data.boolean + " (" + ms + " ms)";
        return;
      }
      status.textContent = data.results.bindings.length + " rows (" + ms + " ms)";
      results.appendChild(table(data));
    } else {
      const pre = document.createElement("pre");
      pre.id = "result-text";
      pre.textContent = await response.text();
      status.textContent = type + " (" + ms + " ms)";
      results.appendChild(pre);
    }
  }

  form.addEventListener("submit", run);
  examples.addEventListener("change", function () {
    const chosen = list.find((e) => e.name === examples.value);
    if (chosen) query.value = chosen.query;
  });
  fetch("/query/examples").then((r) => r.json()).then(function (data) {
    base = data.base;
    list = data.examples;
    for (const e of list) {
      const option = document.createElement("option");
      option.value = e.name;
      option.textContent = e.name + " — " + e.summary + (e.user ? " (" + e.user + ")" : "");
      examples.appendChild(option);
    }
    const wanted = new URLSearchParams(location.search).get("query");
    if (wanted) query.value = wanted;
  });
})();
