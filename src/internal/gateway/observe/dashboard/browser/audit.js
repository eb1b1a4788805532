/*
 * The dashboard's audit section, run by the page (`../page.ts`): the admin audit log's rows, newest first (100 at
 * most), from `GET /admin/audit` asked with the admin key the page keeps, filtered by actor, action and a time range
 * (the filters go to the gateway as its parameters; docs/identity.md). Every value from the data is set with
 * `textContent`. The section says where the log is kept: a gateway without a database keeps it in memory. Plain
 * browser JavaScript, typechecked against the DOM (`tsconfig.browser.json`) and linted.
 */
;(function() {
  "use strict"
  var byId = function(id) {
    return document.getElementById(id)
  }
  var input = function(id) {
    return /** @type {HTMLInputElement} */ (byId(id))
  }
  var section = byId("audit"), rows = byId("audit-rows")
  var form = /** @type {HTMLFormElement} */ (byId("audit-filters"))
  var actor = input("audit-actor"), action = input("audit-action"), from = input("audit-from"), to = input("audit-to")

  var cell = function(text, testId) {
    var td = document.createElement("td")
    td.textContent = text
    td.dataset.testid = testId
    td.className = "text"
    return td
  }
  // A `datetime-local` field's value, read as UTC (as the page shows times), in Unix seconds; "" when empty.
  var seconds = function(field) {
    return field.value === "" ? "" : String(Date.parse(field.value + "Z") / 1000)
  }

  var draw = function(answer) {
    var drawn = answer.data.map(function(row) {
      var tr = document.createElement("tr")
      tr.dataset.testid = "audit-row"
      tr.dataset.seq = String(row.seq)
      tr.appendChild(cell(new Date(row.at * 1000).toISOString().replace("T", " ").slice(0, 19), "at"))
      tr.appendChild(cell(row.actor, "actor"))
      tr.appendChild(cell(row.action, "action"))
      tr.appendChild(cell(row.object === null ? "\u2013" : row.object, "object"))
      var outcome = row.outcome === "ok" ? "ok" : row.outcome + " " + row.status + (row.code ? " " + row.code : "")
      var td = cell(outcome, "outcome")
      td.className = "text " + (row.outcome === "ok" ? "ready" : "disabled")
      tr.appendChild(td)
      tr.appendChild(cell(row.from === null ? "\u2013" : row.from, "from"))
      return tr
    })
    rows.replaceChildren.apply(rows, drawn)
    section.hidden = false
  }

  var poll = pollAdmin("audit", section, function() {
    var query = "limit=100"
    var add = function(name, value) {
      if (value !== "") query += "&" + name + "=" + encodeURIComponent(value)
    }
    add("actor", actor.value.trim())
    add("action", action.value.trim())
    add("from", seconds(from))
    add("to", seconds(to))
    return { path: "admin/audit?" + query, draw: draw }
  })
  form.addEventListener("submit", function(event) {
    event.preventDefault()
    poll()
  })
})()
