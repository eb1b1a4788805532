/*
 * The dashboard's spend chart, run by the page (`../page.ts`): spend over time by key, team or model (cost,
 * calls or tokens), over the last day by hour or the last 30 days by day, drawn as SVG, with its legend and each
 * group's totals (its prompt tokens read from and written to the provider's cache, and what caching saved), from
 * `GET /admin/spend?bucket=...` asked with the admin key the page keeps. Every name from the data is set with
 * `textContent`. A grouping whose option names a permission (by key, by team) is offered only when the page's roles
 * grant it over the whole gateway, as the route asks. Plain browser JavaScript, typechecked against the DOM
 * (`tsconfig.browser.json`) and linted.
 */
;(function() {
  "use strict"
  var byId = function(id) {
    return document.getElementById(id)
  }
  var section = byId("spend"), chart = byId("spend-chart")
  var legend = byId("spend-legend"), totals = byId("spend-totals")
  var select = function(id) {
    return /** @type {HTMLSelectElement} */ (byId(id))
  }
  var group = select("spend-group"), measure = select("spend-measure"), range = select("spend-range")
  var svgNs = "http://www.w3.org/2000/svg"
  var palette = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#9ca3af"]
  var spans = { hour: { millis: 3600000, slots: 24 }, day: { millis: 86400000, slots: 30 } }
  var width = 760, height = 240, left = 64, bottom = 28, top = 12

  // A key's group is its id; it is shown by its name. By model, MCP tool calls (which have none) are shown by
  // their server, and the other calls without a model as such.
  var nameOf = function(g) {
    var name = g.name || g.group
    if (name !== null) return name
    if (g.mcp_server) return "MCP tools: " + g.mcp_server
    return group.value === "key" ? "(no key)" : group.value === "team" ? "(no team)" : "(no " + group.value + ")"
  }
  var valueOf = function(g) {
    return measure.value === "tokens" ? g.input_tokens + g.output_tokens : measure.value === "calls" ? g.calls : g.cost
  }
  var label = function(value) {
    if (measure.value !== "cost") return String(Math.round(value))
    return money(value, 5, 2)
  }
  // Dollars to the micro-dollar; a saving below zero (caching's writes cost more than its reads saved) with its sign.
  var dollars = function(value) {
    var shown = Math.abs(value) < 5e-7 ? 0 : value
    return (shown < 0 ? "-$" : "$") + Math.abs(shown).toFixed(6)
  }
  var svg = function(name, attributes, text) {
    var element = /** @type {SVGElement} */ (document.createElementNS(svgNs, name))
    Object.keys(attributes).forEach(function(key) {
      element.setAttribute(key, String(attributes[key]))
    })
    if (text !== undefined) element.textContent = text
    return element
  }
  var slotLabel = function(start) {
    var date = new Date(start)
    var two = function(n) {
      return (n < 10 ? "0" : "") + n
    }
    return range.value === "hour"
      ? two(date.getUTCHours()) + ":00"
      : two(date.getUTCMonth() + 1) + "-" + two(date.getUTCDate())
  }

  var draw = function(answer, first) {
    var span = spans[range.value]
    // A Map, not an object: a group is named by whoever named a key, and "__proto__" or "constructor" is a name.
    var byGroup = new Map(), names = []
    answer.groups.forEach(function(g) {
      var name = nameOf(g)
      if (!byGroup.has(name)) {
        byGroup.set(name, { total: 0, calls: 0, cost: 0, input: 0, output: 0, cached: 0, written: 0, saved: 0 })
        names.push(name)
      }
      var t = byGroup.get(name)
      t.total += valueOf(g)
      t.calls += g.calls
      t.cost += g.cost
      t.input += g.input_tokens
      t.output += g.output_tokens
      t.cached += g.cached_tokens
      t.written += g.cache_write_tokens
      t.saved += g.cache_savings
    })
    names.sort(function(a, b) {
      return byGroup.get(b).total - byGroup.get(a).total || (a < b ? -1 : 1)
    })
    // The costliest groups each get a colour; the rest are drawn together as "other".
    var shown = names.slice(0, palette.length - 1)
    var colourOf = function(name) {
      var i = shown.indexOf(name)
      return i < 0 ? palette[palette.length - 1] : palette[i]
    }
    var stacks = []
    for (var i = 0; i < span.slots; i++) stacks.push({ start: first + i * span.millis, parts: [], sum: 0 })
    answer.groups.forEach(function(g) {
      var slot = Math.round((g.bucket * 1000 - first) / span.millis)
      if (slot < 0 || slot >= span.slots) return
      var value = valueOf(g)
      stacks[slot].parts.push({ name: nameOf(g), value: value })
      stacks[slot].sum += value
    })
    var most = Math.max.apply(
      null,
      stacks.map(function(s) {
        return s.sum
      }).concat([0])
    )
    var scale = most > 0 ? (height - bottom - top) / most : 0
    var slotWidth = (width - left - 8) / span.slots
    var children = [
      svg("line", { x1: left, y1: height - bottom, x2: width - 8, y2: height - bottom, stroke: "#9ca3af" }),
      svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end" }, label(0)),
      svg("text", { x: left - 6, y: top + 8, "text-anchor": "end", "data-testid": "spend-axis-max" }, label(most))
    ]
    stacks.forEach(function(stack, i) {
      var x = left + i * slotWidth + 1, y = height - bottom
      stack.parts.sort(function(a, b) {
        return shown.indexOf(a.name) - shown.indexOf(b.name)
      })
      stack.parts.forEach(function(part) {
        var h = part.value * scale
        if (h <= 0) return
        y -= h
        var bar = svg("rect", { x: x, y: y, width: Math.max(1, slotWidth - 2), height: h, fill: colourOf(part.name) })
        bar.dataset.testid = "spend-bar"
        bar.dataset.group = part.name
        bar.dataset.bucket = String(stack.start)
        bar.dataset.value = String(part.value)
        bar.appendChild(svg("title", {}, part.name + ": " + label(part.value)))
        children.push(bar)
      })
      if (i % (range.value === "hour" ? 4 : 5) === 0) {
        children.push(svg("text", { x: x, y: height - 10 }, slotLabel(stack.start)))
      }
    })
    chart.replaceChildren.apply(chart, children)
    legend.replaceChildren.apply(
      legend,
      names.map(function(name) {
        var item = document.createElement("li")
        var swatch = document.createElement("span")
        var text = document.createElement("span")
        swatch.className = "swatch"
        swatch.style.background = colourOf(name)
        text.textContent = name + " " + label(byGroup.get(name).total)
        item.dataset.testid = "spend-legend-item"
        item.dataset.group = name
        item.append(swatch, text)
        return item
      })
    )
    totals.replaceChildren.apply(
      totals,
      names.map(function(name) {
        var t = byGroup.get(name), tr = document.createElement("tr")
        tr.dataset.testid = "spend-total"
        tr.dataset.group = name
        ;[
          [name, "text"],
          [String(t.calls)],
          [dollars(t.cost)],
          [String(t.input)],
          [String(t.output)],
          [String(t.cached), "", "cached"],
          [String(t.written), "", "written"],
          [dollars(t.saved), "", "saved"]
        ].forEach(function(cell) {
          var td = document.createElement("td")
          td.textContent = cell[0]
          if (cell[1]) td.className = cell[1]
          if (cell[2]) td.dataset.testid = cell[2]
          tr.appendChild(td)
        })
        return tr
      })
    )
  }

  // Before the poll's own listener (listeners run in order): the grouping asked for is one the roles may read.
  document.addEventListener("admin-known", function(event) {
    var granted = /** @type {CustomEvent<ReadonlyArray<string>>} */ (event).detail
    Array.prototype.forEach.call(group.options, function(/** @type {HTMLOptionElement} */ option) {
      var needed = option.dataset.permission
      option.hidden = option.disabled = needed !== undefined && granted.indexOf(needed) < 0
    })
    if (group.selectedOptions[0] === undefined || group.selectedOptions[0].disabled) group.value = "model"
  })
  var poll = pollAdmin("observe", section, function() {
    var span = spans[range.value]
    var first = (Math.floor(Date.now() / span.millis) - span.slots + 1) * span.millis
    return {
      path: "admin/spend?group_by=" + group.value + "&bucket=" + range.value + "&from=" + first / 1000,
      draw: function(answer) {
        draw(answer, first)
        section.hidden = false
      }
    }
  })
  ;[group, measure, range].forEach(function(select) {
    select.addEventListener("change", poll)
  })
})()
