/**
 * Guardrails on every MCP message besides a tool call's own arguments and result, over loopback with the official
 * SDK's client against `serve`'s `/mcp/<server>` and SDK upstreams that put a forbidden word, plain and in each
 * disguise (zero-width characters, fullwidth forms, look-alike letters), in one field each: a tool's name, title,
 * description, input and output schema (a description and a key), annotations and `_meta`, a resource's title,
 * description and URI, a template's description, a prompt's description and an argument's, are withheld from their
 * lists (a call of the tool by name still runs); a resource's text and a blob's MIME type, a prompt's arguments
 * and messages, a completion's argument and its values are refused naming the guardrail; a server's sampling and
 * elicitation requests carrying it never reach the client, and a client's sampling answer carrying it never reaches
 * the server; a log and a progress message carrying it are dropped while the clean ones arrive. The same upstream
 * without guardrails serves every one of them, so what is withheld is that field.
 */
import { describe, expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  LoggingMessageNotificationSchema,
  ReadResourceRequestSchema
} from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { disguise, disguises } from "../fixtures/guardrails/labelled.js"
import { sdkUpstream } from "../utils/mcpUpstreams.js"

const providerKey = "sk-provider-mcp-message-guardrails-0001"
const key = "gw-mcp-message-guardrails-5e7a9c1b3d"
const careful = "gw-mcp-message-guardrails-careful-8f2d4b6a0c"
process.env["MCP_MESSAGE_GUARDRAILS_KEY"] = key
process.env["MCP_MESSAGE_GUARDRAILS_CAREFUL_KEY"] = careful

const word = "quokka"
const guardrail = "no-animals"

// What one upstream was sent: the prompts' arguments and the completions' values.
interface Sent {
  readonly prompts: Array<Readonly<Record<string, string>>>
  readonly completions: Array<string>
}

// The tools of an upstream whose marker is `marker`, each but `clean` carrying it in one field.
const tools = (marker: string, named: boolean) => [
  { name: "clean", description: "Asks, logs or says hello.", inputSchema: { type: "object" } },
  { name: "t_title", title: `A ${marker}`, inputSchema: { type: "object" } },
  { name: "t_description", description: `Feeds the ${marker}.`, inputSchema: { type: "object" } },
  {
    name: "t_input",
    inputSchema: { type: "object", properties: { x: { type: "string", description: `a ${marker}` } } }
  },
  { name: "t_input_key", inputSchema: { type: "object", properties: { [marker]: { type: "string" } } } },
  {
    name: "t_output",
    inputSchema: { type: "object" },
    outputSchema: { type: "object", properties: { y: { type: "string", description: `the ${marker}` } } }
  },
  { name: "t_annotations", inputSchema: { type: "object" }, annotations: { title: `The ${marker}` } },
  { name: "t_meta", inputSchema: { type: "object" }, _meta: { note: marker } },
  ...(named ? [{ name: `${marker}-tool`, inputSchema: { type: "object" } }] : [])
]

// An SDK upstream whose every definition but the clean ones carries `marker` in one field, whose `doc` and `blob`
// resources, `greet` prompt (for `who: "leak"`) and completions (of the value `leak`) answer with it, and whose
// `clean` tool asks its client (sampling with it, sampling answered with it, elicitation with it) or logs with it, as
// its `mode` argument says.
const upstream = (marker: string, named: boolean, sent: Sent) =>
  sdkUpstream("animals", {
    capabilities: { tools: {}, resources: {}, prompts: {}, completions: {}, logging: {} }
  }, (server) => {
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: tools(marker, named) }))
    server.setRequestHandler(ListResourcesRequestSchema, () => ({
      resources: [
        { uri: "file:///doc", name: "doc" },
        { uri: "file:///blob", name: "blob" },
        { uri: "file:///plain", name: "plain" },
        { uri: "file:///title", name: "r_title", title: marker },
        { uri: "file:///description", name: "r_description", description: `about a ${marker}` },
        { uri: `file:///${marker}`, name: "r_uri" }
      ]
    }))
    server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
      resourceTemplates: [
        { uriTemplate: "file:///clean/{x}", name: "tp_clean" },
        { uriTemplate: "file:///described/{x}", name: "tp_description", description: `a ${marker} each` }
      ]
    }))
    server.setRequestHandler(ReadResourceRequestSchema, (request) => {
      const uri = request.params.uri
      if (uri === "file:///blob") {
        return { contents: [{ uri, blob: "AAEC", mimeType: `application/x-${marker}` }] }
      }
      return { contents: [{ uri, text: uri === "file:///doc" ? `a ${marker} lives here` : "nothing here" }] }
    })
    server.setRequestHandler(ListPromptsRequestSchema, () => ({
      prompts: [
        { name: "greet", arguments: [{ name: "who", description: "whom to greet" }] },
        { name: "p_description", description: `greets a ${marker}` },
        { name: "p_argument", arguments: [{ name: "who", description: `a ${marker}` }] }
      ]
    }))
    server.setRequestHandler(GetPromptRequestSchema, (request) => {
      const args = request.params.arguments ?? {}
      sent.prompts.push(args)
      const who = args["who"] === "leak" ? marker : args["who"] ?? "nobody"
      return { messages: [{ role: "user", content: { type: "text", text: `hello ${who}` } }] }
    })
    server.setRequestHandler(CompleteRequestSchema, (request) => {
      const value = request.params.argument.value
      sent.completions.push(value)
      return { completion: { values: [value === "leak" ? marker : `${value}!`] } }
    })
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const related = { relatedRequestId: extra.requestId }
      const said = (text: string) => ({ content: [{ type: "text" as const, text }] })
      const outcome = (promise: Promise<unknown>) =>
        promise.then((answer) => `answered ${JSON.stringify(answer)}`, (error: Error) => `failed: ${error.message}`)
      switch (request.params.arguments?.["mode"]) {
        case "sample":
        case "sample-back": {
          const text = request.params.arguments?.["mode"] === "sample" ? `draw a ${marker}` : "draw anything"
          const messages = [{ role: "user" as const, content: { type: "text" as const, text } }]
          return said(await outcome(server.createMessage({ messages, maxTokens: 8 }, related)))
        }
        case "elicit":
          return said(
            await outcome(server.elicitInput({
              message: `name your ${marker}`,
              requestedSchema: { type: "object", properties: {} }
            }, related))
          )
        case "notify": {
          const token = request.params._meta?.progressToken
          const log = (data: string) =>
            extra.sendNotification({ method: "notifications/message", params: { level: "info", data } })
          await log(`a ${marker} was seen`)
          await log("all is well")
          if (token !== undefined) {
            const progress = (message: string, value: number) =>
              extra.sendNotification({
                method: "notifications/progress",
                params: { progressToken: token, progress: value, message }
              })
            await progress(`found a ${marker}`, 1)
            await progress("halfway", 2)
          }
          return said("done")
        }
        default:
          return said("hello")
      }
    })
  }, { session: true })

// What the gateway's client was sent: the servers' requests it was asked and the notifications it got.
interface Received {
  readonly sampling: Array<string>
  readonly elicitations: Array<string>
  readonly logs: Array<string>
  readonly progress: Array<string>
}

// An official SDK client of `url` that declares sampling and elicitation, answering a sampling request with
// `answer`, and noting what it is asked and told.
const client = (url: string, answer: string, bearer = key) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const received: Received = { sampling: [], elicitations: [], logs: [], progress: [] }
      const sdk = new Client(
        { name: "gateway-mcp-message-guardrails", version: "1.0.0" },
        { capabilities: { sampling: {}, elicitation: {} } }
      )
      sdk.setRequestHandler(CreateMessageRequestSchema, (request) => {
        received.sampling.push(JSON.stringify(request.params.messages))
        return { role: "assistant", content: { type: "text", text: answer }, model: "sim" }
      })
      sdk.setRequestHandler(ElicitRequestSchema, (request) => {
        received.elicitations.push(request.params.message)
        return { action: "decline" }
      })
      sdk.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
        received.logs.push(String(notification.params.data))
      })
      const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${bearer}` } }
      })
      await sdk.connect(transport)
      return { sdk, received }
    }),
    ({ sdk }) => Effect.promise(() => sdk.close())
  )

// What a promise of the SDK said: its answer as JSON, or its error's message.
const settled = (promise: Promise<unknown>) =>
  Effect.promise(() =>
    promise.then((value) => ({ ok: JSON.stringify(value) }), (error: Error) => ({ error: error.message }))
  )

describe("guardrails on every MCP message", () => {
  it.live(
    "a forbidden word, plain or disguised, in any field of a listing, a read, a prompt, a completion, a server's " +
      "request or a notification is withheld, refused or dropped",
    () =>
      Effect.gen(function*() {
        const kinds = ["plain", ...disguises] as const
        const markers = kinds.map((kind) => kind === "plain" ? word : disguise(word, kind))
        const sent = kinds.map((): Sent => ({ prompts: [], completions: [] }))
        const upstreams = yield* Effect.forEach(
          kinds,
          (kind, i) => upstream(markers[i]!, kind === "plain", sent[i]!)
        )
        const unguardedSent: Sent = { prompts: [], completions: [] }
        const unguarded = yield* upstream(word, true, unguardedSent)
        const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
        const config = yield* ProviderConfig.fromJson({
          sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
          guardrails: {
            [guardrail]: { words: [word], on: ["tool_arguments", "tool_results"], action: "block" }
          },
          mcp_servers: {
            ...Object.fromEntries(kinds.map((kind, i) => [kind, { url: upstreams[i]!.url, guardrails: [guardrail] }])),
            unguarded: { url: unguarded.url }
          },
          gateway: { keys: [{ name: "all", key: "env:MCP_MESSAGE_GUARDRAILS_KEY", tools: ["*"] }] }
        })
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })

        // Without guardrails every definition is served, and every message passes.
        const open = yield* client(`${gateway.url}/mcp/unguarded`, word)
        expect((yield* Effect.promise(() => open.sdk.listTools())).tools).toHaveLength(tools(word, true).length)
        expect((yield* Effect.promise(() => open.sdk.listResources())).resources).toHaveLength(6)
        expect((yield* Effect.promise(() => open.sdk.listResourceTemplates())).resourceTemplates).toHaveLength(2)
        expect((yield* Effect.promise(() => open.sdk.listPrompts())).prompts).toHaveLength(3)
        expect(JSON.stringify(yield* Effect.promise(() => open.sdk.readResource({ uri: "file:///doc" })))).toContain(
          word
        )
        expect(
          JSON.stringify(yield* Effect.promise(() => open.sdk.getPrompt({ name: "greet", arguments: { who: "leak" } })))
        )
          .toContain(word)
        const openCall = (mode: string) =>
          Effect.promise(() =>
            open.sdk.callTool({ name: "clean", arguments: { mode } }, undefined, {
              onprogress: (progress) => void open.received.progress.push(progress.message ?? "")
            })
          )
        for (const mode of ["sample", "elicit", "notify"]) yield* openCall(mode)
        expect(open.received.sampling.join()).toContain(word)
        expect(open.received.elicitations).toEqual([`name your ${word}`])
        expect(open.received.logs).toEqual([`a ${word} was seen`, "all is well"])
        expect(open.received.progress).toEqual([`found a ${word}`, "halfway"])

        // `/mcp` lists what `/mcp/<server>` does, under qualified names.
        const all = yield* client(`${gateway.url}/mcp`, word)
        const listed = (yield* Effect.promise(() => all.sdk.listTools())).tools.map((tool) => tool.name)
        expect(listed.filter((name) => name.startsWith("plain__"))).toEqual(["plain__clean"])
        expect(listed.filter((name) => name.startsWith("unguarded__"))).toHaveLength(tools(word, true).length)

        const blockedBy = (what: string) => `Guardrail "${guardrail}" blocked ${what}: found listed word.`
        for (const [i, kind] of kinds.entries()) {
          const marker = markers[i]!
          const { received, sdk } = yield* client(`${gateway.url}/mcp/${kind}`, `a ${marker} drawn`)
          const names = <A extends { readonly name: string }>(items: ReadonlyArray<A>) => items.map((item) => item.name)

          // Every definition that carries it is left out of its list; a call of such a tool is of an unknown one.
          expect(names((yield* Effect.promise(() => sdk.listTools())).tools), kind).toEqual(["clean"])
          expect(names((yield* Effect.promise(() => sdk.listResources())).resources), kind).toEqual([
            "doc",
            "blob",
            "plain"
          ])
          expect(names((yield* Effect.promise(() => sdk.listResourceTemplates())).resourceTemplates), kind).toEqual([
            "tp_clean"
          ])
          expect(names((yield* Effect.promise(() => sdk.listPrompts())).prompts), kind).toEqual(["greet"])
          // Called by name, it runs, its own arguments and result checked as any call's are.
          expect((yield* Effect.promise(() => sdk.callTool({ name: "t_description", arguments: {} }))).content)
            .toEqual([{ type: "text", text: "hello" }])

          // A resource's text and a blob's MIME type are refused, naming the guardrail, never the word.
          for (const uri of ["file:///doc", "file:///blob"]) {
            const read = yield* settled(sdk.readResource({ uri }))
            expect("error" in read ? read.error : read.ok, `${kind} ${uri}`).toContain(
              blockedBy("the resource's contents")
            )
            expect(JSON.stringify(read)).not.toContain(marker)
          }
          expect(JSON.stringify(yield* Effect.promise(() => sdk.readResource({ uri: "file:///plain" })))).toContain(
            "nothing here"
          )

          // A prompt's arguments are refused before they are sent; its messages before they are answered.
          const argued = yield* settled(sdk.getPrompt({ name: "greet", arguments: { who: marker } }))
          expect("error" in argued ? argued.error : "", kind).toContain(blockedBy("the prompt's arguments"))
          const leaked = yield* settled(sdk.getPrompt({ name: "greet", arguments: { who: "leak" } }))
          expect("error" in leaked ? leaked.error : "", kind).toContain(blockedBy("the prompt's messages"))
          expect(JSON.stringify(leaked)).not.toContain(marker)
          const greeted = yield* Effect.promise(() => sdk.getPrompt({ name: "greet", arguments: { who: "ada" } }))
          expect(greeted.messages[0]?.content).toEqual({ type: "text", text: "hello ada" })
          expect(sent[i]!.prompts).toEqual([{ who: "leak" }, { who: "ada" }])

          // A completion's argument is refused before it is sent; its values before they are answered.
          const complete = (value: string) =>
            settled(sdk.complete({
              ref: { type: "ref/prompt", name: "greet" },
              argument: { name: "who", value }
            }))
          const asked = yield* complete(`a ${marker}`)
          expect("error" in asked ? asked.error : "", kind).toContain(blockedBy("the completion's arguments"))
          const answered = yield* complete("leak")
          expect("error" in answered ? answered.error : "", kind).toContain(blockedBy("the completions"))
          expect(JSON.stringify(yield* complete("ad"))).toContain("ad!")
          expect(sent[i]!.completions).toEqual(["leak", "ad"])

          // The server's requests carrying it never reach the client; the client's answer carrying it never reaches
          // the server: each answered with the guardrail's refusal.
          const call = (mode: string) =>
            Effect.promise(() =>
              sdk.callTool({ name: "clean", arguments: { mode } }, undefined, {
                onprogress: (progress) => void received.progress.push(progress.message ?? "")
              })
            ).pipe(
              Effect.map((result) =>
                (result.content as ReadonlyArray<{ readonly text?: string }>).map((block) => block.text ?? "").join("")
              )
            )
          const sampled = yield* call("sample")
          expect(sampled, kind).toContain(blockedBy("the server's sampling request"))
          expect(received.sampling).toEqual([])
          const answeredBack = yield* call("sample-back")
          expect(answeredBack, kind).toContain(blockedBy("the client's answer to the server's sampling request"))
          expect(received.sampling).toHaveLength(1)
          const elicited = yield* call("elicit")
          expect(elicited, kind).toContain(blockedBy("the server's elicitation request"))
          expect(received.elicitations).toEqual([])

          // A log and a progress message carrying it are dropped; the clean ones arrive.
          expect(yield* call("notify")).toContain("done")
          expect(received.logs, kind).toEqual(["all is well"])
          expect(received.progress, kind).toEqual(["halfway"])
        }
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    120_000
  )

  it.live(
    "a key's guardrails: its listing withholds what they find, a mask masks a prompt's messages and a log; another " +
      "key's is served whole",
    () =>
      Effect.gen(function*() {
        const email = "ada@example.com"
        const { url } = yield* upstream(email, false, { prompts: [], completions: [] })
        const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
        const config = yield* ProviderConfig.fromJson({
          sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
          guardrails: { "mask-email": { checks: ["email"], on: ["tool_results"], action: "mask" } },
          mcp_servers: { people: { url } },
          gateway: {
            keys: [
              { name: "all", key: "env:MCP_MESSAGE_GUARDRAILS_KEY", tools: ["*"] },
              {
                name: "careful",
                key: "env:MCP_MESSAGE_GUARDRAILS_CAREFUL_KEY",
                tools: ["*"],
                guardrails: ["mask-email"]
              }
            ]
          }
        })
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
        const [plain, masked] = yield* Effect.all([
          client(`${gateway.url}/mcp/people`, "", key),
          client(`${gateway.url}/mcp/people`, "", careful)
        ])
        expect((yield* Effect.promise(() => plain.sdk.listTools())).tools).toHaveLength(tools(email, false).length)
        // A definition is listed as its server gave it or not at all: the mask's finding withholds it.
        expect((yield* Effect.promise(() => masked.sdk.listTools())).tools.map((tool) => tool.name)).toEqual(["clean"])
        const greeting = (client: Client) =>
          Effect.promise(() => client.getPrompt({ name: "greet", arguments: { who: "leak" } })).pipe(
            Effect.map((prompt) => prompt.messages[0]?.content)
          )
        expect(yield* greeting(plain.sdk)).toEqual({ type: "text", text: `hello ${email}` })
        expect(yield* greeting(masked.sdk)).toEqual({ type: "text", text: "hello [REDACTED:email]" })
        yield* Effect.promise(() => masked.sdk.callTool({ name: "clean", arguments: { mode: "notify" } }))
        expect(masked.received.logs).toEqual(["a [REDACTED:email] was seen", "all is well"])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
