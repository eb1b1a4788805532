/**
 * The dashboard's page (`GET /dashboard`): plain HTML, CSS and script, no build step. It carries no data: its scripts
 * (`browser/`) poll the admin paths and draw from their answers with `textContent`, so no markup is built from data. On
 * 401 or 403 it says where the admin key is and asks for it, keeping it in `sessionStorage` (gone with the tab) and
 * sending it as `Authorization: Bearer`. With sign-on (`gateway.oidc`) it offers a sign-in and shows only what the
 * signed-in person's roles grant. The sections' scripts share `browser/poll.js`, run first.
 */
import { readFileSync } from "node:fs"
import { spendSection, spendStyle } from "./spend.js"

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
  form.filters { display: flex; gap: 12px; flex-wrap: wrap; max-width: none; }
  form.filters input { width: auto; }
`

// The page's scripts: plain browser JavaScript beside this module (`dashboard/`), typechecked against the DOM and
// linted as the rest of the code is, read once when the gateway loads.
const script = (name: string) => readFileSync(new URL(`./browser/${name}`, import.meta.url), "utf8")

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
  <div id="who" data-testid="signed-in" hidden>Signed in as <strong id="who-name" data-testid="signed-in-as"></strong>
    <span class="muted" id="who-roles" data-testid="signed-in-roles"></span>
    <button id="sign-out" data-testid="sign-out" type="button" hidden>Sign out</button></div>
  <button id="reload" data-testid="reload-config" type="button" hidden>Reload configuration</button>
</header>
<p id="sign-in-box" data-testid="sign-in-box" hidden><a id="sign-in" data-testid="sign-in" href="admin/login">Sign
  in</a> with this gateway's identity provider, or use an admin key below.</p>
<p id="not-allowed" data-testid="not-allowed" hidden>Your roles do not include the dashboard's figures: a viewer,
  operator or admin role does (ask an admin for one).</p>
<form id="key-form" data-testid="admin-key-form" hidden>
  <p id="key-message" data-testid="admin-key-message"></p>
  <p class="muted" data-testid="admin-key-where">Where the admin key is: one of provider.json's
    <code>gateway.admin_keys</code>; without them, <code>effect-llm-router serve</code> made an admin token at its
    first start, the file <code>admin-token</code> of its data directory (its <code>--data</code>; by default
    <code>$XDG_DATA_HOME/effect-llm-router/admin-token</code>, else
    <code>~/.local/share/effect-llm-router/admin-token</code>), whose path it printed when it started. Paste it
    here: this tab keeps it until it is closed.</p>
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
  <section id="batches" data-testid="batches" hidden>
    <h2>Batches <span class="muted">(made through the gateway, newest first; UTC)</span></h2>
    <table>
      <thead><tr>
        <th class="text">Key</th><th class="text">Model</th><th class="text">Status</th><th>Lines</th><th>Answered</th>
        <th>Failed</th><th class="text">Created</th><th class="text">Settled</th><th>Cost settled</th>
      </tr></thead>
      <tbody id="batch-rows" data-testid="batch-rows"></tbody>
    </table>
  </section>
  <section id="mcp" data-testid="mcp" hidden>
    <h2>MCP servers</h2>
    <table>
      <thead><tr>
        <th class="text">Server</th><th class="text">Tool</th><th class="text">State</th><th>Price</th><th>Calls</th>
        <th>Errors</th><th>Spend</th>
      </tr></thead>
      <tbody id="mcp-tools" data-testid="mcp-tools"></tbody>
    </table>
  </section>
  <section id="audit" data-testid="audit" hidden>
    <h2>Audit log <span class="muted">(admin actions and refusals, newest first; UTC)</span></h2>
    <p class="muted" data-testid="audit-kept">Kept in the gateway's database; a gateway without one keeps it in memory
      until it stops.</p>
    <form id="audit-filters" class="filters" data-testid="audit-filters">
      <label>Actor <input id="audit-actor" data-testid="audit-actor" placeholder="any"></label>
      <label>Action <input id="audit-action" data-testid="audit-action" placeholder="POST /admin/keys"></label>
      <label>From <input id="audit-from" data-testid="audit-from" type="datetime-local" step="1"></label>
      <label>To <input id="audit-to" data-testid="audit-to" type="datetime-local" step="1"></label>
      <button type="submit" data-testid="audit-apply">Filter</button>
    </form>
    <table>
      <thead><tr>
        <th class="text">At</th><th class="text">Actor</th><th class="text">Action</th><th class="text">Object</th>
        <th class="text">Outcome</th><th class="text">From</th>
      </tr></thead>
      <tbody id="audit-rows" data-testid="audit-rows"></tbody>
    </table>
  </section>
</main>
<script>${script("poll.js")}</script>
<script>${script("live.js")}</script>
<script>${script("spend.js")}</script>
<script>${script("batches.js")}</script>
<script>${script("mcp.js")}</script>
<script>${script("audit.js")}</script>
</body>
</html>
`
