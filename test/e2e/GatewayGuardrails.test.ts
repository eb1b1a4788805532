/**
 * Guardrails in the gateway (docs/guardrails.md), over loopback against the simulator's `x-simulator-reply`, read by
 * the official clients: a block in each dialect's own error (a stream's error event, raised by `openai` Chat and
 * Responses, `@anthropic-ai/sdk` and `@google/genai` as their errors), the text a block stops never reaching the client
 * outside audit mode; masks in the request (a recording upstream sees the masked text) and the reply; an earlier
 * turn's reasoning blocked, refused where signed and masked where not; a webhook's
 * failure policy, and a call abandoned while one checks its request (not sent, not charged); guardrails named by provider.json's keys and by the admin API's keys and teams; a reload that swaps
 * them while a stream started under the old chain ends under it; provider.json's refusals naming the field; and
 * docs/guardrails.md's how-to (its provider.json over the simulator, its `curl` requests run by `sh`) as written.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as fs from "node:fs"
import { join } from "node:path"
import type OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { prose } from "../fixtures/guardrails/labelled.js"
import { adminKey, call, configKey, gatewayOn, providerKey, temporaryDirectory } from "../utils/adminApi.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import { gatewayClients } from "../utils/gatewayClients.js"
import { serve } from "../utils/loopbackServer.js"
import { recordingProxy } from "../utils/recordingProxy.js"

const secret = "AKIAIOSFODNN7EXAMPLE"
const leaky = `Here is the access key ${secret} for the bucket, and some more words after it.`
const personal = "Write to ada@example.com today, please."
const clean = "All is well here, nothing to hide."
const guardedKey = "gw-guardrails-guarded-key-5e1f"
const plainKey = "gw-guardrails-plain-key-0c9d"
const opsKey = "gw-guardrails-admin-key-77a2"
const watchedKey = "gw-guardrails-watched-key-3b8a"

const secrets = (mode: string) => ({ checks: ["secrets"], on: ["request", "reply"], action: "block", mode })

// A provider.json over `upstream` (the simulator, or a proxy in front of it): a deployment per reply, a router per
// guardrail mode, keys with and without guardrails of their own.
const configJson = (upstream: string, overrides: Record<string, unknown> = {}) => ({
  leaky: [deployment(upstream, leaky)],
  personal: [deployment(upstream, personal)],
  clean: [deployment(upstream, clean)],
  thinking: [deployment(upstream, clean, leaky)],
  guardrails: {
    "secrets-window": secrets("window"),
    "secrets-buffer": secrets("buffer"),
    "secrets-audit": secrets("audit"),
    pii: { checks: ["email"], on: ["request", "reply"], action: "mask", mode: "buffer" },
    "secrets-mask": { checks: ["secrets"], on: ["reply"], action: "mask", mode: "window" },
    "hook-open": { webhook: "http://127.0.0.1:9/check", timeout: "300 millis", on_error: "open", mode: "audit" },
    "hook-closed": { webhook: "http://127.0.0.1:9/check", timeout: "300 millis", on_error: "closed", mode: "audit" }
  },
  router: {
    window: { deployments: ["leaky/gpt-4o-mini"], guardrails: ["secrets-window"] },
    buffer: { deployments: ["leaky/gpt-4o-mini"], guardrails: ["secrets-buffer"] },
    audit: { deployments: ["leaky/gpt-4o-mini"], guardrails: ["secrets-audit"] },
    masked: { deployments: ["personal/gpt-4o-mini"], guardrails: ["pii"] },
    open: { deployments: ["clean/gpt-4o-mini"], guardrails: ["hook-open"] },
    closed: { deployments: ["clean/gpt-4o-mini"], guardrails: ["hook-closed"] },
    bare: { deployments: ["leaky/gpt-4o-mini"] },
    "thinks-window": { deployments: ["thinking/gpt-4o-mini"], guardrails: ["secrets-window"] },
    "thinks-buffer": { deployments: ["thinking/gpt-4o-mini"], guardrails: ["secrets-buffer"] },
    "thinks-audit": { deployments: ["thinking/gpt-4o-mini"], guardrails: ["secrets-audit"] },
    "thinks-masked": { deployments: ["thinking/gpt-4o-mini"], guardrails: ["secrets-mask"] },
    "thinks-bare": { deployments: ["thinking/gpt-4o-mini"] }
  },
  gateway: {
    keys: [{ name: "guarded", key: guardedKey, guardrails: ["secrets-buffer"] }, { name: "plain", key: plainKey }],
    admin_keys: [{ name: "ops", key: opsKey }]
  },
  ...overrides
})

// A deployment answering `reply`, reasoning with `reasoning` first when given.
function deployment(upstream: string, reply: string, reasoning?: string) {
  return {
    model_name: "gpt-4o-mini",
    base_url: `${upstream}/v1`,
    api_keys: [providerKey],
    max_retries: 0,
    headers: {
      "x-simulator-reply": encodeURIComponent(reply),
      ...(reasoning === undefined ? {} : { "x-simulator-reasoning": encodeURIComponent(reasoning) })
    }
  }
}

const serveOn = (upstream: string, overrides: Record<string, unknown> = {}, database?: Gateway.Database) =>
  Effect.gen(function*() {
    const config = yield* ProviderConfig.fromJson(configJson(upstream, overrides))
    const http = yield* Layer.build(UndiciHttpClient.layer())
    return yield* Effect.provideContext(
      Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0, ...(database ? { database } : {}) }),
      http
    )
  })

const ask = (content: string) => [{ role: "user" as const, content }]

/** What a client's stream gave before it ended, and the error that ended it, if one did. */
const collected = (read: (onText: (text: string) => void) => Promise<void>) =>
  Effect.promise(async () => {
    let text = ""
    try {
      await read((delta) => {
        text += delta
      })
      return { text, error: undefined }
    } catch (error) {
      return { text, error: error as { readonly status?: number; readonly message: string } }
    }
  })

const chatStream = (gateway: Gateway.Service, model: string, key = plainKey, content = "Hello") =>
  collected(async (onText) => {
    const { openai } = gatewayClients(gateway.url, key)
    const stream = await openai.chat.completions.create({ model, messages: ask(content), stream: true })
    for await (const chunk of stream) onText(chunk.choices[0]?.delta.content ?? "")
  })

const dialects = ["chat", "responses", "anthropic", "gemini"] as const

/**
 * What a stream in `dialect` gave before it ended, and its error: the error a client raised, or a Responses stream's
 * `response.failed` event's.
 */
const streamIn = (dialect: typeof dialects[number], gateway: Gateway.Service, model: string) => {
  const { anthropic, google, openai } = gatewayClients(gateway.url, plainKey)
  switch (dialect) {
    case "chat":
      return chatStream(gateway, model)
    case "responses":
      return collected(async (onText) => {
        const stream = await openai.responses.create({ model, input: "Hello", stream: true })
        for await (const event of stream) {
          if (event.type === "response.output_text.delta") onText(event.delta)
          if (event.type === "response.failed") throw new Error(event.response.error?.message ?? "failed")
        }
      })
    case "anthropic":
      return collected(async (onText) => {
        const stream = anthropic.messages.stream({ model, max_tokens: 4096, messages: ask("Hello") })
        for await (const event of stream) {
          if (event.type === "content_block_delta" && event.delta.type === "text_delta") onText(event.delta.text)
        }
      })
    case "gemini":
      return collected(async (onText) => {
        for await (const chunk of await google.models.generateContentStream({ model, contents: "Hello" })) {
          onText(chunk.text ?? "")
        }
      })
  }
}

describe("Gateway guardrails", () => {
  it.live("a block ends each dialect's stream with its own error event, read by its official client as an error", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const gateway = yield* serveOn(simulator.url)
      const { anthropic, google, openai } = gatewayClients(gateway.url, plainKey)

      for (const model of ["window", "buffer"]) {
        const chat = yield* chatStream(gateway, model)
        expect(chat.error?.message).toContain(`Guardrail "secrets-${model}" blocked the reply: found`)
        expect(chat.text).not.toContain("AKIA")
      }

      // Responses: the stream's `response.failed` event, its `response.error` the guardrail's (the API's own way).
      const responses = yield* Effect.promise(async () => {
        let text = ""
        let failed: { readonly code: string; readonly message: string } | null | undefined
        const stream = await openai.responses.create({ model: "window", input: "Hello", stream: true })
        for await (const event of stream) {
          if (event.type === "response.output_text.delta") text += event.delta
          if (event.type === "response.failed") failed = event.response.error
        }
        return { text, failed }
      })
      expect(responses.failed?.code).toBe("guardrail_blocked")
      expect(responses.failed?.message).toContain(`Guardrail "secrets-window" blocked the reply`)
      expect(responses.text).not.toContain("AKIA")

      const messages = yield* collected(async (onText) => {
        const stream = anthropic.messages.stream({ model: "buffer", max_tokens: 64, messages: ask("Hello") })
        for await (const event of stream) {
          if (event.type === "content_block_delta" && event.delta.type === "text_delta") onText(event.delta.text)
        }
      })
      // The SDK's error message is the event's body, the message in it JSON-escaped.
      expect(messages.error?.message).toContain("\"type\":\"invalid_request_error\"")
      expect(messages.error?.message).toMatch(/Guardrail \\"secrets-buffer\\" blocked the reply/)
      expect(messages.text).not.toContain("AKIA")

      const gemini = yield* collected(async (onText) => {
        for await (const chunk of await google.models.generateContentStream({ model: "window", contents: "Hello" })) {
          onText(chunk.text ?? "")
        }
      })
      // @google/genai's ApiError: the status name, then the body, the message in it JSON-escaped.
      expect(gemini.error?.message).toContain("got status: INVALID_ARGUMENT")
      expect(gemini.error?.message).toMatch(/Guardrail \\"secrets-window\\" blocked the reply/)
      expect(gemini.text).not.toContain("AKIA")

      // A whole reply blocked: 400, the guardrail named, the text not in the answer.
      const whole = yield* Effect.promise(() =>
        openai.chat.completions.create({ model: "buffer", messages: ask("Hello") }).then(
          () => undefined,
          (error: { status: number; code: string; message: string }) => error
        )
      )
      expect(whole?.status).toBe(400)
      expect(whole?.code).toBe("guardrail_blocked")
      expect(whole?.message).not.toContain("AKIA")

      // Audit mode lets the text through and ends the stream with the error after it.
      const audited = yield* chatStream(gateway, "audit")
      expect(audited.text).toBe(leaky)
      expect(audited.error?.message).toContain(`Guardrail "secrets-audit" blocked the reply`)

      // The same deployment without guardrails answers whole.
      expect((yield* chatStream(gateway, "bare")).text).toBe(leaky)
      // Each block counted by its tag (the request log's outcome is the same tag).
      const metrics = yield* Effect.promise(() =>
        fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${opsKey}` } }).then((r) => r.text())
      )
      expect(metrics).toMatch(/llm_gateway_errors_total\{tag="GuardrailError"[^}]*\} 7\b/)
    }).pipe(Effect.scoped))

  it.live("a secret at every offset of the pieces, past a window: each dialect blocks it unreleased, or masks it", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      // Prose past the window (so the window releases some before the secret), then the secret moved by 0 to 3
      // characters against the simulator's four-character pieces.
      const lead = `${prose(1500)} `
      const replies = [0, 1, 2, 3].map((shift) => `${lead}${"=".repeat(shift)}${secret} and the rest.`)
      const gateway = yield* serveOn(simulator.url, {
        ...Object.fromEntries(replies.map((reply, shift) => [`shift${shift}`, [deployment(simulator.url, reply)]])),
        router: Object.fromEntries(replies.flatMap((_, shift) => [
          [`block${shift}`, { deployments: [`shift${shift}/gpt-4o-mini`], guardrails: ["secrets-window"] }],
          [`mask${shift}`, { deployments: [`shift${shift}/gpt-4o-mini`], guardrails: ["secrets-mask"] }]
        ]))
      })
      for (const dialect of dialects) {
        for (const [shift, reply] of replies.entries()) {
          const blocked = yield* streamIn(dialect, gateway, `block${shift}`)
          const where = `${dialect}, shifted ${shift}`
          expect(blocked.error?.message, where).toMatch(/Guardrail \\?"secrets-window\\?" blocked the reply/)
          // The window released prose before the secret, and none of the secret.
          expect(blocked.text.length, where).toBeGreaterThan(0)
          expect(reply.startsWith(blocked.text), where).toBe(true)
          expect(blocked.text, where).not.toContain("AKIA")
          const masked = yield* streamIn(dialect, gateway, `mask${shift}`)
          expect(masked.error, where).toBeUndefined()
          expect(masked.text, where).toBe(reply.replace(secret, "[REDACTED:secrets]"))
        }
      }
    }).pipe(Effect.scoped))

  it.live("masks: the request's text masked before it goes upstream, the reply's before it reaches the client", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const proxy = yield* recordingProxy(simulator.url, "/v1/chat/completions")
      const gateway = yield* serveOn(proxy.url)
      const { openai } = gatewayClients(gateway.url, plainKey)

      const streamed = yield* chatStream(gateway, "masked", plainKey, "I am bob@example.org, hello")
      expect(streamed.error).toBeUndefined()
      expect(streamed.text).toBe("Write to [REDACTED:email] today, please.")
      const whole = yield* Effect.promise(() =>
        openai.chat.completions.create({ model: "masked", messages: ask("Mail bob@example.org") })
      )
      expect(whole.choices[0]?.message.content).toBe("Write to [REDACTED:email] today, please.")
      expect(proxy.bodies.length).toBe(2)
      for (const body of proxy.bodies) {
        expect(body).toContain("[REDACTED:email]")
        expect(body).not.toContain("bob@example.org")
      }

      // A request a guardrail blocks is answered 400 and never sent.
      const refused = yield* chatStream(gateway, "window", plainKey, `my key is ${secret}`)
      expect(refused.error?.status).toBe(400)
      expect(refused.error?.message).toContain(`Guardrail "secrets-window" blocked the request`)
      expect(refused.error?.message).not.toContain("AKIA")
      expect(proxy.bodies.length).toBe(2)
    }).pipe(Effect.scoped))

  it.live("earlier reasoning: a block blocks it, a mask refuses a signed thinking block and masks unsigned", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const proxy = yield* recordingProxy(simulator.url, "/v1/chat/completions")
      const gateway = yield* serveOn(proxy.url)
      const { anthropic, openai } = gatewayClients(gateway.url, plainKey)
      const email = "bob@example.org"
      // An earlier turn that thought, called a tool, and got its result: the reasoning goes back upstream with it.
      const history = (model: string, thought: string, signature: string) =>
        Effect.promise(() =>
          anthropic.messages.create({
            model,
            max_tokens: 64,
            messages: [
              { role: "user", content: "Find Bob's address" },
              {
                role: "assistant",
                content: [
                  { type: "thinking", thinking: thought, signature },
                  { type: "tool_use", id: "toolu_1", name: "lookup", input: { who: "Bob" } }
                ]
              },
              { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "found" }] }
            ]
          }).then(
            (reply) => ({ reply, error: undefined }),
            // `@anthropic-ai/sdk`'s APIError: the answer's body in `error`.
            (
              error: { readonly status?: number; readonly error?: { readonly error?: { readonly message: string } } }
            ) => ({
              reply: undefined,
              error: { status: error.status, message: error.error?.error?.message }
            })
          )
        )

      const blocked = yield* history("window", `The key is ${secret}, I should keep it.`, "sig-1")
      expect(blocked.error?.status).toBe(400)
      expect(blocked.error?.message).toContain(`Guardrail "secrets-window" blocked the request: found AWS access`)
      expect(blocked.error?.message).not.toContain("AKIA")

      const refused = yield* history("masked", `Bob is ${email}.`, "sig-2")
      expect(refused.error?.status).toBe(400)
      expect(refused.error?.message).toContain(
        `Guardrail "pii" blocked the request: found email address in messages[1].reasoning, signed by its provider`
      )
      expect(refused.error?.message).not.toContain(email)
      expect(proxy.bodies).toEqual([])

      // Unsigned (a stream cut before its signature): masked, as the Chat deployment gets it back.
      const unsigned = yield* history("masked", `Bob is ${email}.`, "")
      expect(unsigned.error).toBeUndefined()
      // Chat Completions' `reasoning_content` of DeepSeek-style servers: unsigned, masked.
      yield* Effect.promise(() =>
        openai.chat.completions.create({
          model: "masked",
          messages: [
            { role: "user", content: "Find Bob's address" },
            {
              role: "assistant",
              content: null,
              reasoning_content: `Bob writes from ${email}.`,
              tool_calls: [{ id: "call_1", type: "function", function: { name: "lookup", arguments: "{}" } }]
            } as OpenAI.ChatCompletionAssistantMessageParam,
            { role: "tool", tool_call_id: "call_1", content: "found" }
          ]
        })
      )
      expect(proxy.bodies.length).toBe(2)
      const sent = proxy.bodies.map((body) =>
        (JSON.parse(body) as { messages: ReadonlyArray<{ reasoning_content?: string }> }).messages[1]?.reasoning_content
      )
      expect(sent).toEqual(["Bob is [REDACTED:email].", "Bob writes from [REDACTED:email]."])
      for (const body of proxy.bodies) expect(body).not.toContain(email)
    }).pipe(Effect.scoped))

  it.live("the request log: a block's row names it, and its payload keeps no text a guardrail stopped or masked", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const file = join(yield* temporaryDirectory("guardrails-log-"), "gateway.db")
      const { gateway: section } = configJson(simulator.url)
      const gateway = yield* serveOn(simulator.url, { gateway: { ...section, log_payloads: true } }, { sqlite: file })
      yield* chatStream(gateway, "window", plainKey, `my key is ${secret}`)
      yield* chatStream(gateway, "masked", plainKey, "I am bob@example.org")
      yield* chatStream(gateway, "buffer")
      const logged = yield* eventually(
        "three rows in the request log",
        Effect.promise(() =>
          fetch(`${gateway.url}/admin/requests?limit=3`, { headers: { authorization: `Bearer ${opsKey}` } })
            .then((r) => r.json() as Promise<{ readonly data: ReadonlyArray<Record<string, unknown>> }>)
        ),
        (page) => page.data.length >= 3
      )
      const text = JSON.stringify(logged.data)
      expect(logged.data.filter((row) => row["error"] === "GuardrailError").length).toBe(2)
      expect(text).not.toContain("AKIA")
      expect(text).not.toContain("bob@example.org")
      expect(text).not.toContain("ada@example.com")
    }).pipe(Effect.scoped))

  it.live("a stream's first-token time counts what its guardrails held back", () =>
    Effect.gen(function*() {
      // About half a second to write the reply: a buffer releases nothing before its end.
      const simulator = yield* Simulator.make({ apiKeys: [providerKey], tokensPerSecond: 20 })
      const gateway = yield* serveOn(simulator.url)
      expect((yield* chatStream(gateway, "masked")).text).toBe("Write to [REDACTED:email] today, please.")
      expect((yield* chatStream(gateway, "personal/gpt-4o-mini")).text).toBe(personal)
      const metrics = yield* Effect.promise(() =>
        fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${opsKey}` } }).then((r) => r.text())
      )
      const firstToken = (model: string) =>
        Number(
          new RegExp(`llm_gateway_time_to_first_token_seconds_sum\\{[^}]*model="${model}"[^}]*\\} ([0-9.e-]+)`)
            .exec(metrics)?.[1]
        )
      expect(firstToken("masked")).toBeGreaterThan(0.3)
      expect(firstToken("personal/gpt-4o-mini")).toBeLessThan(firstToken("masked") / 2)
    }).pipe(Effect.scoped))

  it.live("reasoning is checked as reply text in every mode: blocked, masked, kept in order, whole and streamed", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const gateway = yield* serveOn(simulator.url)
      const { anthropic, google, openai } = gatewayClients(gateway.url, plainKey)
      const masked = leaky.replace(secret, "[REDACTED:secrets]")

      // The kinds of delta an OpenAI-compatible stream gave, in order, runs of one kind joined.
      const chatParts = (model: string) =>
        Effect.promise(async () => {
          const parts: Array<[string, string]> = []
          const add = (kind: string, text: string | undefined) => {
            if (text === undefined || text === "") return
            const lastPart = parts[parts.length - 1]
            if (lastPart?.[0] === kind) lastPart[1] += text
            else parts.push([kind, text])
          }
          try {
            const stream = await openai.chat.completions.create({ model, messages: ask("Hello"), stream: true })
            for await (const chunk of stream) {
              const delta = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined
              add("reasoning", delta?.reasoning_content)
              add("text", delta?.content)
            }
            return { parts, error: undefined }
          } catch (error) {
            return { parts, error: error as { readonly message: string } }
          }
        })

      // Without a guardrail the reasoning reaches the client: what the guardrails below must stop.
      expect(yield* chatParts("thinks-bare")).toEqual({
        parts: [["reasoning", leaky], ["text", clean]],
        error: undefined
      })
      for (const model of ["thinks-window", "thinks-buffer"]) {
        const blocked = yield* chatParts(model)
        expect(blocked.error?.message).toContain(`Guardrail "secrets-${model.slice(7)}" blocked the reply: found`)
        expect(JSON.stringify(blocked.parts)).not.toContain("AKIA")
      }
      const audited = yield* chatParts("thinks-audit")
      // Audit mode checks the reply whole at its end: everything was seen, then the stream ends with the block.
      expect(audited.parts).toEqual([["reasoning", leaky], ["text", clean]])
      expect(audited.error?.message).toContain(`Guardrail "secrets-audit" blocked the reply`)
      // A window over reasoning: masked, released whole before the answer's text.
      expect(yield* chatParts("thinks-masked")).toEqual({
        parts: [["reasoning", masked], ["text", clean]],
        error: undefined
      })

      const thinking = yield* collected(async (onText) => {
        const stream = anthropic.messages.stream({ model: "thinks-window", max_tokens: 256, messages: ask("Hello") })
        for await (const event of stream) {
          if (event.type === "content_block_delta" && event.delta.type === "thinking_delta") {
            onText(event.delta.thinking)
          }
        }
      })
      expect(thinking.error?.message).toMatch(/Guardrail \\"secrets-window\\" blocked the reply/)
      expect(thinking.text).not.toContain("AKIA")
      const maskedMessage = yield* Effect.promise(() =>
        anthropic.messages.stream({ model: "thinks-masked", max_tokens: 256, messages: ask("Hello") }).finalMessage()
      )
      expect(maskedMessage.content.map((block) =>
        block.type === "thinking" ? block.thinking : block.type === "text" ?
          block.text :
          block.type
      )).toEqual([masked, clean])

      const thoughts = yield* collected(async (onText) => {
        const stream = await google.models.generateContentStream({
          model: "thinks-buffer",
          contents: "Hello",
          config: { thinkingConfig: { includeThoughts: true } }
        })
        for await (const chunk of stream) {
          for (const part of chunk.candidates?.[0]?.content?.parts ?? []) {
            if (part.thought === true) onText(part.text ?? "")
          }
        }
      })
      expect(thoughts.error?.message).toMatch(/Guardrail \\"secrets-buffer\\" blocked the reply/)
      expect(thoughts.text).not.toContain("AKIA")

      // Whole replies: the reasoning blocks the reply, or goes out masked.
      const whole = yield* Effect.promise(() =>
        openai.chat.completions.create({ model: "thinks-buffer", messages: ask("Hello") }).then(
          () => undefined,
          (error: { status: number; code: string; message: string }) => error
        )
      )
      expect(whole?.code).toBe("guardrail_blocked")
      expect(whole?.message).not.toContain("AKIA")
      const wholeMasked = yield* Effect.promise(() =>
        openai.chat.completions.create({ model: "thinks-masked", messages: ask("Hello") })
      )
      const message = wholeMasked.choices[0]?.message as { content: string; reasoning_content?: string }
      expect([message.reasoning_content, message.content]).toEqual([masked, clean])
      const geminiWhole = yield* Effect.promise(() =>
        google.models.generateContent({
          model: "thinks-masked",
          contents: "Hello",
          config: { thinkingConfig: { includeThoughts: true } }
        })
      )
      expect(geminiWhole.candidates?.[0]?.content?.parts?.map((part) => [part.thought === true, part.text])).toEqual([
        [true, masked],
        [false, clean]
      ])
    }).pipe(Effect.scoped))

  it.live("a webhook that cannot be reached: fail-open lets the call through, fail-closed blocks it", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const gateway = yield* serveOn(simulator.url)
      const open = yield* chatStream(gateway, "open")
      expect(open).toEqual({ text: clean, error: undefined })
      const closed = yield* chatStream(gateway, "closed")
      expect(closed.error?.status).toBe(400)
      expect(closed.error?.message).toContain(`Guardrail "hook-closed" blocked the request: the check failed`)
    }).pipe(Effect.scoped))

  it.live("a webhook answering past the 64 KiB bound, too slowly or with garbage: open passes, closed blocks", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      // A valid verdict padded past the bound (with and without a declared length), one past the timeout, garbage.
      const padded = JSON.stringify({ verdict: "pass", padding: "x".repeat(200_000) })
      const webhook = yield* serve((req, res) => {
        req.resume()
        req.on("end", () => {
          switch (req.url) {
            case "/huge":
              res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(padded) })
              res.end(padded)
              return
            case "/huge-chunked":
              res.writeHead(200, { "content-type": "application/json" })
              for (let at = 0; at < padded.length; at += 8192) res.write(padded.slice(at, at + 8192))
              res.end()
              return
            case "/slow":
              setTimeout(() => res.end(JSON.stringify({ verdict: "pass" })), 3_000)
              return
            default:
              res.writeHead(200, { "content-type": "application/json" })
              res.end("{\"verdict\": pass, garbage")
          }
        })
      })
      const base = configJson(simulator.url)
      const paths = { huge: "/huge", chunked: "/huge-chunked", slow: "/slow", garbage: "/garbage" }
      const hooks: Record<string, unknown> = {}
      const routers: Record<string, unknown> = {}
      for (const [kind, path] of Object.entries(paths)) {
        for (const policy of ["open", "closed"]) {
          const name = `${kind}-${policy}`
          hooks[name] = { webhook: `${webhook.url}${path}`, timeout: "500 millis", on_error: policy, mode: "audit" }
          routers[name] = { deployments: ["clean/gpt-4o-mini"], guardrails: [name] }
        }
      }
      const gateway = yield* serveOn(simulator.url, {
        guardrails: { ...base.guardrails, ...hooks },
        router: { ...base.router, ...routers }
      })
      const reasons = {
        huge: "the answer passed the bound of 65536 bytes",
        chunked: "the answer passed the bound of 65536 bytes",
        slow: "no answer within 500",
        garbage: "the answer is not JSON"
      }
      for (const [kind, reason] of Object.entries(reasons)) {
        expect(yield* chatStream(gateway, `${kind}-open`)).toEqual({ text: clean, error: undefined })
        const closed = yield* chatStream(gateway, `${kind}-closed`)
        expect(closed.error?.status).toBe(400)
        expect(closed.error?.message).toContain(
          `Guardrail "${kind}-closed" blocked the request: the check failed: ${reason}`
        )
        expect(closed.text).toBe("")
      }
    }).pipe(Effect.scoped))

  it.live("a whole call its client abandons while a webhook checks its request is not sent and costs nothing", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      // A webhook that never answers: the call waits on its request's check until its client goes.
      const checking = yield* Deferred.make<void>()
      const hook = yield* serve(() => Deferred.doneUnsafe(checking, Exit.void))
      const config = yield* ProviderConfig.fromJson({
        held: [{ ...deployment(simulator.url, clean), pricing: { input_per_mtok: 1, output_per_mtok: 1 } }],
        guardrails: { hook: { webhook: `${hook.url}/check`, timeout: "60 seconds", on: ["request"] } },
        gateway: {
          keys: [{ name: "guarded", key: guardedKey, guardrails: ["hook"], budget: { limit: 1, period: "1 day" } }],
          admin_keys: [{ name: "ops", key: opsKey }]
        }
      })
      const gateway = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(config),
        port: 0,
        database: { sqlite: join(yield* temporaryDirectory("abandoned-"), "gateway.db") }
      })
      const spend = Effect.promise(() =>
        fetch(`${gateway.url}/admin/keys/config:guarded`, { headers: { authorization: `Bearer ${opsKey}` } })
          .then((r) => r.json() as Promise<{ readonly spend: { readonly spent: number; readonly reserved: number } }>)
          .then((key) => key.spend)
      )
      const leaving = new AbortController()
      const asked = gatewayClients(gateway.url, guardedKey).openai.chat.completions.create(
        { model: "held/gpt-4o-mini", messages: [{ role: "user", content: clean }], max_tokens: 100 },
        { signal: leaving.signal }
      ).then(() => "answered", () => "abandoned")
      yield* Deferred.await(checking)
      // While its request is checked, its worst case is held on the budget.
      expect((yield* spend).reserved).toBeGreaterThan(0)
      leaving.abort()
      expect(yield* Effect.promise(() => asked)).toBe("abandoned")
      // Abandoned before it was sent, its reservation is released, not charged.
      const after = yield* eventually("the reservation let go of", spend, (now) => now.reserved === 0)
      expect(after.spent).toBe(0)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("a stream a guardrail blocks, before its text or after, is charged and logged what the simulator billed", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const pricing = { input_per_mtok: 3, output_per_mtok: 15 }
      const config = yield* ProviderConfig.fromJson({
        leaky: [{ ...deployment(simulator.url, leaky), pricing }],
        guardrails: { "secrets-buffer": secrets("buffer"), "secrets-audit": secrets("audit") },
        router: {
          buffer: { deployments: ["leaky/gpt-4o-mini"], guardrails: ["secrets-buffer"] },
          audit: { deployments: ["leaky/gpt-4o-mini"], guardrails: ["secrets-audit"] }
        },
        gateway: {
          keys: [{ name: "budgeted", key: guardedKey, budget: { limit: 1, period: "1 day" } }],
          admin_keys: [{ name: "ops", key: opsKey }]
        }
      })
      const gateway = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(config),
        port: 0,
        database: { sqlite: join(yield* temporaryDirectory("blocked-stream-"), "gateway.db") }
      })
      const admin = (path: string) =>
        Effect.promise(() =>
          fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${opsKey}` } }).then((r) => r.json())
        )
      const spend = Effect.map(
        admin("/admin/keys/config:budgeted"),
        (key) => (key as { readonly spend: { readonly spent: number; readonly reserved: number } }).spend
      )
      const { anthropic } = gatewayClients(gateway.url, guardedKey)
      // Buffer mode blocks before any text goes out; audit mode after all of it went out, at the stream's end.
      const buffered = yield* chatStream(gateway, "buffer", guardedKey)
      const audited = yield* chatStream(gateway, "audit", guardedKey)
      const messages = yield* collected(async (onText) => {
        const stream = anthropic.messages.stream({ model: "buffer", max_tokens: 4096, messages: ask("Hello") })
        for await (const event of stream) {
          if (event.type === "content_block_delta" && event.delta.type === "text_delta") onText(event.delta.text)
        }
      })
      expect(buffered.error?.message).toContain(`Guardrail "secrets-buffer" blocked the reply`)
      expect(buffered.text).toBe("")
      expect(messages.error?.message).toMatch(/Guardrail \\"secrets-buffer\\" blocked the reply/)
      expect(messages.text).toBe("")
      expect(audited.error?.message).toContain(`Guardrail "secrets-audit" blocked the reply`)
      expect(audited.text).toBe(leaky)
      // What the simulated provider billed the three calls, at the deployment's price.
      const billed = yield* simulator.billed
      expect(billed.length).toBe(3)
      const bill = billed.reduce(
        (total, usage) =>
          total +
          (usage.promptTokens * pricing.input_per_mtok + usage.completionTokens * pricing.output_per_mtok) / 1e6,
        0
      )
      expect(bill).toBeGreaterThan(0)
      const after = yield* eventually("the blocked streams settled", spend, (now) => now.reserved === 0)
      expect(after.spent).toBeCloseTo(bill, 12)
      const logged = yield* eventually(
        "three rows in the request log",
        Effect.map(
          admin("/admin/requests?limit=3"),
          (page) => (page as { readonly data: ReadonlyArray<Record<string, unknown>> }).data
        ),
        (rows) => rows.length >= 3
      )
      expect(logged.map((row) => row["error"])).toEqual(["GuardrailError", "GuardrailError", "GuardrailError"])
      // Each row keeps what its upstream answered: the tokens the simulator billed, at their cost.
      const counted = (tokens: (row: Record<string, unknown>) => unknown) =>
        logged.reduce((total, row) => total + Number(tokens(row)), 0)
      expect(counted((row) => row["output_tokens"])).toBe(billed.reduce((n, usage) => n + usage.completionTokens, 0))
      expect(counted((row) => row["cost"])).toBeCloseTo(bill, 12)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("a key's guardrails join its target's: provider.json's key blocks what another key gets", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const gateway = yield* serveOn(simulator.url)
      expect((yield* chatStream(gateway, "bare", plainKey)).text).toBe(leaky)
      const guarded = yield* chatStream(gateway, "bare", guardedKey)
      expect(guarded.error?.message).toContain(`Guardrail "secrets-buffer" blocked the reply`)
      expect(guarded.text).toBe("")
    }).pipe(Effect.scoped))

  it.live("the gateway's guardrails run on every call, a model's on every call to it, alone or through a router", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const base = configJson(simulator.url)
      const gateway = yield* serveOn(simulator.url, {
        own: [{ ...deployment(simulator.url, `${personal} ${leaky}`), guardrails: ["secrets-window"] }],
        router: { ...base.router, "via-own": { deployments: ["own/gpt-4o-mini"] } },
        gateway: { ...base.gateway, guardrails: ["pii"] }
      })
      const masked = "Write to [REDACTED:email] today, please."
      // The gateway's `pii` masks a model no router or key guards, and leaves a reply without an address whole.
      expect(yield* chatStream(gateway, "personal/gpt-4o-mini")).toEqual({ text: masked, error: undefined })
      expect(yield* chatStream(gateway, "bare")).toEqual({ text: leaky, error: undefined })
      // The model's own `secrets-window` blocks it, called by name or through a router that names no guardrail.
      for (const model of ["own/gpt-4o-mini", "via-own"]) {
        const blocked = yield* chatStream(gateway, model)
        expect(blocked.error?.message, model).toContain(`Guardrail "secrets-window" blocked the reply`)
        expect(blocked.text, model).not.toContain("AKIA")
      }
    }).pipe(Effect.scoped))

  it.live("the admin API's keys and teams take guardrails, names checked; a team's run for its keys", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const database = { sqlite: join(yield* temporaryDirectory("guardrails-keys-"), "gateway.db") }
      const { guardrails } = configJson(simulator.url)
      const gateway = yield* gatewayOn(simulator, database, {
        sim: [deployment(simulator.url, leaky)],
        guardrails,
        gateway: {
          keys: [{ name: "fixed", key: configKey }, {
            name: "watched",
            key: watchedKey,
            guardrails: ["secrets-audit"]
          }],
          admin_keys: [{ name: "ops", key: adminKey }]
        }
      })
      const unknown = yield* call(gateway.url, "POST", "/admin/keys", { name: "bad", guardrails: ["nope"] })
      expect(unknown.status).toBe(400)
      expect(unknown.body.error?.param).toBe("guardrails[0]")
      const malformed = yield* call(gateway.url, "POST", "/admin/teams", { name: "bad", guardrails: "pii" })
      expect(malformed.status).toBe(400)
      expect(malformed.body.error?.param).toBe("guardrails")

      const team = yield* call(gateway.url, "POST", "/admin/teams", { name: "careful", guardrails: ["secrets-buffer"] })
      expect(team.status).toBe(201)
      expect((team.body as { guardrails?: unknown }).guardrails).toEqual(["secrets-buffer"])
      const member = yield* call(gateway.url, "POST", "/admin/keys", { name: "member", team: team.body.id })
      const own = yield* call(gateway.url, "POST", "/admin/keys", { name: "own", guardrails: ["secrets-window"] })
      const loose = yield* call(gateway.url, "POST", "/admin/keys", { name: "loose" })
      expect((own.body as { guardrails?: unknown }).guardrails).toEqual(["secrets-window"])

      const asKey = (key: string) => chatStream(gateway, "gpt-4o-mini", key)
      expect((yield* asKey(member.body.key!)).error?.message).toContain(`Guardrail "secrets-buffer" blocked`)
      expect((yield* asKey(own.body.key!)).error?.message).toContain(`Guardrail "secrets-window" blocked`)
      expect(yield* asKey(loose.body.key!)).toEqual({ text: leaky, error: undefined })
      // The provider.json key without guardrails of its own is not affected.
      expect((yield* asKey(configKey)).text).toBe(leaky)

      const cleared = yield* call(gateway.url, "PATCH", `/admin/keys/${own.body.id}`, { guardrails: null })
      expect(cleared.status).toBe(200)
      expect(yield* asKey(own.body.key!)).toEqual({ text: leaky, error: undefined })
      // The list shows every key's guardrails, provider.json's and the API's.
      const listed = yield* call(gateway.url, "GET", "/admin/keys", undefined, adminKey)
      expect(listed.status).toBe(200)
      const rows = (listed.body as unknown as {
        readonly data: ReadonlyArray<{ readonly name: string; readonly source: string; readonly guardrails: unknown }>
      }).data
      const shown = Object.fromEntries(rows.map((row) => [row.name, [row.source, row.guardrails]]))
      expect(shown).toMatchObject({
        fixed: ["provider.json", null],
        watched: ["provider.json", ["secrets-audit"]],
        own: ["api", null],
        member: ["api", null],
        loose: ["api", null]
      })
      expect((yield* asKey(watchedKey)).error?.message).toContain(`Guardrail "secrets-audit" blocked`)
    }).pipe(Effect.scoped))

  it.live("a reload swaps the guardrails; a stream begun under the old chain ends under it", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey], tokensPerSecond: 20 })
      const before = yield* ProviderConfig.fromJson(configJson(simulator.url))
      const after = yield* ProviderConfig.fromJson(
        configJson(simulator.url, {
          router: { buffer: { deployments: ["leaky/gpt-4o-mini"] } },
          gateway: { keys: [{ name: "plain", key: plainKey }] }
        })
      )
      const current = yield* Ref.make(before)
      const http = yield* Layer.build(UndiciHttpClient.layer())
      const gateway = yield* Effect.provideContext(
        Gateway.make({
          config: ProviderConfig.gatewayConfig(before),
          port: 0,
          source: Effect.map(Ref.get(current), ProviderConfig.gatewayConfig)
        }),
        http
      )
      // The stream is held by its buffer (the reply takes about a second); the reload happens meanwhile.
      const inFlight = yield* Effect.forkChild(chatStream(gateway, "buffer"))
      yield* Effect.sleep("300 millis")
      yield* Ref.set(current, after)
      yield* gateway.reload
      const old = yield* Fiber.join(inFlight)
      expect(old.error?.message).toContain(`Guardrail "secrets-buffer" blocked the reply`)
      expect(old.text).toBe("")
      expect(yield* chatStream(gateway, "buffer")).toEqual({ text: leaky, error: undefined })
    }).pipe(Effect.scoped))

  it.effect("provider.json: an unknown guardrail name, a bad mode, a too small overlap, each named by its path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderConfig.fromJson(configJson("http://127.0.0.1:1", {
        guardrails: {
          bad: { checks: ["secrets"], mode: "sometimes" },
          narrow: { checks: ["secrets"], mode: "window", window: 300, overlap: 10 },
          neither: { on: ["reply"] }
        },
        router: { window: { deployments: ["leaky/gpt-4o-mini"], guardrails: ["missing"] } }
      })))
      const paths = error.issues.map((issue) => issue.path)
      expect(paths).toContain("guardrails.bad.mode")
      const decoded = yield* Effect.flip(ProviderConfig.fromJson(configJson("http://127.0.0.1:1", {
        guardrails: {
          narrow: { checks: ["secrets"], mode: "window", window: 300, overlap: 10 },
          neither: { on: ["reply"] },
          listed: { checks: ["email"], batch: true }
        },
        router: { window: { deployments: ["leaky/gpt-4o-mini"], guardrails: ["missing"] } }
      })))
      const issues = Object.fromEntries(decoded.issues.map((issue) => [issue.path, issue.message]))
      expect(issues["guardrails.narrow.overlap"]).toContain("at least the checks' longest match, 256 characters")
      expect(issues["guardrails.neither"]).toContain("expected one of checks")
      expect(issues["guardrails.listed.batch"]).toBe("is for a webhook")
      expect(issues["router.window.guardrails[0]"]).toContain("missing names no guardrail")
      expect(issues["gateway.keys[0].guardrails[0]"]).toContain("secrets-buffer names no guardrail")
    }))
})

describe("docs/guardrails.md's test of the gateway's guardrails with the simulator", () => {
  // The how-to's section, its provider.json and its shell lines, as a reader copies them.
  const page = fs.readFileSync(join(import.meta.dirname, "../../docs/guardrails.md"), "utf8")
  const section = page.slice(page.indexOf("## Testing the gateway's guardrails with the simulator"))
  const file = /```json\n([\s\S]*?)\n *```/.exec(section)![1]!
  const shell = /```sh\n([\s\S]*?)\n *```/.exec(section)![1]!.split("\n").map((line) => line.trim())
  const curls = shell.reduce<Array<string>>((commands, line) => {
    if (line.startsWith("curl ")) commands.push(line)
    else if (commands.length > 0 && commands.at(-1)!.endsWith("\\")) commands[commands.length - 1] += `\n${line}`
    return commands
  }, [])

  it.live("its file served over the simulator answers its requests as the page says", () =>
    Effect.gen(function*() {
      // The simulator the page starts: its models, on a port of the test's own.
      expect(section).toContain("simulate --port 8787 --models leaky,chatty")
      const simulator = yield* Simulator.make({ models: ["leaky", "chatty"] })
      const config = yield* ProviderConfig.fromJson(
        JSON.parse(file.replaceAll("http://127.0.0.1:8787", simulator.url)) as unknown
      )
      const http = yield* Layer.build(UndiciHttpClient.layer())
      const gateway = yield* Effect.provideContext(
        Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }),
        http
      )
      expect(curls).toHaveLength(4)
      const outs: Array<string> = []
      for (const command of curls) {
        const run = yield* spawnProcess("sh", ["-c", command.replaceAll("localhost:4000", gateway.url)], {
          timeoutMs: 30_000
        })
        expect({ command, code: run.code, stderr: run.stderr }).toEqual({ command, code: 0, stderr: "" })
        outs.push(run.stdout)
      }
      const [blocked, streamed, masked, refused] = outs as [string, string, string, string]
      expect(JSON.parse(blocked).error).toMatchObject({
        code: "guardrail_blocked",
        message: expect.stringContaining("Guardrail \"no-secrets\" blocked the reply: found AWS access key id.")
      })
      expect(streamed).toContain("guardrail_blocked")
      expect(streamed).not.toContain("AKIA")
      expect(JSON.parse(masked).choices[0].message.content).toBe("Write to [REDACTED:email] today.")
      const before = (yield* simulator.stats).requests
      expect(JSON.parse(refused).error).toMatchObject({
        code: "guardrail_blocked",
        message: expect.stringContaining("blocked the request")
      })
      // The request's block sent nothing upstream.
      expect((yield* simulator.stats).requests).toBe(before)
    }).pipe(Effect.scoped), 60_000)
})
