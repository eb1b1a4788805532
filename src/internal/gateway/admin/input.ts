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
import type { BudgetLimit } from "../keys/store.js"

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

/** A key's fields as a request gives them: absent (left), `null` (cleared), or the value. */
export interface KeyInput {
  readonly name?: string
  readonly team?: string | null
  readonly models?: ReadonlyArray<string> | null
  /** The MCP tools it may use: qualified names and globs (`null`: none). */
  readonly tools?: ReadonlyArray<string> | null
  /** The names of the guardrails its calls run (`null`: none). */
  readonly guardrails?: ReadonlyArray<string> | null
  readonly budget?: BudgetLimit | null
  readonly rateLimit?: { readonly capacity: number; readonly refillRate: number } | null
  /** Epoch ms. */
  readonly expiresAt?: number | null
  readonly metadata?: Readonly<Record<string, unknown>> | null
}

export interface TeamInput {
  readonly name?: string
  /** The MCP tools its keys may use, as far as their own lists allow (`null`: none). */
  readonly tools?: ReadonlyArray<string> | null
  /** The names of the guardrails its keys' calls run (`null`: none). */
  readonly guardrails?: ReadonlyArray<string> | null
  readonly budget?: BudgetLimit | null
  readonly metadata?: Readonly<Record<string, unknown>> | null
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

/** The body as a JSON object, or what is wrong with it. */
export const parse = (text: string): Body | Invalid => {
  if (text.trim() === "") return {}
  const body = parseJson(text)
  if (Option.isNone(body)) return new Invalid({ field: "body", message: "The request body is not valid JSON." })
  return isJsonObject(body.value)
    ? body.value
    : new Invalid({ field: "body", message: "The request body must be a JSON object." })
}

const unknownField = (body: Body, known: ReadonlyArray<string>): Invalid | undefined => {
  const field = Object.keys(body).find((name) => !known.includes(name))
  return field === undefined
    ? undefined
    : new Invalid({ field: field, message: `\`${field}\` is not a field here; the fields are ${known.join(", ")}.` })
}

// Control characters (a terminal's escape codes among them) are never part of a name: a name is printed by `keys
// list`, `spend` and the dashboard.
// eslint-disable-next-line no-control-regex
const control = /[\u0000-\u001f\u007f-\u009f]/

const nameOf = (value: unknown, field: string): string | Invalid =>
  typeof value === "string" && value.trim() !== "" && value.length <= 200 && !control.test(value)
    ? value
    : new Invalid({
      field: field,
      message: `\`${field}\` must be a non-empty string of at most 200 characters, without control characters.`
    })

/** The most a key's or team's `metadata` takes, as JSON. */
export const maxMetadataBytes = 16 * 1024

const metadataOf = (value: unknown): Body | null | Invalid =>
  value === null || (isJsonObject(value) && Buffer.byteLength(JSON.stringify(value)) <= maxMetadataBytes)
    ? value
    : new Invalid({
      field: "metadata",
      message: `\`metadata\` must be a JSON object of at most ${maxMetadataBytes} bytes.`
    })

/** The most a budget's limit may be, in US dollars. */
const largestLimit = 1e9

/** `{ "limit": dollars, "period": "month" | a duration such as "1 day" }`. */
const budgetOf = (value: unknown): BudgetLimit | null | Invalid => {
  if (value === null) return null
  if (!isJsonObject(value)) {
    return new Invalid({
      field: "budget",
      message: "`budget` must be an object: {\"limit\": dollars, \"period\": \"month\" or \"1 day\"}."
    })
  }
  const stray = unknownField(value, ["limit", "period"])
  if (stray !== undefined) return new Invalid({ field: `budget.${stray.field}`, message: stray.message })
  const limit = value["limit"]
  if (typeof limit !== "number" || !Number.isFinite(limit) || limit < 0 || limit > largestLimit) {
    return new Invalid({
      field: "budget.limit",
      message: `\`budget.limit\` must be 0 or more US dollars, at most ${largestLimit}.`
    })
  }
  const period = value["period"]
  if (period === "month") return { limit, period }
  const length = typeof period === "string" ? Duration.fromInput(period as Duration.Input) : Option.none()
  if (Option.isNone(length) || !periodInBounds(Duration.toMillis(length.value))) {
    return new Invalid({
      field: "budget.period",
      message: `\`budget.period\` must be "month" (the UTC calendar month) or a duration ${periodBounds} such as ` +
        "\"1 day\" or \"12 hours\"."
    })
  }
  return { limit, period: period as Duration.Input }
}

/** The most a key's rate limit takes: calls at once, and calls a second. */
const largestRate = 1e6

const positive = (value: unknown, field: string): number | Invalid =>
  typeof value === "number" && Number.isFinite(value) && value > 0 && value <= largestRate
    ? value
    : new Invalid({ field: field, message: `\`${field}\` must be a positive number, at most ${largestRate}.` })

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
      : new Invalid({
        field,
        message:
          `\`${field}\` must be a list of at most ${most} ${what} (each at most 200 characters), or null for none.`
      })
}

/** A list of qualified MCP tool names and globs (`files__read`, `calc__*`), or `null` for none. */
const toolsOf = namesOf("tools", maxTools, "MCP tool names or globs (`files__read`, `calc__*`)")

/** A list of guardrail names, or `null` for none; whether the configuration has them is the caller's to check. */
const guardrailsOf = namesOf("guardrails", maxGuardrails, "names of the configuration's guardrails")

const invalid = (value: unknown): value is Invalid => value instanceof Invalid

/** Reads what keys and teams share (`tools`, `guardrails`, `budget`) from `body` into `input`, or the first refused. */
const sharedOf = (
  body: Body,
  input: { -readonly [K in keyof TeamInput]: TeamInput[K] }
): Invalid | undefined => {
  if ("tools" in body) {
    const tools = toolsOf(body["tools"])
    if (invalid(tools)) return tools
    input.tools = tools
  }
  if ("guardrails" in body) {
    const guardrails = guardrailsOf(body["guardrails"])
    if (invalid(guardrails)) return guardrails
    input.guardrails = guardrails
  }
  if ("budget" in body) {
    const budget = budgetOf(body["budget"])
    if (invalid(budget)) return budget
    input.budget = budget
  }
  return undefined
}

/** A key's fields from `body`; on `create`, `name` is required and `expires_at` must be in the future of `now`. */
export const keyInput = (body: Body, mode: "create" | "update", now: number): KeyInput | Invalid => {
  const stray = unknownField(body, keyFields)
  if (stray !== undefined) return stray
  const input: { -readonly [K in keyof KeyInput]: KeyInput[K] } = {}
  if (mode === "create" && !("name" in body)) {
    return new Invalid({ field: "name", message: "`name` is required: it names the key." })
  }
  if ("name" in body) {
    const name = nameOf(body["name"], "name")
    if (invalid(name)) return name
    input.name = name
  }
  if ("team" in body) {
    const team = body["team"]
    if (team !== null && (typeof team !== "string" || team.length > 200)) {
      return new Invalid({
        field: "team",
        message: "`team` must be a team's id (POST /admin/teams makes one), or null."
      })
    }
    input.team = team
  }
  if ("models" in body) {
    const models = body["models"]
    if (
      models !== null &&
      !(Array.isArray(models) && models.length <= maxModels &&
        models.every((model) => typeof model === "string" && model.length <= 200))
    ) {
      return new Invalid({
        field: "models",
        message: `\`models\` must be a list of at most ${maxModels} model names (each at most 200 characters), or ` +
          "null for every model."
      })
    }
    input.models = models
  }
  const shared = sharedOf(body, input)
  if (shared !== undefined) return shared
  const capacity = body["rate_limit_capacity"]
  const refillRate = body["rate_limit_refill_rate"]
  if (("rate_limit_capacity" in body) !== ("rate_limit_refill_rate" in body)) {
    const missing = "rate_limit_capacity" in body ? "rate_limit_refill_rate" : "rate_limit_capacity"
    return new Invalid({
      field: missing,
      message: "`rate_limit_capacity` and `rate_limit_refill_rate` are given together."
    })
  }
  if ("rate_limit_capacity" in body) {
    if (capacity === null && refillRate === null) input.rateLimit = null
    else {
      const checkedCapacity = positive(capacity, "rate_limit_capacity")
      if (invalid(checkedCapacity)) return checkedCapacity
      const checkedRate = positive(refillRate, "rate_limit_refill_rate")
      if (invalid(checkedRate)) return checkedRate
      input.rateLimit = { capacity: checkedCapacity, refillRate: checkedRate }
    }
  }
  if ("expires_at" in body) {
    const at = body["expires_at"]
    if (at !== null && !(typeof at === "number" && at <= latestSeconds && millisOf(at) > now)) {
      return new Invalid({
        field: "expires_at",
        message: "`expires_at` must be a time in the future, in Unix seconds (at most the end of year 9999), or null."
      })
    }
    input.expiresAt = at === null ? null : millisOf(at)
  }
  if ("metadata" in body) {
    const metadata = metadataOf(body["metadata"])
    if (invalid(metadata)) return metadata
    input.metadata = metadata
  }
  return input
}

/** A team's fields from `body`; on `create`, `name` is required. */
export const teamInput = (body: Body, mode: "create" | "update"): TeamInput | Invalid => {
  const stray = unknownField(body, teamFields)
  if (stray !== undefined) return stray
  const input: { -readonly [K in keyof TeamInput]: TeamInput[K] } = {}
  if (mode === "create" && !("name" in body)) {
    return new Invalid({ field: "name", message: "`name` is required: it names the team." })
  }
  if ("name" in body) {
    const name = nameOf(body["name"], "name")
    if (invalid(name)) return name
    input.name = name
  }
  const shared = sharedOf(body, input)
  if (shared !== undefined) return shared
  if ("metadata" in body) {
    const metadata = metadataOf(body["metadata"])
    if (invalid(metadata)) return metadata
    input.metadata = metadata
  }
  return input
}

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
    : new Invalid({
      field: "grace_seconds",
      message: `\`grace_seconds\` must be 0 to ${maxGraceSeconds} seconds (30 days).`
    })
}
