/**
 * The webhook contract: the text and its context posted as JSON and the verdict read back, within a timeout and a size
 * bound; a `batch` webhook's post carries `texts`, answered with a verdict for each. Any failure counts by the
 * guardrail's `onError`, for every text of the post.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Headers from "effect/http/Headers"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { CheckContext, Guardrail, Verdict, WebhookOptions } from "../../Guardrail.js"
import type { OptionsError } from "../../OptionsError.js"
import { definedFields, isJsonObject } from "../json.js"
import * as Problems from "../optionsError.js"
import { BodyTooLarge } from "../transport/bytes.js"
import { readWhole } from "../transport/providerHttp.js"
import { failed, type Settings, settings as settingsOf } from "./make.js"

const SpanAnswer = Schema.Struct({
  start: Schema.Int,
  end: Schema.Int,
  replacement: Schema.optional(Schema.String),
  label: Schema.optional(Schema.String)
})

/** A webhook's answer. */
export const Answer = Schema.Union([
  Schema.Struct({ verdict: Schema.Literal("pass") }),
  Schema.Struct({ verdict: Schema.Literal("mask"), spans: Schema.Array(SpanAnswer) }),
  Schema.Struct({ verdict: Schema.Literal("block"), reason: Schema.String })
])

const decodeAnswer = Schema.decodeUnknownOption(Answer)

export const defaultTimeout = Duration.seconds(1)

/** The most of an answer read: a verdict is small; past it, no more is read and the check failed. */
export const maxAnswerBytes = 65_536

/** An answer's JSON, read whole within `maxAnswerBytes`, or what is wrong with it. */
function answerJson(response: HttpClientResponse.HttpClientResponse): Effect.Effect<unknown, string> {
  return Effect.flatMap(
    Effect.mapError(
      readWhole(response, maxAnswerBytes),
      (error) =>
        error.cause instanceof BodyTooLarge
          ? `the answer passed the bound of ${maxAnswerBytes} bytes`
          : "the webhook could not be reached"
    ),
    (bytes) =>
      Effect.try({
        try: (): unknown => JSON.parse(new TextDecoder().decode(bytes)),
        catch: () => "the answer is not JSON"
      })
  )
}

/** A verdict from an answer's JSON, or what is wrong with it. */
export function verdictOf(settings: Settings, body: unknown, length: number): Result.Result<Verdict, string> {
  const decoded = decodeAnswer(body)
  if (decoded._tag === "None") return Result.fail("the answer is not a verdict")
  const answer = decoded.value
  switch (answer.verdict) {
    case "pass":
      return Result.succeed({ _tag: "Pass" })
    case "block":
      return Result.succeed({ _tag: "Block", reason: answer.reason })
    case "mask": {
      if (answer.spans.some((span) => span.start < 0 || span.end <= span.start || span.end > length)) {
        return Result.fail("a mask's span is outside the text")
      }
      return Result.succeed({
        _tag: "Mask",
        spans: answer.spans.map((span) => ({
          start: span.start,
          end: span.end,
          label: span.label ?? "webhook finding",
          replacement: span.replacement ?? `[REDACTED:${settings.name}]`
        }))
      })
    }
  }
}

/** The verdicts of an answer for `texts` (a batch's, one a text in order, or a single text's), or what is wrong. */
export function verdictsOf(
  settings: Settings,
  body: unknown,
  texts: ReadonlyArray<string>,
  batch: boolean
): Result.Result<ReadonlyArray<Verdict>, string> {
  if (!batch) return Result.map(verdictOf(settings, body, texts[0]!.length), (one) => [one])
  const verdicts = isJsonObject(body) ? body["verdicts"] : undefined
  if (!Array.isArray(verdicts) || verdicts.length !== texts.length) {
    return Result.fail(`the answer is not a list of ${texts.length} verdicts, one for each text`)
  }
  const out: Array<Verdict> = []
  for (const [index, answer] of verdicts.entries()) {
    const one = verdictOf(settings, answer, texts[index]!.length)
    if (Result.isFailure(one)) return Result.fail(`verdicts[${index}]: ${one.failure}`)
    out.push(one.success)
  }
  return Result.succeed(out)
}

/** A webhook guardrail over the `HttpClient` in context. */
export function make(options: WebhookOptions): Effect.Effect<Guardrail, OptionsError, HttpClient.HttpClient> {
  return Effect.gen(function*() {
    const problem = Problems.all([
      typeof options.url === "string" && URL.canParse(options.url) && /^https?:/.test(options.url)
        ? undefined
        : Problems.make("Guardrail", "url", options.url, "an http or https URL"),
      Problems.duration("Guardrail", "timeout", options.timeout, true),
      Problems.positive("Guardrail", "longestMatch", options.longestMatch, { integer: true, optional: true }),
      options.batch === undefined || typeof options.batch === "boolean"
        ? undefined
        : Problems.make("Guardrail", "batch", options.batch, "true or false")
    ])
    if (problem !== undefined) return yield* Effect.fail(problem)
    const settings = yield* settingsOf(options, options.longestMatch)
    const client = yield* HttpClient.HttpClient
    const timeout = Duration.fromInputUnsafe(options.timeout ?? defaultTimeout)
    const plain: Record<string, string> = {}
    const secret: Array<string> = []
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      plain[name.toLowerCase()] = Redacted.isRedacted(value) ? Redacted.value(value) : value
      if (Redacted.isRedacted(value)) secret.push(name.toLowerCase())
    }

    const context = (place: CheckContext) => ({ where: place.where, ...definedFields({ model: place.model }) })

    /** The verdicts of `texts`, one post for them all (a `batch` webhook) or one each; or what failed. */
    function ask(texts: ReadonlyArray<string>, place: CheckContext): Effect.Effect<ReadonlyArray<Verdict>, string> {
      // One post a text, every one made; the first that failed, in order, fails them all.
      if (options.batch !== true && texts.length !== 1) {
        return Effect.flatMap(
          Effect.forEach(texts, (text) => Effect.result(ask([text], place))),
          (answers) => Effect.fromResult(Result.map(Result.all(answers), (verdicts) => verdicts.flat()))
        )
      }
      const request = HttpClientRequest.post(options.url).pipe(
        HttpClientRequest.setHeaders(plain),
        HttpClientRequest.bodyJsonUnsafe(
          options.batch === true
            ? { guardrail: settings.name, texts, context: context(place) }
            : { guardrail: settings.name, text: texts[0], context: context(place) }
        )
      )
      const exchange = Effect.flatMap(
        Effect.mapError(client.execute(request), () => "the webhook could not be reached"),
        (response) =>
          response.status < 200 || response.status > 299
            ? Effect.fail(`the webhook answered ${response.status}`)
            : Effect.flatMap(
              answerJson(response),
              (body) => Effect.fromResult(verdictsOf(settings, body, texts, options.batch === true))
            )
      )
      return exchange.pipe(
        Effect.updateService(Headers.CurrentRedactedNames, (names) => [...names, ...secret]),
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () => Effect.fail(`no answer within ${Duration.format(timeout)}`)
        })
      )
    }

    function checkAll(texts: ReadonlyArray<string>, place: CheckContext): Effect.Effect<ReadonlyArray<Verdict>> {
      if (texts.length === 0) return Effect.succeed([])
      return Effect.catch(
        ask(texts, place),
        (reason) => Effect.map(failed(settings, place, reason), (verdict) => texts.map(() => verdict))
      )
    }

    return {
      ...settings,
      check: (text, place) => Effect.map(checkAll([text], place), (verdicts) => verdicts[0]!),
      checkAll
    }
  })
}
