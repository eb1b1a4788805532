/**
 * Guardrails read a reply's refusal and its tool calls' names in the gateway (docs/guardrails.md), over loopback with
 * the official clients: a tool call whose name a guardrail finds ends each dialect's whole reply and stream in every
 * mode with the guardrail's error; a refusal it finds, disguised in look-alike letters, does too, on the APIs that
 * carry one (Chat Completions and Responses). The same deployments without guardrails answer the name and the
 * refusal, so what is blocked is that field.
 */
import { describe, expect, it } from "@effect/vitest"
import { FunctionCallingConfigMode } from "@google/genai"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { disguise } from "../fixtures/guardrails/labelled.js"
import { gatewayClients } from "../utils/gatewayClients.js"
import { serve } from "../utils/loopbackServer.js"

const providerKey = "sk-guardrail-fields-provider-0001"
const key = "gw-guardrail-fields-key-4c2e"
const modes = ["audit", "buffer", "window"] as const
const dialects = ["chat", "responses", "anthropic", "gemini"] as const

// The word the guardrail looks for, in the name of the tool the requests offer (a tool's name is ASCII letters,
// digits, `_` and `-`, so it has no disguise) and, in a Cyrillic look-alike disguise, in the refusal.
const word = "quokka"
const refusal = `I cannot discuss ${disguise(word, "look-alike")} matters.`

/** An OpenAI-compatible upstream that refuses every request, whole or streamed, with `refusal`. */
const refusingUpstream = serve((request, response) => {
  let body = ""
  request.on("data", (data) => body += data)
  request.on("end", () => {
    const streamed = (JSON.parse(body) as { readonly stream?: boolean }).stream === true
    const base = { id: "chatcmpl-refused", object: "chat.completion", created: 1, model: "gpt-4o-mini" }
    const usage = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 }
    if (!streamed) {
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify({
        ...base,
        choices: [{ index: 0, message: { role: "assistant", content: null, refusal }, finish_reason: "stop" }],
        usage
      }))
      return
    }
    const chunk = (delta: object, finish: string | null) =>
      `data: ${
        JSON.stringify({
          ...base,
          object: "chat.completion.chunk",
          choices: [{ index: 0, delta, finish_reason: finish }]
        })
      }\n\n`
    response.writeHead(200, { "content-type": "text/event-stream" })
    response.end(
      chunk({ role: "assistant", content: "", refusal: null }, null) +
        chunk({ refusal: refusal.slice(0, 10) }, null) + chunk({ refusal: refusal.slice(10) }, null) +
        chunk({}, "stop") + "data: [DONE]\n\n"
    )
  })
})

const deployment = (url: string) => ({ model_name: "gpt-4o-mini", base_url: `${url}/v1`, api_keys: [providerKey] })

const serveOn = (simulator: string, refusing: string) =>
  Effect.gen(function*() {
    const config = yield* ProviderConfig.fromJson({
      tools: [deployment(simulator)],
      refusing: [{ ...deployment(refusing), max_retries: 0 }],
      guardrails: Object.fromEntries(
        modes.map((mode) => [mode, { words: [word], on: ["reply"], action: "block", mode }])
      ),
      router: {
        ...Object.fromEntries(modes.flatMap((mode) => [
          [`tools-${mode}`, { deployments: ["tools/gpt-4o-mini"], guardrails: [mode] }],
          [`refusing-${mode}`, { deployments: ["refusing/gpt-4o-mini"], guardrails: [mode] }]
        ])),
        "tools-bare": { deployments: ["tools/gpt-4o-mini"] },
        "refusing-bare": { deployments: ["refusing/gpt-4o-mini"] }
      },
      gateway: { keys: [{ name: "caller", key }] }
    })
    const http = yield* Layer.build(UndiciHttpClient.layer())
    return yield* Effect.provideContext(
      Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }),
      http
    )
  })

/** What a call gave: the names of the tools it called and its refusal, or the error that ended it. */
interface Outcome {
  readonly names: ReadonlyArray<string>
  readonly refusal: string
  readonly error: string | undefined
}

const outcome = (run: (seen: { names: Array<string>; refusal: string }) => Promise<void>) =>
  Effect.promise(async (): Promise<Outcome> => {
    const seen = { names: [] as Array<string>, refusal: "" }
    try {
      await run(seen)
      return { ...seen, error: undefined }
    } catch (error) {
      return { ...seen, error: (error as Error).message }
    }
  })

/** A call in `dialect` asking for the tool `tool` (whole, or `streamed`) of `model`: its tool choice requires one. */
function callWithTool(gateway: Gateway.Service, dialect: typeof dialects[number], model: string, tool: string) {
  const { anthropic, google, openai } = gatewayClients(gateway.url, key)
  const parameters = { type: "object" as const, properties: { q: { type: "string" } } }
  return (streamed: boolean) =>
    outcome(async (seen) => {
      switch (dialect) {
        case "chat": {
          const tools = [{ type: "function" as const, function: { name: tool, parameters } }]
          const messages = [{ role: "user" as const, content: "Look it up." }]
          if (!streamed) {
            const reply = await openai.chat.completions.create({ model, messages, tools, tool_choice: "required" })
            for (const call of reply.choices[0]?.message.tool_calls ?? []) {
              if (call.type === "function") seen.names.push(call.function.name)
            }
            return
          }
          const stream = await openai.chat.completions.create({
            model,
            messages,
            tools,
            tool_choice: "required",
            stream: true
          })
          for await (const chunk of stream) {
            for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
              if (call.function?.name !== undefined) seen.names.push(call.function.name)
            }
          }
          return
        }
        case "responses": {
          const tools = [{ type: "function" as const, name: tool, parameters, strict: false }]
          if (!streamed) {
            const reply = await openai.responses.create({ model, input: "Look it up.", tools, tool_choice: "required" })
            for (const item of reply.output) if (item.type === "function_call") seen.names.push(item.name)
            return
          }
          const stream = await openai.responses.create({
            model,
            input: "Look it up.",
            tools,
            tool_choice: "required",
            stream: true
          })
          for await (const event of stream) {
            if (event.type === "response.output_item.added" && event.item.type === "function_call") {
              seen.names.push(event.item.name)
            }
            if (event.type === "response.failed") throw new Error(event.response.error?.message ?? "failed")
          }
          return
        }
        case "anthropic": {
          const request = {
            model,
            max_tokens: 256,
            messages: [{ role: "user" as const, content: "Look it up." }],
            tools: [{ name: tool, input_schema: parameters }],
            tool_choice: { type: "any" as const }
          }
          if (!streamed) {
            const reply = await anthropic.messages.create(request)
            for (const block of reply.content) if (block.type === "tool_use") seen.names.push(block.name)
            return
          }
          for await (const event of anthropic.messages.stream(request)) {
            if (event.type === "content_block_start" && event.content_block.type === "tool_use") {
              seen.names.push(event.content_block.name)
            }
          }
          return
        }
        case "gemini": {
          const request = {
            model,
            contents: "Look it up.",
            config: {
              tools: [{ functionDeclarations: [{ name: tool, parametersJsonSchema: parameters }] }],
              toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } }
            }
          }
          if (!streamed) {
            const reply = await google.models.generateContent(request)
            for (const call of reply.functionCalls ?? []) seen.names.push(call.name ?? "")
            return
          }
          for await (const chunk of await google.models.generateContentStream(request)) {
            for (const call of chunk.functionCalls ?? []) seen.names.push(call.name ?? "")
          }
          return
        }
      }
    })
}

/** A call in `dialect` (Chat Completions or Responses) to `model`, whole or `streamed`: the refusal it was given. */
function callRefused(gateway: Gateway.Service, dialect: "chat" | "responses", model: string) {
  const { openai } = gatewayClients(gateway.url, key)
  return (streamed: boolean) =>
    outcome(async (seen) => {
      if (dialect === "chat") {
        const messages = [{ role: "user" as const, content: "Tell me." }]
        if (!streamed) {
          seen.refusal = (await openai.chat.completions.create({ model, messages })).choices[0]?.message.refusal ?? ""
          return
        }
        for await (const chunk of await openai.chat.completions.create({ model, messages, stream: true })) {
          seen.refusal += chunk.choices[0]?.delta.refusal ?? ""
        }
        return
      }
      if (!streamed) {
        const reply = await openai.responses.create({ model, input: "Tell me." })
        for (const item of reply.output) {
          if (item.type !== "message") continue
          for (const part of item.content) if (part.type === "refusal") seen.refusal += part.refusal
        }
        return
      }
      for await (const event of await openai.responses.create({ model, input: "Tell me.", stream: true })) {
        if (event.type === "response.refusal.delta") seen.refusal += event.delta
        if (event.type === "response.failed") throw new Error(event.response.error?.message ?? "failed")
      }
    })
}

describe("Gateway guardrails: a reply's tool names and refusal", () => {
  it.live(
    "a tool call's name a guardrail finds ends every dialect's reply, whole or streamed, in every mode",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
        const refusing = yield* refusingUpstream
        const gateway = yield* serveOn(simulator.url, refusing.url)
        for (const tool of [word, `${word}-lookup`]) {
          for (const dialect of dialects) {
            for (const streamed of [false, true]) {
              const where = `${tool} in ${dialect}${streamed ? ", streamed" : ""}`
              // Without guardrails, the name reaches the client.
              const bare = yield* callWithTool(gateway, dialect, "tools-bare", tool)(streamed)
              expect(bare.error, where).toBeUndefined()
              expect(bare.names, where).toContain(tool)
              for (const mode of modes) {
                const guarded = yield* callWithTool(gateway, dialect, `tools-${mode}`, tool)(streamed)
                expect(guarded.error, `${where}, ${mode}`).toMatch(new RegExp(`Guardrail \\\\?"${mode}\\\\?" blocked`))
                expect(guarded.error, `${where}, ${mode}`).toMatch(/found listed word/)
                // Out of audit mode, the held call never reaches the client.
                if (mode !== "audit") expect(guarded.names, `${where}, ${mode}`).toEqual([])
              }
            }
          }
        }
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a refusal a guardrail finds ends a Chat Completions or Responses reply, whole or streamed, in every mode",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
        const refusing = yield* refusingUpstream
        const gateway = yield* serveOn(simulator.url, refusing.url)
        for (const dialect of ["chat", "responses"] as const) {
          // Without guardrails, a whole reply carries the refusal.
          const bare = yield* callRefused(gateway, dialect, "refusing-bare")(false)
          expect(bare.error, dialect).toBeUndefined()
          expect(bare.refusal, dialect).toBe(refusal)
          for (const streamed of [false, true]) {
            for (const mode of modes) {
              const where = `${dialect}${streamed ? ", streamed" : ""}, ${mode}`
              const guarded = yield* callRefused(gateway, dialect, `refusing-${mode}`)(streamed)
              expect(guarded.error, where).toMatch(new RegExp(`Guardrail \\\\?"${mode}\\\\?" blocked the reply`))
              expect(guarded.refusal, where).toBe("")
            }
          }
        }
      }).pipe(Effect.scoped),
    60_000
  )
})
