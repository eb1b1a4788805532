/*
 * The dashboard's batches section, run by the page (`../page.ts`): the batches made through the gateway, the newest
 * twenty, each with its key (to those who may read it), model, status, line counts, when it was made and settled, and
 * the cost of its lines settled, from `GET /admin/batches` asked with the admin key the page keeps. Every value from
 * the data is set with `textContent`. A gateway that made no batch hides the section. Plain browser JavaScript,
 * typechecked against the DOM (`tsconfig.browser.json`) and linted.
 */
;(function() {
  "use strict"
  var section = document.getElementById("batches"), rows = document.getElementById("batch-rows")

  // Unix seconds as the page shows times (UTC, to the second); a dash for none.
  var time = function(seconds) {
    return seconds === null ? "\u2013" : new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19)
  }
  var count = function(value) {
    return value === null ? "\u2013" : String(value)
  }
  var stateClass = {
    running: "half-open",
    completed: "ready",
    expired: "disabled",
    cancelled: "disabled",
    refused: "disabled"
  }

  var draw = function(answer) {
    var drawn = answer.data.map(function(batch) {
      var counts = batch.request_counts
      var tr = document.createElement("tr")
      tr.dataset.testid = "batch"
      tr.dataset.batch = batch.id
      tr.appendChild(tableCell(batch.key_name === null ? "\u2013" : batch.key_name, "key", "text"))
      tr.appendChild(tableCell(batch.model, "model", "text"))
      var status = batch.status === null ? "unknown" : batch.status
      tr.appendChild(tableCell(status, "status", "text " + (stateClass[status] || "")))
      tr.appendChild(tableCell(count(counts && counts.total), "total", "", counts && counts.total))
      tr.appendChild(tableCell(count(counts && counts.succeeded), "succeeded", "", counts && counts.succeeded))
      tr.appendChild(tableCell(count(counts && counts.failed), "failed", "", counts && counts.failed))
      tr.appendChild(tableCell(time(batch.created_at), "created", "text"))
      tr.appendChild(tableCell(time(batch.settled_at), "settled", "text"))
      tr.appendChild(tableCell(money(batch.cost_settled, 6, 2), "cost", "", batch.cost_settled))
      return tr
    })
    rows.replaceChildren.apply(rows, drawn)
    section.hidden = drawn.length === 0
  }

  pollAdmin("observe", section, function() {
    return {
      // The newest twenty: each is read from its provider at every poll.
      path: "admin/batches?limit=20",
      draw: draw
    }
  })
})()
