/**
 * Server-Sent Events: an incremental decoder from bytes to events, following the WHATWG HTML standard's server-sent
 * events (characters and line endings split across chunks, one BOM at the start, comments, `id` and `retry` persisting
 * across events), with two deliberate differences:
 *
 * - At the end of the input, an unterminated last line is read and pending data is emitted as a final event (the spec
 *   discards it): some servers close the body right after their last `data:` line. A body cut mid-line thus yields a
 *   partial payload; callers decide success by a terminal marker (`[DONE]`, `finish_reason`).
 * - An event's pending data plus the line being read may not exceed `maxEventSize` UTF-16 code units, checked while an
 *   unterminated line grows, so memory stays bounded whatever the chunking: past it, {@link SseEventTooLargeError}.
 *
 * A parser of our own because the candidates, wrapped as well as they allow, miss rules that `bench/sse.ts`'s
 * conformance table checks: `eventsource-parser` loses an `id:` in a block without data and checks the size once per
 * `feed` (one big chunk passes); Effect's `Sse` reads a CR ending one chunk and the LF starting the next as two line
 * endings, accepts a `retry` that is not all digits, and makes an oversized event a defect.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Invalid from "./internal/optionsError.js"
import { Parser } from "./internal/sse/streamParser.js"
import type { OptionsError } from "./OptionsError.js"

/**
 * One dispatched event. `id` is the last event id the stream set (`undefined` until an `id:` field arrives); `retry`
 * is the reconnection delay in milliseconds the stream last set, if any.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Event {
  readonly event: string
  readonly data: string
  readonly id: string | undefined
  readonly retry?: number | undefined
}

/**
 * Options of {@link makeDecoder}, {@link decode} and {@link decodeText}.
 *
 * @since 0.1.0
 * @category Models
 */
export interface DecodeOptions {
  /**
   * Largest size, in UTF-16 code units (bytes for ASCII), of an event's pending data plus the line being read. Must be
   * positive; `Infinity` removes the bound. Default: 16 MiB.
   */
  readonly maxEventSize?: number | undefined
}

/**
 * The default of {@link DecodeOptions.maxEventSize}: 16 MiB.
 *
 * @example
 * ```ts
 * import { Sse } from "effect-llm-router"
 *
 * // A server known to send large events: four times the default bound.
 * const decodeLarge = Sse.decode({ maxEventSize: 4 * Sse.defaultMaxEventSize })
 * ```
 *
 * @since 0.1.0
 * @category Constants
 */
export const defaultMaxEventSize: number = 16 * 1024 * 1024

/**
 * An event (or a line without a line ending) grew past `maxEventSize`.
 *
 * @since 0.1.0
 * @category Errors
 */
export class SseEventTooLargeError extends Schema.TaggedError<SseEventTooLargeError>()(
  "SseEventTooLargeError",
  { maxEventSize: Schema.Number }
) {
  override get message(): string {
    return `An SSE event exceeded the maximum size of ${this.maxEventSize} characters (pending data plus the ` +
      `current line). The server sent an oversized event or a line without a line ending; raise ` +
      `maxEventSize if such events are expected.`
  }
}

/**
 * A plain synchronous incremental decoder, for use outside Effect: feed the body's chunks to `push`, then call `end`
 * once; it is then ready for a new stream. Both throw {@link SseEventTooLargeError} past the size limit (events
 * completed earlier in the same chunk are lost with it), and the decoder stays failed.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Decoder {
  /** Decodes one chunk; returns the events it completed. */
  push(chunk: Uint8Array): Array<Event>
  /** Ends the stream; returns the final event, if any (see the module doc). */
  end(): Array<Event>
}

const checkMaxEventSize = (maxEventSize: number): OptionsError | undefined =>
  Invalid.positive("Sse", "maxEventSize", maxEventSize, { unbounded: true })

/**
 * Creates a {@link Decoder}. Throws `OptionsError` when `maxEventSize` is not a positive number.
 *
 * @example
 * ```ts
 * import { Sse } from "effect-llm-router"
 *
 * const decoder = Sse.makeDecoder()
 * const encoder = new TextEncoder()
 * decoder.push(encoder.encode("event: ping\ndata: 1\n\ndata: {\"text\":"))
 * // [{ event: "ping", data: "1", id: undefined, retry: undefined }]
 * decoder.push(encoder.encode(`"hi"}\n\n`))
 * // [{ event: "message", data: '{"text":"hi"}', id: undefined, retry: undefined }]
 * decoder.end() // []
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeDecoder = (options?: DecodeOptions): Decoder => {
  const maxEventSize = options?.maxEventSize ?? defaultMaxEventSize
  const invalid = checkMaxEventSize(maxEventSize)
  if (invalid !== undefined) throw invalid
  const parser = new Parser(maxEventSize)
  const tooLarge = () => new SseEventTooLargeError({ maxEventSize: parser.maxEventSize })
  return {
    push(chunk) {
      const out: Array<Event> = []
      if (!parser.feedBytes(chunk, out)) throw tooLarge()
      return out
    },
    end() {
      const out: Array<Event> = []
      if (!parser.end(out)) throw tooLarge()
      return out
    }
  }
}

const decodeWith = <I>(
  options: DecodeOptions | undefined,
  feed: (parser: Parser, input: I, out: Array<Event>) => boolean
) =>
<E, R>(self: Stream.Stream<I, E, R>): Stream.Stream<Event, E | SseEventTooLargeError | OptionsError, R> => {
  const maxEventSize = options?.maxEventSize ?? defaultMaxEventSize
  const invalid = checkMaxEventSize(maxEventSize)
  if (invalid !== undefined) return Stream.fail(invalid)
  return Stream.transformPull(self, (upstream) =>
    Effect.sync(() => {
      const parser = new Parser(maxEventSize)
      // The events completed before an oversized one are emitted first; the next pull fails.
      let failed = false
      let ended = false
      const tooLarge = Effect.suspend(() => Effect.fail(new SseEventTooLargeError({ maxEventSize })))
      const emit = (out: Array<Event>, then: Pull.Pull<Arr.NonEmptyReadonlyArray<Event>, E | SseEventTooLargeError>) =>
        Arr.isArrayNonEmpty(out) ? Effect.succeed(out) : then
      const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<Event>, E | SseEventTooLargeError> = Effect.suspend(() => {
        if (failed) return tooLarge
        if (ended) return Cause.done()
        return upstream.pipe(
          Pull.matchEffect({
            onSuccess: (items) => {
              const out: Array<Event> = []
              for (let i = 0; i < items.length; i++) {
                if (!feed(parser, items[i]!, out)) {
                  failed = true
                  return emit(out, tooLarge)
                }
              }
              return emit(out, pull)
            },
            onFailure: Effect.failCause,
            onDone: () => {
              ended = true
              const out: Array<Event> = []
              if (!parser.end(out)) failed = true
              return emit(out, failed ? tooLarge : Cause.done())
            }
          })
        )
      })
      return pull
    }))
}

/**
 * Decodes a byte stream (an HTTP body) into events, one chunk of events per chunk of input. Fails with
 * {@link SseEventTooLargeError} after emitting the events before the oversized one, and with `OptionsError` before
 * reading anything when `maxEventSize` is not a positive number.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import * as HttpClient from "effect/http/HttpClient"
 * import { Sse } from "effect-llm-router"
 *
 * // The data of each event of a server's stream, until "[DONE]".
 * const events = (url: string) =>
 *   Stream.unwrap(Effect.map(HttpClient.get(url), (response) => response.stream)).pipe(
 *     Sse.decode(),
 *     Stream.map((event) => event.data),
 *     Stream.takeWhile((data) => data !== "[DONE]")
 *   )
 * ```
 *
 * @since 0.1.0
 * @category Decoding
 */
export const decode = (
  options?: DecodeOptions
): <E, R>(self: Stream.Stream<Uint8Array, E, R>) => Stream.Stream<Event, E | SseEventTooLargeError | OptionsError, R> =>
  decodeWith(options, (parser, bytes: Uint8Array, out) => parser.feedBytes(bytes, out))

/**
 * Like {@link decode}, for text that is already decoded (by `Stream.decodeText()`, whose `TextDecoder` has already
 * removed the BOM, so none is removed here).

 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import { Sse } from "effect-llm-router"
 *
 * // An event split across chunks is still one event.
 * const datas = Stream.make("data: a\n\nda", "ta: b\n\n").pipe(
 *   Sse.decodeText(),
 *   Stream.map((event) => event.data),
 *   Stream.runCollect
 * ) // ["a", "b"]
 * ```
 *
 * @since 0.1.0
 * @category Decoding
 */
export const decodeText = (
  options?: DecodeOptions
): <E, R>(self: Stream.Stream<string, E, R>) => Stream.Stream<Event, E | SseEventTooLargeError | OptionsError, R> =>
  decodeWith(options, (parser, text: string, out) => parser.feedText(text, out))
