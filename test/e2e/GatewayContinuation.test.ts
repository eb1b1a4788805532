import type Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import type { GoogleGenAI } from "@google/genai"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { answerTo, continuedFrom, question } from "../utils/continuationTurns.js"
import { gatewayClients } from "../utils/gatewayClients.js"
import { testAdminKey, testAdmins } from "../utils/gatewayHarness.js"
import { type Sample, scrape, valueOf } from "../utils/prometheus.js"
import { jsonLines, logLineOf } from "../utils/requestLines.js"

const key = "sk-continue-gateway-0001"

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  readonly openAi: OpenAI
  readonly anthropic: Anthropic
  readonly google: GoogleGenAI
  readonly lines: ReadonlyArray<string>
}>()("test/GatewayContinuationFixture") {}

// A deployment of `model` on the simulator over chat completions, with the fault header `fault`.
const chat = (simulator: Simulator.Simulator, model: string, fault?: string, extra?: Record<string, unknown>) => [{
  model_name: model,
  base_url: `${simulator.url}/v1`,
  api_keys: [key],
  max_retries: 0,
  ...(fault === undefined ? {} : { headers: { "x-simulator-fault": fault } }),
  ...extra
}]

// `sim-large` on the simulator over Anthropic's Messages API (which takes a prefill), with the fault header `fault`.
const messagesApi = (simulator: Simulator.Simulator, fault?: string) => [{
  ...chat(simulator, "sim-large", fault)[0],
  base_url: simulator.url,
  api: "anthropic"
}]

// A router of two deployments tried in order, the first's breaker never opening in these tests. No `mid_stream`:
// the gateway's default, "continue".
const inOrder = (first: string, then: string) => ({
  deployments: [first, then],
  strategy: "priority",
  cooldown: { failures: 100 }
})

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 12 })
    const config = yield* ProviderConfig.fromJson({
      sim: chat(simulator, "gpt-4o-mini"),
      cut: chat(simulator, "gpt-4o-mini", "reset=5"),
      stalled: chat(simulator, "gpt-4o-mini", "stall=4", { idle_timeout: 0.3 }),
      down: chat(simulator, "gpt-4o-mini", "status=503;retry-after=none"),
      fallback: chat(simulator, "sim-large"),
      // Fallbacks that do not go on as asked: they start again word for word, repeat the last words sent, or give the
      // answer again in other words (the simulator's `continuation=<mode>`).
      restarting: chat(simulator, "sim-large", "continuation=restart"),
      repeating: chat(simulator, "sim-large", "continuation=repeat"),
      rewording: chat(simulator, "sim-large", "continuation=reword"),
      cutLate: chat(simulator, "gpt-4o-mini", "reset=10"),
      // An answer of 40 words, its last ending a sentence, cut before its end; a fallback that restarts it and adds 20.
      cutSentence: chat(simulator, "gpt-4o-mini", undefined, {
        headers: { "x-simulator-fault": "reset=41", "x-simulator-reply-tokens": "40" }
      }),
      restartingLong: chat(simulator, "sim-large", undefined, {
        headers: { "x-simulator-fault": "continuation=restart", "x-simulator-reply-tokens": "20" }
      }),
      refusingAll: chat(simulator, "sim-large", "status=400"),
      claude: messagesApi(simulator),
      refusing: messagesApi(simulator, "prefill=refuse"),
      // A vLLM server: it goes on from a last assistant message only when asked by `continue_final_message`.
      vllm: [{ ...chat(simulator, "sim-large", "prefill=continue_final_message")[0], preset: "vllm" }],
      router: {
        "cut-then-chat": inOrder("cut/gpt-4o-mini", "fallback/sim-large"),
        "stalled-then-chat": inOrder("stalled/gpt-4o-mini", "fallback/sim-large"),
        "down-then-chat": inOrder("down/gpt-4o-mini", "fallback/sim-large"),
        "down-then-chat-restarting": { ...inOrder("down/gpt-4o-mini", "fallback/sim-large"), mid_stream: "restart" },
        "cut-then-claude": inOrder("cut/gpt-4o-mini", "claude/sim-large"),
        "cut-then-refusing": inOrder("cut/gpt-4o-mini", "refusing/sim-large"),
        "cut-then-vllm": inOrder("cut/gpt-4o-mini", "vllm/sim-large"),
        "cut-then-refusing-all": inOrder("cut/gpt-4o-mini", "refusingAll/sim-large"),
        "cut-then-chat-restarting": { ...inOrder("cut/gpt-4o-mini", "fallback/sim-large"), mid_stream: "restart" },
        "cut-then-restarting": inOrder("cut/gpt-4o-mini", "restarting/sim-large"),
        "cut-late-then-repeating": inOrder("cutLate/gpt-4o-mini", "repeating/sim-large"),
        "cut-then-rewording": inOrder("cut/gpt-4o-mini", "rewording/sim-large"),
        "cut-sentence-then-restarting": inOrder("cutSentence/gpt-4o-mini", "restartingLong/sim-large")
      }
    })
    const lines: Array<string> = []
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      adminKeys: testAdmins,
      logRequests: true
    })
      .pipe(Effect.provide(jsonLines(lines)))
    const { anthropic, google, openai } = gatewayClients(gateway.url)
    return { gateway, lines, openAi: openai, anthropic, google }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

interface Streamed {
  readonly id: string
  /** Each chunk's model and text. */
  readonly chunks: ReadonlyArray<{ readonly model: string; readonly text: string }>
  readonly completionTokens: number
}

// The question streamed to `model` with the official openai client, read to its end.
const streamed = (openAi: OpenAI, model: string) =>
  promise(async (): Promise<Streamed> => {
    const { data, response } = await openAi.chat.completions.create({
      model,
      messages: [{ role: "user", content: question }],
      stream: true,
      stream_options: { include_usage: true }
    }).withResponse()
    const chunks: Array<{ model: string; text: string }> = []
    let completionTokens = 0
    for await (const chunk of data) {
      chunks.push({ model: chunk.model, text: chunk.choices[0]?.delta.content ?? "" })
      if (chunk.usage) completionTokens = chunk.usage.completion_tokens
    }
    return { id: response.headers.get("x-request-id")!, chunks, completionTokens }
  })

// The question streamed to `model` with the official openai client until it raises: the text before, and the error.
const failedStream = (openAi: OpenAI, model: string) =>
  promise(async () => {
    const { data, response } = await openAi.chat.completions.create({
      model,
      messages: [{ role: "user", content: question }],
      stream: true
    }).withResponse()
    let text = ""
    let error: unknown
    try {
      for await (const chunk of data) text += chunk.choices[0]?.delta.content ?? ""
    } catch (raised) {
      error = raised
    }
    return { id: response.headers.get("x-request-id")!, text, error }
  })

const textOf = (chunks: Streamed["chunks"]) => chunks.map((chunk) => chunk.text).join("")

// Through the OpenAI endpoint: what the primary sent before the break (the chunks naming its model, gpt-4o-mini, from
// the first), the rest (those naming the fallback's), and the stream.
const split = (openAi: OpenAI, model: string) =>
  Effect.map(streamed(openAi, model), (stream) => {
    expect(stream.chunks[0]!.model).toBe("gpt-4o-mini")
    const at = stream.chunks.findIndex((chunk) => chunk.model !== "gpt-4o-mini")
    return { stream, before: textOf(stream.chunks.slice(0, at)), after: textOf(stream.chunks.slice(at)) }
  })

// The gateway and the simulator run on the live clock.
layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway: a stream broken mid-way is continued by the next deployment, in the same stream",
  (it) => {
    it.effect(
      "openai client: one whole answer, the primary's part then the fallback's continuation turn, its chunks after " +
        "the break and its last naming the finisher, its usage both attempts', its log line the break and both " +
        "deployments",
      () =>
        Effect.gen(function*() {
          const { gateway, lines, openAi } = yield* Fixture
          const continued = (samples: ReadonlyArray<Sample>) =>
            valueOf(samples, "llm_gateway_streams_continued_total", { model: "cut-then-chat" })
          const counted = continued((yield* scrape(gateway.url, testAdminKey)).samples)
          const { after, before, stream } = yield* split(openAi, "cut-then-chat")
          expect(continued((yield* scrape(gateway.url, testAdminKey)).samples)).toBe(counted + 1)
          const whole = yield* answerTo(openAi, "sim/gpt-4o-mini")
          expect(before.length).toBeGreaterThan(0)
          expect(whole.startsWith(before) && whole !== before).toBe(true)
          const rest = yield* continuedFrom(openAi, "fallback/sim-large", before)
          expect(after).toBe(rest)
          expect(stream.chunks.at(-1)!.model).toBe("sim-large")
          expect(stream.chunks.filter((chunk) => chunk.model === "sim-large").length).toBeGreaterThan(1)
          expect(stream.completionTokens).toBeGreaterThan(12)
          const line = yield* logLineOf(lines, stream.id)
          expect(line).toMatchObject({
            status: 200,
            error: "TransportError",
            deployment: "fallback/sim-large",
            mid_stream: "continued",
            failed_deployment: "cut/gpt-4o-mini"
          })
        })
    )

    it.effect("a stream that stalls past its idle limit is continued the same way", () =>
      Effect.gen(function*() {
        const { lines, openAi } = yield* Fixture
        const { after, before, stream } = yield* split(openAi, "stalled-then-chat")
        const whole = yield* answerTo(openAi, "sim/gpt-4o-mini")
        expect(before.length > 0 && whole.startsWith(before)).toBe(true)
        const rest = yield* continuedFrom(openAi, "fallback/sim-large", before)
        expect(after).toBe(rest)
        expect(yield* logLineOf(lines, stream.id)).toMatchObject({
          error: "TimeoutError",
          deployment: "fallback/sim-large",
          failed_deployment: "stalled/gpt-4o-mini"
        })
      }))

    for (const router of ["down-then-chat", "down-then-chat-restarting"]) {
      it.effect(
        `${router}: a primary down before its first token: the fallback's answer, every chunk naming the fallback's ` +
          "model, in OpenAI's stream and in Anthropic's message_start; the log line names the failure, not as " +
          "mid-stream",
        () =>
          Effect.gen(function*() {
            const { anthropic, lines, openAi } = yield* Fixture
            const stream = yield* streamed(openAi, router)
            expect(textOf(stream.chunks)).toBe(yield* answerTo(openAi, "fallback/sim-large"))
            expect(new Set(stream.chunks.map((chunk) => chunk.model))).toEqual(new Set(["sim-large"]))
            const line = yield* logLineOf(lines, stream.id)
            expect(line).toMatchObject({
              status: 200,
              error: "ProviderUnavailableError",
              deployment: "fallback/sim-large",
              failed_deployment: "down/gpt-4o-mini"
            })
            expect(line!["mid_stream"]).toBeUndefined()
            const message = yield* promise(() =>
              anthropic.messages.stream({
                model: router,
                max_tokens: 256,
                messages: [{ role: "user", content: question }]
              }).finalMessage()
            )
            expect(message.model).toBe("sim-large")
          })
      )
    }

    it.effect(
      "openai client: a continuation that cannot be made (the fallback refuses it, 400) ends the stream with an " +
        "error event after the text sent; the log line holds the break's error",
      () =>
        Effect.gen(function*() {
          const { lines, openAi } = yield* Fixture
          const { before } = yield* split(openAi, "cut-then-chat")
          const read = yield* failedStream(openAi, "cut-then-refusing-all")
          expect(read.error).toBeInstanceOf(OpenAI.APIError)
          expect(read.text).toBe(before)
          expect(yield* logLineOf(lines, read.id)).toMatchObject({ status: 200, error: "TransportError" })
        })
    )

    it.effect(
      "openai client, mid_stream \"restart\": a break after text went out ends the stream with the error event " +
        "stream_restarted; the log line holds the break's error, the deployment that broke and the one that took over",
      () =>
        Effect.gen(function*() {
          const { lines, openAi } = yield* Fixture
          const read = yield* failedStream(openAi, "cut-then-chat-restarting")
          expect((read.error as InstanceType<typeof OpenAI.APIError>).code).toBe("stream_restarted")
          expect(read.text.length).toBeGreaterThan(0)
          expect(yield* logLineOf(lines, read.id)).toMatchObject({
            error: "TransportError",
            deployment: "fallback/sim-large",
            mid_stream: "restarted",
            failed_deployment: "cut/gpt-4o-mini"
          })
        })
    )

    it.effect(
      "openai client: a fallback on the vllm preset continues by prefill with vLLM's flags; one answer, its words " +
        "going on from the primary's, its last chunk naming the finisher",
      () =>
        Effect.gen(function*() {
          const { openAi } = yield* Fixture
          const { after, before, stream } = yield* split(openAi, "cut-then-vllm")
          const rest = yield* answerTo(openAi, "vllm/sim-large", { role: "assistant", content: before })
          expect(before.length).toBeGreaterThan(0)
          expect(rest.startsWith(" ")).toBe(true)
          expect(after).toBe(rest)
          expect(stream.chunks.at(-1)!.model).toBe("sim-large")
        })
    )

    it.effect(
      "@anthropic-ai/sdk: a fallback on Anthropic's API continues by prefill; the SDK's message is the whole answer " +
        "and its usage both attempts'; the log line names the break and the finisher",
      () =>
        Effect.gen(function*() {
          const { anthropic, lines, openAi } = yield* Fixture
          // The part the primary sends before its cut, as the OpenAI endpoint shows it.
          const { before } = yield* split(openAi, "cut-then-chat")
          const stream = anthropic.messages.stream({
            model: "cut-then-claude",
            max_tokens: 256,
            messages: [{ role: "user", content: question }]
          })
          const message = yield* promise(() => stream.finalMessage())
          const text = message.content.map((block) => block.type === "text" ? block.text : "").join("")
          const rest = yield* answerTo(openAi, "claude/sim-large", { role: "assistant", content: before })
          expect(rest.startsWith(" ")).toBe(true)
          expect(text).toBe(before + rest)
          expect(message.usage.output_tokens).toBeGreaterThan(12)
          const id = (yield* promise(() => stream.withResponse())).response.headers.get("x-request-id")!
          expect(yield* logLineOf(lines, id)).toMatchObject({
            status: 200,
            error: "TransportError",
            deployment: "claude/sim-large",
            mid_stream: "continued",
            failed_deployment: "cut/gpt-4o-mini"
          })
        })
    )

    // Read once: `part` appears in `text` at most once.
    const once = (text: string, part: string) => text.indexOf(part) === text.lastIndexOf(part)

    it.effect("openai client: a fallback that starts its answer again gets only what it added forwarded", () =>
      Effect.gen(function*() {
        const { openAi } = yield* Fixture
        const { after, before, stream } = yield* split(openAi, "cut-then-restarting")
        const rest = yield* continuedFrom(openAi, "restarting/sim-large", before)
        expect(rest.startsWith(before)).toBe(true)
        expect(after).toBe(rest.slice(before.length))
        expect(once(textOf(stream.chunks), before)).toBe(true)
      }))

    it.effect(
      "openai client: cut after 40 words of 60 at a sentence's end, a fallback that restarts: the client gets all 60 " +
        "words, the 41st after the 40th's full stop and a space",
      () =>
        Effect.gen(function*() {
          const { openAi } = yield* Fixture
          const { after, before, stream } = yield* split(openAi, "cut-sentence-then-restarting")
          const text = textOf(stream.chunks)
          expect(before.split(" ")).toHaveLength(40)
          expect(before.endsWith(".")).toBe(true)
          const restarted = yield* continuedFrom(openAi, "restartingLong/sim-large", before)
          expect(restarted.startsWith(`${before} `)).toBe(true)
          expect(text).toBe(restarted)
          expect(after).toBe(restarted.slice(before.length))
          expect(text.split(/\s+/)).toHaveLength(60)
          expect(text.split(/\s+/).every((word) => /^[A-Za-z]+\.?$/.test(word))).toBe(true)
        })
    )

    it.effect("openai client: a fallback that repeats the last words sent gets them dropped", () =>
      Effect.gen(function*() {
        const { openAi } = yield* Fixture
        const { before, stream } = yield* split(openAi, "cut-late-then-repeating")
        const tail = before.split(" ").slice(-4).join(" ")
        const text = textOf(stream.chunks)
        expect(text.startsWith(before)).toBe(true)
        expect(once(text, tail)).toBe(true)
      }))

    it.effect(
      "openai client and @anthropic-ai/sdk: a fallback that answers again in other words ends the stream with an " +
        "error event after the part sent, never the two answers as one",
      () =>
        Effect.gen(function*() {
          const { anthropic, openAi } = yield* Fixture
          const { before } = yield* split(openAi, "cut-then-chat")
          const failed = yield* failedStream(openAi, "cut-then-rewording")
          expect(failed.error).toBeInstanceOf(Error)
          expect(failed.text).toBe(before)
          const raised = yield* promise(() =>
            anthropic.messages.stream({
              model: "cut-then-rewording",
              max_tokens: 256,
              messages: [{ role: "user", content: question }]
            }).finalMessage().then(() => undefined, (error: unknown) => error)
          )
          expect(raised).toBeInstanceOf(Error)
        })
    )

    it.effect(
      "@google/genai: a fallback that starts again gives one answer; one that answers in other words raises",
      () =>
        Effect.gen(function*() {
          const { google, openAi } = yield* Fixture
          const { before } = yield* split(openAi, "cut-then-chat")
          const streamedText = (model: string) =>
            promise(async () => {
              let text = ""
              try {
                const stream = await google.models.generateContentStream({ model, contents: question })
                for await (const chunk of stream) text += chunk.text ?? ""
                return { text, error: undefined }
              } catch (error) {
                return { text, error }
              }
            })
          const restarted = yield* streamedText("cut-then-restarting")
          expect(restarted.error).toBeUndefined()
          expect(restarted.text.startsWith(before)).toBe(true)
          expect(once(restarted.text, before)).toBe(true)
          const reworded = yield* streamedText("cut-then-rewording")
          expect(reworded.error).toBeInstanceOf(Error)
          expect(reworded.text).toBe(before)
        })
    )

    it.effect("@anthropic-ai/sdk: a fallback that starts its answer again gives one answer", () =>
      Effect.gen(function*() {
        const { anthropic, openAi } = yield* Fixture
        const { before } = yield* split(openAi, "cut-then-chat")
        const message = yield* promise(() =>
          anthropic.messages.stream({
            model: "cut-then-restarting",
            max_tokens: 256,
            messages: [{ role: "user", content: question }]
          }).finalMessage()
        )
        const text = message.content.map((block) => block.type === "text" ? block.text : "").join("")
        expect(text.startsWith(before)).toBe(true)
        expect(once(text, before)).toBe(true)
        expect(message.stop_reason).toBe("end_turn")
      }))

    it.effect("@anthropic-ai/sdk: a fallback that refuses the prefill (400) answers the continuation turn instead", () =>
      Effect.gen(function*() {
        const { anthropic, openAi } = yield* Fixture
        const { before } = yield* split(openAi, "cut-then-chat")
        const message = yield* promise(() =>
          anthropic.messages.stream({
            model: "cut-then-refusing",
            max_tokens: 256,
            messages: [{ role: "user", content: question }]
          }).finalMessage()
        )
        const text = message.content.map((block) => block.type === "text" ? block.text : "").join("")
        const rest = yield* continuedFrom(openAi, "refusing/sim-large", before)
        expect(text).toBe(before + rest)
        expect(message.stop_reason).toBe("end_turn")
      }))

    it.effect(
      "Responses (openai client) and Gemini streams: one whole answer, the completed response and the last " +
        "chunk naming the finisher",
      () =>
        Effect.gen(function*() {
          const { gateway, openAi } = yield* Fixture
          const { before } = yield* split(openAi, "cut-then-chat")
          const rest = yield* continuedFrom(openAi, "fallback/sim-large", before)
          const completed = yield* promise(async () => {
            const stream = await openAi.responses.create({ model: "cut-then-chat", input: question, stream: true })
            let text = ""
            let model = ""
            for await (const event of stream) {
              if (event.type === "response.output_text.delta") text += event.delta
              if (event.type === "response.completed") model = event.response.model
            }
            return { text, model }
          })
          expect(completed).toEqual({ text: before + rest, model: "sim-large" })
          // Gemini's stream: the same answer, its chunks after the break and its last naming the finisher.
          const gemini = yield* promise(async () => {
            const response = await fetch(`${gateway.url}/v1beta/models/cut-then-chat:streamGenerateContent?alt=sse`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: question }] }] })
            })
            const events = (await response.text()).split("\r\n\r\n").filter((event) => event.startsWith("data: "))
            return events.map((event) => {
              const chunk = JSON.parse(event.slice(6)) as {
                readonly modelVersion: string
                readonly candidates: ReadonlyArray<
                  { readonly content: { readonly parts: ReadonlyArray<{ text?: string }> } }
                >
              }
              return {
                model: chunk.modelVersion,
                text: chunk.candidates[0]!.content.parts.map((part) => part.text ?? "").join("")
              }
            })
          })
          // The primary's chunks name its model from the first, not the router's name.
          expect(gemini[0]!.model).toBe("gpt-4o-mini")
          const at = gemini.findIndex((chunk) => chunk.model !== "gpt-4o-mini")
          expect(textOf(gemini.slice(0, at))).toBe(before)
          expect(textOf(gemini.slice(at))).toBe(rest)
          expect(gemini.at(-1)!.model).toBe("sim-large")
        })
    )
  }
)
