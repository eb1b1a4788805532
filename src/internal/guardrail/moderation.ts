/**
 * OpenAI's moderation endpoint as a guardrail: `POST /moderations` through the library's own transport (the key masked
 * in every failure, the timeout kept by the `Clock`'s watchdog); a flagged text blocks, naming the categories. A
 * failure counts by the guardrail's `onError`.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { CheckContext, Guardrail, ModerationOptions, Verdict } from "../../Guardrail.js"
import { maskKey } from "../../LlmError.js"
import type { OptionsError } from "../../OptionsError.js"
import * as Problems from "../optionsError.js"
import { bearer } from "../providers/adapter.js"
import * as ProviderHttp from "../transport/providerHttp.js"
import { failed, type Settings, settings as settingsOf } from "./make.js"

export const defaultBaseUrl = "https://api.openai.com/v1"

export const defaultModel = "omni-moderation-latest"

export const defaultTimeout = Duration.seconds(2)

/** The part of the endpoint's answer read: each input's flag and categories. */
const Reply = Schema.Struct({
  results: Schema.Array(Schema.Struct({
    flagged: Schema.Boolean,
    categories: Schema.Record(Schema.String, Schema.NullOr(Schema.Boolean))
  }))
})

const decodeReply = Schema.decodeUnknownOption(Reply)

/** The verdict of one result: a block naming the categories flagged (those of `categories`, when given), or a pass. */
function resultVerdict(
  result: typeof Reply.Type["results"][number],
  categories: ReadonlyArray<string> | undefined
): Verdict {
  const flagged = new Set<string>()
  if (result.flagged) {
    for (const [category, on] of Object.entries(result.categories)) {
      if (on === true && (categories === undefined || categories.includes(category))) flagged.add(category)
    }
  }
  return flagged.size === 0 ? { _tag: "Pass" } : { _tag: "Block", reason: `flagged as ${[...flagged].join(", ")}` }
}

/** The verdicts of an answer's body for `count` inputs, one result each in order, or what is wrong with it. */
export function verdictsOf(
  body: unknown,
  count: number,
  categories: ReadonlyArray<string> | undefined
): Result.Result<ReadonlyArray<Verdict>, string> {
  const decoded = decodeReply(body)
  if (decoded._tag === "None" || decoded.value.results.length !== count) {
    return Result.fail(
      count === 1 ? "the moderation answer is not a result" : `the moderation answer is not ${count} results`
    )
  }
  return Result.succeed(decoded.value.results.map((result) => resultVerdict(result, categories)))
}

/** The moderation guardrail over the `HttpClient` in context. */
export function make(options: ModerationOptions): Effect.Effect<Guardrail, OptionsError, HttpClient.HttpClient> {
  return Effect.gen(function*() {
    const baseUrl = options.baseUrl ?? defaultBaseUrl
    const problem = Problems.all([
      Redacted.isRedacted(options.apiKey)
        ? undefined
        : Problems.make("Guardrail", "apiKey", options.apiKey, "a Redacted key"),
      URL.canParse(baseUrl) ? undefined : Problems.make("Guardrail", "baseUrl", baseUrl, "a URL"),
      Problems.duration("Guardrail", "timeout", options.timeout, true)
    ])
    if (problem !== undefined) return yield* Effect.fail(problem)
    const settings: Settings = yield* settingsOf({ ...options, name: options.name ?? "openai-moderation" }, undefined)
    const model = options.model ?? defaultModel
    const timeout = Duration.fromInputUnsafe(options.timeout ?? defaultTimeout)
    const client = yield* HttpClient.HttpClient
    const transport = ProviderHttp.make(client, { provider: "openai", baseUrl, auth: bearer, timeout })
    const credentials = { key: options.apiKey, keyId: maskKey(Redacted.value(options.apiKey)) }

    /** One post for every text (the endpoint takes a list as `input`, a result for each). */
    function ask(texts: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Verdict>, string> {
      const input = texts.length === 1 ? texts[0] : texts
      const prepared = transport.prepare({ path: "/moderations", body: { model, input }, model, credentials })
      if (Result.isFailure(prepared)) return Effect.fail("the request could not be written")
      return transport.json(
        prepared.success,
        (reply) => Effect.succeed(verdictsOf(reply.body, texts.length, options.categories))
      ).pipe(
        Effect.mapError((error) => `the moderation endpoint failed (${error._tag})`),
        Effect.flatMap(Effect.fromResult)
      )
    }

    function checkAll(texts: ReadonlyArray<string>, context: CheckContext): Effect.Effect<ReadonlyArray<Verdict>> {
      if (texts.length === 0) return Effect.succeed([])
      return Effect.catch(
        ask(texts),
        (reason) => Effect.map(failed(settings, context, reason), (verdict) => texts.map(() => verdict))
      )
    }

    return {
      ...settings,
      check: (text: string, context: CheckContext) => Effect.map(checkAll([text], context), (verdicts) => verdicts[0]!),
      checkAll
    }
  })
}
