/**
 * The guardrails of MCP messages (docs/guardrails.md, docs/mcp.md "Guardrails"), through the library's one engine
 * (`checkJson`): what goes to a server is checked as a tool call's arguments are (`toolArguments`), what comes from it
 * as a tool call's result (`toolResult`): calls, prompts, resources, completions, a server's requests of its client and
 * the answers, relayed notifications, and each definition before a caller is served it. Every key and string (and
 * number) is a text of its own, so a mask leaves the message the JSON it was; a finding in a key or a field naming its
 * shape (`shapeFields`) refuses it. A definition is served as its server gave it or not at all. A message's texts are
 * asked about together: a webhook that takes a list (`batch`) and the moderation endpoint get one post for them all.
 */
import * as McpSchema from "effect/ai/McpSchema"
import * as Effect from "effect/Effect"
import type { Guardrail, GuardrailError } from "../../../Guardrail.js"
import { running } from "../../guardrail/chain.js"
import { checkJson } from "../../guardrail/guarded.js"
import type * as Relay from "./relay.js"
import * as ServerRequests from "./serverRequests.js"

type Chain = ReadonlyArray<Guardrail>

/** Which way an MCP message goes: to its server (checked as a tool's arguments), or from it (as a tool's result). */
export type Way = "toolArguments" | "toolResult"

// The fields of a message that name its shape: a mask's finding there refuses the message.
const shapeFields: ReadonlySet<string> = new Set(["type", "role", "progressToken", "level"])

/** A call's arguments through `chain`'s `toolArguments` guardrails: masked, or the first block. */
export function checkArguments(
  chain: Chain,
  payload: Readonly<Record<string, unknown>> | undefined
): Effect.Effect<Readonly<Record<string, unknown>> | undefined, GuardrailError> {
  if (payload === undefined || running(chain, "toolArguments").length === 0) return Effect.succeed(payload)
  return Effect.map(
    checkJson(chain, payload, { path: "arguments" }, { where: "toolArguments" }),
    (checked) => checked as Record<string, unknown>
  )
}

/** A call's result through `chain`'s `toolResult` guardrails: masked, or the first block. */
export function checkResult(
  chain: Chain,
  result: McpSchema.CallToolResult
): Effect.Effect<McpSchema.CallToolResult, GuardrailError> {
  if (running(chain, "toolResult").length === 0) return Effect.succeed(result)
  const fields = { ...result }
  return Effect.map(
    checkJson(chain, fields, { path: "result" }, { where: "toolResult" }, shapeFields),
    (checked) => checked === fields ? result : new McpSchema.CallToolResult(checked as typeof fields)
  )
}

/** An error a call's server answered (its message and data) through `chain`'s `toolResult` guardrails. */
export function checkError(
  chain: Chain,
  error: McpSchema.InternalError
): Effect.Effect<McpSchema.InternalError, GuardrailError> {
  if (running(chain, "toolResult").length === 0) return Effect.succeed(error)
  const fields = { message: error.message, ...(error.data === undefined ? {} : { data: error.data }) }
  return Effect.map(
    checkJson(chain, fields, { path: "error" }, { where: "toolResult" }),
    (checked) => checked === fields ? error : new McpSchema.InternalError(checked as typeof fields)
  )
}

// The fields of an input request that name its shape: a message's, and the request's method.
const inputShapeFields: ReadonlySet<string> = new Set([...shapeFields, "method"])

/**
 * A multi round-trip result of a call's server (2026-07-28) through `chain`'s `toolResult` guardrails, as a server's
 * requests of its client are (its input requests are those requests): masked, or the first block. Its state, which the
 * client sends back untouched and does not read, is not read.
 */
export function checkInputRequired(
  chain: Chain,
  result: McpSchema.InputRequired
): Effect.Effect<McpSchema.InputRequired, GuardrailError> {
  const { inputRequests, requestState } = result
  if (inputRequests === undefined || running(chain, "toolResult").length === 0) return Effect.succeed(result)
  return Effect.map(
    checkJson(chain, inputRequests, { path: "inputRequests" }, { where: "toolResult" }, inputShapeFields),
    (checked) =>
      checked === inputRequests ? result : new McpSchema.InputRequired({
        inputRequests: checked as NonNullable<McpSchema.InputRequired["inputRequests"]>,
        requestState
      })
  )
}

/**
 * An MCP message's `value` (a request's params, a result, a notification's params: JSON, at `path`) through `chain`'s
 * guardrails of `way`: masked (a plain object where a field changed), or the first block.
 */
export function checkMessage(
  chain: Chain,
  way: Way,
  value: unknown,
  path: string
): Effect.Effect<unknown, GuardrailError> {
  if (running(chain, way).length === 0) return Effect.succeed(value)
  return checkJson(chain, value, { path }, { where: way }, shapeFields)
}

/**
 * A server's definition (at `path`: `tools/list`) through `chain`'s `toolResult` guardrails: any finding, a mask's too,
 * is a block, as a definition is served as its server gave it or not at all.
 */
export function checkDefinition(chain: Chain, definition: object, path: string): Effect.Effect<void, GuardrailError> {
  if (running(chain, "toolResult").length === 0) return Effect.void
  return Effect.asVoid(checkJson(chain, { ...definition }, { path, fixed: "definition" }, { where: "toolResult" }))
}

/** The refusal of a message a guardrail blocked (`what`: "the prompt's messages"), never the text it found. */
export function refusal(error: GuardrailError, what: string): string {
  const outcome = error.where === "toolArguments" ? "Nothing was sent to the MCP server." : "It was withheld."
  return `Guardrail "${error.guardrail}" blocked ${what}: ${error.reason}. ${outcome}`
}

/** The guardrails of the request being served, for one server's messages other than a tool call's. */
export interface Guard {
  /**
   * `value` (JSON at `path`) going `way`, masked; a block (`noted` first) is the refusal (`refusal` of `what`), a
   * chain that cannot run its own, each an error as a tool call's handler fails with.
   */
  readonly check: (
    way: Way,
    value: unknown,
    path: string,
    what: string
  ) => Effect.Effect<unknown, McpSchema.InternalError>
}

/**
 * The guard of a server whose request's chain is `chain` (which fails with the refusal when the chain cannot run: a
 * caller's guardrail the configuration no longer has), each block told to `noted`.
 */
export function guard(
  chain: Effect.Effect<Chain, McpSchema.InternalError>,
  noted: (error: GuardrailError) => Effect.Effect<void>
): Guard {
  return {
    check: (way, value, path, what) =>
      Effect.flatMap(chain, (guardrails) =>
        Effect.catch(
          checkMessage(guardrails, way, value, path),
          (error) =>
            Effect.andThen(noted(error), Effect.fail(new McpSchema.InternalError({ message: refusal(error, what) })))
        ))
  }
}

// What a server's request asks its client, in a refusal's words.
const asking = (method: ServerRequests.Method) => `the server's ${ServerRequests.needs[method]} request`

/**
 * `ask` with what a server asks its call's client checked on its way there (`toolResult`) and the client's answer on
 * its way back (`toolArguments`): a block answers the server with error -32603 naming the guardrail (the client not
 * asked, or its answer withheld), told to `noted`.
 */
export function guardedAsk(
  chain: Chain,
  ask: ServerRequests.Ask,
  noted: (error: GuardrailError) => Effect.Effect<void>
): ServerRequests.Ask {
  const failure = (what: string) => (error: GuardrailError) =>
    Effect.andThen(noted(error), Effect.fail({ code: McpSchema.INTERNAL_ERROR_CODE, message: refusal(error, what) }))
  return (method, params, send) =>
    Effect.gen(function*() {
      const asked = yield* Effect.catch(checkMessage(chain, "toolResult", params, "params"), failure(asking(method)))
      const answer = yield* ask(method, asked, send)
      return yield* Effect.catch(
        checkMessage(chain, "toolArguments", answer, "result"),
        failure(`the client's answer to ${asking(method)}`)
      )
    })
}

/**
 * `listener` with each notification checked on its way to the client (`toolResult`), masked; one a guardrail blocks is
 * dropped, told to `noted` (a call's result still comes).
 */
export function guardedListener(
  chain: Chain,
  listener: Relay.Listener,
  noted: (error: GuardrailError) => Effect.Effect<void>
): Relay.Listener {
  if (running(chain, "toolResult").length === 0) return listener
  return {
    ...listener,
    deliver: (relayed) =>
      checkMessage(chain, "toolResult", relayed.params, "params").pipe(
        Effect.matchEffect({
          onFailure: noted,
          onSuccess: (params) => listener.deliver({ ...relayed, params } as Relay.Relayed)
        })
      )
  }
}
