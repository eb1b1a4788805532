/**
 * Argument completion (`completion/complete`) and log levels (`logging/setLevel`) as the official SDK's client asks
 * them of `serve`'s `/mcp` and `/mcp/<server>`: a completion of a prompt's argument or a template's variable is
 * answered by the server that has it, asked under its own names with the client's context; a server that does not
 * complete gives no values; one the key may not use (a hidden prompt or template), an unknown one and an unknown
 * argument get the same error. A log level is the session's with the gateway, not sent to any server.
 */
import { expect, it } from "@effect/vitest"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { EmptyResultSchema } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import * as Simulator from "../../src/simulator/Simulator.js"
import { gatewayOn, providerKey } from "../utils/adminApi.js"
import { sdkClient } from "../utils/mcpClient.js"
import { completingServer, sdkServer } from "../utils/mcpUpstreams.js"

const agentKey = "gw-mcp-completion-agent-5a1c9e27"

// The agent may use `greet` of `done` and everything of `sdk`, not the template `notes` of `done`.
const keys = { keys: [{ name: "agent", key: agentKey, tools: ["done__greet", "sdk__*"] }] }

// `use` of an official SDK client connected to `url` with the agent's key, closed after.
const connected = <A>(url: string, use: (client: Client) => Promise<A>) =>
  Effect.scoped(Effect.flatMap(sdkClient(url, agentKey), (client) => Effect.promise(() => use(client))))

// A gateway whose one MCP server is a `completingServer`, `done`, for the agent's key allowed `tools`; and the server.
const completing = (tools: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const done = yield* completingServer
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const gateway = yield* gatewayOn(simulator, undefined, {
      mcp_servers: { done: { url: done.url } },
      gateway: { keys: [{ name: "agent", key: agentKey, tools }] }
    })
    return { done, gateway }
  })

// What a request ended in: its result, or its error's code and message.
function outcome<A>(request: Promise<A>): Promise<A | { readonly code: unknown; readonly message: string }> {
  return request.catch((error: { readonly code?: unknown; readonly message: string }) => ({
    code: error.code,
    message: error.message
  }))
}

it.live(
  "completions go to the server that has the prompt or template, under its own names, as the key allows",
  () =>
    Effect.gen(function*() {
      const done = yield* completingServer
      const sdk = yield* sdkServer
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const gateway = yield* gatewayOn(simulator, undefined, {
        mcp_servers: { done: { url: done.url }, sdk: { url: sdk.url } },
        gateway: keys
      })

      const all = yield* connected(`${gateway.url}/mcp`, async (client) => ({
        capabilities: client.getServerCapabilities(),
        prompt: await client.complete({
          ref: { type: "ref/prompt", name: "done__greet" },
          argument: { name: "name", value: "a" },
          context: { arguments: { greeting: "Hi" } }
        }),
        other: await client.complete({
          ref: { type: "ref/prompt", name: "done__greet" },
          argument: { name: "greeting", value: "" }
        }),
        // A server that does not complete (it has no such method): no values.
        plain: await client.complete({
          ref: { type: "ref/prompt", name: "sdk__greet" },
          argument: { name: "name", value: "a" }
        }),
        // The template the key may not use, one no server has, and an argument the prompt does not have: alike.
        hidden: await outcome(client.complete({
          ref: { type: "ref/resource", uri: "mcp://done/file:///notes/{name}" },
          argument: { name: "name", value: "a" }
        })),
        absent: await outcome(client.complete({
          ref: { type: "ref/resource", uri: "mcp://done/file:///drafts/{name}" },
          argument: { name: "name", value: "a" }
        })),
        unknownArgument: await outcome(client.complete({
          ref: { type: "ref/prompt", name: "done__greet" },
          argument: { name: "mood", value: "a" }
        }))
      }))
      expect(all.capabilities?.completions).toEqual({})
      expect(all.prompt.completion).toEqual({ values: ["name:ada", "name:alan"], total: 2, hasMore: false })
      expect(all.other.completion.values).toEqual(["greeting:ada", "greeting:alan", "greeting:grace"])
      expect(all.plain.completion).toEqual({ values: [], total: 0, hasMore: false })
      expect(all.hidden).toEqual({
        code: -32602,
        message: "MCP error -32602: Unknown completion reference or argument"
      })
      expect(all.absent).toEqual(all.hidden)
      expect(all.unknownArgument).toEqual(all.hidden)

      // At `/mcp/<server>`, the server's own names; the key's rule still asks about the qualified ones.
      const own = yield* connected(`${gateway.url}/mcp/done`, async (client) => ({
        prompt: await client.complete({
          ref: { type: "ref/prompt", name: "greet" },
          argument: { name: "name", value: "g" }
        }),
        hidden: await outcome(client.complete({
          ref: { type: "ref/resource", uri: "file:///notes/{name}" },
          argument: { name: "name", value: "a" }
        }))
      }))
      expect(own.prompt.completion.values).toEqual(["name:grace"])
      expect(own.hidden).toEqual(all.hidden)

      // The server was asked under its own names, with the client's context, and never for what the key may not use.
      expect(done.completions).toEqual([
        {
          ref: { type: "ref/prompt", name: "greet" },
          argument: { name: "name", value: "a" },
          context: { arguments: { greeting: "Hi" } }
        },
        { ref: { type: "ref/prompt", name: "greet" }, argument: { name: "greeting", value: "" } },
        { ref: { type: "ref/prompt", name: "greet" }, argument: { name: "name", value: "g" } }
      ])
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)

it.live(
  "a template's variables are completed by its server, for a key that may use it",
  () =>
    Effect.gen(function*() {
      const { done, gateway } = yield* completing(["done__*"])
      const completed = yield* connected(`${gateway.url}/mcp`, (client) =>
        client.complete({
          ref: { type: "ref/resource", uri: "mcp://done/file:///notes/{name}" },
          argument: { name: "name", value: "al" }
        }))
      expect(completed.completion.values).toEqual(["name:alan"])
      expect(done.completions).toEqual([
        { ref: { type: "ref/resource", uri: "file:///notes/{name}" }, argument: { name: "name", value: "al" } }
      ])
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)

it.live(
  "logging/setLevel is the session's level with the gateway: answered, a bad level refused, no server told",
  () =>
    Effect.gen(function*() {
      const { done, gateway } = yield* completing(["done__greet"])
      for (const path of ["/mcp", "/mcp/done"]) {
        const answered = yield* connected(`${gateway.url}${path}`, async (client) => ({
          logging: client.getServerCapabilities()?.logging,
          set: await client.setLoggingLevel("debug"),
          bad: await outcome(
            client.request({ method: "logging/setLevel", params: { level: "loudest" } }, EmptyResultSchema)
          )
        }))
        expect(answered.logging).toEqual({})
        expect(answered.set).toEqual({})
        expect(answered.bad).toMatchObject({ code: -32602 })
      }
      expect(done.levels).toEqual([])
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)
