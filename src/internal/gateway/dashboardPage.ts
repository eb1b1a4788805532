/**
 * The dashboard's page (`GET /dashboard`): plain HTML, CSS and script, no
 * build step. It carries no data: its script polls `dashboard/data` every
 * second and draws the tables from it (deployments, keys, budgets) with `textContent` (no markup is built
 * from data), and its spend chart (`dashboardSpend.ts`) polls the request log's spend. When the data answers 401 or
 * 403 it shows the answer's message
 * and a field for an admin key, keeps the key in `sessionStorage` (gone with
 * the tab) and sends it as `Authorization: Bearer`.
 */
import { spendScript, spendSection, spendStyle } from "./dashboardSpend.js"

const style = `
  :root {
    --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --head: #f3f4f6; --ok: #15803d; --warn: #b45309; --bad: #b91c1c;
  }
  body {
    font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px 32px; color: var(--fg);
    background: #fafafa;
  }
  header { display: flex; align-items: baseline; gap: 32px; flex-wrap: wrap; }
  h1 { font-size: 20px; margin: 0; }
  h2 { font-size: 15px; margin: 28px 0 8px; }
  .load { font-size: 26px; font-weight: 600; }
  .muted { color: var(--muted); }
  table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
  th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap;
    font-variant-numeric: tabular-nums; }
  th { background: var(--head); font-size: 12px; font-weight: 600; color: #374151; }
  th:first-child, td:first-child, td.text, th.text { text-align: left; }
  .closed, .ready { color: var(--ok); }
  .half-open, .cooling { color: var(--warn); }
  .open, .disabled { color: var(--bad); font-weight: 600; }
  form { margin: 20px 0; padding: 14px 16px; background: #fff; border: 1px solid var(--line); max-width: 560px; }
  form p { margin: 0 0 10px; }
  input { font: inherit; padding: 4px 8px; width: 280px; }
  button { font: inherit; padding: 4px 12px; margin-left: 6px; }
`

const script = `
(function () {
  "use strict";
  var storageKey = "effect-llm-router.dashboard.adminKey";
  var byId = function (id) { return document.getElementById(id); };
  var status = byId("status"), form = byId("key-form"), message = byId("key-message"), input = byId("key-input");
  var live = byId("live"), load = byId("load"), deployments = byId("deployments"), keys = byId("keys");
  var budgets = byId("budgets");
  var none = "\\u2013";

  var millis = function (value) {
    if (value === null || value === undefined) return none;
    return value < 1000 ? Math.round(value) + " ms" : (value / 1000).toFixed(2) + " s";
  };
  var dollars = function (value) {
    return "$" + (value === 0 ? "0" : value < 0.01 ? value.toFixed(6) : value.toFixed(4));
  };
  var cell = function (testId, text, value, className) {
    var td = document.createElement("td");
    td.dataset.testid = testId;
    td.textContent = text;
    if (value !== undefined && value !== null) td.dataset.value = String(value);
    if (className) td.className = className;
    return td;
  };
  var row = function (testId, cells) {
    var tr = document.createElement("tr");
    tr.dataset.testid = testId;
    cells.forEach(function (td) { tr.appendChild(td); });
    return tr;
  };
  var quantile = function (quantiles, which) { return quantiles === null ? null : quantiles[which]; };
  var learned = function (d, which) { return d.learnedLimits === null ? null : d.learnedLimits[which]; };

  var render = function (data) {
    load.textContent = data.loadPercent.toFixed(1) + " %";
    load.dataset.value = String(data.loadPercent);
    var deploymentRows = [], keyRows = [];
    data.deployments.forEach(function (d) {
      var tr = row("deployment", [
        cell("name", d.name, undefined, "text"),
        cell("breaker", d.breaker, undefined, "text " + d.breaker),
        cell("in-flight", String(d.inFlight), d.inFlight),
        cell("requests", String(d.requests), d.requests),
        cell("failures", String(d.failures), d.failures),
        cell("request-rate", d.requestRate.toFixed(1) + "/s", d.requestRate),
        cell("error-rate", d.errorRate === null ? none : (d.errorRate * 100).toFixed(1) + " %", d.errorRate),
        cell("latency-p50", millis(quantile(d.latency, "p50")), quantile(d.latency, "p50")),
        cell("latency-p95", millis(quantile(d.latency, "p95")), quantile(d.latency, "p95")),
        cell("ttft-p50", millis(quantile(d.firstToken, "p50")), quantile(d.firstToken, "p50")),
        cell("ttft-p95", millis(quantile(d.firstToken, "p95")), quantile(d.firstToken, "p95")),
        cell("first-token-limit", millis(learned(d, "firstTokenMillis")), learned(d, "firstTokenMillis")),
        cell("idle-limit", millis(learned(d, "idleMillis")), learned(d, "idleMillis")),
        cell("cost", dollars(d.cost), d.cost),
        cell("sessions", d.pinnedSessions === null ? none : String(d.pinnedSessions), d.pinnedSessions)
      ]);
      tr.dataset.name = d.name;
      deploymentRows.push(tr);
      d.keys.forEach(function (k) {
        var state = k.disabled !== null ? "disabled: " + k.disabled
          : k.coolingUntil !== null && k.coolingUntil > data.now
          ? "cooling " + Math.ceil((k.coolingUntil - data.now) / 1000) + " s" : "ready";
        var kr = row("key", [
          cell("deployment", d.name, undefined, "text"),
          cell("key", k.key, undefined, "text"),
          cell("load", k.current + " / " + (k.max === null ? "\\u221e" : k.max), k.current),
          cell("state", state, undefined, "text " + state.split(/[: ]/)[0])
        ]);
        kr.dataset.deployment = d.name;
        keyRows.push(kr);
      });
    });
    deployments.replaceChildren.apply(deployments, deploymentRows);
    keys.replaceChildren.apply(keys, keyRows);
    byId("no-keys").hidden = keyRows.length > 0;
    budgets.replaceChildren.apply(budgets, data.budgets.map(function (b) {
      var br = row("budget", [
        cell("key", b.key, undefined, "text"),
        cell("team", b.team === null ? none : b.team, undefined, "text"),
        cell("limit", dollars(b.limit) + " / " + b.period, b.limit),
        cell("spent", dollars(b.spent), b.spent),
        cell("reserved", dollars(b.reserved), b.reserved),
        cell("left", dollars(b.left), b.left),
        cell("renews", new Date(b.periodEnd).toISOString().slice(0, 16).replace("T", " "), b.periodEnd)
      ]);
      br.dataset.key = b.key;
      return br;
    }));
    byId("budgets-section").hidden = data.budgets.length === 0;
    live.hidden = false;
    form.hidden = true;
    status.textContent = "updated " + new Date(data.now).toLocaleTimeString();
  };

  var timer;
  var askKey = function (text) {
    sessionStorage.removeItem(storageKey);
    message.textContent = text;
    form.hidden = false;
    live.hidden = true;
    status.textContent = "waiting for an admin key";
    input.focus();
  };
  var poll = function () {
    clearTimeout(timer);
    var headers = {};
    var key = sessionStorage.getItem(storageKey);
    if (key) headers.authorization = "Bearer " + key;
    fetch("dashboard/data", { headers: headers, cache: "no-store" }).then(function (response) {
      if (response.status === 401 || response.status === 403) {
        return response.json().catch(function () { return null; }).then(function (body) {
          askKey(body && body.error && body.error.message ? body.error.message : "The dashboard takes an admin key.");
          return false;
        });
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json().then(function (data) { render(data); return true; });
    }).catch(function (error) {
      status.textContent = "gateway unreachable (" + error.message + "), retrying";
      return true;
    }).then(function (again) {
      if (again) timer = setTimeout(poll, 1000);
    });
  };
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(storageKey, input.value.trim());
    input.value = "";
    status.textContent = "checking the key";
    poll();
    document.dispatchEvent(new CustomEvent("admin-key"));
  });
  poll();
})();
`

/** The page's HTML. */
export const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>effect-llm-router gateway</title>
<style>${style}${spendStyle}</style>
</head>
<body>
<header>
  <h1>effect-llm-router gateway</h1>
  <div>Load <span class="load" id="load" data-testid="load-percent">\u2013</span></div>
  <div class="muted" id="status" data-testid="status">connecting</div>
</header>
<form id="key-form" data-testid="admin-key-form" hidden>
  <p id="key-message" data-testid="admin-key-message"></p>
  <label>Admin key
    <input id="key-input" data-testid="admin-key-input" type="password" autocomplete="off" required></label>
  <button type="submit" data-testid="admin-key-submit">Use key</button>
</form>
<main id="live" hidden>
  <h2>Deployments</h2>
  <table>
    <thead><tr>
      <th>Deployment</th><th class="text">Breaker</th><th>In flight</th><th>Requests</th><th>Failed</th><th>Rate</th>
      <th>Errors</th><th>Latency p50</th><th>p95</th><th>First token p50</th><th>p95</th>
      <th>First-token limit</th><th>Idle limit</th><th>Cost</th><th>Sessions</th>
    </tr></thead>
    <tbody id="deployments" data-testid="deployments"></tbody>
  </table>
  <h2>Keys</h2>
  <table>
    <thead><tr><th>Deployment</th><th class="text">Key</th><th>Load</th><th class="text">State</th></tr></thead>
    <tbody id="keys" data-testid="keys"></tbody>
  </table>
  <p id="no-keys" class="muted" hidden>No deployment lists its keys.</p>
  <div id="budgets-section" hidden>
    <h2>Budgets</h2>
    <table>
      <thead><tr>
        <th class="text">Key</th><th class="text">Team</th><th>Limit</th><th>Spent</th><th>Held</th><th>Left</th>
        <th>Renews (UTC)</th>
      </tr></thead>
      <tbody id="budgets" data-testid="budgets"></tbody>
    </table>
  </div>
  ${spendSection}
</main>
<script>${script}</script>
<script>${spendScript}</script>
</body>
</html>
`
