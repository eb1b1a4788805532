/**
 * Guardrails: checks that look at the text of a call and answer pass, mask (with the spans to replace) or block (with
 * a reason), on the request before it is sent and on the reply as it comes back, built from the built-in checks
 * (`make`), a webhook (`webhook`) or OpenAI's moderation endpoint (`moderation`), and put in front of any `Llm` by
 * `guard`. docs/guardrails.md is the reference: what a guardrail reads, the built-in checks, the webhook, the three
 * stream modes and what each guarantees, and the gateway's guardrails.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Guardrail, Llm, Message } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * const program = Llm.chat({ messages: [Message.user("Write to me at ada@example.com")] }).pipe(
 *   Effect.map((reply) => reply.text),
 *   Effect.catchTag("ContentFilterError", (error) => Effect.succeed(`refused: ${error.detail}`))
 * )
 *
 * const guarded = Layer.unwrap(
 *   Effect.map(
 *     Guardrail.make({ name: "pii", checks: [Guardrail.email, Guardrail.phone], action: "mask" }),
 *     (pii) => Guardrail.guard([pii])
 *   )
 * )
 *
 * const main = program.pipe(Effect.provide(guarded.pipe(Layer.provide(LlmTest.layer([LlmTest.reply("Noted.")])))))
 * ```
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as ChatChunk from "./ChatChunk.js"
import type { Input as ChatRequest } from "./ChatRequest.js"
import type { ChatResponse } from "./ChatResponse.js"
import * as Checks from "./internal/guardrail/checks.js"
import * as Guarded from "./internal/guardrail/guarded.js"
import * as Make from "./internal/guardrail/make.js"
import * as Moderation from "./internal/guardrail/moderation.js"
import * as Webhook from "./internal/guardrail/webhook.js"
import * as Llm from "./Llm.js"
import type { LlmError } from "./LlmError.js"
import type { OptionsError } from "./OptionsError.js"

/**
 * Where a text is checked: the request (`request`: every text of it, tool results and tool definitions included), the
 * model's reply (`reply`: its reasoning, text, refusal and tool calls), and a tool's arguments and results where a
 * gateway calls tools (`toolArguments`, `toolResult`).
 *
 * @since 0.3.0
 * @category Models
 */
export type Where = "request" | "reply" | "toolArguments" | "toolResult"

/**
 * What a check is told besides the text.
 *
 * @since 0.3.0
 * @category Models
 */
export interface CheckContext {
  /** The guardrail being asked. */
  readonly guardrail: string
  readonly where: Where
  /** The model the request names, when it names one. */
  readonly model?: string | undefined
}

/**
 * A span of a checked text (offsets in UTF-16 code units, as JavaScript strings count), what it is in words, and
 * the text a mask puts in its place.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Span {
  readonly start: number
  readonly end: number
  /** What was found there, in words (`email address`); never the text itself. */
  readonly label: string
  readonly replacement: string
}

/**
 * A check's answer: the text passes, is masked at `spans`, or is blocked for `reason` (with the spans that made it
 * block, when the check knows them: a window releases text before a finding it has not seen whole yet).
 *
 * @since 0.3.0
 * @category Models
 */
export type Verdict =
  | { readonly _tag: "Pass" }
  | { readonly _tag: "Mask"; readonly spans: ReadonlyArray<Span> }
  | { readonly _tag: "Block"; readonly reason: string; readonly spans?: ReadonlyArray<Span> | undefined }

/**
 * How a streamed reply is checked; see the module's documentation and docs/guardrails.md.
 *
 * @since 0.3.0
 * @category Models
 */
export type Mode = "audit" | "buffer" | "window"

/**
 * How a check that fails (a webhook down, slow or answering garbage; a buffer past its bound) counts: `open` lets the
 * text through, `closed` blocks it.
 *
 * @since 0.3.0
 * @category Models
 */
export type OnError = "open" | "closed"

/**
 * A guardrail: its name, where it runs, how it checks a stream, and its check.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Guardrail {
  readonly name: string
  readonly on: ReadonlyArray<Where>
  readonly mode: Mode
  /** `window` mode: characters gathered before a check. */
  readonly window: number
  /** `window` mode: characters kept around each cut, at least `longestMatch`. */
  readonly overlap: number
  /** `buffer` mode: the most a reply may hold, in UTF-8 bytes. */
  readonly maxBufferBytes: number
  readonly onError: OnError
  /**
   * The longest text one finding and the characters that decide it can take, when the check knows it (the built-ins
   * do); a window's overlap at least this long finds what a whole text's check finds.
   */
  readonly longestMatch: number | undefined
  /** The check, which never fails: a failure inside it is already a pass or a block, by `onError`. */
  readonly check: (text: string, context: CheckContext) => Effect.Effect<Verdict>
  /**
   * The check of several texts of one place at once (an MCP tool call's strings), a verdict for each in their order:
   * the moderation endpoint and a `batch` webhook ask once for them all, the built-in checks check each.
   */
  readonly checkAll: (texts: ReadonlyArray<string>, context: CheckContext) => Effect.Effect<ReadonlyArray<Verdict>>
}

/**
 * The answer `pass`.
 *
 * @since 0.3.0
 * @category Constructors
 */
export const pass: Verdict = { _tag: "Pass" }

/**
 * The answer `mask` at `spans`.
 *
 * @since 0.3.0
 * @category Constructors
 */
export const mask = (spans: ReadonlyArray<Span>): Verdict => ({ _tag: "Mask", spans })

/**
 * The answer `block` for `reason` (in words; never the matched text).
 *
 * @since 0.3.0
 * @category Constructors
 */
export const block = (reason: string, spans?: ReadonlyArray<Span>): Verdict => ({ _tag: "Block", reason, spans })

/**
 * A guardrail blocked a text. It names the guardrail, where it ran and its reason, and never the text it found.
 *
 * @since 0.3.0
 * @category Errors
 */
export class GuardrailError extends Schema.TaggedError<GuardrailError>()("GuardrailError", {
  guardrail: Schema.String,
  where: Schema.Literals(["request", "reply", "toolArguments", "toolResult"]),
  reason: Schema.String
}) {
  override get message() {
    return `Guardrail "${this.guardrail}" blocked the ${blockedText[this.where]}: ${this.reason}.`
  }
}

// What a block stopped, in words, by where it ran.
const blockedText: Record<Where, string> = {
  request: "request",
  reply: "reply",
  toolArguments: "tool's arguments",
  toolResult: "tool's result"
}

/**
 * A built-in check: finds spans of a text, synchronously, and declares the longest text a finding and the
 * characters around it that decide it can take.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Check {
  /** The name it masks with, `[REDACTED:<name>]`. */
  readonly name: string
  /** The longest text one finding and the characters around it that decide it can take. */
  readonly longestMatch: number
  /** Every finding in a text, by start. */
  readonly find: (text: string) => ReadonlyArray<Finding>
}

/**
 * One span a check found: where it is (UTF-16 offsets), and what it is in words (`email address`).
 *
 * @since 0.3.0
 * @category Models
 */
export interface Finding {
  readonly start: number
  readonly end: number
  readonly label: string
}

/**
 * Email addresses (at most 254 characters).
 *
 * @since 0.3.0
 * @category Checks
 */
export const email: Check = Checks.email

/**
 * Phone numbers: international (`+` and 8 to 15 digits), North American, and national numbers starting with 0.
 *
 * @since 0.3.0
 * @category Checks
 */
export const phone: Check = Checks.phone

/**
 * Payment card numbers of the major networks that pass the Luhn check.
 *
 * @since 0.3.0
 * @category Checks
 */
export const card: Check = Checks.card

/**
 * IBANs of their country's length that pass the mod 97-10 check.
 *
 * @since 0.3.0
 * @category Checks
 */
export const iban: Check = Checks.iban

/**
 * National ids with their rules: US Social Security numbers, UK National Insurance numbers, Spanish DNI and NIE,
 * French social security numbers.
 *
 * @since 0.3.0
 * @category Checks
 */
export const nationalId: Check = Checks.nationalId

/**
 * IPv4 and IPv6 addresses.
 *
 * @since 0.3.0
 * @category Checks
 */
export const ipAddress: Check = Checks.ipAddress

/**
 * Secrets: OpenAI, Anthropic, Google, GitHub, Slack and Stripe API keys, AWS access key ids and secret access keys,
 * private keys in PEM blocks, JSON Web Tokens.
 *
 * @since 0.3.0
 * @category Checks
 */
export const secrets: Check = Checks.secrets

/**
 * A word list: each word found whole, whatever its case, in any script.
 *
 * @since 0.3.0
 * @category Checks
 */
export const words: (name: string, list: ReadonlyArray<string>) => Check = Checks.words

/**
 * The built-in checks by name: `email`, `phone`, `card`, `iban`, `national-id`, `ip`, `secrets`.
 *
 * @since 0.3.0
 * @category Checks
 */
export const checks: Readonly<Record<string, Check>> = Checks.named

/**
 * What every guardrail takes: where it runs and how it checks a stream.
 *
 * @since 0.3.0
 * @category Models
 */
export interface CommonOptions {
  readonly name: string
  /** Where it runs. Default: `["request", "reply", "toolArguments", "toolResult"]`. */
  readonly on?: ReadonlyArray<Where> | undefined
  /** How a streamed reply is checked. Default: `buffer`. */
  readonly mode?: Mode | undefined
  /** `window` mode's characters gathered before a check. Default: 1024, or twice the overlap when that is more. */
  readonly window?: number | undefined
  /** `window` mode's characters kept around a cut. Default: the checks' longest match. */
  readonly overlap?: number | undefined
  /** `buffer` mode's bound, in UTF-8 bytes. Default: 262144. */
  readonly maxBufferBytes?: number | undefined
  /** How a failing check counts. Default: `closed`. */
  readonly onError?: OnError | undefined
}

/**
 * A guardrail over built-in checks.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Options extends CommonOptions {
  readonly checks: ReadonlyArray<Check>
  /** What a finding does: `block` the text, or `mask` each finding with `[REDACTED:<check>]`. Default: `block`. */
  readonly action?: "block" | "mask" | undefined
}

/**
 * A guardrail over built-in checks; bad options fail with `OptionsError` naming the option.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Guardrail } from "effect-llm-router"
 *
 * const noSecrets = Guardrail.make({ name: "no-secrets", checks: [Guardrail.secrets], mode: "window" })
 * const verdict = Effect.flatMap(noSecrets, (guardrail) =>
 *   guardrail.check("my key is AKIAIOSFODNN7EXAMPLE", { guardrail: guardrail.name, where: "reply" }))
 * ```
 *
 * @since 0.3.0
 * @category Constructors
 */
export const make: (options: Options) => Effect.Effect<Guardrail, OptionsError> = Make.make

/**
 * A webhook guardrail's options.
 *
 * @since 0.3.0
 * @category Models
 */
export interface WebhookOptions extends CommonOptions {
  /** Where the text is posted. */
  readonly url: string
  /** How long an answer may take; past it, the check failed. Default: 1 second. */
  readonly timeout?: Duration.Input | undefined
  /** Headers sent with each post; a `Redacted` value is kept out of traces and errors. Default: none. */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined
  /** The longest text the webhook's findings take, when it knows (a window needs it or an `overlap`). */
  readonly longestMatch?: number | undefined
  /**
   * Whether the webhook takes its texts as a list: each post carries `texts` in place of `text`, answered
   * `{ "verdicts": [...] }` in order, so an MCP tool call's strings are one post a direction. Default: false.
   */
  readonly batch?: boolean | undefined
}

/**
 * A guardrail that posts `{ guardrail, text, context: { where, model } }` as JSON to a URL and reads its answer:
 * `{ "verdict": "pass" }`, `{ "verdict": "mask", "spans": [{ "start", "end", "replacement"?, "label"? }] }` or
 * `{ "verdict": "block", "reason" }` (with `batch`, one list of each). An answer not 2xx, late, unreachable or not of
 * that shape is a failure, a pass or a block by `onError`.

 *
 * @since 0.3.0
 * @category Constructors
 */
export const webhook: (options: WebhookOptions) => Effect.Effect<Guardrail, OptionsError, HttpClient.HttpClient> =
  Webhook.make

/**
 * OpenAI's moderation endpoint as a guardrail's options.
 *
 * @since 0.3.0
 * @category Models
 */
export interface ModerationOptions extends Omit<CommonOptions, "name"> {
  /** Default: `openai-moderation`. */
  readonly name?: string | undefined
  readonly apiKey: Redacted.Redacted<string>
  /** Default: `https://api.openai.com/v1`. */
  readonly baseUrl?: string | undefined
  /** Default: `omni-moderation-latest`. */
  readonly model?: string | undefined
  /** How long an answer may take; past it, the check failed. Default: 2 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** Only these categories block (`harassment`, `violence`...). Default: any the endpoint flags. */
  readonly categories?: ReadonlyArray<string> | undefined
}

/**
 * A guardrail that blocks what OpenAI's moderation endpoint (`POST /moderations`) flags, its reason naming the
 * categories. The key is sent as a bearer token and masked in every failure.
 *
 * @since 0.3.0
 * @category Constructors
 */
export const moderation: (
  options: ModerationOptions
) => Effect.Effect<Guardrail, OptionsError, HttpClient.HttpClient> = Moderation.make

/**
 * One text checked by a chain of guardrails (those that run `where`), read normalised: the text as written, masked
 * where they mask, or the first block as `GuardrailError`.
 *
 * @since 0.3.0
 * @category Checks
 */
export const checkText: (
  guardrails: ReadonlyArray<Guardrail>,
  text: string,
  context: { readonly where: Where; readonly model?: string | undefined }
) => Effect.Effect<string, GuardrailError> = Guarded.checkText

/**
 * A stream of text deltas through a chain of guardrails (those that run `where`), in the chain's strictest mode:
 * `buffer` over `window` over `audit`.
 *
 * @since 0.3.0
 * @category Checks
 */
export const checkStream: (
  guardrails: ReadonlyArray<Guardrail>,
  context: { readonly where: Where; readonly model?: string | undefined }
) => <E, R>(deltas: Stream.Stream<string, E, R>) => Stream.Stream<string, E | GuardrailError, R> = Guarded.checkStream

/**
 * An `Llm` behind a chain of guardrails: `chat` and `chatStream` as `Llm`'s, failing with `GuardrailError` too.
 *
 * @deprecated since 0.3.0: provide `guard(guardrails)`, which guards the `Llm` itself, and call `Llm`. Removed in
 * 0.4.0.
 * @since 0.3.0
 * @category Models
 */
export interface GuardedService {
  readonly chat: (request: ChatRequest) => Effect.Effect<ChatResponse, LlmError | GuardrailError>
  readonly chatStream: (request: ChatRequest) => Stream.Stream<ChatChunk.ChatChunk, LlmError | GuardrailError>
}

/**
 * The tag of an `Llm` behind guardrails.
 *
 * @deprecated since 0.3.0: provide `guard(guardrails)`, which guards the `Llm` itself, and call `Llm`. Removed in
 * 0.4.0.
 * @since 0.3.0
 * @category Tags
 */
export class GuardedLlm
  extends Context.Service<GuardedLlm, GuardedService>()("effect-llm-router/Guardrail/GuardedLlm")
{}

/**
 * The `Llm` in context behind `guardrails`, as the `Llm`: every caller of `Llm` guarded, without changing how it
 * calls. `chat` and `chatStream` check the request before the call and the reply after it (a stream in the chain's
 * strictest mode); a block fails the call with `ContentFilterError` (provider `guardrail`, its `detail` naming the
 * guardrail, where and its reason, never the text). `embed` and `countTokens` are the wrapped `Llm`'s own.

 *
 * @since 0.3.0
 * @category Layers
 */
export const guard = (guardrails: ReadonlyArray<Guardrail>): Layer.Layer<Llm.Llm, never, Llm.Llm> =>
  Layer.effect(Llm.Llm, Guarded.makeLlm(guardrails))

/**
 * The `Llm` in context behind `guardrails`, as a `GuardedLlm`.
 *
 * @deprecated since 0.3.0: provide `guard(guardrails)`, which guards the `Llm` itself, and call `Llm`. Removed in
 * 0.4.0.
 * @since 0.3.0
 * @category Layers
 */
export const layer = (guardrails: ReadonlyArray<Guardrail>): Layer.Layer<GuardedLlm, never, Llm.Llm> =>
  Layer.effect(GuardedLlm, Guarded.make(guardrails))

/**
 * `chat` of the `GuardedLlm` in context.
 *
 * @deprecated since 0.3.0: provide `guard(guardrails)` and call `Llm.chat`. Removed in 0.4.0.
 * @since 0.3.0
 * @category Accessors
 */
export const chat = (request: ChatRequest): Effect.Effect<ChatResponse, LlmError | GuardrailError, GuardedLlm> =>
  Effect.flatMap(GuardedLlm, (guarded) => guarded.chat(request))

/**
 * `chatStream` of the `GuardedLlm` in context.
 *
 * @deprecated since 0.3.0: provide `guard(guardrails)` and call `Llm.chatStream`. Removed in 0.4.0.
 * @since 0.3.0
 * @category Accessors
 */
export const chatStream = (
  request: ChatRequest
): Stream.Stream<ChatChunk.ChatChunk, LlmError | GuardrailError, GuardedLlm> =>
  Stream.unwrap(Effect.map(GuardedLlm, (guarded) => guarded.chatStream(request)))
