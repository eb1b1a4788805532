/**
 * A tracer that records each span's name, attributes and events, for tests of what spans carry.
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Tracer from "effect/Tracer"

export interface RecordedSpan {
  readonly name: string
  readonly spanId: string
  /** The parent's span id, if any. */
  readonly parent: string | undefined
  readonly attributes: Map<string, unknown>
  /** The span's events, in order. */
  readonly events: Array<{ readonly name: string; readonly attributes: Record<string, unknown> }>
  /** Whether it was ended. */
  ended: boolean
  /** How it failed, as an exporter records it (the cause of its exit, pretty): what an exception event would carry. */
  failure?: string
}

/** A fresh tracer and the spans it has recorded so far, in the order they started. */
export const recordingTracer = (): { readonly tracer: Tracer.Tracer; readonly spans: ReadonlyArray<RecordedSpan> } => {
  const spans: Array<RecordedSpan> = []
  const tracer = Tracer.make({
    span: ({ annotations, kind, links, name, parent, sampled, startTime }) => {
      const attributes = new Map<string, unknown>()
      const events: RecordedSpan["events"] = []
      const spanId = `span-${spans.length + 1}`
      const recorded: RecordedSpan = {
        name,
        spanId,
        parent: parent._tag === "Some" ? parent.value.spanId : undefined,
        attributes,
        events,
        ended: false
      }
      spans.push(recorded)
      return {
        _tag: "Span",
        name,
        spanId,
        traceId: "trace",
        parent,
        annotations,
        status: { _tag: "Started", startTime },
        attributes,
        links,
        sampled,
        kind,
        end: (_endTime, exit) => {
          recorded.ended = true
          if (Exit.isFailure(exit)) recorded.failure = Cause.pretty(exit.cause)
        },
        attribute: (key, value) => {
          attributes.set(key, value)
        },
        event: (eventName, _startTime, eventAttributes = {}) => {
          events.push({ name: eventName, attributes: eventAttributes })
        },
        addLinks: () => {}
      }
    }
  })
  return { tracer, spans }
}

/** Every attribute of `spans` as text (`[[name, value], ...]` in JSON), for asserting what none of them holds. */
export const attributeText = (spans: ReadonlyArray<RecordedSpan>): string =>
  JSON.stringify(spans.flatMap(({ attributes }) => [...attributes.entries()].map(([k, v]) => [k, String(v)])))
