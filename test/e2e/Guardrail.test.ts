/**
 * Guardrails over loopback: the simulator's `x-simulator-reply` in every wire format the library's adapters speak,
 * and `Guardrail.guard` (and the deprecated `Guardrail.layer`) over an `Llm` of the simulator stopping, masking and
 * releasing what the model says, called through plain `Llm.chat` and `Llm.chatStream`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../../src/ChatChunk.js"
import * as Guardrail from "../../src/Guardrail.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import type { OptionsError } from "../../src/OptionsError.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { prose } from "../fixtures/guardrails/labelled.js"
import { routerLayerInMemory } from "../utils/memoryStores.js"

const key = "sk-sim-guardrail-000000000001"
const apis = ["chat-completions", "responses", "anthropic", "gemini", "ollama", "bedrock"] as const

/** An `Llm` of `api` on `simulator` whose every reply is `reply`. */
function llmOf(simulator: Simulator.Simulator, api: string, reply: string) {
  return Effect.gen(function*() {
    const root = api === "chat-completions" || api === "responses" ? `${simulator.url}/v1` : simulator.url
    // Bedrock's model id is in its path (a Converse model the simulator is told to know).
    const model = api === "bedrock" ? "amazon.nova-micro-v1:0" : "sim-small"
    const config = yield* ProviderConfig.fromJson({
      sim: [{
        model_name: model,
        api,
        api_keys: [key],
        base_url: root,
        headers: { "x-simulator-reply": encodeURIComponent(reply) }
      }]
    })
    const models = yield* ProviderConfig.layers(config)
    return models["sim"]![model]!.pipe(Layer.provide(UndiciHttpClient.layer())) as Layer.Layer<
      Llm.Llm,
      OptionsError
    >
  })
}

const request = { messages: [Message.user("Say what the test needs.")] }

describe("the simulator's x-simulator-reply", () => {
  const text = "Line one: ünïcödé, 東京 and 100% sure.\nLine two  ends here. "

  for (const api of apis) {
    it.live(`${api}: the reply is the header's text, whole and streamed, in tokens`, () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({
          apiKeys: [key],
          models: [...Simulator.defaultModels, "amazon.nova-micro-v1:0"]
        })
        const llm = yield* llmOf(simulator, api, text)
        const reply = yield* Llm.chat(request).pipe(Effect.provide(llm))
        expect(reply.text).toBe(text)
        expect(reply.toolCalls).toEqual([])
        const deltas = yield* Llm.chatStream(request).pipe(
          Stream.filter((chunk) => chunk._tag === "TextDelta"),
          Stream.map((chunk) => chunk.text),
          Stream.runCollect,
          Effect.provide(llm)
        )
        expect(deltas.join("")).toBe(text)
        // In tokens, as any reply: more than one delta, none of more than four non-space characters.
        expect(deltas.length).toBeGreaterThan(5)
        for (const delta of deltas) expect(delta.replace(/\s/g, "").length).toBeLessThanOrEqual(4)
      }))
  }

  it.live("a header that is not percent-encoded text is refused, naming it", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({})
      const answer = yield* Effect.promise(() =>
        fetch(`${simulator.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-simulator-reply": "100%" },
          body: JSON.stringify({ model: "sim-small", messages: [{ role: "user", content: "hi" }] })
        }).then(async (response) => ({
          status: response.status,
          body: await response.json() as { readonly error: { readonly message: string } }
        }))
      )
      expect(answer.status).toBe(400)
      expect(answer.body.error.message).toContain("x-simulator-reply")
    }))

  it.live("the reply replaces a tool call too, and max tokens cut it as any reply", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const llm = yield* llmOf(simulator, "chat-completions", "one two three four five six")
      const tools = [{ name: "lookup", description: "Look up", parameters: { type: "object", properties: {} } }]
      const reply = yield* Llm.chat({ ...request, tools, maxTokens: 3 }).pipe(Effect.provide(llm))
      expect(reply.toolCalls).toEqual([])
      // Three tokens of at most four non-space characters: "one", " two", " thre".
      expect(reply.text).toBe("one two thre")
      expect(reply.finishReason).toBe("length")
    }))
})

describe("Guardrail.layer over the simulator", () => {
  const secret = "AKIAIOSFODNN7EXAMPLE"

  function guarded(guardrails: ReadonlyArray<Guardrail.Guardrail>, llm: Layer.Layer<Llm.Llm, OptionsError>) {
    return Guardrail.layer(guardrails).pipe(Layer.provide(llm))
  }

  it.live("a reply with a secret: chat fails with GuardrailError, the stream in window mode ends with it", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const noSecrets = yield* Guardrail.make({ name: "no-secrets", checks: [Guardrail.secrets], mode: "window" })
      const before = prose(noSecrets.window + 100)
      const llm = yield* llmOf(simulator, "chat-completions", `${before}the key is ${secret} as asked.`)
      const layer = guarded([noSecrets], llm)
      const error = yield* Effect.flip(Guardrail.chat(request).pipe(Effect.provide(layer)))
      expect(error).toMatchObject({
        _tag: "GuardrailError",
        guardrail: "no-secrets",
        where: "reply",
        reason: "found AWS access key id"
      })
      expect(error.message).not.toContain(secret)

      const released: Array<string> = []
      const streamError = yield* Guardrail.chatStream(request).pipe(
        Stream.tap((chunk) => Effect.sync(() => chunk._tag === "TextDelta" && released.push(chunk.text))),
        Stream.runDrain,
        Effect.flip,
        Effect.provide(layer)
      )
      expect(streamError._tag).toBe("GuardrailError")
      // The window released the prose before the key and none of the key.
      expect(released.join("").length).toBeGreaterThan(0)
      expect(before.startsWith(released.join(""))).toBe(true)
    }))

  it.live("mask: the reply's personal data masked, whole and streamed alike, in every mode", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const reply = "Write to ada@example.com or call +44 20 7946 0958, thanks."
      const masked = "Write to [REDACTED:email] or call [REDACTED:phone], thanks."
      const llm = yield* llmOf(simulator, "anthropic", reply)
      for (const mode of ["buffer", "window"] as const) {
        const pii = yield* Guardrail.make({
          name: "pii",
          checks: [Guardrail.email, Guardrail.phone],
          action: "mask",
          mode
        })
        const layer = guarded([pii], llm)
        const whole = yield* Guardrail.chat(request).pipe(Effect.provide(layer))
        expect(whole.text).toBe(masked)
        const streamed = yield* ChatChunk.collect(Guardrail.chatStream(request)).pipe(Effect.provide(layer))
        expect(streamed.text, mode).toBe(masked)
        expect(streamed.finishReason).toBe("stop")
      }
    }))

  it.live("a request with a secret is blocked before it is sent; a masked one is sent masked", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const llm = yield* llmOf(simulator, "gemini", "Fine.")
      const block = yield* Guardrail.make({ name: "no-secrets", checks: [Guardrail.secrets], on: ["request"] })
      const error = yield* Effect.flip(
        Guardrail.chat({ messages: [Message.user(`use ${secret}`)] }).pipe(Effect.provide(guarded([block], llm)))
      )
      expect(error).toMatchObject({ _tag: "GuardrailError", where: "request", guardrail: "no-secrets" })
      expect((yield* simulator.stats).requests).toBe(0)
      const mask = yield* Guardrail.make({ name: "pii", checks: [Guardrail.email], action: "mask", on: ["request"] })
      const reply = yield* Guardrail.chat({ messages: [Message.user("mail ada@example.com")] }).pipe(
        Effect.provide(guarded([mask], llm))
      )
      expect(reply.text).toBe("Fine.")
      expect((yield* simulator.stats).requests).toBe(1)
    }))
})

describe("Guardrail.guard over the simulator: plain Llm.chat and Llm.chatStream guarded", () => {
  const secret = "AKIAIOSFODNN7EXAMPLE"

  for (const api of apis) {
    it.live(`${api}: the reply's personal data masked, whole and streamed, in every mode`, () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({
          apiKeys: [key],
          models: [...Simulator.defaultModels, "amazon.nova-micro-v1:0"]
        })
        const llm = yield* llmOf(simulator, api, "Write to ada@example.com or call +44 20 7946 0958, thanks.")
        const masked = "Write to [REDACTED:email] or call [REDACTED:phone], thanks."
        for (const mode of ["audit", "buffer", "window"] as const) {
          const pii = yield* Guardrail.make({
            name: "pii",
            checks: [Guardrail.email, Guardrail.phone],
            action: "mask",
            mode
          })
          const layer = Guardrail.guard([pii]).pipe(Layer.provide(llm))
          const whole = yield* Llm.chat(request).pipe(Effect.provide(layer))
          expect(whole.text).toBe(masked)
          // Audit mode lets a stream through untouched and judges it whole at its end; the others mask as they go.
          if (mode === "audit") continue
          const streamed = yield* ChatChunk.collect(Llm.chatStream(request)).pipe(Effect.provide(layer))
          expect(streamed.text, mode).toBe(masked)
          expect(streamed.finishReason).toBe("stop")
        }
      }))
  }

  it.live("a request with a secret fails Llm.chat and Llm.chatStream with ContentFilterError, nothing sent", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const llm = yield* llmOf(simulator, "chat-completions", "Fine.")
      const noSecrets = yield* Guardrail.make({ name: "no-secrets", checks: [Guardrail.secrets], on: ["request"] })
      const layer = Guardrail.guard([noSecrets]).pipe(Layer.provide(llm))
      const leaking = { model: "sim-small", messages: [Message.user(`use ${secret}`)] }
      const whole = yield* Effect.flip(Llm.chat(leaking).pipe(Effect.provide(layer)))
      const streamed = yield* Effect.flip(Stream.runDrain(Llm.chatStream(leaking)).pipe(Effect.provide(layer)))
      for (const error of [whole, streamed]) {
        expect(error).toMatchObject({
          _tag: "ContentFilterError",
          provider: "guardrail",
          model: "sim-small",
          detail: "Guardrail \"no-secrets\" blocked the request: found AWS access key id."
        })
        expect(error.message).not.toContain(secret)
      }
      expect((yield* simulator.stats).requests).toBe(0)
      // A clean request through the same layer reaches the model.
      expect((yield* Llm.chat(request).pipe(Effect.provide(layer))).text).toBe("Fine.")
      expect((yield* simulator.stats).requests).toBe(1)
    }))

  it.live("a reply with a secret ends a window-mode stream with ContentFilterError after the prose before it", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const noSecrets = yield* Guardrail.make({ name: "no-secrets", checks: [Guardrail.secrets], mode: "window" })
      const before = prose(noSecrets.window + 100)
      const llm = yield* llmOf(simulator, "responses", `${before}the key is ${secret} as asked.`)
      const layer = Guardrail.guard([noSecrets]).pipe(Layer.provide(llm))
      const whole = yield* Effect.flip(Llm.chat(request).pipe(Effect.provide(layer)))
      expect(whole).toMatchObject({
        _tag: "ContentFilterError",
        provider: "guardrail",
        detail: "Guardrail \"no-secrets\" blocked the reply: found AWS access key id."
      })
      const released: Array<string> = []
      const streamed = yield* Llm.chatStream(request).pipe(
        Stream.tap((chunk) => Effect.sync(() => chunk._tag === "TextDelta" && released.push(chunk.text))),
        Stream.runDrain,
        Effect.flip,
        Effect.provide(layer)
      )
      expect(streamed).toMatchObject({ _tag: "ContentFilterError", provider: "guardrail" })
      expect(released.join("").length).toBeGreaterThan(0)
      expect(before.startsWith(released.join(""))).toBe(true)
    }))

  it.live("a Router, guarded on its deployment or around itself: a request blocked unsent, a reply masked", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const llm = yield* llmOf(simulator, "chat-completions", "Write to ada@example.com.")
      const noSecrets = yield* Guardrail.make({ name: "no-secrets", checks: [Guardrail.secrets], on: ["request"] })
      const pii = yield* Guardrail.make({ name: "pii", checks: [Guardrail.email], action: "mask", on: ["reply"] })
      const guardrails = [noSecrets, pii]
      const routers = [
        routerLayerInMemory({
          deployments: [{ name: "sim", model: "sim-small", llm: Guardrail.guard(guardrails).pipe(Layer.provide(llm)) }]
        }),
        Guardrail.guard(guardrails).pipe(
          Layer.provide(routerLayerInMemory({ deployments: [{ name: "sim", model: "sim-small", llm }] }))
        )
      ]
      for (const router of routers) {
        const reply = yield* Llm.chat({ ...request, model: "sim-small" }).pipe(Effect.provide(router))
        expect(reply.text).toBe("Write to [REDACTED:email].")
        const blocked = { model: "sim-small", messages: [Message.user(`use ${secret}`)] }
        const error = yield* Effect.flip(Llm.chat(blocked).pipe(Effect.provide(router)))
        expect(error).toMatchObject({ _tag: "ContentFilterError", provider: "guardrail" })
      }
      // One request a router reached the model: the clean one.
      expect((yield* simulator.stats).requests).toBe(2)
    }))

  it.live("embed and countTokens are the wrapped Llm's own", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const llm = yield* llmOf(simulator, "chat-completions", "Fine.")
      const noSecrets = yield* Guardrail.make({ name: "no-secrets", checks: [Guardrail.secrets] })
      const guarded = Guardrail.guard([noSecrets]).pipe(Layer.provide(llm))
      const count = (layer: Layer.Layer<Llm.Llm, OptionsError>) => Llm.countTokens(request).pipe(Effect.provide(layer))
      expect(yield* count(guarded)).toEqual(yield* count(llm))
    }))
})
