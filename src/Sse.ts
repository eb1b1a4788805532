/**
 * Server-Sent Events: an incremental decoder from bytes to events, following
 * the WHATWG HTML standard, server-sent events.
 *
 * - UTF-8 with characters split across chunks; one BOM (U+FEFF) removed, only
 *   at the very start of the stream.
 * - Lines end at CRLF, LF or CR, mixed freely; a CR ending one chunk and an LF
 *   starting the next are one line ending.
 * - `:` comments are skipped; `event`, `data`, `id` and `retry` follow the
 *   spec (one leading space removed from a value, a line without `:` is a
 *   field with an empty value, unknown fields ignored, an `id` containing NUL
 *   ignored, `retry` only when all ASCII digits). Data lines are joined with
 *   `"\n"`; a blank line dispatches; a block without data dispatches nothing;
 *   the type defaults to `"message"`; the last event id and the retry delay
 *   persist across events.
 * - End of stream deviates from the spec ON PURPOSE (it says to discard an
 *   event not followed by a blank line). Some servers close the body right
 *   after their last `data:` line, so at the end of the input an unterminated
 *   last line is read as a line and pending data is emitted as a final event. A
 *   body cut off mid-line therefore yields a partial payload: callers decide
 *   success by a terminal marker (`[DONE]`, `finish_reason`), and a cut JSON
 *   payload fails to decode loudly.
 * - The pending data of an event plus the line being read may not exceed
 *   `maxEventSize` UTF-16 code units (16 MiB by default). An unterminated
 *   line is checked while it grows, so a server sending gigabytes without a
 *   newline cannot grow memory without bound. Exceeding it is the typed
 *   failure {@link SseEventTooLargeError}, whatever the chunking.
 *
 * Why a parser of our own: the issue asks to prefer a well-kept parser. Both
 * candidates were wrapped as well as they allow (a streaming `TextDecoder` in
 * front, last id and retry tracked outside, `"\n\n"` fed at the end) and
 * checked with `bench/sse.ts`, whose conformance table runs the rules above
 * (its throughput figures are in docs/performance.md). Rules the wrapped
 * parsers still miss:
 *
 * - `eventsource-parser`: an `id:` in a block without data is lost (it resets
 *   the id per event and reports only events); the size limit is checked once
 *   per `feed`, so one big chunk holding a whole oversized event passes while
 *   the same bytes in small chunks fail. It is about as fast as this module;
 *   it is not used because it misses those two rules, and the wrapper it needs
 *   (bytes, BOM, end of stream, id and retry tracking, error mapping) is most
 *   of this module anyway.
 * - `@effect/experimental/Sse` (Effect 3's; Effect 4 moved it to
 *   `effect/encoding/Sse`), much slower besides: a CR ending one chunk plus
 *   the LF starting the next read as two line endings (a spurious dispatch);
 *   `retry` accepted when not all digits (`parseInt`); size limit per feed as
 *   above; in `makeChannel` an oversized event is a defect (`Cause.die`) and
 *   `retry:` makes the channel sleep and restart.
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
 * One dispatched event. `id` is the last event id the stream set (it persists
 * across events; `undefined` until an `id:` field arrives); `retry` is the
 * reconnection delay in milliseconds the stream last set, if any.
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
   * Largest size, in UTF-16 code units (bytes for ASCII), of an event's
   * pending data plus the line being read. Must be positive; `Infinity`
   * removes the bound. Default: 16 MiB (`16 * 1024 * 1024`).
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
 * A plain synchronous incremental decoder, for use outside Effect. Feed the
 * body's chunks to `push`, then call `end` once.
 *
 * Both throw {@link SseEventTooLargeError} when the size limit is exceeded
 * (events completed earlier in the same chunk are lost with it); the decoder
 * then stays failed and throws again on every call. After `end` returns, the
 * decoder is ready for a new stream.
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
 * Creates a {@link Decoder}. Throws `OptionsError` when `maxEventSize` is not
 * a positive number.
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
 * Decodes a byte stream (an HTTP body) into events, one chunk of events per
 * chunk of input. Fails with {@link SseEventTooLargeError} after emitting the
 * events that came before the oversized one, and with `OptionsError` before
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
 * Like {@link decode}, for text that is already decoded (for example by
 * `Stream.decodeText()`, whose `TextDecoder` has already removed the BOM, so
 * none is removed here).
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
