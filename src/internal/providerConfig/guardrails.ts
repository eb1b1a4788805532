/**
 * The `guardrails` section of `provider.json` (docs/guardrails.md): named guardrails over the built-in checks, a
 * webhook or OpenAI's moderation endpoint, each read into its `Guardrail` constructor and built with the gateway's
 * configuration. Options are checked here by the constructors' own rules, so a bad one is refused at its path; every
 * name a model, router, key or the gateway lists must be one of the section's.
 */
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Schema from "effect/Schema"
import type * as Guardrail from "../../Guardrail.js"
import type { OptionsError } from "../../OptionsError.js"
import type { Issue } from "../../ProviderConfig.js"
import * as Checks from "../guardrail/checks.js"
import * as Make from "../guardrail/make.js"
import * as Moderation from "../guardrail/moderation.js"
import * as Webhook from "../guardrail/webhook.js"
import { definedFields } from "../json.js"
import { Headers, HttpUrl, NonEmpty, NonNegativeInt, oneOf, optional, PositiveInt, snake } from "./fields.js"
import { readAll, type ReadSecret } from "./gateway.js"
import { duration, DurationEntry } from "./router.js"

// Where a guardrail runs, as the file names the places.
const places = {
  request: "request",
  reply: "reply",
  tool_arguments: "toolArguments",
  tool_results: "toolResult"
} as const satisfies Record<string, Guardrail.Where>

const GuardrailEntry = Schema.Struct({
  /** Built-in checks by name (`email`, `phone`, `card`, `iban`, `national-id`, `ip`, `secrets`). */
  checks: optional(Schema.Array(oneOf(Object.keys(Checks.named)))),
  /** A word list, each word found whole, any case. */
  words: optional(Schema.Array(NonEmpty)),
  /** A webhook's URL (`Guardrail.webhook`). */
  webhook: optional(HttpUrl),
  /** Headers posted to the webhook; values may be `env:NAME`, and are kept out of logs. */
  headers: optional(Headers),
  /** OpenAI's moderation endpoint (`Guardrail.moderation`). */
  moderation: optional(Schema.Struct({
    api_key: NonEmpty,
    base_url: optional(HttpUrl),
    model: optional(NonEmpty),
    categories: optional(Schema.Array(NonEmpty))
  })),
  /** The longest text a webhook's findings take, when it knows. */
  longest_match: optional(PositiveInt),
  /** Whether the webhook takes its texts as a list (`texts`, answered `verdicts`). */
  batch: optional(Schema.Boolean),
  on: optional(Schema.Array(oneOf(Object.keys(places) as Array<keyof typeof places>))),
  action: optional(oneOf(["block", "mask"])),
  mode: optional(oneOf(["audit", "buffer", "window"])),
  window: optional(PositiveInt),
  overlap: optional(NonNegativeInt),
  max_buffer_bytes: optional(PositiveInt),
  on_error: optional(oneOf(["open", "closed"])),
  /** How long a webhook or the moderation endpoint may take: seconds or a duration. */
  timeout: optional(DurationEntry)
})

type GuardrailEntry = typeof GuardrailEntry.Type

export const GuardrailsEntry = Schema.Record(Schema.String, GuardrailEntry)

/** A guardrail of the section, built on the gateway's `HttpClient`. */
export type Built = Effect.Effect<Guardrail.Guardrail, OptionsError, HttpClient.HttpClient>

/** The issues of a constructor's `OptionsError`, under the guardrail's path. */
function issuesOf(at: string, error: OptionsError): Array<typeof Issue.Type> {
  return [error, ...(error.others ?? [])].map((problem) => ({
    path: `${at}.${snake(problem.option)}`,
    message: `expected ${problem.expected}, got ${problem.value}`
  }))
}

/** The options every kind takes. */
function common(name: string, entry: GuardrailEntry): Guardrail.CommonOptions {
  return {
    name,
    ...definedFields({
      on: entry.on?.map((place) => places[place]),
      mode: entry.mode,
      window: entry.window,
      overlap: entry.overlap,
      maxBufferBytes: entry.max_buffer_bytes,
      onError: entry.on_error
    })
  }
}

/** One guardrail read and checked, or its issues. */
const one = (name: string, entry: GuardrailEntry, read: ReadSecret) =>
  Effect.gen(function*(): Effect.fn.Return<
    { readonly built: Built | undefined; readonly issues: ReadonlyArray<typeof Issue.Type> }
  > {
    const at = `guardrails.${name}`
    const kinds = [
      entry.checks !== undefined || entry.words !== undefined,
      entry.webhook !== undefined,
      entry.moderation !== undefined
    ].filter(Boolean).length
    if (kinds !== 1) {
      return {
        built: undefined,
        issues: [{ path: at, message: "expected one of checks (with words, or words alone), webhook or moderation" }]
      }
    }
    const issues: Array<typeof Issue.Type> = []
    for (const field of ["headers", "longest_match", "batch"] as const) {
      if (entry[field] !== undefined && entry.webhook === undefined) {
        issues.push({ path: `${at}.${field}`, message: "is for a webhook" })
      }
    }
    if (entry.action !== undefined && entry.checks === undefined && entry.words === undefined) {
      issues.push({
        path: `${at}.action`,
        message: "is for checks and words (a webhook or moderation answers its own)"
      })
    }
    if (entry.timeout !== undefined && entry.checks !== undefined) {
      issues.push({ path: `${at}.timeout`, message: "is for a webhook or moderation" })
    }
    const options = common(name, entry)
    const timeout = definedFields({ timeout: duration(entry.timeout) })
    let built: Built | undefined
    if (entry.webhook !== undefined) {
      const headers = yield* readAll(entry.headers ?? {}, `${at}.headers`, read)
      issues.push(...headers.issues)
      const webhook: Guardrail.WebhookOptions = {
        ...options,
        url: entry.webhook,
        headers: headers.out,
        ...timeout,
        ...definedFields({ longestMatch: entry.longest_match, batch: entry.batch })
      }
      const checked = yield* Effect.result(Make.settings(webhook, webhook.longestMatch))
      if (checked._tag === "Failure") issues.push(...issuesOf(at, checked.failure))
      built = Webhook.make(webhook)
    } else if (entry.moderation !== undefined) {
      const { moderation } = entry
      const apiKey = yield* Effect.result(read(moderation.api_key, `${at}.moderation.api_key`))
      if (apiKey._tag === "Failure") issues.push(...apiKey.failure)
      const checked = yield* Effect.result(Make.settings(options, undefined))
      if (checked._tag === "Failure") issues.push(...issuesOf(at, checked.failure))
      built = apiKey._tag === "Failure" ? undefined : Moderation.make({
        ...options,
        apiKey: apiKey.success,
        ...timeout,
        ...definedFields({ baseUrl: moderation.base_url, model: moderation.model, categories: moderation.categories })
      })
    } else {
      const checks = [
        ...(entry.checks ?? []).map((check) => Checks.named[check]!),
        ...(entry.words === undefined ? [] : [Checks.words(`${name}-words`, entry.words)])
      ]
      const made = yield* Effect.result(
        Make.make({ ...options, checks, ...definedFields({ action: entry.action }) })
      )
      if (made._tag === "Failure") issues.push(...issuesOf(at, made.failure))
      else built = Effect.succeed(made.success)
    }
    return { built: issues.length > 0 ? undefined : built, issues }
  })

/** The section's guardrails read and checked (each to be built with the gateway), or every issue. */
export const resolve = (section: Readonly<Record<string, GuardrailEntry>>, read: ReadSecret) =>
  Effect.gen(function*() {
    const guardrails: Record<string, Built> = {}
    const issues: Array<typeof Issue.Type> = []
    for (const [name, entry] of Object.entries(section)) {
      const result = yield* one(name, entry, read)
      issues.push(...result.issues)
      if (result.built !== undefined) guardrails[name] = result.built
    }
    return { guardrails, issues }
  })

/** The issues of the names `names` lists (at `path`) that `section` does not have. */
export function unknownNames(
  section: Readonly<Record<string, unknown>>,
  names: ReadonlyArray<string> | undefined,
  path: string
): Array<typeof Issue.Type> {
  const known = Object.keys(section)
  return (names ?? []).flatMap((name, index) =>
    Object.hasOwn(section, name) ? [] : [{
      path: `${path}[${index}]`,
      message: `${name} names no guardrail of the guardrails section; known: ${
        known.length === 0 ? "none" : known.join(", ")
      }`
    }]
  )
}
