/**
 * A plan: what to send for one request, reduced from it by code that knows nothing of the HTTP server, and the moves
 * both servers make to write one.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Http from "node:http"
import type { FaultedStream } from "./fault.js"

/** Bytes written after a delay. */
export interface Group {
  readonly delayMs: number
  readonly text: string
}

/** What to send for one request, whichever server sends it; every plan waits the configured latency first. */
export type Plan =
  /** A whole body (with `content-length`), after `delayMs`. */
  | {
    readonly _tag: "Body"
    readonly status: number
    readonly headers: Record<string, string>
    readonly body: string
    readonly delayMs: number
  }
  /** A chunked 200 body written in groups after `delayMs` (before the headers), then ended, reset, or left hanging. */
  | {
    readonly _tag: "Stream"
    readonly headers: Record<string, string>
    readonly delayMs: number
    readonly groups: ReadonlyArray<Group>
    readonly then: "end" | "reset" | "stall"
    /** How the groups' text is written: `latin1` for binary frames. Default: UTF-8. */
    readonly encoding?: "latin1" | undefined
  }
  /** A 200 announcing `declaredLength` bytes, sending `body` (fewer), then reset. */
  | {
    readonly _tag: "Truncated"
    readonly headers: Record<string, string>
    readonly declaredLength: number
    readonly body: string
    readonly delayMs: number
  }
  /** The connection reset with no response. */
  | { readonly _tag: "Drop"; readonly delayMs: number }
  /** No response until the client gives up. */
  | { readonly _tag: "Hang" }

/** How a stream is paced: time to first token before the first event, a token gap (if any) before each next. */
export interface Pacing {
  readonly ttftMs: number
  readonly tokenGapMs: number | undefined
}

/** The events of a stream, paced, followed by its `end`; its headers after `delayMs`. */
export const streamPlan = (
  pacing: Pacing,
  headers: Record<string, string>,
  stream: FaultedStream,
  delayMs: number
): Plan => {
  const { end, parts, then } = stream
  const gap = pacing.tokenGapMs
  let groups: Array<Group>
  if (gap === undefined || parts.length === 0) {
    groups = [{ delayMs: pacing.ttftMs, text: parts.join("") + end }]
  } else {
    groups = parts.map((text, i) => ({ delayMs: i === 0 ? pacing.ttftMs : gap, text }))
    const last = groups[groups.length - 1]!
    groups[groups.length - 1] = { delayMs: last.delayMs, text: last.text + end }
  }
  return { _tag: "Stream", headers, delayMs, groups, then }
}

export const sleep = (ms: number) => Effect.sleep(Duration.millis(ms))

/** Writes the last bytes, and once the kernel has them, resets the connection. */
export const resetAfter = (
  res: Http.ServerResponse,
  text: string,
  closing: (res: Http.ServerResponse) => void,
  encoding: BufferEncoding = "utf8"
) => {
  closing(res)
  res.write(text, encoding, () => {
    const socket = res.socket
    if (socket !== null && !socket.destroyed) socket.resetAndDestroy()
  })
}

export const resetNow = (res: Http.ServerResponse, closing: (res: Http.ServerResponse) => void) => {
  closing(res)
  res.socket?.resetAndDestroy()
}
