/**
 * Which MCP tools a key may use (`internal/gateway/access/tools.ts`), over its whole domain: a list's rule against a
 * glob matcher written the other way (by recursion, not a regular expression), and, through the gateway's `/mcp`
 * endpoint itself, for random lists of a key and its team: what the key lists equals what it may call equals the
 * tools both lists match, asked by the official SDK's client; and the same of resources, templates and prompts, which
 * the same rule governs over their qualified names.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fc from "fast-check"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Allow from "../../src/internal/gateway/access/tools.js"
import * as Endpoint from "../../src/internal/gateway/mcp/endpoint.js"
import * as Pins from "../../src/internal/gateway/mcp/pins.js"
import * as McpRequest from "../../src/internal/gateway/mcp/request.js"
import * as Request from "../../src/internal/gateway/request/context.js"
import { isServerName } from "../../src/internal/gatewayConfig/mcpServerNames.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { namedCatalog, namedTools } from "../utils/mcpUpstreams.js"
import { inMemory, serviceOf } from "../utils/sqlDatabases.js"

// `glob` matches `name`: `*` any run of characters, every other character itself.
function matches(glob: string, name: string): boolean {
  if (glob === "") return name === ""
  if (glob[0] === "*") return matches(glob.slice(1), name) || (name !== "" && matches(glob, name.slice(1)))
  return name !== "" && glob[0] === name[0] && matches(glob.slice(1), name.slice(1))
}

const reference = (patterns: ReadonlyArray<string>) => (name: string) =>
  patterns.some((pattern) => matches(pattern, name))

// Names and globs over a small alphabet, so that they often match; `.`, `+` and `(` are a regular expression's.
const text = fc.string({ unit: fc.constantFrom("a", "b", "_", "*", ".", "+", "("), maxLength: 8 })

describe("MCP tool rules", () => {
  it("a list's rule is its globs' and names' matches; no list, or an empty one, allows nothing", () => {
    fc.assert(fc.property(fc.array(text, { maxLength: 5 }), fc.array(text, { maxLength: 20 }), (patterns, names) => {
      const rule = Allow.rule(patterns)
      for (const name of names) expect(rule(name)).toBe(reference(patterns)(name))
    }))
    assert.isFalse(Allow.rule(undefined)("files__read"))
    assert.isFalse(Allow.rule([])("files__read"))
  })

  it("a server's name: letters and digits with single - or _ between, so a qualified name splits at its first __", () => {
    for (const name of ["files", "my-files", "calc_2", "a1"]) assert.isTrue(isServerName(name), name)
    for (const name of ["", "a__b", "_a", "a_", "a-", "a b", "a.b", "x".repeat(65)]) {
      assert.isFalse(isServerName(name), name)
    }
    fc.assert(fc.property(fc.stringMatching(/^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$/), fc.string(), (server, tool) => {
      fc.pre(isServerName(server))
      const qualified = Allow.qualified(server, tool)
      expect(qualified.slice(0, qualified.indexOf(Allow.separator))).toBe(server)
    }))
  })
})

// No guardrails: the configuration names none.
const unguarded = { guardrails: new Map(), gatewayGuardrails: [] }

const servers = { files: ["read", "write", "list"], calc: ["add", "mul", "sub_x"] } as const
const qualifiedNames = Object.entries(servers).flatMap(([server, tools]) =>
  tools.map((tool) => Allow.qualified(server, tool))
)
const pattern = fc.oneof(
  fc.constantFrom(...qualifiedNames, "files__*", "calc__*", "*", "*__read", "c*", "*_x", "files__r*d"),
  text
)
const list = fc.option(fc.array(pattern, { maxLength: 4 }), { nil: undefined })

// `endpoints`' `/mcp` on loopback, each request given the rule `rule()` names then; the official SDK's client on it.
const served = (endpoints: Endpoint.Endpoints, rule: () => Allow.Rule) =>
  Effect.gen(function*() {
    const http = Http.createServer()
    const listening = yield* NodeHttpServer.make(() => http, { host: "127.0.0.1", port: 0 })
    // Each call free and unlimited (its governance is `GatewayMcpGovernance.test.ts`'s): only the rule is checked.
    // Each request its own context, as the gateway's route makes one.
    const free = (): McpRequest.Governance => ({
      reserve: () => Effect.succeed(() => Effect.void),
      context: Request.make({
        id: "property",
        method: "POST",
        url: "/mcp",
        start: 0,
        caller: undefined,
        payload: false
      }),
      metrics: { toolCall: () => {}, error: () => {} }
    })
    yield* listening.serve(
      Effect.suspend(() => Effect.provideService(endpoints.http, McpRequest.Request, McpRequest.called(rule(), free())))
    )
    const url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`)
    const client = new Client({ name: "property", version: "1.0.0" })
    yield* Effect.acquireRelease(
      Effect.promise(() => client.connect(new StreamableHTTPClientTransport(url))),
      () => Effect.promise(() => client.close())
    )
    return client
  })

describe("MCP tool rules at /mcp", () => {
  it.live(
    "what a key lists equals what it may call equals what its list and its team's both match",
    () =>
      Effect.gen(function*() {
        const limiters = yield* Layer.build(RateLimiter.layerStoreMemory)
        const endpoints = yield* Endpoint.make(
          {
            files: { url: yield* namedTools(servers.files) },
            calc: { url: yield* namedTools(servers.calc) }
          },
          Pins.make(yield* serviceOf(Pins.PinStore, inMemory(Pins.layerSql)), () => {}),
          unguarded,
          limiters
        )
        let rule: Allow.Rule = Allow.nothing
        const client = yield* served(endpoints, () => rule)
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(list, fc.option(list, { nil: undefined }), async (own, team) => {
              // A key in a team (`team` given): both lists; else its own.
              rule = team === undefined ? Allow.rule(own) : Allow.both(Allow.rule(own), Allow.rule(team))
              const expected = qualifiedNames.filter((name) =>
                reference(own ?? [])(name) && (team === undefined || reference(team ?? [])(name))
              ).sort()
              const listed = (await client.listTools()).tools.map((tool) => tool.name).sort()
              const callable: Array<string> = []
              for (const name of qualifiedNames) {
                const called = await client.callTool({ name, arguments: {} }).then(
                  () => undefined,
                  (error: unknown) => error as { readonly code: number; readonly message: string }
                )
                if (called === undefined) callable.push(name)
                else {expect([called.code, called.message]).toEqual([
                    -32602,
                    `MCP error -32602: Tool '${name}' not found`
                  ])}
              }
              expect(listed).toEqual(expected)
              expect(callable.sort()).toEqual(expected)
            }),
            { numRuns: 40 }
          )
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    { timeout: 120_000 }
  )
})

const catalogs = { files: ["read", "write", "list"], calc: ["add", "sub_x"] } as const
const entries = Object.entries(catalogs).flatMap(([server, names]) => names.map((name) => ({ server, name })))

// What a request ended in: nothing when it succeeded, else its error's code and message with `name` put as NAME.
const failure = (request: Promise<unknown>, name: string) =>
  request.then(
    () => undefined,
    (error: unknown) => {
      const { code, message } = error as { readonly code: number; readonly message: string }
      return { code, message: message.replaceAll(name, "NAME") }
    }
  )

describe("MCP resource, template and prompt rules at /mcp", () => {
  it.live(
    "what a key lists of each equals what it may read or get equals what both its lists match; hidden is absent",
    () =>
      Effect.gen(function*() {
        const limiters = yield* Layer.build(RateLimiter.layerStoreMemory)
        const endpoints = yield* Endpoint.make(
          {
            files: { url: yield* namedCatalog(catalogs.files) },
            calc: { url: yield* namedCatalog(catalogs.calc) }
          },
          Pins.make(yield* serviceOf(Pins.PinStore, inMemory(Pins.layerSql)), () => {}),
          unguarded,
          limiters
        )
        let rule: Allow.Rule = Allow.nothing
        const client = yield* served(endpoints, () => rule)
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(list, fc.option(list, { nil: undefined }), async (own, team) => {
              rule = team === undefined ? Allow.rule(own) : Allow.both(Allow.rule(own), Allow.rule(team))
              const allowed = (name: string) =>
                reference(own ?? [])(name) && (team === undefined || reference(team ?? [])(name))
              const absentResource = await failure(
                client.readResource({ uri: "mcp://files/doc:///none" }),
                "mcp://files/doc:///none"
              )
              const absentPrompt = await failure(client.getPrompt({ name: "files__none" }), "files__none")
              expect(absentResource).toBeDefined()
              expect(absentPrompt).toBeDefined()

              const resources = entries.map(({ name, server }) => Allow.qualified(server, name))
              const templates = entries.map(({ name, server }) => Allow.qualified(server, `${name}_page`))
              expect((await client.listResources()).resources.map((resource) => resource.name).sort())
                .toEqual(resources.filter(allowed).sort())
              expect((await client.listResourceTemplates()).resourceTemplates.map((template) => template.name).sort())
                .toEqual(templates.filter(allowed).sort())
              expect((await client.listPrompts()).prompts.map((prompt) => prompt.name).sort())
                .toEqual(resources.filter(allowed).sort())
              for (const { name, server } of entries) {
                const qualified = Allow.qualified(server, name)
                const uri = `mcp://${server}/doc:///${name}`
                const page = `mcp://${server}/doc:///${name}/pages/7`
                expect(await failure(client.readResource({ uri }), uri))
                  .toEqual(allowed(qualified) ? undefined : absentResource)
                expect(await failure(client.readResource({ uri: page }), page))
                  .toEqual(allowed(`${qualified}_page`) ? undefined : absentResource)
                expect(await failure(client.getPrompt({ name: qualified }), qualified))
                  .toEqual(allowed(qualified) ? undefined : absentPrompt)
              }
            }),
            { numRuns: 30 }
          )
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    { timeout: 120_000 }
  )
})
