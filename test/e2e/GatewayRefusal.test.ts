/**
 * A model's refusal reaches every gateway client in its own dialect, whole and streamed, whatever the backend
 * (docs/gateway.md, "A model's refusal"): over loopback with the official clients, a simulator deployment of each API
 * refusing (`x-simulator-refusal`), asked through each front door. OpenAI's clients read it in their `refusal` fields
 * when the backend has one (Chat Completions, Responses), else as the reply's text; Anthropic's and Google's read it as
 * text, Anthropic's with `stop_reason: "refusal"`. What a client reads streamed is what it reads whole. Under the
 * gateway, `ChatChunk.collect` of a backend's stream gives the refusal its whole reply gives, for any refusal text.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fc from "fast-check"
import * as ChatChunk from "../../src/ChatChunk.js"
import * as Gateway from "../../src/Gateway.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { type Api, apis, baseUrlOf } from "../utils/everyAdapter.js"
import { gatewayClients } from "../utils/gatewayClients.js"

const providerKey = "sk-refusal-provider-0001"
const key = "gw-refusal-key-7d1a"
const model = "sim-refusal"

// A refusal with what JSON and SSE escape or split: quotes, a backslash, a new line, accents and an emoji sequence.
const refusal = `I can't help with "that" \\ here.\nDésolé 🙅‍♀️, I won't.`

const dialects = ["chat", "responses", "anthropic", "gemini"] as const
type Dialect = typeof dialects[number]

/** The backends whose wire has a refusal field of its own (OpenAI's); the others' readers give its words as text. */
const refusing = (api: Api): boolean => api === "chat-completions" || api === "responses"

/** A deployment of `model` on `api` of the simulator, refusing every request with `text`. */
const deployment = (simulator: Simulator.Simulator, api: Api, text: string) => [{
  model_name: model,
  api,
  base_url: baseUrlOf(simulator, api),
  api_keys: [providerKey],
  max_retries: 0,
  headers: { "x-simulator-refusal": encodeURIComponent(text) }
}]

// The guardrail modes, each over a reply (docs/guardrails.md), of a guardrail the refusal passes; `bare`: none.
const modes = ["bare", "audit", "buffer", "window"] as const

/** The router name of `api`'s deployment behind `mode`'s guardrail. */
const routed = (api: Api, mode: typeof modes[number]) => `${api}-${mode}`

const serveOver = (simulator: Simulator.Simulator) =>
  Effect.gen(function*() {
    const config = yield* ProviderConfig.fromJson({
      ...Object.fromEntries(apis.map((api) => [api, deployment(simulator, api, refusal)])),
      guardrails: Object.fromEntries(
        modes.slice(1).map((mode) => [mode, { words: ["quokka"], on: ["reply"], action: "block", mode }])
      ),
      router: Object.fromEntries(apis.flatMap((api) =>
        modes.map((mode) => [
          routed(api, mode),
          { deployments: [`${api}/${model}`], ...(mode === "bare" ? {} : { guardrails: [mode] }) }
        ])
      )),
      gateway: { keys: [{ name: "caller", key }] }
    })
    const http = yield* Layer.build(UndiciHttpClient.layer())
    return yield* Effect.provideContext(Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }), http)
  })

/** What a client read of a reply: its refusal field's text, its text, and why it stopped. */
interface Seen {
  refusal: string
  text: string
  stop: string | undefined
}

/** A call through `dialect`'s front door to the router `routed`, whole or `streamed`: what its official client read. */
function read(gateway: Gateway.Service, dialect: Dialect, routed: string, streamed: boolean) {
  const { anthropic, google, openai } = gatewayClients(gateway.url, key)
  return Effect.promise(async (): Promise<Seen> => {
    const seen: Seen = { refusal: "", text: "", stop: undefined }
    switch (dialect) {
      case "chat": {
        const messages = [{ role: "user" as const, content: "Tell me." }]
        if (!streamed) {
          const choice = (await openai.chat.completions.create({ model: routed, messages })).choices[0]!
          return {
            refusal: choice.message.refusal ?? "",
            text: choice.message.content ?? "",
            stop: choice.finish_reason
          }
        }
        for await (const chunk of await openai.chat.completions.create({ model: routed, messages, stream: true })) {
          const choice = chunk.choices[0]
          seen.refusal += choice?.delta.refusal ?? ""
          seen.text += choice?.delta.content ?? ""
          seen.stop = choice?.finish_reason ?? seen.stop
        }
        return seen
      }
      case "responses": {
        if (!streamed) {
          const reply = await openai.responses.create({ model: routed, input: "Tell me." })
          for (const item of reply.output) {
            if (item.type !== "message") continue
            for (const part of item.content) {
              if (part.type === "refusal") seen.refusal += part.refusal
              else seen.text += part.text
            }
          }
          return { ...seen, stop: reply.status }
        }
        for await (const event of await openai.responses.create({ model: routed, input: "Tell me.", stream: true })) {
          if (event.type === "response.refusal.delta") seen.refusal += event.delta
          if (event.type === "response.output_text.delta") seen.text += event.delta
          if (event.type === "response.completed" || event.type === "response.incomplete") {
            seen.stop = event.response.status
          }
        }
        return seen
      }
      case "anthropic": {
        const request = { model: routed, max_tokens: 256, messages: [{ role: "user" as const, content: "Tell me." }] }
        if (!streamed) {
          const reply = await anthropic.messages.create(request)
          for (const block of reply.content) if (block.type === "text") seen.text += block.text
          return { ...seen, stop: reply.stop_reason ?? undefined }
        }
        for await (const event of anthropic.messages.stream(request)) {
          if (event.type === "content_block_delta" && event.delta.type === "text_delta") seen.text += event.delta.text
          if (event.type === "message_delta") seen.stop = event.delta.stop_reason ?? undefined
        }
        return seen
      }
      case "gemini": {
        const request = { model: routed, contents: "Tell me." }
        if (!streamed) {
          const reply = await google.models.generateContent(request)
          return { ...seen, text: reply.text ?? "", stop: reply.candidates?.[0]?.finishReason }
        }
        for await (const chunk of await google.models.generateContentStream(request)) {
          seen.text += chunk.text ?? ""
          seen.stop = chunk.candidates?.[0]?.finishReason ?? seen.stop
        }
        return seen
      }
    }
  })
}

/** `api`'s deployment on `simulator`, refusing with `text`, as `Llm`. */
const llmOver = (simulator: Simulator.Simulator, api: Api, text: string) =>
  Layer.unwrap(Effect.map(
    ProviderConfig.fromJson({ sim: deployment(simulator, api, text) }),
    (config) => ProviderConfig.routerLayer(config)
  )).pipe(Layer.provide(UndiciHttpClient.layer()), Layer.orDie)

describe("Gateway: a model's refusal", () => {
  it.live(
    "reaches every front door's official client whole and streamed, from every backend, guarded or not, the same both ways",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], models: [model] })
        const gateway = yield* serveOver(simulator)
        for (const dialect of dialects) {
          for (const api of apis) {
            for (const mode of modes) {
              const where = `${dialect} from ${api}, ${mode}`
              const whole = yield* read(gateway, dialect, routed(api, mode), false)
              const streamed = yield* read(gateway, dialect, routed(api, mode), true)
              // Never lost: in the refusal field where both wires have one, else as the reply's text.
              const openAi = dialect === "chat" || dialect === "responses"
              expect(whole, where).toMatchObject(
                openAi && refusing(api) ? { refusal, text: "" } : { refusal: "", text: refusal }
              )
              expect(streamed, `${where}, streamed`).toEqual(whole)
              // Anthropic's clients tell a refusal by its stop reason, whether the backend said it in a field
              // (OpenAI's) or by its own stop reason (Anthropic's, which the library reads as `content_filter`).
              if (dialect === "anthropic") {
                expect(whole.stop, where).toBe(refusing(api) || api === "anthropic" ? "refusal" : "end_turn")
              }
            }
          }
        }
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "from each backend, any refusal text: ChatChunk.collect of the stream gives the whole reply's refusal",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], models: [model] })
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.constantFrom(...apis), fc.string({ unit: "grapheme", minLength: 1 }), (api, text) =>
              Effect.runPromise(
                Effect.gen(function*() {
                  const request = { model, messages: [Message.user("Tell me.")] }
                  const whole = yield* Llm.chat(request)
                  const collected = yield* ChatChunk.collect(Llm.chatStream(request))
                  // The library's reply carries it in its field where the wire has one, else as its text.
                  expect(refusing(api) ? whole.refusal : whole.text, api).toBe(text)
                  expect({ refusal: collected.refusal, text: collected.text }, api).toEqual({
                    refusal: whole.refusal,
                    text: whole.text
                  })
                }).pipe(Effect.provide(llmOver(simulator, api, text)))
              )),
            { numRuns: 40 }
          )
        )
      }).pipe(Effect.scoped),
    120_000
  )
})
