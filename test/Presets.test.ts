import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import { createHmac } from "node:crypto"
import * as ChatChunk from "../src/ChatChunk.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import * as ZhipuJwt from "../src/internal/providers/presets/zhipuJwt.js"
import * as Message from "../src/Message.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as OpenAiChat from "../src/providers/OpenAiChat.js"
import * as Presets from "../src/providers/Presets.js"
import { fakeClient } from "./utils/adapterHarness.js"
import {
  fakeHttpClient,
  jsonResponse,
  type RecordedRequest,
  type Reply,
  streamResponse
} from "./utils/fakeHttpClient.js"

const hello: ChatRequest.Input = { messages: [Message.user("Hello")], maxTokens: 50 }

const client = (name: Presets.Name, reply: (request: RecordedRequest) => Reply, overrides: Presets.Overrides = {}) =>
  fakeClient(reply, Effect.flatMap(Presets.options(name, { model: "m", ...overrides }), OpenAiChat.make))

const completion = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: "c1",
  object: "chat.completion",
  model: "m",
  choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", ...message } }],
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  ...extra
})

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`
const delta = (d: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}) =>
  data({
    id: "c1",
    object: "chat.completion.chunk",
    model: "m",
    choices: [{ index: 0, delta: d, finish_reason: finish }],
    ...extra
  })

const decodePart = (part: string): unknown => JSON.parse(Buffer.from(part, "base64url").toString("utf8"))

describe("Presets", () => {
  it.effect("every preset fills its base URL and provider, and a given baseUrl overrides it", () =>
    Effect.gen(function*() {
      const expected: Record<Presets.Name, string | undefined> = {
        deepseek: "https://api.deepseek.com/v1",
        openrouter: "https://openrouter.ai/api/v1",
        groq: "https://api.groq.com/openai/v1",
        together: "https://api.together.xyz/v1",
        vllm: undefined,
        ollama: "http://localhost:11434/v1",
        zhipu: "https://open.bigmodel.cn/api/paas/v4",
        dashscope: "https://dashscope.aliyuncs.com/compatible-mode/v1"
      }
      expect(Presets.names).toEqual(Object.keys(expected))
      for (const name of Presets.names) {
        expect(Presets.presets[name].baseUrl).toBe(expected[name])
        const options = yield* Presets.options(name, { baseUrl: "http://127.0.0.1:9/v1" })
        expect(options.baseUrl).toBe("http://127.0.0.1:9/v1")
        expect(options.provider).toBe(name)
        expect(options.maxTokensField).toBe("max_tokens")
        if (expected[name] !== undefined) expect((yield* Presets.options(name)).baseUrl).toBe(expected[name])
      }
      expect((yield* Presets.options("groq", { provider: "my-groq", maxTokensField: undefined })).provider).toBe(
        "my-groq"
      )
      expect((yield* Presets.options("groq", { maxTokensField: undefined })).maxTokensField).toBe("max_tokens")
      expect(Presets.isName("deepseek")).toBe(true)
      expect(Presets.isName("toString")).toBe(false)
    }))

  it.effect("a preset with no usual base URL and none given fails with OptionsError, in options and in the layer", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Presets.options("vllm"))
      expect(error).toMatchObject({ _tag: "OptionsError", module: "Presets", option: "baseUrl", value: "undefined" })
      expect(error.message).toContain("vllm preset, which has no usual base URL")
      const built = yield* Effect.flip(
        Effect.scoped(Layer.build(Presets.layer("vllm", { model: "m" }))).pipe(
          Effect.provideService(HttpClient.HttpClient, fakeHttpClient(() => jsonResponse({})).client)
        )
      )
      expect(built).toMatchObject({ _tag: "OptionsError", option: "baseUrl" })
    }))

  it.effect(
    "DeepSeek: blank lines before the body, reasoning_content, max_tokens, and 402 as AuthError " +
      "payment_required",
    () =>
      Effect.gen(function*() {
        const ok = client(
          "deepseek",
          () => jsonResponse(`\n\n\n${JSON.stringify(completion({ content: "Hi.", reasoning_content: "Think." }))}`)
        )
        const reply = yield* Effect.flatMap(
          ok.service,
          (c) => c.chat(hello, ProviderClient.credentials("sk-deepseek-000000001"))
        )
        expect(reply).toMatchObject({ text: "Hi.", reasoning: "Think.", provider: "deepseek" })
        expect(ok.requests[0]!.url).toBe("https://api.deepseek.com/v1/chat/completions")
        expect(ok.requests[0]!.body).toMatchObject({ max_tokens: 50 })
        expect(ok.requests[0]!.body).not.toHaveProperty("max_completion_tokens")
        const broke = client(
          "deepseek",
          () => jsonResponse({ error: { message: "Insufficient Balance", type: "unknown_error" } }, { status: 402 })
        )
        const error = yield* Effect.flip(
          Effect.flatMap(broke.service, (c) => c.chat(hello, ProviderClient.credentials("sk-deepseek-000000001")))
        )
        expect(error).toMatchObject({ _tag: "AuthError", reason: "payment_required", provider: "deepseek" })
      })
  )

  it.effect("every preset is sent no service_tier nor prompt_cache_key, OpenAI's own fields", () =>
    Effect.gen(function*() {
      for (const name of Presets.names) {
        const sent = client(name, () => jsonResponse(completion({ content: "Hi." })), {
          baseUrl: "http://127.0.0.1:9/v1"
        })
        yield* Effect.flatMap(
          sent.service,
          (c) =>
            c.chat(
              { ...hello, serviceTier: "priority", promptCacheKey: "repo-1" },
              ProviderClient.credentials("sk-preset-0000000001")
            )
        )
        expect(sent.requests[0]!.body, name).not.toHaveProperty("service_tier")
        expect(sent.requests[0]!.body, name).not.toHaveProperty("prompt_cache_key")
      }
    }))

  it.effect(
    "OpenRouter: keep-alive comments are skipped, reasoning is read, attribution headers go out, 402 is " +
      "AuthError",
    () =>
      Effect.gen(function*() {
        const ok = client(
          "openrouter",
          () =>
            streamResponse([
              ": OPENROUTER PROCESSING\n\n",
              ": OPENROUTER PROCESSING\n\n",
              delta({ role: "assistant", reasoning: "Hmm." }),
              delta({ content: "Hello" }),
              delta({}, "stop", { usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 } }),
              "data: [DONE]\n\n"
            ]),
          { headers: { "HTTP-Referer": "https://app.example", "X-Title": "App" } }
        )
        const reply = yield* ChatChunk.collect(
          Stream.unwrap(
            Effect.map(ok.service, (c) => c.chatStream(hello, ProviderClient.credentials("sk-or-0000000001")))
          )
        )
        expect(reply).toMatchObject({ text: "Hello", reasoning: "Hmm.", finishReason: "stop", provider: "openrouter" })
        expect(reply.usage).toMatchObject({ promptTokens: 4, completionTokens: 1 })
        expect(ok.requests[0]!.url).toBe("https://openrouter.ai/api/v1/chat/completions")
        expect(ok.requests[0]!.headers).toMatchObject({ "http-referer": "https://app.example", "x-title": "App" })
        const broke = client(
          "openrouter",
          () => jsonResponse({ error: { code: 402, message: "Insufficient credits" } }, { status: 402 })
        )
        const error = yield* Effect.flip(
          Effect.flatMap(broke.service, (c) => c.chat(hello, ProviderClient.credentials("sk-or-0000000001")))
        )
        expect(error).toMatchObject({ _tag: "AuthError", reason: "payment_required" })
      })
  )

  it.effect("Groq: usage from x_groq.usage on the last chunk", () =>
    Effect.gen(function*() {
      const groq = client("groq", () =>
        streamResponse([
          delta({ role: "assistant", content: "Yo" }, null, { x_groq: { id: "req_1" } }),
          delta({}, "stop", {
            x_groq: { id: "req_1", usage: { prompt_tokens: 7, completion_tokens: 1, total_tokens: 8 } }
          }),
          "data: [DONE]\n\n"
        ]))
      const reply = yield* ChatChunk.collect(
        Stream.unwrap(
          Effect.map(groq.service, (c) => c.chatStream(hello, ProviderClient.credentials("gsk_000000000001")))
        )
      )
      expect(reply).toMatchObject({ text: "Yo", provider: "groq" })
      expect(reply.usage).toMatchObject({ promptTokens: 7, completionTokens: 1, totalTokens: 8 })
      expect(groq.requests[0]!.url).toBe("https://api.groq.com/openai/v1/chat/completions")
      expect(groq.requests[0]!.body).toMatchObject({ max_tokens: 50 })
    }))

  it.effect("Ollama /v1 and vLLM send no Authorization for the key none, a bearer for any other", () =>
    Effect.gen(function*() {
      for (const name of ["ollama", "vllm"] as const) {
        const local = client(name, () => jsonResponse(completion({ content: "ok" })), {
          baseUrl: "http://127.0.0.1:9/v1"
        })
        yield* Effect.flatMap(local.service, (c) => c.chat(hello, ProviderClient.credentials("none")))
        expect(local.requests[0]!.headers).not.toHaveProperty("authorization")
        yield* Effect.flatMap(local.service, (c) => c.chat(hello, ProviderClient.credentials("sk-cloud-00000001")))
        expect(local.requests[1]!.headers.authorization).toBe("Bearer sk-cloud-00000001")
      }
    }))

  it.effect("Together and DashScope chat at their roots with max_tokens", () =>
    Effect.gen(function*() {
      for (
        const [name, url] of [
          ["together", "https://api.together.xyz/v1/chat/completions"],
          ["dashscope", "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions"]
        ] as const
      ) {
        const c = client(name, () => jsonResponse(completion({ content: "ok" })))
        const reply = yield* Effect.flatMap(c.service, (s) =>
          s.chat(hello, ProviderClient.credentials("sk-0000000000001")))
        expect(reply.provider).toBe(name)
        expect(c.requests[0]!.url).toBe(url)
        expect(c.requests[0]!.body).toMatchObject({ max_tokens: 50 })
      }
    }))
})

describe("Zhipu JWT", () => {
  const id = "a1b2c3d4"
  const secret = "s3cr3t-for-the-test"

  it.effect(
    "an id.secret key goes out as an HS256 JWT over {api_key, exp, timestamp}, its HMAC made with the " +
      "secret",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(1_700_000_000_000)
        const zhipu = client("zhipu", () => jsonResponse(completion({ content: "ok" })))
        const service = yield* zhipu.service
        const credentials = ProviderClient.credentials(`${id}.${secret}`)
        const reply = yield* service.chat(hello, credentials)
        expect(reply.provider).toBe("zhipu")
        expect(zhipu.requests[0]!.url).toBe("https://open.bigmodel.cn/api/paas/v4/chat/completions")
        const authorization = zhipu.requests[0]!.headers.authorization!
        expect(authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/)
        expect(authorization).not.toContain(secret)
        const token = authorization.slice("Bearer ".length)
        const [header, payload, signature] = token.split(".") as [string, string, string]
        expect(decodePart(header)).toEqual({ alg: "HS256", sign_type: "SIGN" })
        expect(decodePart(payload)).toEqual({
          api_key: id,
          exp: 1_700_000_000_000 + 180_000,
          timestamp: 1_700_000_000_000
        })
        expect(signature).toBe(createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url"))

        // Reused until 30 s before it expires, then signed anew.
        yield* TestClock.adjust("149 seconds")
        yield* service.chat(hello, credentials)
        expect(zhipu.requests[1]!.headers.authorization).toBe(authorization)
        yield* TestClock.adjust("1 second")
        yield* service.chat(hello, credentials)
        const renewed = zhipu.requests[2]!.headers.authorization!
        expect(renewed).not.toBe(authorization)
        expect(decodePart(renewed.slice("Bearer ".length).split(".")[1]!)).toMatchObject({
          timestamp: 1_700_000_150_000
        })

        // Each key has its own token.
        yield* service.chat(hello, ProviderClient.credentials(`other.${secret}`))
        expect(decodePart(zhipu.requests[3]!.headers.authorization!.slice("Bearer ".length).split(".")[1]!))
          .toMatchObject({ api_key: "other" })
      })
  )

  it("a key without a dot is sent as a plain bearer token; sign is deterministic", () => {
    const auth = ZhipuJwt.auth()
    expect(auth(Redacted.make("plainkey0001"), 0)).toEqual({ authorization: "Bearer plainkey0001" })
    expect(auth(Redacted.make(".nodot"), 0)).toEqual({ authorization: "Bearer .nodot" })
    expect(ZhipuJwt.sign(id, secret, 5)).toBe(ZhipuJwt.sign(id, secret, 5))
    expect(ZhipuJwt.sign(id, secret, 5)).not.toBe(ZhipuJwt.sign(id, "other", 5))
  })

  it("a clock that went back gets a new token", () => {
    const auth = ZhipuJwt.auth()
    const key = Redacted.make(`${id}.${secret}`)
    const first = auth(key, 10_000)
    expect(auth(key, 10_000)).toEqual(first)
    expect(auth(key, 9_000)).not.toEqual(first)
  })
})
