/*
 * The dashboard's live tables, run by the page (`../page.ts`). It first asks `admin/me` who it acts for (a person
 * signed in through the session cookie the browser sends, or the key), once, and nothing else until someone is known:
 * a request of nobody known is a refusal, so the page's other sections wait. Once known, it shows their name and
 * roles, a sign-out button for a session, the reload button only to whom `reload` is granted, and tells the other
 * sections (`spend.js`, `mcp.js`, `audit.js`) with an `admin-known` event carrying the permissions granted over the
 * whole gateway (`global_permissions`: the scope of every route the page reads), each polling only
 * what these grant; it polls `dashboard/data` every second, to whom `observe` is granted, and draws the deployments,
 * keys and budgets with `textContent` (no markup is built from data). Nobody known, it shows a field for an admin key
 * beside the page's words on where that key is; for a key it sent, the gateway's message says why it was refused (a
 * gateway with no admin key at all says so before any is sent); a gateway with sign-on offers its sign-in link beside
 * it. It keeps the key in `sessionStorage` (gone with the tab) and sends it as `Authorization: Bearer`.
 *
 * Plain browser JavaScript, typechecked against the DOM (`tsconfig.browser.json`) and linted.
 */
;(function() {
  "use strict"
  var byId = function(id) {
    return document.getElementById(id)
  }
  var status = byId("status"), form = byId("key-form"), message = byId("key-message")
  var input = /** @type {HTMLInputElement} */ (byId("key-input"))
  var live = byId("live"), load = byId("load"), deployments = byId("deployments"), keys = byId("keys")
  var budgets = byId("budgets")
  var none = "\u2013"
  var who = byId("who"), signOut = byId("sign-out"), reload = byId("reload"), signInBox = byId("sign-in-box")
  var notAllowed = byId("not-allowed")
  // Who the page acts for, once `admin/me` said: `null` before, or when nobody is known.
  var me = null

  // Asks who the page acts for, shows what their roles grant, and tells the other sections what they may poll. Its
  // answer: the status and body of `admin/me` (status 0 when the gateway was not reached).
  var identify = function() {
    return fetch("admin/me", { headers: adminKeyHeaders(), cache: "no-store" }).then(function(response) {
      return response.json().catch(function() {
        return null
      }).then(function(body) {
        var code = body && body.error ? body.error.code : null
        signInBox.hidden = code !== "sign_in_required" && code !== "session_expired" && code !== "invalid_token"
        me = response.ok ? body : null
        who.hidden = me === null
        // Every route the page reads is the whole gateway's: what it shows and asks is what is granted over it.
        document.dispatchEvent(new CustomEvent("admin-known", { detail: me === null ? [] : me.global_permissions }))
        if (me !== null) {
          byId("who-name").textContent = me.name
          byId("who-roles").textContent = me.roles.length === 0 ? "(no roles)" : "(" + me.roles.join(", ") + ")"
          signOut.hidden = me.via !== "session"
          reload.hidden = me.global_permissions.indexOf("reload") < 0
        }
        return { status: response.status, body: body }
      })
    }).catch(function(error) {
      me = null
      return { status: 0, body: { error: { message: error.message } } }
    })
  }
  signOut.addEventListener("click", function() {
    fetch("admin/logout", { method: "POST", cache: "no-store" }).then(function(response) {
      return response.json()
    }).then(function(body) {
      document.location.href = body.redirect || "dashboard"
    })
  })
  reload.addEventListener("click", function() {
    status.textContent = "reloading the configuration"
    fetch("admin/reload", { method: "POST", headers: adminKeyHeaders(), cache: "no-store" }).then(function(response) {
      return response.json().then(function(body) {
        status.textContent = response.ok ? "configuration reloaded" : "not reloaded: " + body.error.message
      })
    })
  })

  var millis = function(value) {
    if (value === null || value === undefined) return none
    return value < 1000 ? Math.round(value) + " ms" : (value / 1000).toFixed(2) + " s"
  }
  var cell = function(testId, text, value, className) {
    var td = document.createElement("td")
    td.dataset.testid = testId
    td.textContent = text
    if (value !== undefined && value !== null) td.dataset.value = String(value)
    if (className) td.className = className
    return td
  }
  var row = function(testId, cells) {
    var tr = document.createElement("tr")
    tr.dataset.testid = testId
    cells.forEach(function(td) {
      tr.appendChild(td)
    })
    return tr
  }
  var quantile = function(quantiles, which) {
    return quantiles === null ? null : quantiles[which]
  }
  var learned = function(d, which) {
    return d.learnedLimits === null ? null : d.learnedLimits[which]
  }

  var render = function(data) {
    load.textContent = data.loadPercent.toFixed(1) + " %"
    load.dataset.value = String(data.loadPercent)
    var deploymentRows = [], keyRows = []
    data.deployments.forEach(function(d) {
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
        cell("cost", money(d.cost, 6, 4), d.cost),
        cell("sessions", d.pinnedSessions === null ? none : String(d.pinnedSessions), d.pinnedSessions)
      ])
      tr.dataset.name = d.name
      deploymentRows.push(tr)
      d.keys.forEach(function(k) {
        var state = k.disabled !== null ?
          "disabled: " + k.disabled
          : k.coolingUntil !== null && k.coolingUntil > data.now
          ? "cooling " + Math.ceil((k.coolingUntil - data.now) / 1000) + " s" :
          "ready"
        var kr = row("key", [
          cell("deployment", d.name, undefined, "text"),
          cell("key", k.key, undefined, "text"),
          cell("load", k.current + " / " + (k.max === null ? "\u221e" : k.max), k.current),
          cell("state", state, undefined, "text " + state.split(/[: ]/)[0])
        ])
        kr.dataset.deployment = d.name
        keyRows.push(kr)
      })
    })
    deployments.replaceChildren.apply(deployments, deploymentRows)
    keys.replaceChildren.apply(keys, keyRows)
    byId("no-keys").hidden = keyRows.length > 0
    budgets.replaceChildren.apply(
      budgets,
      data.budgets.map(function(b) {
        var br = row("budget", [
          cell("key", b.key, undefined, "text"),
          // A team by its name; by its id once it is deleted.
          cell("team", b.team === null ? none : b.teamName === null ? b.team : b.teamName, undefined, "text"),
          cell("limit", money(b.limit, 6, 4) + " / " + b.period, b.limit),
          cell("spent", money(b.spent, 6, 4), b.spent),
          cell("reserved", money(b.reserved, 6, 4), b.reserved),
          cell("left", money(b.left, 6, 4), b.left),
          cell("renews", new Date(b.periodEnd).toISOString().slice(0, 16).replace("T", " "), b.periodEnd)
        ])
        br.dataset.key = b.key
        return br
      })
    )
    byId("budgets-section").hidden = data.budgets.length === 0
    live.hidden = false
    form.hidden = true
    status.textContent = "updated " + new Date(data.now).toLocaleTimeString()
  }

  var timer
  var askKey = function(text) {
    sessionStorage.removeItem(adminKeyStorage)
    // A person signed in whose roles do not include the figures is told so; no key is asked of them.
    if (me !== null && me.kind === "person" && me.global_permissions.indexOf("observe") < 0) {
      notAllowed.hidden = false
      live.hidden = true
      form.hidden = true
      status.textContent = ""
      return
    }
    message.textContent = text
    form.hidden = false
    live.hidden = true
    status.textContent = "waiting for an admin key"
    input.focus()
  }
  // A refusal (401, 403) of the key sent, or of none: the field for a key, with the page's words on where one is when
  // none was sent to a gateway that has admin keys, else the gateway's own.
  var refused = function(answer, key) {
    var body = answer.body
    var said = body && body.error && body.error.message ? body.error.message : "HTTP " + answer.status
    askKey(
      key || answer.status === 403 ?
        (key ? "The gateway refused that key: " : "") + said :
        "The dashboard's data takes an admin key of this gateway."
    )
  }
  var poll = function() {
    clearTimeout(timer)
    var key = sessionStorage.getItem(adminKeyStorage)
    fetch("dashboard/data", { headers: adminKeyHeaders(), cache: "no-store" }).then(function(response) {
      if (response.status === 401 || response.status === 403) {
        return response.json().catch(function() {
          return null
        }).then(function(body) {
          // The session ended, or the key stopped working: asked who the page acts for again.
          identify().then(function() {
            refused({ status: response.status, body: body }, key)
          })
          return false
        })
      }
      if (!response.ok) throw new Error("HTTP " + response.status)
      return response.json().then(function(data) {
        render(data)
        return true
      })
    }).catch(function(error) {
      status.textContent = "gateway unreachable (" + error.message + "), retrying"
      return true
    }).then(function(again) {
      if (again) timer = setTimeout(poll, 1000)
    })
  }
  // Who the page acts for asked, then the figures polled for whom `observe` is granted, else the reason shown.
  var start = function() {
    var key = sessionStorage.getItem(adminKeyStorage)
    identify().then(function(answer) {
      if (me !== null && me.global_permissions.indexOf("observe") >= 0) return poll()
      if (answer.status === 0) {
        status.textContent = "gateway unreachable (" + answer.body.error.message + "), retrying"
        timer = setTimeout(start, 1000)
        return
      }
      refused(answer, key)
    })
  }
  form.addEventListener("submit", function(event) {
    event.preventDefault()
    sessionStorage.setItem(adminKeyStorage, input.value.trim())
    input.value = ""
    status.textContent = "checking the key"
    start()
  })
  start()
})()
