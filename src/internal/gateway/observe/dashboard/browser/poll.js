/*
 * What the dashboard's scripts share, run by the page (`../page.ts`) before them: the admin key the page keeps in
 * `sessionStorage` (gone with the tab), sent as `Authorization: Bearer`, and the poll of an admin section. A section
 * asks nothing until the main script (`live.js`) says who the page acts for (the `admin-known` event, carrying the
 * permissions granted over the whole gateway, which its routes need), then asks its path every five seconds while
 * the permission it reads is granted; a refusal (a session ended, a key revoked) hides it and stops its poll until the
 * main script, asking again, says who is known. Also: dollars as the page shows them, and the cell of a section's
 * table.
 *
 * Plain browser JavaScript, typechecked against the DOM (`tsconfig.browser.json`) and linted.
 */
"use strict"

var adminKeyStorage = "effect-llm-router.dashboard.adminKey"

/**
 * The headers that carry the admin key the page keeps, when it keeps one.
 * @returns {Record<string, string>}
 */
function adminKeyHeaders() {
  /** @type {Record<string, string>} */
  var headers = {}
  var key = sessionStorage.getItem(adminKeyStorage)
  if (key) headers.authorization = "Bearer " + key
  return headers
}

/**
 * Polls an admin section while `permission` is granted. `request` names the path to ask now and draws its answer's
 * JSON (a refusal hides `section` here; any other failure, or an answer that does not read, waits for the next
 * turn). Returns the poll, to ask at once (a filter applied).
 * @param {string} permission
 * @param {HTMLElement} section
 * @param {() => { path: string, draw: (answer: any) => void }} request
 * @returns {() => void}
 */
function pollAdmin(permission, section, request) {
  var timer
  // Whether the person or key the page acts for may read this section: nothing is asked before `admin-known`.
  var allowed = false
  var poll = function() {
    clearTimeout(timer)
    if (!allowed) return
    var asked = request()
    fetch(asked.path, { headers: adminKeyHeaders(), cache: "no-store" })
      .then(function(response) {
        // No longer allowed: the main script asks again, and says when it knows.
        if (response.status === 401 || response.status === 403) {
          allowed = false
          section.hidden = true
          return
        }
        if (!response.ok) throw new Error("HTTP " + response.status)
        return response.json().then(asked.draw)
      })
      .catch(function() {
        return undefined
      })
      .then(function() {
        if (allowed) timer = setTimeout(poll, 5000)
      })
  }
  document.addEventListener("admin-known", function(event) {
    allowed = /** @type {CustomEvent<ReadonlyArray<string>>} */ (event).detail.indexOf(permission) >= 0
    if (!allowed) section.hidden = true
    poll()
  })
  return poll
}

/**
 * Dollars as the dashboard shows them: a dash for none, no decimals for nothing, below a cent to `smallPlaces` decimal
 * places (a call's cost is often a fraction of a cent), else to `places`.
 * @param {number | null} value
 * @param {number} smallPlaces
 * @param {number} places
 * @returns {string}
 */
function money(value, smallPlaces, places) {
  if (value === null) return "\u2013"
  return "$" + (value === 0 ? "0" : value < 0.01 ? value.toFixed(smallPlaces) : value.toFixed(places))
}

/**
 * A table's cell: its text (set as text, never markup), its test id, its class, and the number it shows (for the
 * tests), when it shows one.
 * @param {string} text
 * @param {string} testId
 * @param {string} className
 * @param {unknown} [value]
 * @returns {HTMLTableCellElement}
 */
function tableCell(text, testId, className, value) {
  var td = document.createElement("td")
  td.textContent = text
  td.dataset.testid = testId
  if (className) td.className = className
  if (value !== null && value !== undefined) td.dataset.value = String(value)
  return td
}
