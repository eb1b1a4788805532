/**
 * Where a stream's one writer (`wire/<dialect>/writer.ts`) puts its events: the writer writes each event's data in
 * pieces; the sink frames it (SSE, a JSON array, an AWS event-stream frame) and keeps it. The gateway's sink keeps a
 * batch's events as the text of one write (`FramedText`); the simulator's keeps each event on its own (`FramedEvents`),
 * so it times and faults them one by one without reading back what a writer wrote.
 */
import { keptIn } from "../keptIn.js"
import { BodyText } from "./bodyText.js"

/** What a stream writer writes its events into. */
export interface EventSink {
  /** Opens an event named `name` (SSE's `event:` field; none: the stream's default). */
  open(name?: string): void
  /** Appends a piece of the event's data that the writer wrote in ASCII (`BodyText.template`). */
  template(piece: string): void
  /** Appends a piece of the event's data, any text (`BodyText.text`). */
  text(piece: string): void
  /** Appends `value` as a JSON string literal (`BodyText.json`). */
  json(value: string): void
  /** Closes the event opened last. */
  close(): void
  /** Ends the stream, after its last event (or its error event). */
  end(): void
}

/** A sink whose events are taken on their own, each as the text (or the binary frame's characters) of one write. */
export interface EventList extends EventSink {
  /** The events closed since the last call (the stream's end with the last of them), and forgets them. */
  events(): Array<string>
}

/** How events are framed as text: what goes before an event's data, after it, and after the stream's last event. */
export interface Framing {
  readonly head: (name: string | undefined) => string
  readonly tail: string
  readonly end: () => string
}

/** Server-sent events (the WHATWG rules), their lines ended with `lineEnd` (Google's servers end them with CRLF). */
export function sseFraming(lineEnd: "\n" | "\r\n" = "\n"): Framing {
  const unnamed = "data: "
  // The lines before each name's data, made once a name.
  const heads = new Map<string, string>()
  const headOf = (name: string) => `event: ${name}${lineEnd}data: `
  const head = (name: string | undefined): string => name === undefined ? unnamed : keptIn(heads, name, headOf)
  return { head, tail: lineEnd + lineEnd, end: () => "" }
}

/** SSE as most servers end its lines. */
export const sse: Framing = sseFraming()

/** Events framed as text and kept as one text: the gateway's, whose `flush` takes a batch's events as one write. */
export class FramedText extends BodyText implements EventSink {
  constructor(private readonly framing: Framing) {
    super()
  }

  open(name?: string): void {
    this.template(this.framing.head(name))
  }

  close(): void {
    this.template(this.framing.tail)
  }

  end(): void {
    this.template(this.framing.end())
  }

  /** What was written since the last flush, as UTF-8 bytes. */
  flush(): Uint8Array {
    const bytes = this.bytes()
    this.clear()
    return bytes
  }
}

/** Events framed as text, each kept as its own text: the simulator's, which writes each on its own. */
export class FramedEvents extends FramedText implements EventList {
  private closed: Array<string> = []

  override close(): void {
    super.close()
    this.keep()
  }

  override end(): void {
    super.end()
    this.keep()
  }

  events(): Array<string> {
    const closed = this.closed
    this.closed = []
    return closed
  }

  private keep(): void {
    const text = this.string()
    if (text === "") return
    this.closed.push(text)
    this.clear()
  }
}

/** Writes into `out` one whole event named `name` of `data` (any text). */
export function emit(out: EventSink, name: string | undefined, data: string): void {
  out.open(name)
  out.text(data)
  out.close()
}

/** The text of one event named `name` of `data` (a malformed event, an error event), framed as `framing`. */
export function eventText(framing: Framing, name: string | undefined, data: string): string {
  const out = new FramedText(framing)
  emit(out, name, data)
  return out.string()
}
