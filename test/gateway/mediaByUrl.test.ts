/**
 * What a budgeted key reserves for a media part by URL, over every spelling of the URL (case, subdomains, trailing
 * dots, ports, userinfo, percent-encoding, full-width IDN letters), every declared type and every wire field a client
 * can carry a URL in: a part whose size cannot be known before the call is reserved at the model's context window of
 * input at its input price, the most the call can bill, or refused when the model has none; an image or a PDF by URL
 * is bounded by its kind only where the model's API reads the URL as that kind and nothing else.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import type { ChatRequest } from "../../src/ChatRequest.js"
import * as Engine from "../../src/internal/gateway/engine.js"
import * as Auth from "../../src/internal/gateway/keys/auth.js"
import * as Media from "../../src/internal/tokens/media.js"
import * as AnthropicDialect from "../../src/internal/wire/anthropic/dialect.js"
import * as GeminiDialect from "../../src/internal/wire/gemini/dialect.js"
import * as OpenAiChatDialect from "../../src/internal/wire/openAiChat/dialect.js"
import { inputMessages } from "../../src/internal/wire/openAiResponses/codec.js"
import * as ResponsesDialect from "../../src/internal/wire/openAiResponses/dialect.js"
import type { ImagePart } from "../../src/Message.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import { declaredTypes, namedForms, spelledUrl } from "../utils/mediaUrls.js"

const question = { type: "text", text: "What is this?" }

/** A wire field a client may put a URL in: the body it writes, and whether the gateway takes that field. */
interface Carrier {
  readonly name: string
  readonly takesUrls: boolean
  readonly decode: (url: string, declared: string | undefined) => Result.Result<ChatRequest, unknown>
}

const chat = (part: unknown) =>
  Result.map(
    OpenAiChatDialect.decode(
      JSON.stringify({ model: "m", max_tokens: 1, messages: [{ role: "user", content: [question, part] }] }),
      () => 0
    ),
    (decoded) => decoded.request
  )

const responses = (part: unknown) =>
  Result.flatMap(
    ResponsesDialect.decode(JSON.stringify({
      model: "m",
      max_output_tokens: 1,
      input: [{ role: "user", content: [{ type: "input_text", text: "What is this?" }, part] }]
    })),
    (checked) =>
      Result.flatMap(
        inputMessages(checked.body),
        (messages) => ResponsesDialect.request(checked.body, messages, checked.tools)
      )
  )

const anthropic = (block: unknown) =>
  Result.map(
    AnthropicDialect.decode(
      JSON.stringify({ model: "m", max_tokens: 1, messages: [{ role: "user", content: [question, block] }] })
    ),
    (decoded) => decoded.request
  )

const carriers: ReadonlyArray<Carrier> = [
  {
    name: "Chat Completions image_url",
    takesUrls: true,
    decode: (url) => chat({ type: "image_url", image_url: { url } })
  },
  {
    name: "Chat Completions file",
    takesUrls: false,
    decode: (url) => chat({ type: "file", file: { file_data: url, filename: "clip" } })
  },
  {
    name: "Responses input_image",
    takesUrls: true,
    decode: (url) => responses({ type: "input_image", image_url: url })
  },
  { name: "Responses input_file", takesUrls: false, decode: (url) => responses({ type: "input_file", file_url: url }) },
  {
    name: "Anthropic image",
    takesUrls: true,
    decode: (url) => anthropic({ type: "image", source: { type: "url", url } })
  },
  {
    name: "Anthropic document",
    takesUrls: true,
    decode: (url) => anthropic({ type: "document", source: { type: "url", url } })
  },
  {
    name: "Gemini fileData",
    takesUrls: true,
    decode: (url, declared) =>
      GeminiDialect.generate(JSON.stringify({
        contents: [{
          role: "user",
          parts: [{ text: "What is this?" }, {
            fileData: declared === undefined ? { fileUri: url } : { fileUri: url, mimeType: declared }
          }]
        }],
        generationConfig: { maxOutputTokens: 1 }
      }))
  }
]

// The media part a decoded request carries: its user turn's last part.
function partOf(request: ChatRequest): ImagePart {
  const content = request.messages.at(-1)?.content
  const part = typeof content === "string" ? undefined : content?.at(-1)
  expect(part?.type).toBe("image")
  return part as ImagePart
}

const pricing = { input_per_mtok: 0.3, output_per_mtok: 2.5 }
const window = 1_048_576

// Deployments as provider.json configures them: Gemini's adapter sends a part by URL as `fileData`, fetched as what
// the URL holds; the others send one only as an image (or an Anthropic PDF).
const configured = ProviderConfig.fromJson({
  google: [
    { model_name: "gemini-house", api: "gemini", api_keys: ["k"], pricing, context_window: window },
    { model_name: "gemini-unwindowed", api: "gemini", api_keys: ["k"], pricing },
    {
      model_name: "gemini-refusing",
      api: "gemini",
      api_keys: ["k"],
      pricing,
      context_window: window,
      media_by_url: "refuse"
    },
    { model_name: "gemini-2.5-flash", api: "gemini", api_keys: ["k"] }
  ],
  openai: [{ model_name: "gpt-house", api_keys: ["k"], pricing }],
  claude: [{ model_name: "claude-house", api: "anthropic", api_keys: ["k"], pricing }]
})

// The target of the named deployments, as the gateway's engine prices one.
const targetOf = (config: ProviderConfig.ProviderConfig, ...names: ReadonlyArray<string>) => ({
  price: Engine.worstPrice(names.map((name) => {
    const [provider, model] = name.split("/") as [string, string]
    const settings = config.providers[provider]![model]!
    const price = ProviderConfig.priceOf(settings)
    return price === undefined ? {} : { price }
  })),
  leastMaxTokens: 1
})

// The least a budget must reserve for a call: its prompt at the context window, its reply's one token (a float's
// rounding aside).
const atWindow = (input: number) => (window * input + 1 * pricing.output_per_mtok) / 1_000_000 * (1 - 1e-12)

describe("a part by URL is reserved at the most the call can bill, however the URL is spelled", () => {
  it.effect("through a model that fetches URLs: at its context window, or refused without one or where it says so", () =>
    Effect.gen(function*() {
      const config = yield* configured
      const fetched = targetOf(config, "google/gemini-house")
      const builtIn = targetOf(config, "google/gemini-2.5-flash")
      const mixed = targetOf(config, "google/gemini-house", "openai/gpt-house", "claude/claude-house")
      const unwindowed = targetOf(config, "google/gemini-unwindowed")
      const refusing = targetOf(config, "google/gemini-refusing", "google/gemini-house")
      fc.assert(
        fc.property(spelledUrl, declaredTypes, fc.constantFrom(...carriers), (url, declared, carrier) => {
          const decoded = carrier.decode(url, declared)
          expect(Result.isSuccess(decoded), `${carrier.name} of ${url}`).toBe(carrier.takesUrls)
          if (Result.isFailure(decoded)) return
          const request = decoded.success
          expect(partOf(request).url).toBe(url)
          for (const target of [fetched, mixed]) {
            expect(Auth.unbounded(target, request)).toBeUndefined()
            expect(Auth.worstCase(target, request)).toBeGreaterThanOrEqual(atWindow(pricing.input_per_mtok))
          }
          expect(Auth.worstCase(builtIn, request)).toBeGreaterThanOrEqual(
            atWindow(Pricing.builtIn["gemini-2.5-flash"]!.input)
          )
          for (const target of [unwindowed, refusing]) {
            const refusal = Auth.unbounded(target, request)
            expect(refusal?.status).toBe(400)
            expect(refusal?.message).toContain("messages[0].content[1] is ")
            expect(refusal?.message).toContain("media_by_url")
          }
        }),
        { numRuns: 400 }
      )
    }))

  it.effect("through a model that reads a URL only as its field's kind: an image or a PDF by its bound, else refused", () =>
    Effect.gen(function*() {
      const config = yield* configured
      const typed = targetOf(config, "openai/gpt-house", "claude/claude-house")
      fc.assert(
        fc.property(spelledUrl, declaredTypes, fc.constantFrom(...carriers), (url, declared, carrier) => {
          const decoded = carrier.decode(url, declared)
          if (Result.isFailure(decoded)) return
          const request = decoded.success
          const kind = Media.kindOf(partOf(request))
          const reserved = Auth.worstCase(typed, request) * 1_000_000 / pricing.input_per_mtok
          if (kind === "image") expect(reserved).toBeGreaterThanOrEqual(Pricing.defaultImageTokens)
          else if (kind === "pdf") {
            expect(reserved).toBeGreaterThanOrEqual(Media.mostPdfPages * Pricing.defaultPdfPageTokens)
          } else expect(Auth.unbounded(typed, request)?.status).toBe(400)
        }),
        { numRuns: 300 }
      )
    }))

  it.effect("the named forms: each reserved at the context window through Gemini, whatever its type says", () =>
    Effect.gen(function*() {
      const config = yield* configured
      const fetched = targetOf(config, "google/gemini-house")
      const gemini = carriers.find((carrier) => carrier.name === "Gemini fileData")!
      const reserved = namedForms.map((form) => {
        const request = Result.getOrThrow(gemini.decode(form.fileUri, form.mimeType))
        return Auth.worstCase(fetched, request)
      })
      for (const each of reserved) expect(each).toBeGreaterThanOrEqual(atWindow(pricing.input_per_mtok))
      // The spelling changes nothing: one reservation for them all.
      expect(new Set(reserved).size).toBe(1)
    }))
})
