/**
 * The request the MCP endpoints serve (`endpoint.ts`): the caller's tool rule and the governance of its calls, which
 * the route provides, and the session it names, which `sessions.ts` adds. `Endpoints.http` and `Sessions.answer`
 * require it in their type, so a route that does not provide it does not compile.
 *
 * `McpServer` runs each handler in the request it answers but types it without it (a handler requires only
 * `McpRequestContext`); its typed middleware covers only the registrations made as layers at build time, not those the
 * gateway adds as upstreams list, and a middleware providing this service would read it from the request anyway. So a
 * handler reads it through `current`, whose one failure, a handler run outside the entry that requires it, is a defect.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Auth from "../access/authentication.js"
import * as Allow from "../access/tools.js"
import type * as Errors from "../errorAnswer.js"
import type * as Metrics from "../observe/metrics.js"
import type * as RequestContext from "../request/context.js"
import type * as Subscriptions from "./subscriptions.js"

/** What governs the tool calls of a caller's request, and where their outcomes go. */
export interface Governance {
  /** Takes the caller's rate limit and reserves `price` of its budget for `tool` (`Auth.reserve`), or the refusal. */
  readonly reserve: (tool: string, price: number) => Effect.Effect<Auth.Settle, Errors.ErrorAnswer, Scope.Scope>
  /** The request's context: a call's server, tool, cost and outcome go to its record (its row and line). */
  readonly context: RequestContext.Service
  /** The gateway's metrics: a call's outcome and time, by server and tool. */
  readonly metrics: Pick<Metrics.Metrics, "toolCall" | "error">
}

/** A caller's request, as the route serves it. */
export interface Called {
  readonly _tag: "Called"
  /** The caller's tool rule: its key's (`Caller.tools`), or every tool without keys. */
  readonly rule: Allow.Rule
  readonly governance: Governance
  /** The session it names (`sessions.ts`), none before `sessions.ts` gives it one. */
  readonly session: Subscriptions.Named | undefined
}

/**
 * A request the gateway makes of its own endpoint (a session started again on this instance, or ended), which no
 * caller makes: it sees no definition, so no call, read or get of one runs in it.
 */
export interface Own {
  readonly _tag: "Own"
  readonly session: Subscriptions.Named | undefined
}

/** The request being served. */
export type Served = Called | Own

/** The request the endpoints are serving (the route provides it to every request, `sessions.ts` its session). */
export class Request extends Context.Service<Request, Served>()("effect-llm-router/gateway/mcp/Request") {}

/** A caller's request of `rule`, governed by `governance`, naming no session yet. */
export function called(rule: Allow.Rule, governance: Governance): Served {
  return { _tag: "Called", rule, governance, session: undefined }
}

/** The gateway's own request in the session `session`. */
export function own(session: Subscriptions.Named | undefined): Served {
  return { _tag: "Own", session }
}

/** The tool rule of `served`: its caller's, none for the gateway's own. */
export function ruleOf(served: Served): Allow.Rule {
  return served._tag === "Called" ? served.rule : Allow.nothing
}

/**
 * The request a handler of the endpoints runs in. `McpServer` runs every handler inside the request `Endpoints.http`
 * answers, which requires it: one run without it is a defect of the gateway, not a request to answer.
 */
export const current: Effect.Effect<Served> = Effect.contextWith(currentIn)

/** The request in `services`, as `current` reads it: for a handler that reads other services there in the same step. */
export function currentIn(services: Context.Context<never>): Effect.Effect<Served> {
  const served = Context.getOption(services, Request)
  return served._tag === "Some"
    ? Effect.succeed(served.value)
    : Effect.die("an MCP handler run outside the request the endpoints serve")
}
