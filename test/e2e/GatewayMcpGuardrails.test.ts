/**
 * Guardrails on MCP tool calls, over loopback with the official SDK's client against `serve`'s `/mcp` and upstreams
 * that record the arguments they received: a secret in the arguments blocked (the upstream never sees it, the client
 * gets an `isError` result naming the guardrail and never the secret), an email masked (the upstream sees the mask), a
 * result's email masked (its text and its `structuredContent`) or its card number blocked; the gateway's, the server's
 * (`mcp_servers.<name>.guardrails`) and the key's chains; each block a request-log row and counted in `/metrics`; a
 * reload swaps them; a team made at run time runs its guardrails on its keys' calls, which are refused, not run
 * unguarded, once a reload removes one; a server naming a guardrail the file does not have is refused; and a webhook
 * taking a list (`batch`) posted once a direction per call, every string in it, where one for one text gets one each.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "fast-check"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import * as Guardrail from "../../src/Guardrail.js"
import * as ToolGuardrails from "../../src/internal/gateway/mcp/guardrails.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { call } from "../utils/adminApi.js"
import { eventually } from "../utils/eventually.js"
import { get } from "../utils/gatewayHarness.js"
import { serve } from "../utils/loopbackServer.js"
import { sdkClient } from "../utils/mcpClient.js"
import { echoServer, sdkUpstream } from "../utils/mcpUpstreams.js"
import { samplesOf, valueOf } from "../utils/prometheus.js"
import { temporary } from "../utils/requestLogHarness.js"

const providerKey = "sk-provider-mcp-guardrails-0001"
const carefulKey = "gw-mcp-guardrails-careful-3a5c7e9b1d"
const plainKey = "gw-mcp-guardrails-plain-9d7b5a3c1e"
const adminKey = "gw-mcp-guardrails-admin-2b4d6f8a0c"
process.env["MCP_GUARDRAILS_CAREFUL_KEY"] = carefulKey
process.env["MCP_GUARDRAILS_PLAIN_KEY"] = plainKey
process.env["MCP_GUARDRAILS_ADMIN_KEY"] = adminKey

// What the checks find: an AWS access key id (the secrets check), an email address, a card number passing Luhn.
const secret = "AKIAIOSFODNN7EXAMPLE"
const email = "ada@example.com"
const card = "4111 1111 1111 1111"

const guardrails = {
  "no-secrets": { checks: ["secrets"], on: ["tool_arguments"], action: "block" },
  "mask-email-arguments": { checks: ["email"], on: ["tool_arguments"], action: "mask" },
  "mask-email-results": { checks: ["email"], on: ["tool_results"], action: "mask" },
  "no-cards-back": { checks: ["card"], on: ["tool_results"], action: "block" },
  "no-email": { checks: ["email"], on: ["tool_arguments"], action: "block" }
}

interface Row {
  readonly key_name: string | null
  readonly error: string | null
  readonly mcp_server: string | null
  readonly mcp_tool: string | null
}

// A `say` call's outcome: its result's `isError`, its text blocks joined and its `structuredContent`.
const say = (client: Client, name: string, text: string) =>
  Effect.promise(() =>
    client.callTool({ name, arguments: { text } }).then((result) => ({
      isError: result.isError === true,
      text: (result.content as ReadonlyArray<{ readonly text?: string }>).map((block) => block.text ?? "").join(""),
      structured: result.structuredContent
    }))
  )

const simulator = Simulator.make({ apiKeys: [providerKey] })

const sim = (url: string) => [{ model_name: "gpt-4o-mini", base_url: `${url}/v1`, api_keys: [providerKey] }]

describe("guardrails on MCP tool calls", () => {
  it.live(
    "arguments blocked or masked before they are sent, results masked or blocked before they are answered; logged",
    () =>
      Effect.gen(function*() {
        const [masking, unmasked, blocking] = yield* Effect.all([echoServer, echoServer, echoServer])
        const config = yield* ProviderConfig.fromJson({
          sim: sim((yield* simulator).url),
          guardrails,
          mcp_servers: {
            masking: { url: masking.url, guardrails: ["mask-email-arguments"] },
            unmasked: { url: unmasked.url, guardrails: ["mask-email-results"] },
            blocking: { url: blocking.url, guardrails: ["no-cards-back"] }
          },
          gateway: {
            guardrails: ["no-secrets"],
            keys: [{ name: "plain", key: "env:MCP_GUARDRAILS_PLAIN_KEY", tools: ["*"] }],
            admin_keys: [{ name: "ops", key: "env:MCP_GUARDRAILS_ADMIN_KEY" }]
          }
        })
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          database: { sqlite: join(yield* temporary, "gateway.db") }
        })
        const client = yield* sdkClient(`${gateway.url}/mcp`, plainKey)

        // The gateway's guardrail runs on every server's calls: a secret in the arguments never leaves.
        for (const server of ["masking", "unmasked", "blocking"]) {
          const blocked = yield* say(client, `${server}__say`, `my key is ${secret}`)
          expect(blocked.isError).toBe(true)
          expect(blocked.text).toBe(
            "Guardrail \"no-secrets\" blocked the tool's arguments: found AWS access key id. Nothing was sent to the " +
              "MCP server; change the tool's arguments."
          )
        }
        expect([masking.received, unmasked.received, blocking.received]).toEqual([[], [], []])

        // The server's own: arguments masked before they are sent.
        expect(yield* say(client, "masking__say", `write to ${email}`)).toEqual({
          isError: false,
          text: "write to [REDACTED:email]",
          structured: { said: "write to [REDACTED:email]" }
        })
        expect(masking.received).toEqual([{ text: "write to [REDACTED:email]" }])

        // A result masked: the upstream got the address, the client gets the mask, in its text and structured content.
        expect(yield* say(client, "unmasked__say", `write to ${email}`)).toEqual({
          isError: false,
          text: "write to [REDACTED:email]",
          structured: { said: "write to [REDACTED:email]" }
        })
        expect(unmasked.received).toEqual([{ text: `write to ${email}` }])

        // A result blocked: the upstream ran the call; the client gets an error result, never the card.
        const withheld = yield* say(client, "blocking__say", `pay with ${card}`)
        expect(blocking.received).toEqual([{ text: `pay with ${card}` }])
        expect(withheld.isError).toBe(true)
        expect(withheld.text).toBe(
          "Guardrail \"no-cards-back\" blocked the tool's result: found payment card number. The tool's result was " +
            "withheld."
        )
        expect(withheld.text).not.toContain("4111")
        // The other servers' results pass as they were: only `blocking` runs the card check.
        expect((yield* say(client, "masking__say", `pay with ${card}`)).text).toBe(`pay with ${card}`)

        const page = yield* eventually(
          "every call a row",
          Effect.map(get(gateway, "/admin/requests?limit=50", adminKey), (answer) => answer.text),
          (text) => (JSON.parse(text) as { data: ReadonlyArray<Row> }).data.filter((row) => row.mcp_tool).length >= 7
        )
        expect(page).not.toContain(secret)
        expect(page).not.toContain(email)
        const rows = (JSON.parse(page) as { data: ReadonlyArray<Row> }).data.filter((row) => row.mcp_tool !== null)
        const blockedRows = rows.filter((row) => row.error === "GuardrailError")
        expect(blockedRows.map((row) => row.mcp_server).sort()).toEqual(["blocking", "blocking", "masking", "unmasked"])
        expect(rows.filter((row) => row.error === null)).toHaveLength(3)

        const metrics = samplesOf((yield* get(gateway, "/metrics", adminKey)).text)
        const calls = (server: string, outcome: string) =>
          valueOf(metrics, "llm_gateway_mcp_calls_total", { server, tool: "say", outcome })
        expect([calls("masking", "blocked"), calls("masking", "ok"), calls("blocking", "blocked")]).toEqual([1, 2, 2])
        expect(valueOf(metrics, "llm_gateway_errors_total", { tag: "GuardrailError" })).toBe(4)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.effect("arguments asked about together are masked as each string alone would be, the JSON's shape kept", () =>
    Effect.promise(() => {
      const leaf = fc.oneof(
        fc.string(),
        fc.constantFrom(`to ${email}`, email, `${email} and ${email}`, "plain"),
        fc.integer(),
        fc.constant(4111111111111111),
        fc.double({ noNaN: true }),
        fc.boolean(),
        fc.constant(null)
      )
      const value = fc.letrec<{ value: unknown }>((tie) => ({
        value: fc.oneof(
          { depthSize: "small" },
          leaf,
          fc.array(tie("value"), { maxLength: 4 }),
          fc.dictionary(fc.string(), tie("value"), { maxKeys: 4 })
        )
      })).value
      return fc.assert(
        fc.asyncProperty(
          fc.dictionary(fc.string(), value, { maxKeys: 5 }),
          (payload) =>
            Effect.runPromise(Effect.gen(function*() {
              const checks = [Guardrail.email, Guardrail.card]
              const chain = [yield* Guardrail.make({ name: "pii", checks, action: "mask" })]
              // Each string (and number, as its text) checked alone, walked as the gateway did before it asked once for
              // them all.
              const alone = (item: unknown): Effect.Effect<unknown, Guardrail.GuardrailError | "a key masked"> => {
                if (typeof item === "string") return Guardrail.checkText(chain, item, { where: "toolArguments" })
                if (typeof item === "number") {
                  return Effect.map(
                    Guardrail.checkText(chain, String(item), { where: "toolArguments" }),
                    (text) => text === String(item) ? item : text
                  )
                }
                if (Array.isArray(item)) return Effect.forEach(item, alone)
                if (item !== null && typeof item === "object") {
                  return Effect.map(
                    Effect.forEach(
                      Object.entries(item),
                      ([name, field]) =>
                        Effect.andThen(keyAlone(name), Effect.map(alone(field), (checked) => [name, checked] as const))
                    ),
                    Object.fromEntries
                  )
                }
                return Effect.succeed(item)
              }
              // A key a mask would change (fast-check's strings can spell an email address) refuses the arguments:
              // a key masked would break the JSON's shape.
              const keyAlone = (name: string) =>
                Effect.flatMap(
                  Guardrail.checkText(chain, name, { where: "toolArguments" }),
                  (checked) => checked === name ? Effect.void : Effect.fail("a key masked" as const)
                )
              const expected = yield* Effect.exit(alone(payload))
              const checked = yield* Effect.exit(ToolGuardrails.checkArguments(chain, payload))
              if (Exit.isSuccess(expected)) expect(checked).toEqual(expected)
              else expect(Exit.isFailure(checked) && String(Cause.squash(checked.cause))).toMatch(/in a key of /)
            }))
        ),
        // A key spelling an email address, as a run once drew.
        { numRuns: 200, examples: [[{ "0@0.AA": {} }], [{ [`to ${email}`]: "plain" }]] }
      )
    }))

  it.live(
    "a webhook taking a list gets one post a direction per tool call, every string in it; one each else",
    () =>
      Effect.gen(function*() {
        const echo = yield* echoServer
        // A webhook that masks the first four characters of each text starting "mask"; what it was posted, kept.
        const posts: Array<{ readonly path: string; readonly body: Record<string, unknown> }> = []
        const hook = yield* serve((req, res) => {
          let body = ""
          req.on("data", (data) => body += data)
          req.on("end", () => {
            const parsed = JSON.parse(body) as { readonly text?: string; readonly texts?: ReadonlyArray<string> }
            posts.push({ path: req.url ?? "", body: parsed })
            const verdict = (text: string) =>
              text.startsWith("mask") ? { verdict: "mask", spans: [{ start: 0, end: 4 }] } : { verdict: "pass" }
            res.writeHead(200, { "content-type": "application/json" })
            res.end(JSON.stringify(
              parsed.texts === undefined ? verdict(parsed.text ?? "") : { verdicts: parsed.texts.map(verdict) }
            ))
          })
        })
        const on = ["tool_arguments", "tool_results"]
        const config = yield* ProviderConfig.fromJson({
          sim: sim((yield* simulator).url),
          guardrails: {
            listed: { webhook: `${hook.url}/listed`, batch: true, on },
            single: { webhook: `${hook.url}/single`, on }
          },
          mcp_servers: {
            listed: { url: echo.url, guardrails: ["listed"] },
            single: { url: echo.url, guardrails: ["single"] }
          },
          gateway: { keys: [{ name: "plain", key: "env:MCP_GUARDRAILS_PLAIN_KEY", tools: ["*"] }] }
        })
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
        const client = yield* sdkClient(`${gateway.url}/mcp`, plainKey)
        const args = { text: "mask this", tags: ["mask a", "b", "c"], meta: { n: 7, who: "mask x" } }
        // What the webhook is posted: every key and every value, in order, each distinct text once.
        const arguments_ = ["text", "mask this", "tags", "mask a", "b", "c", "meta", "n", "7", "who", "mask x"]
        const resultTexts = (server: string) => [
          "content",
          "type",
          "text",
          `[REDACTED:${server}] this`,
          "structuredContent",
          "said"
        ]
        const expected = {
          text: "[REDACTED:listed] this",
          tags: ["[REDACTED:listed] a", "b", "c"],
          meta: { n: 7, who: "[REDACTED:listed] x" }
        }
        for (const server of ["listed", "single"] as const) {
          const before = posts.length
          const result = yield* Effect.promise(() => client.callTool({ name: `${server}__say`, arguments: args }))
          const replaced = (text: string) => text.replaceAll("[REDACTED:listed]", `[REDACTED:${server}]`)
          expect(echo.received.at(-1)).toEqual(JSON.parse(replaced(JSON.stringify(expected))))
          // The echo says its masked text back, which passes on its way to the client.
          expect(result.content).toEqual([{ type: "text", text: replaced("[REDACTED:listed] this") }])
          const mine = posts.slice(before)
          expect(mine.every((post) => post.path === `/${server}`)).toBe(true)
          if (server === "listed") {
            // One post for the arguments' keys and values, one for the result's (its content block's and its structured
            // content's).
            expect(mine.map((post) => post.body["texts"])).toEqual([arguments_, resultTexts("listed")])
            expect(mine.map((post) => (post.body["context"] as { where: string }).where)).toEqual([
              "toolArguments",
              "toolResult"
            ])
          } else {
            expect(mine.map((post) => post.body["text"])).toEqual([...arguments_, ...resultTexts("single")])
          }
        }
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live("a key's guardrails run on its calls only; a reload swaps them", () =>
    Effect.gen(function*() {
      const echo = yield* echoServer
      const model = sim((yield* simulator).url)
      const keys = (careful: ReadonlyArray<string>) => [
        { name: "careful", key: "env:MCP_GUARDRAILS_CAREFUL_KEY", tools: ["echo__*"], guardrails: careful },
        { name: "plain", key: "env:MCP_GUARDRAILS_PLAIN_KEY", tools: ["echo__*"] }
      ]
      const before = yield* ProviderConfig.fromJson({
        sim: model,
        guardrails,
        mcp_servers: { echo: { url: echo.url } },
        gateway: { keys: keys(["mask-email-arguments"]) }
      })
      const after = yield* ProviderConfig.fromJson({
        sim: model,
        guardrails,
        mcp_servers: { echo: { url: echo.url, guardrails: ["no-email"] } },
        gateway: { keys: keys([]) }
      })
      let next = before
      const gateway = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(before),
        port: 0,
        source: Effect.sync(() => ProviderConfig.gatewayConfig(next))
      })
      const careful = yield* sdkClient(`${gateway.url}/mcp`, carefulKey)
      const plain = yield* sdkClient(`${gateway.url}/mcp`, plainKey)

      expect((yield* say(careful, "echo__say", `to ${email}`)).text).toBe("to [REDACTED:email]")
      expect((yield* say(plain, "echo__say", `to ${email}`)).text).toBe(`to ${email}`)
      expect(echo.received).toEqual([{ text: "to [REDACTED:email]" }, { text: `to ${email}` }])

      // The reload drops the key's mask and gives the server a block: both keys' calls are blocked, none sent.
      next = after
      yield* gateway.reload
      for (const client of [careful, plain]) {
        const blocked = yield* say(client, "echo__say", `to ${email}`)
        expect(blocked.isError).toBe(true)
        expect(blocked.text).toContain("Guardrail \"no-email\" blocked the tool's arguments: found email address.")
      }
      expect(echo.received).toHaveLength(2)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 60_000)

  it.live(
    "a team made at run time runs its guardrails on its keys' tool calls; once a reload removes one, refused",
    () =>
      Effect.gen(function*() {
        const echo = yield* echoServer
        const model = sim((yield* simulator).url)
        const file = (names: ReadonlyArray<string>) =>
          ProviderConfig.fromJson({
            sim: model,
            guardrails: Object.fromEntries(names.map((name) => [name, guardrails[name as keyof typeof guardrails]])),
            mcp_servers: { echo: { url: echo.url } },
            gateway: {
              keys: [{ name: "plain", key: "env:MCP_GUARDRAILS_PLAIN_KEY", tools: ["echo__*"] }],
              admin_keys: [{ name: "ops", key: "env:MCP_GUARDRAILS_ADMIN_KEY" }]
            }
          })
        const before = yield* file(["mask-email-arguments", "no-secrets"])
        const after = yield* file(["no-secrets"])
        let next = before
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(before),
          port: 0,
          database: { sqlite: join(yield* temporary, "gateway.db") },
          source: Effect.sync(() => ProviderConfig.gatewayConfig(next))
        })
        const team = yield* call(gateway.url, "POST", "/admin/teams", {
          name: "careful",
          tools: ["echo__*"],
          guardrails: ["mask-email-arguments"]
        }, adminKey)
        expect(team.status).toBe(201)
        const member = yield* call(gateway.url, "POST", "/admin/keys", {
          name: "member",
          team: team.body.id,
          tools: ["echo__*"]
        }, adminKey)
        expect(member.status).toBe(201)
        const client = yield* sdkClient(`${gateway.url}/mcp`, member.body.key!)
        expect((yield* say(client, "echo__say", `to ${email}`)).text).toBe("to [REDACTED:email]")
        expect(echo.received).toEqual([{ text: "to [REDACTED:email]" }])

        next = after
        yield* gateway.reload
        const refused = yield* say(client, "echo__say", `to ${email}`)
        expect(refused).toEqual({
          isError: true,
          text: "This key's guardrails cannot run: one of them is not in the gateway's configuration. Nothing was " +
            "sent; an administrator needs to fix the key, its team or the configuration.",
          structured: undefined
        })
        expect(echo.received).toHaveLength(1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live("a server naming a guardrail the file does not have is refused, the field named", () =>
    Effect.gen(function*() {
      const echo = yield* echoServer
      const refused = yield* Effect.flip(ProviderConfig.fromJson({
        sim: sim((yield* simulator).url),
        guardrails,
        mcp_servers: { echo: { url: echo.url, guardrails: ["pii"] } }
      }))
      expect(refused.message).toContain("mcp_servers.echo.guardrails[0]")
      expect(refused.message).toContain("pii names no guardrail of the guardrails section")
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live(
    "an upstream's error, its result's _meta and an address in a key of its structured content go through the checks",
    () =>
      Effect.gen(function*() {
        // An SDK upstream whose `lookup` fails naming the address it was asked about when told `fail`, and otherwise
        // answers with the address in its `_meta`, and as a key of its structured content.
        const { url } = yield* sdkUpstream("directory", { capabilities: { tools: {} } }, (server) => {
          server.setRequestHandler(ListToolsRequestSchema, () => ({
            tools: [{ name: "lookup", inputSchema: { type: "object", properties: { text: { type: "string" } } } }]
          }))
          server.setRequestHandler(CallToolRequestSchema, (request) => {
            const text = String(request.params.arguments?.["text"])
            if (text === "fail") throw new Error(`no user ${email}`)
            return {
              content: [{ type: "text", text: "found" }],
              structuredContent: { [text]: true },
              _meta: { owner: email }
            }
          })
        })
        const config = yield* ProviderConfig.fromJson({
          sim: sim((yield* simulator).url),
          guardrails,
          mcp_servers: {
            masked: { url, guardrails: ["mask-email-results"] },
            plain: { url }
          },
          gateway: { keys: [{ name: "plain", key: "env:MCP_GUARDRAILS_PLAIN_KEY", tools: ["*"] }] }
        })
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
        const client = yield* sdkClient(`${gateway.url}/mcp`, plainKey)
        // A call's result, and what it said when it failed (a JSON-RPC error's message, or an `isError` result's text).
        const lookup = (name: string, text: string) =>
          Effect.promise(() =>
            client.callTool({ name, arguments: { text } }).then(
              (result) => ({ result, said: JSON.stringify(result["content"]) }),
              (error: Error) => ({ result: undefined, said: error.message })
            )
          )
        const said = (outcome: { readonly said: string }) => outcome.said

        // The error, as the server without guardrails passes it, and masked by the one with them.
        expect(said(yield* lookup("plain__lookup", "fail"))).toContain(`no user ${email}`)
        const maskedError = said(yield* lookup("masked__lookup", "fail"))
        expect(maskedError).toContain("no user [REDACTED:email]")
        expect(maskedError).not.toContain(email)

        // The result's _meta is masked; an address as a key of its structured content refuses the result.
        const meta = yield* lookup("masked__lookup", "nobody")
        expect(meta.result?._meta).toEqual({ owner: "[REDACTED:email]" })
        expect(meta.result?.structuredContent).toEqual({ nobody: true })
        const keyed = yield* lookup("masked__lookup", email)
        const refusal = said(keyed)
        expect(refusal).toContain("found email address in a key of result, which a mask would break")
        expect(refusal).not.toContain(email)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
