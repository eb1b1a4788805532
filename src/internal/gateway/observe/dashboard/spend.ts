/**
 * The dashboard's spend chart, its style and markup (its script is `browser/spend.js`): spend over time by key, team or
 * model, drawn by the page itself as SVG (no external script), from the request log through `GET /admin/spend`
 * (`admin/spend.ts`) with the admin key the page keeps. Every name from the data is set with `textContent`; no markup
 * is built from data. A grouping that names keys or teams is offered only to those the route lets read it
 * (`groupPermissions`): the script hides an option from a page whose roles do not grant its permission.
 */
import { type GroupBy, groupPermissions } from "../requestTable.js"

const groupings: ReadonlyArray<GroupBy> = ["model", "key", "team"]

// Each grouping's option, with the permission over the whole gateway it needs when it needs one.
const groupOptions = groupings.map((group) => {
  const needed = groupPermissions[group]
  return `<option value="${group}"${needed === undefined ? "" : ` data-permission="${needed}"`}>${group}</option>`
}).join("")

export const spendStyle = `
  .spend-controls { display: flex; gap: 16px; margin: 0 0 8px; }
  .spend-controls select { font: inherit; }
  #spend-chart { background: #fff; border: 1px solid var(--line); display: block; }
  #spend-chart text { font: 11px system-ui, sans-serif; fill: var(--muted); }
  .legend { list-style: none; padding: 0; margin: 8px 0; display: flex; gap: 16px; flex-wrap: wrap; }
  .legend li { display: flex; align-items: center; gap: 6px; }
  .swatch { width: 12px; height: 12px; display: inline-block; }
`

export const spendSection = `
<section id="spend" data-testid="spend" hidden>
  <h2>Spend <span class="muted">(UTC)</span></h2>
  <div class="spend-controls">
    <label>By <select id="spend-group" data-testid="spend-group">
      ${groupOptions}
    </select></label>
    <label>Measure <select id="spend-measure" data-testid="spend-measure">
      <option value="cost">cost</option><option value="calls">calls</option><option value="tokens">tokens</option>
    </select></label>
    <label>Over <select id="spend-range" data-testid="spend-range">
      <option value="hour">the last 24 hours</option><option value="day">the last 30 days</option>
    </select></label>
  </div>
  <svg id="spend-chart" data-testid="spend-chart" width="760" height="240" viewBox="0 0 760 240"
    role="img" aria-label="Spend over time"></svg>
  <ul class="legend" id="spend-legend" data-testid="spend-legend"></ul>
  <table>
    <thead><tr><th class="text">Group</th><th>Calls</th><th>Cost</th><th>Input tokens</th><th>Output tokens</th>
      <th>Cached tokens</th><th>Cache-written tokens</th><th>Cache saved</th></tr>
    </thead>
    <tbody id="spend-totals" data-testid="spend-totals"></tbody>
  </table>
</section>
`
