/**
 * OpenAI Responses as a server answers in it: a `/v1/responses` body (or an `input_tokens` or `compact` one) checked
 * and its namespace tools flattened (`namespace.ts`), and a response written with this folder's writer, its failures'
 * paths renamed to the body's (`responsesPath`). What the conversation is (a kept response's, which
 * `previous_response_id` names) and which tools a deployment is sent are the server's, not the wire's
 * (`gateway/responses/`).
 */
import type * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type { Finish } from "../../../ChatChunk.js"
import type { ChatResponse } from "../../../ChatResponse.js"
import { decodeBody, type Problem, type Refused } from "../../schemaCheck.js"
import type { Decoded } from "../dialect.js"
import {
  type Body,
  checkBody,
  checkCompactBody,
  checkCountBody,
  type CompactBody,
  type CountBody,
  echoOf,
  type FlatTool,
  flatTools,
  responsesPath,
  toRequest
} from "./codec.js"
import type { Names, Placed } from "./namespace.js"
import {
  errors,
  type Finished,
  type Ids,
  outputItems,
  response,
  type Seal,
  streamed,
  streamEncoder,
  warmedUp
} from "./writer.js"

export { errors }

/** A path of the engine's request as a Responses body names it (`maxTokens` as `max_output_tokens`). */
export const path: (engine: string) => string = responsesPath

/** A body checked, with its tools (namespaces flattened, each where the body has it) and its namespaced functions. */
export interface Checked<B extends CountBody> {
  readonly body: B
  readonly tools: ReadonlyArray<Placed<FlatTool>>
  readonly names: Names
}

// A body's text checked by `check`, its tools flattened; or what is wrong with it.
function checked<B extends CountBody>(
  text: string,
  check: (input: unknown) => Result.Result<B, Refused>
): Result.Result<Checked<B>, Problem> {
  return Result.flatMap(
    decodeBody(text, check),
    (body) => Result.map(flatTools(body), ({ names, tools }) => ({ body, tools, names }))
  )
}

/** A `/v1/responses` body's text checked, or what is wrong with it. */
export function decode(text: string): Result.Result<Checked<Body>, Problem> {
  return checked<Body>(text, checkBody)
}

/** A `/v1/responses/input_tokens` body's text checked (its `model` and `input` may be left out). */
export function decodeCount(text: string): Result.Result<Checked<CountBody>, Problem> {
  return checked<CountBody>(text, checkCountBody)
}

/** A `/v1/responses/compact` body's text checked (its `input` may be left out). */
export function decodeCompact(text: string): Result.Result<Checked<CompactBody>, Problem> {
  return checked<CompactBody>(text, checkCompactBody)
}

/**
 * The engine's request of a checked body: its `instructions`, then a conversation (a kept response's, then the body's
 * input), with the tools its deployment is sent; or what is wrong with it.
 */
export const request = toRequest

/** What a kept response is made of: the finished response, and the reply one deployment gave whole, if one did. */
export type Keep = (
  response: Finished,
  reply: Pick<ChatResponse, "id" | "provider" | "keyId" | "providerMetadata"> | Finish | undefined
) => Effect.Effect<void>

/**
 * How the response `ids` to `body` is answered, whole or streamed; `keep` is done with the finished response before it
 * is answered.
 */
export function answer(
  { body, names }: Pick<Checked<Body>, "body" | "names">,
  ids: Ids,
  now: () => number,
  keep: Keep
): Pick<Decoded, "newEncoder" | "render"> & {
  readonly beforeAnswer: (response: ChatResponse, body: string) => Effect.Effect<void>
} {
  const echo = echoOf(body)
  return {
    newEncoder: () => streamEncoder({ ids, names, model: body.model, echo, now, onFinished: keep }),
    render: (reply) => response(reply, ids, names, echo, now()).body,
    beforeAnswer: (reply, rendered) => keep({ body: rendered, output: outputItems(reply, ids, names) }, reply)
  }
}

/**
 * A warm-up's answer (the WebSocket mode's `generate: false`) to `body` as the response `ids`, dated by `now`
 * (seconds): the stream's events of a response completed with no output, and that response.
 */
export function warmUp({ body }: Pick<Checked<Body>, "body">, ids: Ids, now: () => number) {
  return warmedUp({ ids, echo: echoOf(body) }, body.model, now())
}

/**
 * How a compaction request (its input ended with `compaction_trigger`) is answered when one whole reply is its summary:
 * a response whose one output item is the `compaction` item `seal` makes of it; `keep` is done with the finished
 * response before it is answered.
 */
export function compactionAnswer(
  { body, names }: Pick<Checked<Body>, "body" | "names">,
  ids: Ids,
  now: () => number,
  keep: Keep,
  seal: Seal
): Pick<Decoded, "render"> & {
  readonly contentType: string | undefined
  readonly beforeAnswer: (response: ChatResponse, body: string) => Effect.Effect<void>
} {
  const echo = echoOf(body)
  const stream = body.stream === true
  return {
    render: (reply) =>
      stream
        ? streamed(reply, { ids, names, model: body.model, echo, now, compaction: seal })
        : response(reply, ids, names, echo, now(), seal).body,
    contentType: stream ? "text/event-stream" : undefined,
    beforeAnswer: (reply) => keep(response(reply, ids, names, echo, now(), seal), reply)
  }
}
