/**
 * Stream events that were not JSON, skipped instead of failing the stream: a single malformed event inside an otherwise
 * healthy stream (README, "Streaming"). A parser makes the counter at its first such event, so a healthy stream
 * allocates nothing; the body's reader reports each new one, and the count goes out on the `Finish` chunk
 * (`skippedEvents`). The answer still has to end with its terminal event, or the parser fails it with
 * `StreamTruncatedError`.
 */
import * as Effect from "effect/Effect"
import { skippedEvent } from "../telemetry.js"

/** The characters of a skipped event's data that a warning shows: enough to recognise it, not a body. */
const maxExcerpt = 40

// Keys are long runs of letters, digits, `-` and `_` (a JWT's or Zhipu's parts between dots too).
const keyLike = /[A-Za-z0-9_-]{20,}/g

/** Who answered the stream, for the warning. */
export interface Source {
  readonly provider: string
  readonly model: string
}

/** The events one stream skipped; `source` names its provider and model when one is reported. */
export class SkippedEvents {
  count = 0
  private excerpt = ""

  constructor(private readonly source: () => Source) {}

  /** Counts an event whose data is not JSON; the stream goes on. */
  skip(data: string): undefined {
    this.count++
    // A provider may echo a key in it: a word long enough to be one is masked before the excerpt is cut.
    const head = data.slice(0, maxExcerpt * 4).replace(keyLike, "<masked>")
    this.excerpt = head.length > maxExcerpt ? `${head.slice(0, maxExcerpt)}…` : head
    return undefined
  }

  /** The warning and span event for the events skipped so far (the last one's excerpt). */
  get report(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const { model, provider } = this.source()
      const count = this.count
      const warning = Effect.logWarning(
        `${provider} (${model}): skipped a stream event that is not JSON, ${count} so far in this stream: ${
          JSON.stringify(this.excerpt)
        }`
      ).pipe(Effect.annotateLogs({ provider, model, skippedEvents: count }))
      const event = Effect.flatMap(
        Effect.currentSpan,
        (span) =>
          Effect.clockWith((clock) =>
            Effect.sync(() =>
              span.event(skippedEvent, clock.currentTimeNanosUnsafe(), {
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
                "llm_router.skipped_events": count
              })
            )
          )
      )
      return Effect.andThen(warning, Effect.ignore(event))
    })
  }
}
