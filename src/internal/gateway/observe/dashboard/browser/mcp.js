/*
 * The dashboard's MCP section, run by the page (`../page.ts`): the MCP servers the gateway serves, each tool with its
 * state against its pin (served, or held until an admin approves its new definition), its price, and its calls,
 * errors and spend from the request log, from `GET /admin/mcp/servers` asked with the admin key the page keeps.
 * Every name from the data is set with `textContent`. A gateway without MCP servers hides the section; one without a
 * database shows the tools without figures, and says why. Plain browser JavaScript, typechecked against the DOM
 * (`tsconfig.browser.json`) and linted.
 */
;(function() {
  "use strict"
  var storageKey = "effect-llm-router.dashboard.adminKey"
  var section = document.getElementById("mcp"), tools = document.getElementById("mcp-tools")
  var noLog = document.getElementById("mcp-no-log")

  var money = function(value) {
    return value === null ? "\u2013" : "$" + (value === 0 ? "0" : value < 0.01 ? value.toFixed(5) : value.toFixed(2))
  }
  var count = function(value) {
    return value === null ? "\u2013" : String(value)
  }
  // One cell: its text, its test id, its class, and the number it shows (for the tests), when it shows one.
  var cell = function(text, testId, className, value) {
    var td = document.createElement("td")
    td.textContent = text
    td.dataset.testid = testId
    if (className) td.className = className
    if (value !== null && value !== undefined) td.dataset.value = String(value)
    return td
  }

  var draw = function(answer) {
    var rows = []
    answer.servers.forEach(function(server) {
      server.tools.forEach(function(tool) {
        var tr = document.createElement("tr")
        tr.dataset.testid = "mcp-tool"
        tr.dataset.tool = tool.qualified
        tr.appendChild(cell(server.name, "server", "text"))
        tr.appendChild(cell(tool.name, "tool", "text"))
        tr.appendChild(cell(tool.state, "state", "text " + (tool.state === "served" ? "ready" : "disabled")))
        tr.appendChild(cell(money(server.price_per_call), "price", "", server.price_per_call))
        tr.appendChild(cell(count(tool.calls), "calls", "", tool.calls))
        tr.appendChild(cell(count(tool.errors), "errors", tool.errors ? "disabled" : "", tool.errors))
        tr.appendChild(cell(money(tool.cost), "spend", "", tool.cost))
        rows.push(tr)
      })
    })
    tools.replaceChildren.apply(tools, rows)
    noLog.hidden = answer.request_log
    section.hidden = answer.servers.length === 0
  }

  var timer
  // Whether the person or key the page acts for may read this section (`admin-known`): nothing is asked before.
  var allowed = false
  var poll = function() {
    clearTimeout(timer)
    if (!allowed) return
    var key = sessionStorage.getItem(storageKey)
    fetch("admin/mcp/servers", { headers: key ? { authorization: "Bearer " + key } : {}, cache: "no-store" })
      .then(function(response) {
        // No longer allowed (a session ended, a key revoked): the main script asks again, and says when it knows.
        if (response.status === 401 || response.status === 403) {
          allowed = false
          section.hidden = true
          return
        }
        if (!response.ok) throw new Error("HTTP " + response.status)
        return response.json().then(draw)
      })
      .catch(function() {
        return undefined
      })
      .then(function() {
        if (allowed) timer = setTimeout(poll, 5000)
      })
  }
  document.addEventListener("admin-known", function(event) {
    allowed = /** @type {CustomEvent<ReadonlyArray<string>>} */ (event).detail.indexOf("observe") >= 0
    if (!allowed) section.hidden = true
    poll()
  })
})()
