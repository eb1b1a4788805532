/**
 * A request's context: what the gateway learns of one request as it is served, made once its caller is known
 * (`serving/requests.ts`) and read by the route's handler through its type. What is learnt later is a cell set once, by
 * the one step that learns it; what the answer did is its `Outcome` (`outcome.ts`). Its record is made from it once
 * when the request ends (`observe/record.ts`).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { Lowered, Settle } from "../access/authentication.js"
import type { Caller } from "../access/caller.js"
import * as Outcome from "./outcome.js"

/** What a request keeps of the MCP tool call it made. */
export interface ToolCall {
  readonly server: string
  /** The tool's own name on its server. */
  readonly tool: string
  /** The SHA-256 (hex) of its arguments as JSON: equal arguments are told equal, never read. */
  readonly argumentsDigest: string
}

/** A value a request learns once, set by the one step that learns it; a second setting is a defect. */
export class Once<A> {
  private value: A | undefined = undefined

  constructor(private readonly name: string) {}

  get(): A | undefined {
    return this.value
  }

  set(value: A): void {
    if (this.value !== undefined) throw new Error(`A request's ${this.name} is set once.`)
    this.value = value
  }
}

/** What the gateway learns of one request as it is served. */
export interface Service {
  readonly id: string
  readonly method: string
  /** The path of its URL, without its query. */
  readonly path: string
  /** Clock millis when it came in. */
  readonly start: number
  /** Who it is from: the caller its key or token names; none on an open path or a gateway without keys. */
  readonly caller: Caller | undefined
  /** The model it asked for, as logged (`Intake.logged`). */
  readonly model: Once<string>
  /** What charges its call's cost to the caller's budget, once the call is admitted. */
  readonly settlement: Once<Settle>
  /** Its chat's reply bound, lowered to what the caller's budget had left (the admission). */
  readonly lowered: Once<Lowered>
  /** The MCP tool call it made. */
  readonly toolCall: Once<ToolCall>
  /** The types of a Responses request's hosted tools left out for its deployment (`responses/hosted.ts`). */
  readonly omittedTools: Once<ReadonlyArray<string>>
  /** What its answer did so far. */
  readonly outcome: Outcome.Outcome
  /** What its row keeps of the request and reply, when the request log keeps payloads. */
  readonly payload: Outcome.Payload | undefined
}

/** The context of the request being served. */
export class RequestContext
  extends Context.Service<RequestContext, Service>()("effect-llm-router/gateway/request/RequestContext")
{}

/** Where a request's context begins. */
export interface Beginning {
  readonly id: string
  readonly method: string
  readonly url: string
  /** Clock millis. */
  readonly start: number
  readonly caller: Caller | undefined
  /** Whether its payload is kept, and the key it came with (masked in its payload). */
  readonly payload: boolean
  readonly key?: Redacted.Redacted<string> | undefined
}

/** The path of a request's URL, without its query. */
export function pathOf(url: string): string {
  const query = url.indexOf("?")
  return query < 0 ? url : url.slice(0, query)
}

/** A request's context as it comes in. */
export function make({ caller, id, key, method, payload, start, url }: Beginning): Service {
  return {
    id,
    method,
    path: pathOf(url),
    start,
    caller,
    model: new Once("model"),
    settlement: new Once("settlement"),
    lowered: new Once("lowered reply bound"),
    toolCall: new Once("tool call"),
    omittedTools: new Once("omitted tools"),
    outcome: Outcome.begin(),
    payload: payload ? Outcome.payload(key) : undefined
  }
}

/** What charges a call's cost to the caller's budget, as the admission reserved it: nothing without a budget. */
export function reserved(context: Service): Effect.Effect<Settle> {
  return Effect.succeed((cost) => context.settlement.get()?.(cost) ?? Effect.void)
}

/** The header that tells a reply bound lowered to what the caller's budget had left (docs/gateway.md). */
export const loweredHeader = "x-llm-max-tokens-lowered"

/**
 * The headers an answer to the request carries: its request id, the hosted tools left out of it, and its reply bound
 * lowered (`<sent>; asked=<asked>; budget_left=<US dollars>`).
 */
export function answerHeaders(context: Service): Readonly<Record<string, string>> {
  const omitted = context.omittedTools.get()
  const lowered = context.lowered.get()
  return {
    "x-request-id": context.id,
    ...(omitted === undefined ? {} : { "x-omitted-tools": omitted.join(", ") }),
    ...(lowered === undefined ? {} : {
      [loweredHeader]: `${lowered.sent}; asked=${lowered.asked}; budget_left=${Number(lowered.left.toPrecision(6))}`
    })
  }
}
