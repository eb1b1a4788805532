/**
 * What a server (the gateway, the simulator) needs of a wire dialect to answer in it: a failure worded as its error
 * body (`ErrorWriter`), a stream written as its events (`StreamEncoder`), a whole reply, and a request body decoded
 * into the engine's request (`Dialect`); the gateway's core names no dialect. What a client is told of a failure
 * (`ErrorAnswer`) is decided once, by the gateway's core (`gateway/errorAnswer.ts`); a dialect only words it.
 */
import type * as Effect from "effect/Effect"
import type * as Result from "effect/Result"
import type { ChatChunk, Restart } from "../../ChatChunk.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import type { Problem } from "../schemaCheck.js"

/**
 * Where in a client's body a message of the engine's request came from, as the body's dialect writes paths: its
 * content's (`contents[2]`, `messages.2.content`), and each of its parts' (a tool message's parts are its result's),
 * so a refusal of the engine's request names the client's own field.
 */
export interface Origin {
  readonly at: string
  readonly parts: ReadonlyArray<string>
}

/** A failure as a client is told of it, in no dialect's words yet. */
export interface ErrorAnswer {
  readonly status: number
  /** What happened and what to do, as the client reads it. */
  readonly message: string
  /**
   * The failure's kind, in OpenAI's words (`invalid_request_error`, `rate_limit_error`, `server_error`...), which
   * OpenAI's dialects write as the body's `type`; the others derive theirs from the status.
   */
  readonly type: string
  /** The request field the failure is about, in the dialect's names. */
  readonly param: string | null
  /** The failure's code (`model_not_found`, `store_unavailable`...), also the request log's name for it. */
  readonly code: string | null
  /** The seconds of its `Retry-After`, if a wait is known. */
  readonly retryAfter: number | undefined
  /** What the request log says of the failure beyond the message: its full message, which the client is not shown. */
  readonly logged?: string | undefined
}

/** How a dialect words an `ErrorAnswer`: the status it answers with (its own, where it has one) and its body. */
export interface ErrorWriter {
  readonly status: (answer: ErrorAnswer) => number
  readonly body: (answer: ErrorAnswer) => string
}

/** What one batch of a stream becomes: the bytes to write, and whether the stream must end there with an error. */
export interface Encoded {
  readonly bytes: Uint8Array
  /** A `Restart` after part of the answer went out: the stream ends after `bytes`, with an error event. */
  readonly restarted: Restart | undefined
  /**
   * What is done before `bytes` are written, if anything: the Responses stream keeps its response before its
   * `response.completed` tells the client of it.
   */
  readonly before?: Effect.Effect<void> | undefined
}

/** Each batch one write: what `write` wrote of it, taken from `out`, and its `Restart` if it ends the stream there. */
export const batchesOf = (
  write: (chunks: ReadonlyArray<ChatChunk>) => Restart | undefined,
  out: { readonly flush: () => Uint8Array }
) =>
(chunks: ReadonlyArray<ChatChunk>): Encoded => ({ restarted: write(chunks), bytes: out.flush() })

/**
 * Turns a stream's batches into the dialect's stream (SSE events, or the seed's plain text), each batch into the
 * bytes of one write; one per stream (it keeps what was forwarded).
 */
export interface StreamEncoder {
  /** The response's content type: `text/event-stream` for SSE. */
  readonly contentType: string
  readonly batch: (chunks: ReadonlyArray<ChatChunk>) => Encoded
  /** The event that ends the stream with `answer`, which the dialect's official client raises. */
  readonly error: (answer: ErrorAnswer) => Uint8Array
}

/** A request body of the dialect decoded: the engine's request, and how its answer is written. */
export interface Decoded {
  /** The model the body names: the gateway's address. */
  readonly model: string
  /** The request for the engine (its `model` the address). */
  readonly request: ChatRequest
  readonly stream: boolean
  /** A stream's writer for the request as sent, one per stream. */
  readonly newEncoder: (request: ChatRequest) => StreamEncoder
  /** A whole reply's body. */
  readonly render: (response: ChatResponse) => string
  /** A path of the engine's request as this body names it (`maxTokens` as `max_completion_tokens`). */
  readonly path: (engine: string) => string
}

/** A dialect as a server answers in it: its request bodies decoded, its failures worded. */
export interface Dialect {
  /** A chat body's text decoded, or what is wrong with it; `now` (Clock millis) dates its reply. */
  readonly decode: (text: string, now: () => number) => Result.Result<Decoded, Problem>
  readonly errors: ErrorWriter
}

/**
 * The model a stream's first batch is produced by: the last of a router's leading `Start` chunks (a router behind a
 * router's deployment adds its own, nearer the reply), else (an `Llm` that is no router) `asked`.
 */
export function answeringModel(first: ReadonlyArray<ChatChunk>, asked: string): string {
  let model = asked
  for (const chunk of first) {
    if (chunk._tag !== "Start") break
    model = chunk.model
  }
  return model
}
