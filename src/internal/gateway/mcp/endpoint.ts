/**
 * The gateway's MCP endpoints, built with each configuration: `/mcp` serves every configured server's tools, prompts
 * and resources under qualified names (`<server>__<tool>`, `resources.ts`), `/mcp/<server>` one server's under its own,
 * from when the server is first reached. Each is an `effect/ai/McpServer` (Streamable HTTP: 2025-11-25 with sessions,
 * the two revisions before it, and the stateless 2026-07-28) whose tools call the upstream's (`rpc.ts`) and hand back
 * its whole result. A server's offer is registered again each time its connection lists something else. What a
 * caller's rule does not allow, and a definition that is not the pinned one (`pins.ts`), is hidden by
 * `McpServer.visibility` and answered as unknown, as what no server has.
 *
 * A call is governed as a model call is: the caller's rate limit taken and the server's `pricePerCall` reserved before
 * it is sent, charged once the server answers, then the server's own `RateLimiter` waited for. The guardrails
 * (`guardrails.ts`) check every message both ways and each definition before it is listed. The call's server, tool,
 * arguments' SHA-256, cost and outcome go to the request's record, its span and metrics.
 */
import * as McpProtocol from "effect/ai/McpProtocol"
import * as McpSchema from "effect/ai/McpSchema"
import * as McpServer from "effect/ai/McpServer"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Headers from "effect/http/Headers"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { hash } from "node:crypto"
import type * as Gateway from "../../../Gateway.js"
import type { Guardrail, GuardrailError } from "../../../Guardrail.js"
import type { OptionsError } from "../../../OptionsError.js"
import * as RateLimiter from "../../../RateLimiter.js"
import { isServerName, serverNameRule } from "../../gatewayConfig/mcpServerNames.js"
import * as OptionsErrors from "../../optionsError.js"
import * as Allow from "../access/tools.js"
import type { Engine } from "../engine.js"
import * as Errors from "../errorAnswer.js"
import * as GovernedCall from "../governedCall.js"
import * as Guardrails from "../guardrails.js"
import type * as Logs from "../observe/metrics.js"
import * as Outcome from "../request/outcome.js"
import * as Credentials from "./credentials.js"
import * as ToolGuardrails from "./guardrails.js"
import * as Pins from "./pins.js"
import * as Relay from "./relay.js"
import * as RelayedErrors from "./relayedErrors.js"
import * as McpRequest from "./request.js"
import * as Resources from "./resources.js"
import * as Rpc from "./rpc.js"
import * as ServerRequests from "./serverRequests.js"
import * as Standalone from "./standalone.js"
import * as Subscriptions from "./subscriptions.js"
import * as Trace from "./trace.js"
import * as Unanswered from "./unanswered.js"
import * as Upstreams from "./upstream.js"

/** A server served, with its price and the tools the gateway took from it (`GET /admin/mcp/servers`). */
export interface Catalogued {
  readonly name: string
  readonly price: number
  readonly tools: ReadonlyArray<McpSchema.Tool>
}

/** The MCP endpoints of one configuration: the router that answers `/mcp` and `/mcp/<server>`. */
export interface Endpoints {
  /** Each server served now (those reached), in the configuration's order, as its latest connection listed it. */
  readonly catalog: Effect.Effect<ReadonlyArray<Catalogued>>
  /** The servers not answered since the start (down, or slow to start), whose tools are not served yet. */
  readonly unanswered: () => ReadonlyArray<string>
  /** The version of a session's subscriptions here, which changes with them (`Subscriptions.version`). */
  readonly subscriptionsVersion: (session: string) => number
  /** The answer to a request on those paths, served as `McpRequest.Request` says; a path of no server fails. */
  readonly http: Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    unknown,
    Scope.Scope | HttpServerRequest.HttpServerRequest | McpRequest.Request
  >
}

// The revisions a client may speak: 2025-11-25 and the two before it, with sessions (a client offering an earlier one,
// as older releases of the official SDK do, Gemini CLI's among them, is answered in it), and the stateless 2026-07-28.
const protocols = [
  McpProtocol.v2025_11_25,
  McpProtocol.v2025_06_18,
  McpProtocol.v2025_03_26,
  McpProtocol.v2026_07_28
] as const

/**
 * A connected server with what governs its calls: its price, its own limiter, the guardrails its calls run whoever
 * calls (the gateway's and its own), and the configuration's by name, which a caller's names resolve to.
 */
interface Governable {
  readonly upstream: Upstreams.Upstream
  readonly price: number
  readonly limiter: RateLimiter.Service | undefined
  readonly guardrails: ReadonlyArray<Guardrail>
  readonly named: Guardrails.Named
}

/** One tool as an endpoint serves it: the name it lists, the name a key's rule asks about, and where it goes. */
interface Served {
  readonly name: string
  readonly qualified: string
  readonly server: Governable
  readonly tool: McpSchema.Tool
}

// A refusal of the caller's budget or rate limit, as the call's error: answered as a tool's failure (`failedCall`),
// which a model reads and a client sees (docs/mcp.md).
function refused(answer: Errors.ErrorAnswer) {
  return new McpSchema.InternalError({ message: answer.message })
}

/** The SHA-256 (hex) of a call's arguments as JSON: what its row keeps of them. */
export function argumentsDigest(payload: Readonly<Record<string, unknown>> | undefined): string {
  return hash("sha256", JSON.stringify(payload ?? {}), "hex")
}

// A call's failure as the tool result every revision answers it with (`isError`, the message its text): `McpServer`
// answers a handler's error so only in 2025-11-25 and 2026-07-28, as -32603 in the older two, which their clients
// (Codex's, Gemini CLI's) show as a broken call rather than as a tool's failure the model reads.
function failedCall(error: McpSchema.InternalError) {
  return Effect.succeed(
    new McpSchema.CallToolResult({ isError: true, content: [{ type: "text", text: error.message }] })
  )
}

// What a governed tool call answers: its server's result, or the input its client did not declare it could give
// (the call cancelled upstream, answered with that request as the input it would need).
type Answered = McpSchema.CallToolResult | McpSchema.InputRequired | Undeclared

interface Undeclared {
  readonly _tag: "Undeclared"
  readonly request: McpSchema.McpInputRequest
}

// Why the gateway refused a call (its caller's budget or rate limit, a guardrail gone, a capability its client did
// not declare): its record's error code, and the call's error.
interface Refusal {
  readonly _tag: "Refusal"
  readonly code: string
  readonly error: McpSchema.InternalError
}

function refusalOf(answer: Errors.ErrorAnswer): Refusal {
  return { _tag: "Refusal", code: answer.code ?? String(answer.status), error: refused(answer) }
}

type Ended = GovernedCall.Ended<McpSchema.InternalError | Refusal, Answered>

// How a call ended, for its metrics: told by why it stopped, or by its answer.
function outcomeOf({ exit, stop }: Ended): Logs.ToolOutcome {
  if (stop?._tag === "Blocked") return "blocked"
  if (stop !== undefined) return stop.error._tag === "Refusal" ? "refused" : "failed"
  if (Exit.isFailure(exit)) return Cause.hasInterruptsOnly(exit.cause) ? "cancelled" : "failed"
  if (Predicate.isTagged(exit.value, "Undeclared")) return "refused"
  return "isError" in exit.value && exit.value.isError === true ? "tool_error" : "ok"
}

// The error a call's record names for how it ended, when its server's answer or its client ended it.
const endedTags: Partial<Record<Logs.ToolOutcome, string>> = {
  tool_error: "ToolError",
  failed: "McpServerError",
  cancelled: "Cancelled"
}

// A block of a message of server `server` other than a tool call's own arguments and result: counted (`count`) and
// logged, naming the guardrail and its reason, never the text it found.
function notedOf(server: string, count: (tag: string) => void) {
  return (error: GuardrailError) =>
    Effect.andThen(
      Effect.sync(() => count(error._tag)),
      Effect.logWarning(`Gateway: a message of the MCP server ${server} was withheld: ${error.message}`)
    )
}

// The guardrails of a request to `server` (`Guardrails.chainOf`: its server's, and its caller's names among `named`),
// or the name of one of its caller's that is no longer configured.
function chainHere(server: Pick<Governable, "guardrails" | "named">) {
  return Effect.map(
    McpRequest.current,
    (served) =>
      Guardrails.chainOf(
        server.named,
        server.guardrails,
        served._tag === "Called" ? served.governance.context.caller?.guardrails : undefined
      )
  )
}

// The guard of `server`'s prompts, resources and completions (`Resources.register`): a block is noted in the
// request's outcome, as a tool call's is.
function guardOf(server: Governable): ToolGuardrails.Guard {
  const chain = Effect.flatMap(
    chainHere(server),
    (chain) =>
      chain._tag === "Success"
        ? Effect.succeed(chain.success)
        : Effect.fail(refused(Errors.guardrailUnavailable(chain.failure)))
  )
  return ToolGuardrails.guard(chain, (error) =>
    Effect.flatMap(McpRequest.current, (served) => {
      if (served._tag === "Own") return notedOf(server.upstream.name, () => undefined)(error)
      const { context, metrics } = served.governance
      Outcome.failed(context.outcome, error._tag, { logged: error.message })
      return notedOf(server.upstream.name, metrics.error)(error)
    }))
}

// What a call's upstream failure is: the server's own error it answered (`Upstreams.UpstreamError`), or why it was
// not sent or carried on (its server's limiter, a client's input it could not give).
type Failed = Pick<Upstreams.UpstreamError, "message" | "answered">

// A call's arguments as its guardrails let them go, with the chain that checked them, which checks the rest.
interface Checked {
  readonly chain: ReadonlyArray<Guardrail>
  readonly payload: Readonly<Record<string, unknown>> | undefined
  /** What a 2026-07-28 client carries on from a multi round-trip result; none: the gateway carries the call. */
  readonly onward: ServerRequests.Continuation | undefined
}

// What a 2026-07-28 client's call carries on from the multi round-trip result it was given (`context`'s answers and
// state), its answers through `chain` on their way to the server; none for a client of another revision.
function onwardOf(
  chain: ReadonlyArray<Guardrail>,
  context: McpSchema.McpRequestContext["Service"]
): Effect.Effect<ServerRequests.Continuation | undefined, GuardrailError> {
  if (context.protocolVersion !== ServerRequests.roundTrips) return Effect.succeed(undefined)
  const { inputResponses, requestState } = context
  if (inputResponses === undefined) return Effect.succeed({ requestState })
  return Effect.map(
    ToolGuardrails.checkMessage(chain, "toolArguments", inputResponses, "inputResponses"),
    (checked): ServerRequests.Continuation => ({ inputResponses: checked as typeof inputResponses, requestState })
  )
}

// A tool call in the request it is served in: what its steps read of the request's services.
interface Calling {
  readonly served: Served
  readonly notifications: McpServer.McpServer["Service"]["notifications"]
  readonly services: Context.Context<McpSchema.McpRequestContext>
  readonly context: McpSchema.McpRequestContext["Service"]
  readonly governance: McpRequest.Governance
}

// A call's arguments through its chain (`Guardrails.chainOf`: its server's, and its caller's names among `named`); a
// key made at run time may name a guardrail a reload removed: its call is refused, not run unguarded.
function checkedIn(calling: Calling, payload: Readonly<Record<string, unknown>> | undefined) {
  const { guardrails, named } = calling.served.server
  return Effect.gen(function*() {
    const chain = Guardrails.chainOf(named, guardrails, calling.governance.context.caller?.guardrails)
    if (chain._tag === "Failure") return yield* Effect.fail(refusalOf(Errors.guardrailUnavailable(chain.failure)))
    const checked = yield* ToolGuardrails.checkArguments(chain.success, payload)
    const onward = yield* onwardOf(chain.success, calling.context)
    return { chain: chain.success, payload: checked, onward } satisfies Checked
  })
}

// The call's client is refused for want of a capability it did not declare (`failed`): a 2026-07-28 client gets
// `error` (the server's -32021, through `chain`) as its answer, HTTP 400 (`relayedErrors.ts`); any other, the call's
// failure, naming what it did not declare.
function undeclaredBy(calling: Calling, { chain }: Checked, failed: Failed, error: McpSchema.McpErrorBase) {
  return Effect.gen(function*() {
    const internal = new McpSchema.InternalError({ message: error.message, data: error.data })
    const checked = yield* ToolGuardrails.checkError(chain, internal)
    const failure = Rpc.failed(calling.served.server.upstream.name, failed)
    const relayed = new McpSchema.McpErrorBase({ ...error, message: checked.message, data: checked.data })
    const told = calling.context.protocolVersion !== ServerRequests.roundTrips
      ? failure
      : yield* Effect.flip(RelayedErrors.relay(calling.services, { error: relayed, status: 400 }, failure))
    return yield* Effect.fail<Refusal>({ _tag: "Refusal", code: undeclaredCode, error: told })
  })
}

// The error a call's record names when its client did not declare the capability its server asked for.
const undeclaredCode = "MissingRequiredClientCapability"

// The call sent with `checked`'s arguments and the caller's trace (`meta`), carried through a multi round-trip result's
// rounds where the gateway asks the client (`Checked.onward`). The server's requests, the client's answers, the
// relayed notifications and an error the server answered all go through the chain.
function sentTo(calling: Calling, meta: Readonly<Record<string, string>>) {
  const { served } = calling
  const { upstream } = served.server
  const { context, services } = calling
  return (checked: Checked) =>
    Effect.suspend(() => {
      const client = Context.getOption(services, McpSchema.McpServerClient)
      const outbound = Context.getOption(services, ServerRequests.Outbound)
      // What the server asked of a 2026-07-28 client that did not declare it, once it did: only a client of that
      // revision is told so (`ServerRequests.asker`), so only its call waits for it beside its answer.
      const undeclared = context.protocolVersion === ServerRequests.roundTrips
        ? Deferred.makeUnsafe<McpSchema.McpInputRequest>()
        : undefined
      const capabilities = client._tag === "Some" ? client.value.clientCapabilities : context.clientCapabilities
      const ask = ServerRequests.asker(
        client._tag === "Some" ? client.value : undefined,
        context,
        outbound._tag === "Some" ? outbound.value : undefined,
        undeclared === undefined ? undefined : (request) => Deferred.doneUnsafe(undeclared, Exit.succeed(request))
      )
      const noted = notedOf(upstream.name, calling.governance.metrics.error)
      const to = ToolGuardrails.guardedListener(
        checked.chain,
        Relay.listener(
          context.requestMetadata,
          calling.notifications,
          ask === undefined ? undefined : ToolGuardrails.guardedAsk(checked.chain, ask, noted),
          ask === undefined ? {} : ServerRequests.declaredOf(capabilities)
        ),
        noted
      )
      const once = (continuation: ServerRequests.Continuation) =>
        upstream.call(served.tool, checked.payload, meta, to, continuation)
      const call: Effect.Effect<Answered, Failed> = checked.onward === undefined
        ? ServerRequests.carried(once, to.ask)
        : once(checked.onward)
      const answered = call.pipe(
        Effect.catch((error): Effect.Effect<never, GuardrailError | McpSchema.InternalError | Refusal> =>
          error.answered?.code === ServerRequests.missingCapabilityCode
            ? undeclaredBy(calling, checked, error, error.answered)
            : failedUpstream(calling, checked, error)
        )
      )
      if (undeclared === undefined) return answered
      return Effect.raceFirst(
        answered,
        Effect.map(Deferred.await(undeclared), (request): Answered => ({ _tag: "Undeclared", request }))
      )
    })
}

// A call's failure before or at its server as the call's error: through its chain, as a result is.
function failedUpstream(calling: Calling, checked: Checked, error: Failed) {
  const failure = Rpc.failed(calling.served.server.upstream.name, error)
  return Effect.flatMap(ToolGuardrails.checkError(checked.chain, failure), Effect.fail)
}

// A call's answer through its chain: a multi round-trip result as the revision has it, an undeclared input as it is.
function checkedOut(answered: Answered, checked: Checked): Effect.Effect<Answered, GuardrailError> {
  if (Predicate.isTagged(answered, "Undeclared")) return Effect.succeed(answered)
  return Predicate.isTagged(answered, "InputRequired")
    ? ToolGuardrails.checkInputRequired(checked.chain, answered)
    : ToolGuardrails.checkResult(checked.chain, answered)
}

// How a call ended, noted once at its exit: in its request's outcome (its cost once its server ran it, why it
// stopped), its span and its metrics.
function recorded(calling: Calling, span: Trace.Span, start: number, clock: Clock.Clock) {
  const { outcome } = calling.governance.context
  const { metrics } = calling.governance
  const { price, upstream } = calling.served.server
  return (ended: Ended): void => {
    const { answered, stop } = ended
    if (answered !== undefined) Outcome.charged(outcome, price)
    if (Predicate.isTagged(answered, "Undeclared")) Outcome.erred(outcome, undeclaredCode)
    if (stop?._tag === "Failed" && stop.error._tag === "Refusal") Outcome.erred(outcome, stop.error.code)
    if (stop?._tag === "Blocked") {
      Outcome.failed(outcome, stop.error._tag, { logged: stop.error.message })
      metrics.error(stop.error._tag)
    }
    const how = outcomeOf(ended)
    const tag = endedTags[how]
    if (tag !== undefined) Outcome.erred(outcome, tag)
    span.outcome(how)
    metrics.toolCall(upstream.name, calling.served.tool.name, how, (clock.currentTimeMillisUnsafe() - start) / 1000)
  }
}

// A governed call's answer as the tool's: an undeclared input as the request it would need, which `McpServer`
// refuses as the protocol asks (-32021, the capability named, HTTP 400); a stop as the call's error (a guardrail's
// block answered as a refusal is, its message the guardrail and its reason, never the text it found).
function toolAnswer(call: Effect.Effect<Answered, GovernedCall.Stop<McpSchema.InternalError | Refusal, Answered>>) {
  return Effect.mapBoth(call, {
    onSuccess: (answered) =>
      Predicate.isTagged(answered, "Undeclared")
        ? new McpSchema.InputRequired({ inputRequests: { [answered.request.method]: answered.request } })
        : answered,
    onFailure: (stop) =>
      stop._tag === "Blocked"
        ? refused(Errors.guardrailBlocked(stop.error))
        : stop.error._tag === "Refusal"
        ? stop.error.error
        : stop.error
  })
}

// The call of `served`'s tool as one governed call (`governedCall.ts`) by the request's governance (`McpRequest`). A
// call its client cancels is interrupted here, which cancels it upstream (`rpc.ts`). The server's progress and logs
// for the call reach its client through `notifications`, its endpoint's (`relay.ts`).
function forward(served: Served, notifications: McpServer.McpServer["Service"]["notifications"]) {
  const { limiter, price, upstream } = served.server
  // What the call reads of the request's services, read in one step (the request in them taken as it is, no step of
  // its own).
  return (payload: Readonly<Record<string, unknown>> | undefined) =>
    Effect.contextWith((services: Context.Context<McpSchema.McpRequestContext>) =>
      Effect.flatMapEager(McpRequest.currentIn(services), (asked) => called(services, asked, payload))
    )
  function called(
    services: Context.Context<McpSchema.McpRequestContext>,
    asked: McpRequest.Served,
    payload: Readonly<Record<string, unknown>> | undefined
  ) {
    // The gateway's own request sees no tool (`McpRequest.own`): a call in it is refused, as an unknown tool is.
    if (asked._tag === "Own") return failedCall(new McpSchema.InternalError({ message: "Unknown tool" }))
    const { governance } = asked
    const request = governance.context
    const context = Context.get(services, McpSchema.McpRequestContext)
    const http = Context.getOption(services, HttpServerRequest.HttpServerRequest)
    const clock = Context.get(services, Clock.Clock)
    const start = clock.currentTimeMillisUnsafe()
    // A request's record names one tool call: the first of a JSON-RPC batch (protocol 2025-03-26) that holds several.
    if (request.toolCall.get() === undefined) {
      request.toolCall.set({ server: upstream.name, tool: served.tool.name, argumentsDigest: argumentsDigest(payload) })
    }
    const calling: Calling = { served, notifications, services, context, governance }
    const call = (span: Trace.Span) =>
      toolAnswer(GovernedCall.governed({
        reserve: Effect.mapError(governance.reserve(served.qualified, price), refusalOf),
        guardIn: checkedIn(calling, payload),
        // Its server's limiter, waited for and held while the call is sent.
        turn: limiter === undefined
          ? undefined
          : (checked: Checked) => Effect.catch(limiter.consume(), (error) => failedUpstream(calling, checked, error)),
        send: sentTo(calling, span.meta),
        // The server ran the call, whatever its result says (or a guardrail withholds of it): it is charged its price.
        cost: () => price,
        guardOut: checkedOut,
        record: recorded(calling, span, start, clock)
      }))
    return Trace.traced(
      { server: upstream.name, tool: served.tool.name, name: served.name, keyId: request.caller?.id },
      {
        meta: context.requestMetadata,
        headers: http._tag === "Some" ? http.value.headers : Headers.empty
      },
      call
    ).pipe(Effect.catch(failedCall))
  }
}

// The name of server `name`'s limiter in the limiters' stores: its figures in it, as a key's (`keys/limits.ts`), so
// every instance on a shared store draws from one bucket and one cap, a reload that keeps the figures keeps the
// bucket, and changed figures start a full one.
const limiterKey = (name: string, server: Gateway.McpServer): string =>
  `mcp-server/${name}/${server.rateLimit?.capacity ?? "-"}/${server.rateLimit?.refillRate ?? "-"}/${
    server.maxConcurrency ?? "-"
  }`

// `upstream` with its entry's governance: its price, and its limiter when it has a cap or a rate limit (in
// `limiters`, the stores the keys' limiters live in).
const governable = Effect.fnUntraced(function*(
  upstream: Upstreams.Upstream,
  server: Gateway.McpServer,
  guarding: Pick<Governable, "guardrails" | "named">,
  limiters: Context.Context<RateLimiter.BucketStore | RateLimiter.SlotStore>
) {
  const { maxConcurrency, rateLimit } = server
  const limiter = maxConcurrency === undefined && rateLimit === undefined ? undefined : yield* Effect.provide(
    RateLimiter.make({
      capacity: rateLimit?.capacity ?? Number.MAX_SAFE_INTEGER,
      refillRate: rateLimit?.refillRate ?? Number.MAX_SAFE_INTEGER,
      maxConcurrency,
      key: limiterKey(upstream.name, server)
    }),
    limiters
  )
  return { upstream, price: server.pricePerCall ?? 0, limiter, ...guarding } satisfies Governable
})

/** A definition as the pins see it, with its qualified name (`<server>__<name>`, what a key's rule asks about). */
interface Listed extends Pins.Seen {
  readonly qualified: string
}

// Every definition of `listing` of `server` as `Listed`, by `subjectKey`.
function listedOf(server: string, listing: Upstreams.Listing): ReadonlyMap<string, Listed> {
  const definitions: ReadonlyArray<Pins.Definition> = [
    ...listing.tools.map((value) => ({ kind: "tool", value }) as const),
    ...listing.prompts.map((value) => ({ kind: "prompt", value }) as const),
    ...listing.resources.map((value) => ({ kind: "resource", value }) as const),
    ...listing.templates.map((value) => ({ kind: "template", value }) as const)
  ]
  return new Map(definitions.map((definition) => {
    const seen = Pins.seen(server, definition)
    return [subjectKey(seen), { ...seen, qualified: Allow.qualified(server, definition.value.name) }]
  }))
}

const subjectKey = (seen: Pins.Seen) => `${seen.kind}\u0000${seen.name}`

// How many withheld definitions an endpoint remembers having logged.
const maxWithheldLogged = 1024

const listing = (method: McpServer.MiddlewareMethod): boolean => method.endsWith("/list")

// The method that lists each kind of definition: where a guardrail's finding in one is said to be.
const listPaths = {
  tool: "tools/list",
  prompt: "prompts/list",
  resource: "resources/list",
  template: "resources/templates/list"
} as const

// The notification that tells clients the list of `kind`s changed.
const listChanged = {
  tool: "notifications/tools/list_changed",
  prompt: "notifications/prompts/list_changed",
  resource: "notifications/resources/list_changed",
  template: "notifications/resources/list_changed"
} as const

// The changes of `before` to `now` (what was added, changed or removed) by the notification that tells each kind's,
// with the qualified names each concerns.
function changesOf(
  before: ReadonlyMap<string, Listed>,
  now: ReadonlyMap<string, Listed>
): ReadonlyMap<Standalone.ListChange["method"], ReadonlyArray<string>> {
  const changed = new Map<Standalone.ListChange["method"], Array<string>>()
  const note = (listed: Listed) => {
    const method = listChanged[listed.kind]
    changed.set(method, [...changed.get(method) ?? [], listed.qualified])
  }
  for (const [key, seen] of now) if (before.get(key)?.digest !== seen.digest) note(seen)
  for (const [key, seen] of before) if (!now.has(key)) note(seen)
  return changed
}

/** One endpoint: its `McpServer`, at `path`, naming as `naming` says. */
interface Mounted {
  readonly mcp: McpServer.McpServer["Service"]
  readonly naming: Resources.Naming
}

// An `McpServer` at `path` on `router`.
function mount(router: HttpRouter.HttpRouter, path: `/${string}`, naming: Resources.Naming) {
  return Layer.build(
    McpServer.layerHttp({ ...Upstreams.implementation, path, protocols, allowSessionTermination: true }).pipe(
      Layer.provide(Layer.succeed(HttpRouter.HttpRouter, router))
    )
  ).pipe(
    Effect.orDie, // Its one failure is a bad `cacheHints`, which this gives none of.
    Effect.map((context): Mounted => ({ mcp: Context.get(context, McpServer.McpServer), naming }))
  )
}

// Registers `listing` of `server` on `endpoint`, each behind `gate` of its qualified name.
const register = Effect.fnUntraced(function*(
  endpoint: Mounted,
  server: Governable,
  listing: Upstreams.Listing,
  gate: Resources.Gate
) {
  const name = server.upstream.name
  for (const tool of listing.tools) {
    const qualified = Allow.qualified(name, tool.name)
    const served: Served = { name: endpoint.naming === "own" ? tool.name : qualified, qualified, server, tool }
    yield* endpoint.mcp.addTool({
      tool: new McpSchema.Tool({ ...tool, name: served.name }),
      annotations: Context.empty(),
      services: yield* gate(name, { kind: "tool", value: tool }),
      handle: forward(served, endpoint.mcp.notifications)
    })
  }
  yield* Resources.register(endpoint.mcp, server.upstream, listing, endpoint.naming, gate, guardOf(server))
})

/**
 * The guardrails each of `servers`' calls runs whoever calls: the gateway's and those the server names, by server; or
 * every name the configuration does not have, each named by its field.
 */
function chainsOf(
  servers: Readonly<Record<string, Gateway.McpServer>>,
  guarding: Pick<Engine, "guardrails" | "gatewayGuardrails">
): Result.Result<ReadonlyMap<string, ReadonlyArray<Guardrail>>, OptionsError> {
  const chains = new Map<string, ReadonlyArray<Guardrail>>()
  const problems: Array<OptionsError> = []
  for (const [name, server] of Object.entries(servers)) {
    const own = Guardrails.resolve(guarding.guardrails, server.guardrails, `config.mcpServers.${name}.guardrails`)
    if (Result.isFailure(own)) problems.push(own.failure)
    else chains.set(name, Guardrails.union(guarding.gatewayGuardrails, own.success))
  }
  const problem = OptionsErrors.all(problems)
  return problem === undefined ? Result.succeed(chains) : Result.fail(problem)
}

/**
 * Every problem of `servers`, each naming its field: a name the gateway cannot serve a server under, a price that is
 * not positive (a `RateLimiter` checks the limits), and, given the engine's guardrails, a guardrail name it lacks.
 */
export function problems(
  servers: Readonly<Record<string, Gateway.McpServer>>,
  guarding?: Pick<Engine, "guardrails" | "gatewayGuardrails">
): ReadonlyArray<OptionsError | undefined> {
  const chains = guarding === undefined ? undefined : chainsOf(servers, guarding)
  return [
    ...Object.entries(servers).flatMap(([name, server]) => [
      isServerName(name)
        ? undefined
        : OptionsErrors.make("Gateway", `config.mcpServers.${name}`, name, `a name of ${serverNameRule}`),
      OptionsErrors.positive("Gateway", `config.mcpServers.${name}.pricePerCall`, server.pricePerCall, {
        optional: true
      })
    ]),
    chains !== undefined && Result.isFailure(chains) ? chains.failure : undefined
  ]
}

/** A server as the endpoints serve it now: what it offered when last listed, each definition by kind and name. */
interface Offered {
  readonly listing: Upstreams.Listing
  readonly seen: ReadonlyMap<string, Listed>
  readonly own: Mounted
}

/**
 * Whether the definition `seen` passes its request's guardrails (`ToolGuardrails.checkDefinition`): one that does not
 * is withheld, logged once per definition, guardrail and reason (every caller lists it again), by its digest since its
 * name may be what was found. A chain that cannot run (a caller's guardrail no longer configured) withholds all.
 */
function admission(upstreams: ReadonlyArray<Governable>) {
  const withheld = new Set<string>()
  return (seen: Pins.Seen, definition: Pins.Definition) => {
    const server = upstreams.find((one) => one.upstream.name === seen.server)
    if (server === undefined) return Effect.succeed(false)
    const warn = (error: GuardrailError) => {
      const said = `${seen.digest}\u0000${error.guardrail}\u0000${error.reason}`
      if (withheld.has(said)) return Effect.void
      // Bounded, so that a server listing new definitions without end cannot grow it: past it, each is logged again.
      if (withheld.size >= maxWithheldLogged) withheld.clear()
      withheld.add(said)
      return Effect.logWarning(
        `Gateway: the MCP server ${seen.server}'s ${definition.kind} of definition ${seen.digest} is withheld from ` +
          `lists: guardrail "${error.guardrail}", ${error.reason}`
      )
    }
    return Effect.flatMap(
      chainHere(server),
      (chain) =>
        chain._tag === "Failure"
          ? Effect.succeed(false)
          : ToolGuardrails.checkDefinition(chain.success, definition.value, listPaths[definition.kind]).pipe(
            Effect.as(true),
            Effect.catch((error) => Effect.as(warn(error), false))
          )
    )
  }
}

// An endpoint's gate: a read of (or subscription to) a URI that does not name the registration's server
// (`Resources.namesServer`) is of no resource. A definition is listed only when the caller's guardrails find nothing in
// it (`admitted`); a call, read or get of it by name is not checked against its definition again (its client was not
// served it), only its own texts are.
function gateOf(
  servable: (rule: Allow.Rule, qualified: string, seen: Pins.Seen) => Effect.Effect<boolean>,
  admitted: ReturnType<typeof admission>
) {
  return (naming: Resources.Naming): Resources.Gate => (server, definition) => {
    const qualified = Allow.qualified(server, definition.value.name)
    const seen = Pins.seen(server, definition)
    // The relay of a server's error to the call's client runs inside the visibility (not on lists).
    return Layer.build(
      RelayedErrors.middleware.combine(
        McpServer.visibility((asked) =>
          asked.method === "resources/read" && !Resources.readable(naming, seen, asked.target)
            ? Effect.succeed(false)
            : Effect.flatMap(McpRequest.current, (served) => {
              const allowing = servable(McpRequest.ruleOf(served), qualified, seen)
              return listing(asked.method)
                ? Effect.flatMap(allowing, (allowed) => allowed ? admitted(seen, definition) : Effect.succeed(false))
                : allowing
            })
        )
      ).layer
    )
  }
}

/**
 * The endpoints of `servers`, each supervised (`Upstreams.connect`) while the scope is open: a server that answers
 * within `Upstreams.connectTimeout` is served at once, one that does not from when it does. `pins` sees every listing.
 * A server's limiter lives in `limiters`, the stores every limiter lives in (Redis's, else memory's).
 */
export const make = Effect.fnUntraced(function*(
  servers: Readonly<Record<string, Gateway.McpServer>>,
  pins: Pins.Pins,
  guarding: Pick<Engine, "guardrails" | "gatewayGuardrails">,
  limiters: Context.Context<RateLimiter.BucketStore | RateLimiter.SlotStore>
) {
  const refused = OptionsErrors.all(problems(servers, guarding))
  if (refused !== undefined) return yield* refused
  const chains = yield* Effect.fromResult(chainsOf(servers, guarding))
  const scope = yield* Effect.scope
  const credentials = Credentials.make(servers)
  const upstreams = yield* Effect.forEach(
    Object.entries(servers),
    ([name, server]) =>
      Effect.flatMap(
        Upstreams.connect(name, server, credentials),
        (upstream) =>
          governable(upstream, server, { guardrails: chains.get(name)!, named: guarding.guardrails }, limiters)
      ),
    { concurrency: "unbounded" }
  )
  const router = yield* HttpRouter.make
  const all = yield* mount(router, "/mcp", "qualified")
  const offered = new Map<string, Offered>()
  const changes = yield* Standalone.make
  const relayed = ServerRequests.relayed()

  // Whether a caller of `rule` may use the definition `seen` of qualified name `qualified`: its rule allows it, and it
  // is what its server offers now and is pinned.
  const servable = (rule: Allow.Rule, qualified: string, seen: Pins.Seen) =>
    rule(qualified) && offered.get(seen.server)?.seen.get(subjectKey(seen))?.digest === seen.digest
      ? pins.trusted(seen)
      : Effect.succeed(false)

  const gate = gateOf(servable, admission(upstreams))

  // The resource a served URI names at `path`, listed or read through a template, when `rule` may read it
  // (`subscriptions.ts`): what a `resources/read` of it at that endpoint reads through, allowed and pinned.
  const locate = (path: string, uri: string, rule: Allow.Rule) => {
    const place = Resources.placeOf(path, uri)
    const now = place === undefined ? undefined : offered.get(place.server)
    const server = upstreams.find((one) => one.upstream.name === place?.server)
    if (place === undefined || now === undefined || server === undefined) return Effect.succeed(undefined)
    const endpoint = path === "/mcp" ? all : now.own
    const subject = Resources.readSubject(endpoint.mcp, endpoint.naming, place.server, now.listing, uri)
    if (subject === undefined) return Effect.succeed(undefined)
    const qualified = Allow.qualified(place.server, subject.value.name)
    return Effect.map(
      servable(rule, qualified, Pins.seen(place.server, subject)),
      (allowed): Subscriptions.Located | undefined =>
        allowed ? { upstream: server.upstream, uri: place.uri, qualified } : undefined
    )
  }
  const subscriptions = yield* Subscriptions.make({
    locate,
    upstreams: upstreams.map((server) => server.upstream),
    publish: changes.publish
  })
  const subscribing = Subscriptions.serving(subscriptions)

  // `listing` of `server` served: seen by the pins, registered where it is new or changed, and the clients told of
  // what went away. Nothing when it offers what it offered.
  const serve = Effect.fnUntraced(function*(server: Governable, listing: Upstreams.Listing) {
    const name = server.upstream.name
    if (listing === Upstreams.unlisted) return
    const now = listedOf(name, listing)
    const before = offered.get(name)
    if (before !== undefined && sameOffer(before.seen, now)) return
    yield* pins.observe([...now.values()])
    const own = before?.own ?? (yield* mount(router, `/mcp/${name}`, "own"))
    offered.set(name, { listing, seen: now, own })
    for (const endpoint of [all, own]) yield* register(endpoint, server, listing, gate(endpoint.naming))
    for (const [method, names] of changesOf(before?.seen ?? new Map(), now)) {
      yield* changes.publish({ paths: ["/mcp", `/mcp/${name}`], method, qualified: names })
    }
    const gone = new Set(
      [...before?.seen.values() ?? []].filter((one) => !now.has(subjectKey(one))).map((one) => listChanged[one.kind])
    )
    for (const notification of gone) {
      for (const endpoint of [all, own]) yield* endpoint.mcp.notifications[notification]({})
    }
    if (before !== undefined) {
      yield* Effect.logInfo(`Gateway: the MCP server ${name} lists other tools, prompts or resources; served anew`)
    }
  }, (effect) => Scope.provide(effect, scope))

  for (const server of upstreams) {
    yield* serve(server, yield* server.upstream.listing)
    yield* Effect.forkIn(
      Stream.runForEach(server.upstream.listings, (listing) => serve(server, listing)),
      scope
    )
  }
  const http = router.asHttpEffect()
  // The servers not answered since the start, whose tools are not registered yet (`unanswered.ts`): a call's body is
  // read for them only while there are any.
  const unanswered = () => upstreams.flatMap(({ upstream }) => offered.has(upstream.name) ? [] : [upstream.name])
  return {
    unanswered,
    subscriptionsVersion: subscriptions.version,
    catalog: Effect.sync(() =>
      upstreams.flatMap((server) => {
        const now = offered.get(server.upstream.name)
        return now === undefined
          ? []
          : [{ name: server.upstream.name, price: server.price, tools: now.listing.tools }]
      })
    ),
    // Every answer passes here with the servers' credentials masked (`credentials.ts`): no upstream text reaches a
    // caller another way. The HTTP request and the MCP request it carries are read in one step.
    http: Effect.map(
      Effect.contextWith((services: Context.Context<HttpServerRequest.HttpServerRequest | McpRequest.Request>) => {
        const request = Context.get(services, HttpServerRequest.HttpServerRequest)
        const path = new URL(request.url, "http://gateway").pathname
        const served = path === "/mcp" || (path.startsWith("/mcp/") && offered.has(path.slice("/mcp/".length)))
        if (!served) return ServerRequests.served(relayed, request, http)
        return Effect.gen(function*() {
          const served = Context.get(services, McpRequest.Request)
          const rule = McpRequest.ruleOf(served)
          // A session's recorded subscriptions taken here before it is answered (`subscriptions.ts`).
          const { session } = served
          // Those taken are told as changed once: on the stream this request opens, else on the session's stream.
          const taken = session?.recorded === undefined
            ? []
            : yield* subscriptions.take(session.id, path, rule, session.recorded)
          if (!Standalone.opensStream(request) || session === undefined) {
            if (session !== undefined && taken.length > 0) yield* subscriptions.tell(session.id, taken)
            const waiting = path === "/mcp" && request.method === "POST" ? unanswered() : []
            if (waiting.length > 0) {
              const text = yield* Effect.orElseSucceed(request.text, () => "")
              const call = Unanswered.callOf(text, waiting, rule)
              if (call !== undefined) return Unanswered.answer(call)
            }
            return yield* ServerRequests.served(relayed, request, subscribing(http, request, path, rule, session))
          }
          return changes.open(path, rule, request.headers["last-event-id"], request.headers["mcp-protocol-version"], {
            session: session.id,
            subscribed: subscriptions.subscribedBy(session.id),
            taken: taken.map((subscribed) => subscribed.uri)
          })
        })
      }),
      credentials.masked
    )
  } satisfies Endpoints
})

// Whether two offers hold the same definitions.
function sameOffer(a: ReadonlyMap<string, Pins.Seen>, b: ReadonlyMap<string, Pins.Seen>): boolean {
  if (a.size !== b.size) return false
  for (const [key, seen] of a) if (b.get(key)?.digest !== seen.digest) return false
  return true
}
