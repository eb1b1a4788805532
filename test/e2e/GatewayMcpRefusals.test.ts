/**
 * A tool call the gateway does not carry out (its key's budget refuses it, a guardrail blocks it, its server does not
 * answer within its `call_timeout`) is answered in one shape in every revision the gateway speaks: a tool result with
 * `isError` and the reason as its text (docs/mcp.md), never a JSON-RPC error. Over loopback, with the official SDK's
 * client offering 2025-11-25, 2025-06-18 (Gemini CLI's) and 2025-03-26, and a stateless 2026-07-28 request, at `/mcp`
 * and at `/mcp/<server>`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { sdkClient } from "../utils/mcpClient.js"
import { mcpPost } from "../utils/mcpRaw.js"
import { echoServer, waitingServer } from "../utils/mcpUpstreams.js"

const providerKey = "sk-provider-mcp-refusals-0001"
const brokeKey = "gw-mcp-refusals-broke-4c6e8a0b2d"
const plainKey = "gw-mcp-refusals-plain-7a9c1e3b5d"
process.env["MCP_REFUSALS_BROKE_KEY"] = brokeKey
process.env["MCP_REFUSALS_PLAIN_KEY"] = plainKey

// What the secrets check finds: an AWS access key id.
const secret = "AKIAIOSFODNN7EXAMPLE"

interface Answer {
  readonly isError: boolean
  readonly text: string
}

// The answer to a call of `name` with `args` by `key` at `url`, in `revision`: the SDK's client for the revisions with
// a session, a stateless request for 2026-07-28. A JSON-RPC error is an answer too (`isError` undefined), so that the
// test says what came.
const called = (url: string, key: string, revision: string, name: string, args: Record<string, unknown>) =>
  revision === "2026-07-28"
    ? Effect.map(
      mcpPost(url, key, { "mcp-protocol-version": revision, "mcp-method": "tools/call", "mcp-name": name }, {
        id: 1,
        method: "tools/call",
        params: {
          name,
          arguments: args,
          _meta: {
            "io.modelcontextprotocol/protocolVersion": revision,
            "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
            "io.modelcontextprotocol/clientCapabilities": {}
          }
        }
      }),
      (answered) => {
        const body = answered.body as {
          readonly result?: { readonly isError?: boolean; readonly content: ReadonlyArray<{ readonly text: string }> }
          readonly error?: { readonly code: number; readonly message: string }
        }
        return body.result === undefined
          ? { error: body.error }
          : { isError: body.result.isError === true, text: body.result.content[0]?.text ?? "" }
      }
    )
    : Effect.scoped(
      Effect.flatMap(
        sdkClient(url, key, revision),
        (client) =>
          Effect.promise(() =>
            client.callTool({ name, arguments: args }).then(
              (result): Answer => ({
                isError: result.isError === true,
                text: (result.content as ReadonlyArray<{ readonly text?: string }>)[0]?.text ?? ""
              }),
              (error: Error) => ({ error: error.message })
            )
          )
      )
    )

describe("MCP refusals, in every revision", () => {
  it.live(
    "a budget's refusal, a guardrail's block, a server's failure: an isError result in every revision",
    () =>
      Effect.gen(function*() {
        const echo = yield* echoServer
        const slow = yield* waitingServer(30_000)
        const config = yield* ProviderConfig.fromJson({
          sim: [{
            model_name: "gpt-4o-mini",
            base_url: `${(yield* Simulator.make({ apiKeys: [providerKey] })).url}/v1`,
            api_keys: [providerKey]
          }],
          guardrails: { "no-secrets": { checks: ["secrets"], on: ["tool_arguments"], action: "block" } },
          mcp_servers: {
            echo: { url: echo.url, price_per_call: 0.02 },
            slow: { url: slow.url, call_timeout: "300 millis" }
          },
          gateway: {
            guardrails: ["no-secrets"],
            keys: [
              {
                name: "broke",
                key: "env:MCP_REFUSALS_BROKE_KEY",
                tools: ["*"],
                budget: { limit: 0.01, period: "1 day" }
              },
              { name: "plain", key: "env:MCP_REFUSALS_PLAIN_KEY", tools: ["*"] }
            ]
          }
        })
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
        const places = [
          { url: `${gateway.url}/mcp`, echo: "echo__say", wait: "slow__wait" },
          { url: `${gateway.url}/mcp/echo`, echo: "say", wait: undefined },
          { url: `${gateway.url}/mcp/slow`, echo: undefined, wait: "wait" }
        ]
        for (const revision of ["2025-11-25", "2025-06-18", "2025-03-26", "2026-07-28"]) {
          for (const place of places) {
            const where = `${revision} ${place.url}`
            if (place.echo !== undefined) {
              expect(yield* called(place.url, brokeKey, revision, place.echo, { text: "hi" }), where).toEqual({
                isError: true,
                text: expect.stringMatching(/^This gateway key's budget has \$0\.01 of \$0\.01 left, and this call may/)
              })
              expect(yield* called(place.url, plainKey, revision, place.echo, { text: `key ${secret}` }), where)
                .toEqual({
                  isError: true,
                  text: "Guardrail \"no-secrets\" blocked the tool's arguments: found AWS access key id. " +
                    "Nothing was sent to the MCP server; change the tool's arguments."
                })
              expect(yield* called(place.url, plainKey, revision, place.echo, { text: "hi" }), where).toEqual({
                isError: false,
                text: "hi"
              })
            }
            if (place.wait !== undefined) {
              expect(yield* called(place.url, plainKey, revision, place.wait, {}), where).toEqual({
                isError: true,
                text: "The MCP server `slow` failed this request: it did not answer within its call_timeout (300ms); " +
                  "the call was cancelled"
              })
            }
          }
        }
        // Only the calls answered reached the server: one a revision at each of its two places.
        expect(echo.received).toHaveLength(8)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
