/*
 * The dashboard's MCP section, run by the page (`../page.ts`): the MCP servers the gateway serves, each tool with its
 * state against its pin (served, or held until an admin approves its new definition), its price, and its calls,
 * errors and spend from the request log, from `GET /admin/mcp/servers` asked with the admin key the page keeps.
 * Every name from the data is set with `textContent`. A gateway without MCP servers hides the section. Plain browser
 * JavaScript, typechecked against the DOM (`tsconfig.browser.json`) and linted.
 */
;(function() {
  "use strict"
  var section = document.getElementById("mcp"), tools = document.getElementById("mcp-tools")

  var draw = function(answer) {
    var rows = []
    answer.servers.forEach(function(server) {
      server.tools.forEach(function(tool) {
        var tr = document.createElement("tr")
        tr.dataset.testid = "mcp-tool"
        tr.dataset.tool = tool.qualified
        tr.appendChild(tableCell(server.name, "server", "text"))
        tr.appendChild(tableCell(tool.name, "tool", "text"))
        tr.appendChild(tableCell(tool.state, "state", "text " + (tool.state === "served" ? "ready" : "disabled")))
        tr.appendChild(tableCell(money(server.price_per_call, 5, 2), "price", "", server.price_per_call))
        tr.appendChild(tableCell(String(tool.calls), "calls", "", tool.calls))
        tr.appendChild(tableCell(String(tool.errors), "errors", tool.errors ? "disabled" : "", tool.errors))
        tr.appendChild(tableCell(money(tool.cost, 5, 2), "spend", "", tool.cost))
        rows.push(tr)
      })
    })
    tools.replaceChildren.apply(tools, rows)
    section.hidden = answer.servers.length === 0
  }

  pollAdmin("observe", section, function() {
    return {
      path: "admin/mcp/servers",
      draw: draw
    }
  })
})()
