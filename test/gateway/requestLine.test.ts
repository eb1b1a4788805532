import { describe, expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import type { Usage } from "../../src/ChatResponse.js"
import type { Caller } from "../../src/internal/gateway/access/caller.js"
import * as Line from "../../src/internal/gateway/observe/line.js"
import type { RequestRecord } from "../../src/internal/gateway/observe/record.js"
import * as Request from "../../src/internal/gateway/request/context.js"
import { effectProp } from "../utils/effectProp.js"
import { jsonLines } from "../utils/requestLines.js"

const maybe = <A>(arbitrary: fc.Arbitrary<A>) => fc.option(arbitrary, { nil: undefined })
const text = fc.string({ maxLength: 12 })
const count = fc.nat({ max: 1_000_000 })

describe("a request's log line", () => {
  effectProp(
    "holds each field the record has, in the line's order, as serve writes it, and none it has not",
    fc.record({
      start: fc.nat({ max: 1_000_000 }),
      took: fc.nat({ max: 100_000 }),
      suppressed: maybe(fc.nat({ max: 5 })),
      caller: maybe(fc.record({ id: text, name: text })),
      model: maybe(text),
      deployment: maybe(text),
      firstToken: maybe(count),
      usage: maybe(fc.record({
        promptTokens: count,
        completionTokens: count,
        totalTokens: count,
        cachedPromptTokens: count,
        cacheWriteTokens: maybe(count),
        cacheWrite1hTokens: maybe(count),
        serviceTier: maybe(text)
      })),
      cost: maybe(fc.double({ min: 0, max: 10, noNaN: true })),
      cacheSavings: maybe(fc.double({ min: 0, max: 10, noNaN: true })),
      error: maybe(text),
      errorMessage: maybe(text),
      failedDeployment: maybe(text),
      midStream: maybe(fc.constantFrom("restarted" as const, "continued" as const)),
      omittedTools: maybe(fc.array(text, { maxLength: 3 })),
      toolCall: maybe(fc.record({ server: text, tool: text, argumentsDigest: text }))
    }),
    (given) =>
      Effect.gen(function*() {
        const record: RequestRecord = {
          id: "req_1",
          method: "POST",
          path: Request.pathOf("/v1/chat/completions?x=1"),
          start: given.start,
          end: given.start + given.took,
          latency: given.took,
          suppressed: given.suppressed,
          caller: given.caller as Caller | undefined,
          model: given.model,
          deployment: given.deployment,
          status: 200,
          firstToken: given.firstToken,
          usage: given.usage as Usage | undefined,
          cost: given.cost,
          cacheSavings: given.cacheSavings,
          error: given.error,
          errorMessage: given.errorMessage,
          failedDeployment: given.failedDeployment,
          midStream: given.midStream,
          streaming: given.firstToken !== undefined,
          socket: false,
          omittedTools: given.omittedTools,
          toolCall: given.toolCall,
          payload: undefined
        }
        const lines: Array<string> = []
        yield* Line.line(record).pipe(Effect.provide(jsonLines(lines)))
        const usage = given.usage
        const expected = [
          ["request_id", "req_1"],
          ["method", "POST"],
          ["path", "/v1/chat/completions"],
          ["suppressed", given.suppressed !== undefined && given.suppressed > 0 ? given.suppressed : undefined],
          ["status", 200],
          ["latency_ms", given.took],
          ["key_id", given.caller?.id],
          ["key_name", given.caller?.name],
          ["model", given.model],
          ["deployment", given.deployment],
          ["first_token_ms", given.firstToken],
          ["prompt_tokens", usage?.promptTokens],
          ["completion_tokens", usage?.completionTokens],
          ["total_tokens", usage?.totalTokens],
          ["cached_tokens", usage?.cachedPromptTokens],
          ["cache_write_tokens", usage?.cacheWriteTokens],
          ["cache_write_1h_tokens", usage?.cacheWrite1hTokens],
          ["service_tier", usage?.serviceTier],
          ["cost", given.cost],
          ["cache_savings", given.cacheSavings],
          ["error", given.error],
          ["error_message", given.errorMessage],
          ["failed_deployment", given.failedDeployment],
          ["mid_stream", given.midStream],
          ["omitted_tools", given.omittedTools?.join(",")],
          ["mcp_server", given.toolCall?.server],
          ["mcp_tool", given.toolCall?.tool],
          ["arguments_digest", given.toolCall?.argumentsDigest]
        ].filter(([, value]) => value !== undefined)
        expect(lines.length).toBe(1)
        const line = JSON.parse(lines[0]!) as { readonly message: string; readonly annotations: object }
        expect(line.message).toBe("request")
        expect(Object.entries(line.annotations)).toEqual(expected)
      })
  )
})
