/**
 * The bodies of the admin API's key and team requests (`admin/keys.ts`), checked field by field: a body that is not a
 * JSON object, a field it does not know, or a value of the wrong kind is refused naming the field. On a change
 * (`PATCH`) every field is optional and `null` clears one that may be cleared. Times, here and in every answer of
 * the admin API, are Unix seconds (to the millisecond).
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { periodBounds, periodInBounds } from "../../budget/window.js"
import { isJsonObject, parseJson } from "../../json.js"
import type { BudgetLimit, KeyRecord, TeamRecord } from "../keys/store.js"

/** A time as the admin API writes it: Unix seconds, to the millisecond, of epoch milliseconds. */
export const unixSeconds = (millis: number): number => millis / 1000

const millisOf = (seconds: number): number => Math.round(seconds * 1000)

/** A time as the admin API reads it, Unix seconds or an ISO 8601 time, in epoch milliseconds; else `undefined`. */
export const timeOf = (text: string): number | undefined => {
  const millis = /^\d+(\.\d+)?$/.test(text) ? millisOf(Number(text)) : Date.parse(text)
  return Number.isFinite(millis) ? millis : undefined
}

/** A field that is refused, and why. */
export class Invalid extends Data.TaggedError("Invalid")<{ readonly field: string; readonly message: string }> {}

/** The fields `K` of a stored `R` as a request gives them: absent (left), `null` (cleared), or the value. */
type Given<R, K extends keyof R> = { readonly [F in K]?: NonNullable<R[F]> | null }

/** A key's fields as a request gives them. */
export interface KeyInput
  extends Given<KeyRecord, "models" | "tools" | "guardrails" | "budget" | "rateLimit" | "expiresAt" | "metadata">
{
  readonly name?: string
  readonly team?: string | null
}

/** A team's fields as a request gives them. */
export interface TeamInput extends Given<TeamRecord, "tools" | "guardrails" | "budget" | "metadata"> {
  readonly name?: string
}

type Body = Readonly<Record<string, unknown>>

const keyFields = [
  "name",
  "team",
  "models",
  "tools",
  "guardrails",
  "budget",
  "rate_limit_capacity",
  "rate_limit_refill_rate",
  "expires_at",
  "metadata"
]
const teamFields = ["name", "tools", "guardrails", "budget", "metadata"]

const refused = (field: string, message: string) => new Invalid({ field, message })

/** The body as a JSON object, or what is wrong with it. */
export const parse = (text: string): Body | Invalid => {
  if (text.trim() === "") return {}
  const body = parseJson(text)
  if (Option.isNone(body)) return refused("body", "The request body is not valid JSON.")
  return isJsonObject(body.value) ? body.value : refused("body", "The request body must be a JSON object.")
}

const unknownField = (body: Body, known: ReadonlyArray<string>): Invalid | undefined => {
  const field = Object.keys(body).find((name) => !known.includes(name))
  return field === undefined
    ? undefined
    : refused(field, `\`${field}\` is not a field here; the fields are ${known.join(", ")}.`)
}

// Control characters (a terminal's escape codes among them) are never part of a name: a name is printed by `keys
// list`, `spend` and the dashboard.
// eslint-disable-next-line no-control-regex
const control = /[\u0000-\u001f\u007f-\u009f]/

const nameOf = (value: unknown): string | Invalid =>
  typeof value === "string" && value.trim() !== "" && value.length <= 200 && !control.test(value)
    ? value
    : refused("name", "`name` must be a non-empty string of at most 200 characters, without control characters.")

/** The most a key's or team's `metadata` takes, as JSON. */
export const maxMetadataBytes = 16 * 1024

const metadataOf = (value: unknown): Body | null | Invalid =>
  value === null || (isJsonObject(value) && Buffer.byteLength(JSON.stringify(value)) <= maxMetadataBytes)
    ? value
    : refused("metadata", `\`metadata\` must be a JSON object of at most ${maxMetadataBytes} bytes.`)

/** The most a budget's limit may be, in US dollars. */
const largestLimit = 1e9

/** `{ "limit": dollars, "period": "month" | a duration such as "1 day" }`. */
const budgetOf = (value: unknown): BudgetLimit | null | Invalid => {
  if (value === null) return null
  if (!isJsonObject(value)) {
    return refused("budget", "`budget` must be an object: {\"limit\": dollars, \"period\": \"month\" or \"1 day\"}.")
  }
  const stray = unknownField(value, ["limit", "period"])
  if (stray !== undefined) return refused(`budget.${stray.field}`, stray.message)
  const limit = value["limit"]
  if (typeof limit !== "number" || !Number.isFinite(limit) || limit < 0 || limit > largestLimit) {
    return refused("budget.limit", `\`budget.limit\` must be 0 or more US dollars, at most ${largestLimit}.`)
  }
  const period = value["period"]
  if (period === "month") return { limit, period }
  const length = typeof period === "string" ? Duration.fromInput(period as Duration.Input) : Option.none()
  if (Option.isNone(length) || !periodInBounds(Duration.toMillis(length.value))) {
    return refused(
      "budget.period",
      `\`budget.period\` must be "month" (the UTC calendar month) or a duration ${periodBounds} such as ` +
        "\"1 day\" or \"12 hours\"."
    )
  }
  return { limit, period: period as Duration.Input }
}

/** The most a key's rate limit takes: calls at once, and calls a second. */
const largestRate = 1e6

const positive = (value: unknown, field: string): number | Invalid =>
  typeof value === "number" && Number.isFinite(value) && value > 0 && value <= largestRate
    ? value
    : refused(field, `\`${field}\` must be a positive number, at most ${largestRate}.`)

/** The latest time the admin API takes (the end of year 9999, in Unix seconds). */
const latestSeconds = 253_402_300_799
/** The most models one key may be limited to. */
const maxModels = 1000
/** The most names and globs of MCP tools one key or team may list. */
const maxTools = 1000

/** The most guardrails one key or team may name. */
const maxGuardrails = 100

/**
 * A reader of a list of at most `most` names (each non-empty, at most 200 characters, no control character), or
 * `null` for none; anything else refused naming `field`, the names being `what`.
 */
function namesOf(field: string, most: number, what: string) {
  return (value: unknown): ReadonlyArray<string> | null | Invalid =>
    value === null ||
      (Array.isArray(value) && value.length <= most &&
        value.every((name) => typeof name === "string" && name !== "" && name.length <= 200 && !control.test(name)))
      ? value
      : refused(
        field,
        `\`${field}\` must be a list of at most ${most} ${what} (each at most 200 characters), or null for none.`
      )
}

const invalid = (value: unknown): value is Invalid => value instanceof Invalid

/** A reader of an input's field from a body: its value, `undefined` when the body leaves it, or what is refused. */
type Reader = (body: Body) => unknown

/** The reader of the body's field `name` by `read`. */
const field = (name: string, read: (value: unknown) => unknown): Reader => (body) =>
  name in body ? read(body[name]) : undefined

/** The reader of `name`, which `create` requires: it names the `what`. */
const nameField = (mode: "create" | "update", what: string): Reader => (body) =>
  "name" in body
    ? nameOf(body["name"])
    : mode === "create"
    ? refused("name", `\`name\` is required: it names the ${what}.`)
    : undefined

/** What keys and teams share: `tools`, `guardrails`, `budget`. */
const sharedFields = {
  /** A list of qualified MCP tool names and globs (`files__read`, `calc__*`), or `null` for none. */
  tools: field("tools", namesOf("tools", maxTools, "MCP tool names or globs (`files__read`, `calc__*`)")),
  /** A list of guardrail names, or `null` for none; whether the configuration has them is the caller's to check. */
  guardrails: field("guardrails", namesOf("guardrails", maxGuardrails, "names of the configuration's guardrails")),
  budget: field("budget", budgetOf)
}

/** The fields `readers` read from `body` (none it does not know, of `known`), in their order; or the first refused. */
function inputOf<I>(body: Body, known: ReadonlyArray<string>, readers: Record<string, Reader>): I | Invalid {
  const stray = unknownField(body, known)
  if (stray !== undefined) return stray
  const input: Record<string, unknown> = {}
  for (const [name, read] of Object.entries(readers)) {
    const value = read(body)
    if (invalid(value)) return value
    if (value !== undefined) input[name] = value
  }
  return input as I
}

const teamOf = (team: unknown) =>
  team === null || (typeof team === "string" && team.length <= 200)
    ? team
    : refused("team", "`team` must be a team's id (POST /admin/teams makes one), or null.")

const modelsOf = (models: unknown) =>
  models === null ||
    (Array.isArray(models) && models.length <= maxModels &&
      models.every((model) => typeof model === "string" && model.length <= 200))
    ? models
    : refused(
      "models",
      `\`models\` must be a list of at most ${maxModels} model names (each at most 200 characters), or ` +
        "null for every model."
    )

// `rate_limit_capacity` and `rate_limit_refill_rate`, given together.
const rateLimitOf: Reader = (body) => {
  const given = "rate_limit_capacity" in body
  if (given !== ("rate_limit_refill_rate" in body)) {
    return refused(
      given ? "rate_limit_refill_rate" : "rate_limit_capacity",
      "`rate_limit_capacity` and `rate_limit_refill_rate` are given together."
    )
  }
  if (!given) return undefined
  const capacity = body["rate_limit_capacity"]
  const refillRate = body["rate_limit_refill_rate"]
  if (capacity === null && refillRate === null) return null
  const checkedCapacity = positive(capacity, "rate_limit_capacity")
  if (invalid(checkedCapacity)) return checkedCapacity
  const checkedRate = positive(refillRate, "rate_limit_refill_rate")
  return invalid(checkedRate) ? checkedRate : { capacity: checkedCapacity, refillRate: checkedRate }
}

// A time in the future of `now`, in Unix seconds, as epoch ms; or `null`.
const expiresOf = (now: number) => (at: unknown) => {
  if (at === null) return null
  return typeof at === "number" && at <= latestSeconds && millisOf(at) > now ? millisOf(at) : refused(
    "expires_at",
    "`expires_at` must be a time in the future, in Unix seconds (at most the end of year 9999), or null."
  )
}

/** A key's fields from `body`; on `create`, `name` is required and `expires_at` must be in the future of `now`. */
export const keyInput = (body: Body, mode: "create" | "update", now: number): KeyInput | Invalid =>
  inputOf(body, keyFields, {
    name: nameField(mode, "key"),
    team: field("team", teamOf),
    models: field("models", modelsOf),
    ...sharedFields,
    rateLimit: rateLimitOf,
    expiresAt: field("expires_at", expiresOf(now)),
    metadata: field("metadata", metadataOf)
  })

/** A team's fields from `body`; on `create`, `name` is required. */
export const teamInput = (body: Body, mode: "create" | "update"): TeamInput | Invalid =>
  inputOf(body, teamFields, { name: nameField(mode, "team"), ...sharedFields, metadata: field("metadata", metadataOf) })

/** How long a rotated key's predecessor stays valid unless the request says (`grace_seconds`). */
export const defaultGraceSeconds = 3600

/** The longest a rotated key's predecessor may stay valid: 30 days. */
export const maxGraceSeconds = 30 * 24 * 3600

/** A rotation's grace period in milliseconds, from `{ "grace_seconds": n }` (0 ends the old key at once). */
export const graceOf = (body: Body): number | Invalid => {
  const stray = unknownField(body, ["grace_seconds"])
  if (stray !== undefined) return stray
  const grace = body["grace_seconds"] ?? defaultGraceSeconds
  return typeof grace === "number" && grace >= 0 && grace <= maxGraceSeconds
    ? grace * 1000
    : refused("grace_seconds", `\`grace_seconds\` must be 0 to ${maxGraceSeconds} seconds (30 days).`)
}
