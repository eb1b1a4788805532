/**
 * What a request's answer did, noted as it goes: its status, the deployment that answered, its tokens and cost, its
 * failure, a stream's first token and its restarts. A stream's usage and deployment change as a router moves it, so
 * these are noted, not set once; this module's steps are the only writers, each named for what happened.
 */
import type * as Redacted from "effect/Redacted"
import type { ChatChunk } from "../../../ChatChunk.js"
import type { ChatResponse, Usage } from "../../../ChatResponse.js"

/** What a request's answer did so far. */
export interface Outcome {
  /** Its answer's status (0 until it is answered). */
  readonly status: number
  /** The `provider/model` that answered. */
  readonly deployment: string | undefined
  /** Millis from the request to a stream's first chunk. */
  readonly firstToken: number | undefined
  readonly usage: Usage | undefined
  readonly cost: number | undefined
  /** What the provider's prompt cache saved the reply (`ChatResponse.cacheSavings`). */
  readonly cacheSavings: number | undefined
  /** The error's tag (`RateLimitError`) or the gateway's refusal code (`invalid_api_key`). */
  readonly error: string | undefined
  /** The failure's full message (deployments, upstream addresses, request ids), which the client is not shown. */
  readonly errorMessage: string | undefined
  /**
   * A stream a router moved to another deployment: the deployment that failed (its error is `error`, the deployment
   * that took over `deployment`), and whether that happened after the stream's first chunk (`midStream`: it was
   * restarted or continued) or before (named by the `Start` chunk that opens the stream).
   */
  readonly failedDeployment: string | undefined
  readonly midStream: "restarted" | "continued" | undefined
  /** Whether its answer is a stream, whose record is written when it ends rather than when its response starts. */
  readonly streaming: boolean
  /**
   * Whether it opened a WebSocket (101): no call of its own (each request the socket carries has its record), its
   * record written when the socket closes, however it closes.
   */
  readonly socket: boolean
}

/**
 * What a request's row keeps of its payload when payloads are logged: the request's body, the reply's text (a
 * stream's since its last restart), and the key the request came with, masked in both.
 */
export interface Payload {
  readonly request: string | undefined
  readonly reply: string
  readonly key: Redacted.Redacted<string> | undefined
}

type Noted<A> = { -readonly [K in keyof A]: A[K] }

// `fields` noted in `outcome`.
function note(outcome: Outcome, fields: Partial<Outcome>) {
  Object.assign(outcome, fields)
}

/** An outcome of nothing yet. */
export function begin(): Outcome {
  return {
    status: 0,
    deployment: undefined,
    firstToken: undefined,
    usage: undefined,
    cost: undefined,
    cacheSavings: undefined,
    error: undefined,
    errorMessage: undefined,
    failedDeployment: undefined,
    midStream: undefined,
    streaming: false,
    socket: false
  }
}

/** A payload kept of nothing yet, with the key the request came with. */
export function payload(key: Redacted.Redacted<string> | undefined): Payload {
  return { request: undefined, reply: "", key }
}

/** A failure noted: its tag or refusal code (`error`), and its answer's full message (`ErrorAnswer.logged`). */
export function failed(
  outcome: Outcome,
  error: string | undefined,
  answer: { readonly logged?: string | undefined }
): void {
  note(outcome, { error, errorMessage: answer.logged })
}

/** A failure named by its tag alone (an MCP tool call's end), its message left as noted. */
export function erred(outcome: Outcome, error: string): void {
  note(outcome, { error })
}

/** The answer's status. */
export function answeredAs(outcome: Outcome, status: number): void {
  note(outcome, { status })
}

/** A WebSocket opened (101 Switching Protocols): the socket's life is the request's. */
export function upgraded(outcome: Outcome): void {
  note(outcome, { status: 101, socket: true })
}

/** A client gone before its answer: 499 (nginx's "client closed request"); a socket's client leaving just ends it. */
export function gone(outcome: Outcome): void {
  if (!outcome.socket) note(outcome, { status: 499, error: "ClientClosed" })
}

/** A whole reply's deployment, tokens and cost, and its text in the payload. */
export function answered(outcome: Outcome, payload: Payload | undefined, response: ChatResponse): void {
  const { cacheSavings, cost, usage } = response
  note(outcome, { deployment: `${response.provider}/${response.model}`, usage, cost, cacheSavings })
  if (payload !== undefined) (payload as Noted<Payload>).reply = response.text
}

/** A reply's deployment, usage and cost, without its text: embeddings', a batch's line's. */
export function billed(outcome: Outcome, deployment: string, usage: Usage, cost: number | undefined): void {
  note(outcome, { deployment, usage, cost })
}

/** An MCP tool call's price, charged once its server ran it (none when it is free). */
export function charged(outcome: Outcome, price: number): void {
  note(outcome, { cost: price > 0 ? price : undefined })
}

/** A stream whose first batch is in, `firstToken` millis after the request. */
export function opened(outcome: Outcome, firstToken: number): void {
  note(outcome, { streaming: true, firstToken })
}

/**
 * What a stream's batch from its upstream says of its tokens (the last `Usage` since the last `Restart`) and at its end
 * of its cost: read before the guardrails, so that a stream one blocks is noted (and charged) what its upstream
 * answered, as a whole reply one blocks is.
 */
export function answeredUpstream(outcome: Outcome, batch: ReadonlyArray<ChatChunk>): void {
  const noted: Noted<Outcome> = outcome
  for (const chunk of batch) {
    if (chunk._tag === "Usage") noted.usage = chunk.usage
    else if (chunk._tag === "Restart") noted.usage = undefined
    else if (chunk._tag === "Finish") {
      noted.cost = chunk.cost
      noted.cacheSavings = chunk.cacheSavings
    }
  }
}

/**
 * What a stream's batch as answered says of the deployment that answers (a router's `Start`, with the one that failed
 * before the first chunk), of a restart or continuation (the error, the deployment that broke, the one that took over),
 * and at its end; true when the batch ends the stream. Its tokens and cost are its upstream's (`answeredUpstream`).
 */
export function streamed(outcome: Outcome, payload: Payload | undefined, batch: ReadonlyArray<ChatChunk>): boolean {
  const noted: Noted<Outcome> = outcome
  const kept = payload as Noted<Payload> | undefined
  let finished = false
  for (const chunk of batch) {
    if (chunk._tag === "TextDelta") {
      if (kept !== undefined) kept.reply += chunk.text
    } else if (chunk._tag === "Start") {
      noted.deployment = chunk.deployment
      if (chunk.from !== undefined) {
        noted.error = chunk.error
        noted.failedDeployment = chunk.from
      }
    } else if (chunk._tag === "Restart" || chunk._tag === "Continue") {
      if (chunk._tag === "Restart" && kept !== undefined) kept.reply = ""
      noted.error = chunk.error
      noted.deployment = chunk.deployment
      noted.failedDeployment = chunk.from
      noted.midStream = chunk._tag === "Restart" ? "restarted" : "continued"
    } else if (chunk._tag === "Finish") {
      noted.deployment = `${chunk.provider}/${chunk.model}`
      finished = true
    }
  }
  return finished
}

/** The request's body read: kept in its payload. */
export function requestRead(payload: Payload | undefined, text: string): void {
  if (payload !== undefined) (payload as Noted<Payload>).request = text
}

/** The request's body withheld from its payload: a guardrail blocked or masked it. */
export function requestWithheld(payload: Payload | undefined): void {
  if (payload !== undefined) (payload as Noted<Payload>).request = undefined
}

/** The reply's text as answered after a guardrail (none when it blocked the reply). */
export function replyChecked(payload: Payload | undefined, text: string): void {
  if (payload !== undefined) (payload as Noted<Payload>).reply = text
}
