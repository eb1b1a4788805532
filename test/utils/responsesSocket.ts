/**
 * A client of the gateway's WebSocket mode on `/v1/responses`, as Codex opens it (`ws`, the handshake's headers its
 * own): each text frame it gets queued as parsed JSON, the handshake's refusal (its status and body) when there is
 * one, and the close frame's code and reason.
 */
import { WebSocket } from "@effect/platform-node/NodeWS"
import * as Effect from "effect/Effect"

/** A server event, as JSON. */
export type ServerEvent = { readonly type: string } & Record<string, unknown>

/** An open socket (or one refused at its handshake). */
export interface ResponsesSocket {
  /** The handshake's answer when it was refused: its status and body; undefined once the socket is open. */
  readonly refused: { readonly status: number; readonly body: string } | undefined
  /** Sends a client event (or raw text) as one text frame. */
  readonly send: (event: unknown) => Effect.Effect<void>
  /** The events of one response: every frame up to its terminal event (`response.completed`, `.failed`, `error`). */
  readonly response: Effect.Effect<ReadonlyArray<ServerEvent>>
  /** How the socket closed, once it has. */
  readonly closed: Effect.Effect<{ readonly code: number; readonly reason: string }>
  /** How the socket closed, if it has by now. */
  readonly closedNow: Effect.Effect<{ readonly code: number; readonly reason: string } | undefined>
  readonly close: Effect.Effect<void>
}

const terminal: ReadonlySet<string> = new Set(["response.completed", "response.incomplete", "response.failed", "error"])

/** A socket to `url` (`ws://…/v1/responses`) with `headers`, opened (or refused), closed with the scope. */
export const openSocket = (url: string, headers: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.callback<ResponsesSocket>((resume) => {
      const socket = new WebSocket(url, { headers: { "openai-beta": "responses_websockets=2026-02-06", ...headers } })
      const queued: Array<ServerEvent> = []
      let waiting: (() => void) | undefined
      let closedWith: { code: number; reason: string } | undefined
      const onClosed: Array<() => void> = []
      socket.on("message", (data) => {
        queued.push(JSON.parse(String(data)) as ServerEvent)
        waiting?.()
      })
      socket.on("close", (code, reason) => {
        closedWith = { code, reason: String(reason) }
        for (const f of onClosed) f()
        waiting?.()
      })
      socket.on("error", () => undefined)
      const next = Effect.callback<ServerEvent | undefined>((resumeNext) => {
        const take = () => {
          if (queued.length > 0) return resumeNext(Effect.succeed(queued.shift()))
          if (closedWith !== undefined) return resumeNext(Effect.succeed(undefined))
          waiting = () => {
            waiting = undefined
            take()
          }
        }
        take()
      })
      const handle = (refused: ResponsesSocket["refused"]): ResponsesSocket => ({
        refused,
        send: (event) => Effect.sync(() => socket.send(typeof event === "string" ? event : JSON.stringify(event))),
        response: Effect.gen(function*() {
          const events: Array<ServerEvent> = []
          while (true) {
            const event = yield* next
            if (event === undefined) return events
            events.push(event)
            if (terminal.has(event.type)) return events
          }
        }),
        closed: Effect.callback((resumeClosed) => {
          if (closedWith !== undefined) return resumeClosed(Effect.succeed(closedWith))
          onClosed.push(() => resumeClosed(Effect.succeed(closedWith!)))
        }),
        closedNow: Effect.sync(() => closedWith),
        close: Effect.sync(() => socket.close())
      })
      socket.once("open", () => resume(Effect.succeed(handle(undefined))))
      socket.once("unexpected-response", (_request, response) => {
        let body = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => {
          body += chunk
        })
        response.on("end", () => resume(Effect.succeed(handle({ status: response.statusCode ?? 0, body }))))
      })
    }),
    (socket) => socket.close
  )
