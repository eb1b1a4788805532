import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, Message } from "effect-llm-router"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { Input as ChatRequest } from "../../src/ChatRequest.js"
import { instruction } from "../../src/internal/router/continuation.js"
import * as Llm from "../../src/Llm.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Router from "../../src/Router.js"
import * as Simulator from "../../src/simulator/Simulator.js"

const key = "sk-continue-key-000001"
const primary = "primary/gpt-4o-mini"

// A deployment on `simulator` over OpenAI's chat completions (no prefill), its fault header `fault`.
const chat = (simulator: Simulator.Simulator, model: string, fault?: string, extra?: Record<string, unknown>) => [{
  model_name: model,
  base_url: `${simulator.url}/v1`,
  api_keys: [key],
  max_retries: 0,
  ...(fault === undefined ? {} : { headers: { "x-simulator-fault": fault } }),
  ...extra
}]

// A deployment on `simulator` over Anthropic's Messages API, which takes a prefill.
const anthropic = (simulator: Simulator.Simulator, fault?: string) => [{
  ...chat(simulator, "sim-large", fault)[0],
  base_url: simulator.url,
  api: "anthropic"
}]

const ask: ChatRequest = { model: primary, messages: [Message.user("Tell me something")] }

/**
 * A router over `primary` (the simulator's `fault`, then `fallback/sim-large` on `on`), continuing mid-stream unless
 * `midStream` says otherwise, and `healthy/gpt-4o-mini`, which answers what the primary would have; `primaryExtra`:
 * more of the primary's fields; `more`: more providers.
 */
const routed = (
  fault: string,
  fallback: (simulator: Simulator.Simulator) => ReadonlyArray<Record<string, unknown>>,
  on: Router.ErrorTag,
  primaryExtra?: Record<string, unknown>,
  { midStream = "continue", more }: {
    readonly midStream?: Router.Options["midStream"]
    readonly more?: (simulator: Simulator.Simulator) => Record<string, ReadonlyArray<Record<string, unknown>>>
  } = {}
) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 12 })
    const config = yield* ProviderConfig.fromJson({
      primary: chat(simulator, "gpt-4o-mini", fault, primaryExtra),
      healthy: chat(simulator, "gpt-4o-mini"),
      fallback: fallback(simulator),
      ...more?.(simulator)
    })
    const context = yield* Layer.build(
      ProviderConfig.routerLayer(config, {
        midStream,
        fallbacks: { [primary]: [{ to: "fallback/sim-large", on: [on] }] }
      }).pipe(Layer.provide(NodeHttpClient.layerUndici))
    )
    return { llm: Context.get(context, Llm.Llm), router: Context.get(context, Router.Router), simulator }
  })

const textOf = (chunks: ReadonlyArray<ChatChunk.ChatChunk>) =>
  chunks.map((chunk) => chunk._tag === "TextDelta" ? chunk.text : "").join("")

/**
 * The primary's stream broken by `fault`: the chunks up to the `Continue` chunk, it, and those after; the whole
 * answer `collect` folds; what the primary would have answered whole; and the router.
 */
const continued = (
  fault: string,
  fallback: (simulator: Simulator.Simulator) => ReadonlyArray<Record<string, unknown>>,
  on: Router.ErrorTag,
  primaryExtra?: Record<string, unknown>,
  more?: (simulator: Simulator.Simulator) => Record<string, ReadonlyArray<Record<string, unknown>>>
) =>
  Effect.gen(function*() {
    const { llm, router } = yield* routed(fault, fallback, on, primaryExtra, more === undefined ? {} : { more })
    const chunks: Array<ChatChunk.ChatChunk> = []
    const answer = yield* ChatChunk.collect(
      Stream.tap(llm.chatStream(ask), (chunk) => Effect.sync(() => chunks.push(chunk)))
    )
    const at = chunks.findIndex((chunk) => chunk._tag === "Continue")
    const whole = yield* llm.chat({ ...ask, model: "healthy/gpt-4o-mini" })
    return {
      llm,
      router,
      answer,
      marker: chunks[at],
      before: textOf(chunks.slice(0, at)),
      after: textOf(chunks.slice(at + 1)),
      whole: whole.text
    }
  })

// The fallback's own answer to `messages` after the request's.
const answerTo = (llm: Llm.Service, ...messages: ReadonlyArray<Message.Message>) =>
  llm.chat({ model: "fallback/sim-large", messages: [...ask.messages, ...messages] })

describe("Router.chatStream, midStream \"continue\", over loopback", () => {
  it.live(
    "a stream cut after its first tokens goes on from a fallback without prefill, by a continuation turn: one " +
      "answer, the primary's part then the rest, named by the finisher, its usage both attempts'",
    () =>
      Effect.gen(function*() {
        // Both priced alike, so the answer's cost is its summed usage's at that price.
        const pricing = { input_per_mtok: 1, output_per_mtok: 2 }
        const run = yield* continued(
          "reset=5",
          (simulator) => chat(simulator, "sim-large", undefined, { pricing }),
          "TransportError",
          { pricing }
        )
        expect(run.marker).toEqual({
          _tag: "Continue",
          attempt: 2,
          deployment: "fallback/sim-large",
          model: "sim-large",
          from: primary,
          error: "TransportError"
        })
        // What went out before the cut is the start of what the primary would have answered.
        expect(run.before.length).toBeGreaterThan(0)
        expect(run.whole.startsWith(run.before) && run.whole !== run.before).toBe(true)
        // The fallback was asked for the rest by a turn holding exactly what went out.
        const rest = yield* answerTo(run.llm, Message.assistant(run.before), Message.user(instruction))
        expect(run.after).toBe(rest.text)
        expect(run.answer.text).toBe(run.before + rest.text)
        expect(run.answer.model).toBe("sim-large")
        // Both attempts' tokens: the cut one's counted locally, since its stream never reported them.
        expect(run.answer.usage.completionTokens).toBeGreaterThan(rest.usage.completionTokens)
        expect(run.answer.usage.promptTokens).toBeGreaterThan(rest.usage.promptTokens)
        expect(run.answer.usage.estimated).toBe(true)
        expect(run.answer.cost).toBeCloseTo(Pricing.cost({ input: 1, output: 2 }, run.answer.usage)!, 12)
      })
  )

  it.live("a fallback on Anthropic's API is asked by prefill, and its words go on from the text sent", () =>
    Effect.gen(function*() {
      const run = yield* continued("reset=5", (simulator) => anthropic(simulator), "TransportError")
      expect(run.marker).toMatchObject({ _tag: "Continue", deployment: "fallback/sim-large", model: "sim-large" })
      const rest = yield* answerTo(run.llm, Message.assistant(run.before))
      expect(run.after).toBe(rest.text)
      // The simulator goes on from a prefill as a model does: a space, then the next word.
      expect(run.after.startsWith(" ")).toBe(true)
      expect(run.answer.text).toBe(run.before + rest.text)
      expect(run.answer.model).toBe("sim-large")
    }))

  it.live("a chat completions fallback that declares `prefill` in its configuration is asked by prefill", () =>
    Effect.gen(function*() {
      const run = yield* continued(
        "reset=5",
        (simulator) => chat(simulator, "sim-large", undefined, { prefill: true }),
        "TransportError"
      )
      const rest = yield* answerTo(run.llm, Message.assistant(run.before))
      expect(run.after).toBe(rest.text)
      expect(run.answer.text).toBe(run.before + rest.text)
    }))

  // Compatible servers that go on from a last assistant message only when asked their vendor's way (the simulator's
  // `prefill=<flag>`), and the provider.json fields that declare it: the vllm preset's own, DeepSeek's by `prefill`.
  const styles = [
    { flag: "continue_final_message", fields: { preset: "vllm" } },
    { flag: "prefix", fields: { preset: "deepseek", prefill: "prefix" } }
  ] as const
  for (const { fields, flag } of styles) {
    it.live(
      `a compatible fallback that continues on \`${flag}\` (${JSON.stringify(fields)}) is asked by prefill with ` +
        "that flag, and its words go on from the text sent; without the flag the server starts a new message",
      () =>
        Effect.gen(function*() {
          const server = (simulator: Simulator.Simulator, extra: Record<string, unknown>) =>
            chat(simulator, "sim-large", `prefill=${flag}`, extra)
          const run = yield* continued(
            "reset=5",
            (simulator) => server(simulator, fields),
            "TransportError",
            undefined,
            (simulator) => ({ plain: server(simulator, { prefill: true }) })
          )
          expect(run.marker).toMatchObject({ _tag: "Continue", deployment: "fallback/sim-large", model: "sim-large" })
          const rest = yield* answerTo(run.llm, Message.assistant(run.before))
          expect(run.after).toBe(rest.text)
          expect(run.after.startsWith(" ")).toBe(true)
          expect(run.answer.text).toBe(run.before + rest.text)
          // The same server sent the last assistant message alone answers it with a new message.
          const fresh = yield* run.llm.chat({
            model: "plain/sim-large",
            messages: [...ask.messages, Message.assistant(run.before)]
          })
          expect(fresh.text.startsWith(" ")).toBe(false)
          expect(fresh.text).not.toBe(rest.text)
        })
    )
  }

  it.live(
    "a fallback that refuses the prefill (400) gets the continuation turn in the same attempt; the 400 is never " +
      "the answer, nor a failure of the deployment",
    () =>
      Effect.gen(function*() {
        const run = yield* continued("reset=5", (simulator) => anthropic(simulator, "prefill=refuse"), "TransportError")
        // One attempt on the fallback, which did not fail.
        const status = yield* run.router.status
        expect(status.details["fallback/sim-large"]!.requests).toBe(1)
        expect(status.details["fallback/sim-large"]!.failures).toBe(0)
        const refused = yield* Effect.flip(answerTo(run.llm, Message.assistant(run.before)))
        expect(refused._tag).toBe("InvalidRequestError")
        const rest = yield* answerTo(run.llm, Message.assistant(run.before), Message.user(instruction))
        expect(run.after).toBe(rest.text)
        expect(run.answer.text).toBe(run.before + rest.text)
      })
  )

  // Fallbacks that do not go on as asked (the simulator's `continuation=<mode>`): the answer is read once, or restarts.
  const once = (answer: string, part: string) => answer.indexOf(part) === answer.lastIndexOf(part)
  it.live("a fallback that starts its answer again word for word is forwarded from where the text sent stopped", () =>
    Effect.gen(function*() {
      const run = yield* continued(
        "reset=8",
        (simulator) => chat(simulator, "sim-large", "continuation=restart"),
        "TransportError"
      )
      const rest = yield* answerTo(run.llm, Message.assistant(run.before), Message.user(instruction))
      // The fallback said the sent text again, then went on; only what it added is forwarded.
      expect(rest.text.startsWith(run.before)).toBe(true)
      expect(run.answer.text).toBe(run.before + rest.text.slice(run.before.length))
      expect(once(run.answer.text, run.before)).toBe(true)
    }))

  it.live("a fallback that repeats the last words sent first is forwarded without the repeat", () =>
    Effect.gen(function*() {
      const run = yield* continued(
        "reset=10",
        (simulator) => chat(simulator, "sim-large", "continuation=repeat"),
        "TransportError"
      )
      const tail = run.before.split(" ").slice(-4).join(" ")
      expect(tail.length).toBeGreaterThan(16)
      expect(once(run.answer.text, tail)).toBe(true)
      expect(run.answer.text.startsWith(run.before)).toBe(true)
    }))

  it.live("a fallback that gives the answer again in other words restarts the stream: never the two as one", () =>
    Effect.gen(function*() {
      const { llm } = yield* routed(
        "reset=10",
        (simulator) => chat(simulator, "sim-large", "continuation=reword"),
        "TransportError"
      )
      const chunks = yield* Stream.runCollect(llm.chatStream(ask))
      const tags = chunks.map((chunk) => chunk._tag)
      expect(tags).toContain("Continue")
      const restart = tags.indexOf("Restart")
      expect(restart).toBeGreaterThan(tags.indexOf("Continue"))
      // What a consumer folds is the fallback's own answer alone, from the Restart on.
      const answer = yield* ChatChunk.collect(Stream.fromIterable(chunks))
      expect(answer.text).toBe(textOf(chunks.slice(restart + 1)))
      expect(answer.text.startsWith(textOf(chunks.slice(0, tags.indexOf("Continue"))))).toBe(false)
    }))

  it.live("a fallback that goes on as asked is forwarded as it is", () =>
    Effect.gen(function*() {
      const run = yield* continued(
        "reset=8",
        (simulator) => chat(simulator, "sim-large", "continuation=continue"),
        "TransportError"
      )
      const rest = yield* answerTo(run.llm, Message.assistant(run.before), Message.user(instruction))
      expect(run.answer.text).toBe(run.before + rest.text)
    }))

  it.live("a fallback that refused a prefill (400) is asked by the turn from then on, without a prefill first", () =>
    Effect.gen(function*() {
      const { llm, simulator } = yield* routed(
        "reset=5",
        (simulator) => anthropic(simulator, "prefill=refuse"),
        "TransportError"
      )
      // The fallback's requests for one broken stream: the prefill refused and the turn, then the turn alone.
      const requestsFor = Effect.gen(function*() {
        const before = (yield* simulator.stats).requests
        const answer = yield* ChatChunk.collect(llm.chatStream(ask))
        expect(answer.model).toBe("sim-large")
        // The primary's cut stream is one of them.
        return (yield* simulator.stats).requests - before - 1
      })
      expect(yield* requestsFor).toBe(2)
      expect(yield* requestsFor).toBe(1)
    }))

  it.live("a stalled stream (idle limit) is continued the same way", () =>
    Effect.gen(function*() {
      const run = yield* continued("stall=4", (simulator) => chat(simulator, "sim-large"), "TimeoutError", {
        idle_timeout: 0.3
      })
      expect(run.marker).toMatchObject({ _tag: "Continue", from: primary, error: "TimeoutError" })
      expect(run.whole.startsWith(run.before) && run.before.length > 0).toBe(true)
      const rest = yield* answerTo(run.llm, Message.assistant(run.before), Message.user(instruction))
      expect(run.answer.text).toBe(run.before + rest.text)
    }))

  it.live("a continuation the fallback refuses (400) fails as the stream broke, the refusal among its attempts", () =>
    Effect.gen(function*() {
      const { llm } = yield* routed(
        "reset=5",
        (simulator) => chat(simulator, "sim-large", "status=400"),
        "TransportError"
      )
      const chunks: Array<ChatChunk.ChatChunk> = []
      const error = yield* Stream.runForEach(llm.chatStream(ask), (chunk) => Effect.sync(() => chunks.push(chunk)))
        .pipe(Effect.flip)
      expect(error._tag).toBe("TransportError")
      expect(error.attempts?.map((attempt) => [attempt.deployment, attempt.error])).toEqual([
        [primary, "TransportError"],
        ["fallback/sim-large", "InvalidRequestError"]
      ])
      expect(textOf(chunks).length).toBeGreaterThan(0)
      expect(chunks.some((chunk) => chunk._tag === "Continue")).toBe(false)
    }))

  // Each fault fails the primary before its first chunk; `limits`: its phase limits, in seconds.
  const beforeFirstChunk = [
    { fault: "status=503", on: "ProviderUnavailableError", limits: {} },
    { fault: "silent=forever", on: "TimeoutError", limits: { headers_timeout: 0.3 } },
    { fault: "first-token=5000", on: "TimeoutError", limits: { first_token_timeout: 0.3 } }
  ] as const
  for (const { fault, limits, on } of beforeFirstChunk) {
    it.live(
      `a primary that fails before its first chunk (${fault}): the stream starts with a Start chunk naming the ` +
        "answerer and the failure, then the answerer's whole reply",
      () =>
        Effect.gen(function*() {
          const { llm } = yield* routed(fault, (simulator) => chat(simulator, "sim-large"), on, limits)
          const chunks: Array<ChatChunk.ChatChunk> = []
          const answer = yield* ChatChunk.collect(
            Stream.tap(llm.chatStream(ask), (chunk) => Effect.sync(() => chunks.push(chunk)))
          )
          expect(chunks[0]).toEqual({
            _tag: "Start",
            attempt: 2,
            deployment: "fallback/sim-large",
            model: "sim-large",
            from: primary,
            error: on
          })
          expect(chunks.filter((chunk) => chunk._tag === "Start")).toHaveLength(1)
          expect(chunks.some((chunk) => chunk._tag === "Continue" || chunk._tag === "Restart")).toBe(false)
          const alone = yield* llm.chat({ ...ask, model: "fallback/sim-large" })
          expect(answer.text).toBe(alone.text)
          expect(answer.usage).toEqual(alone.usage)
          expect(answer.model).toBe("sim-large")
        })
    )
  }

  it.live("a stream broken in a tool call is not continued: it fails with the break's error", () =>
    Effect.gen(function*() {
      const { llm } = yield* routed("reset=3", (simulator) => chat(simulator, "sim-large"), "TransportError")
      const chunks: Array<ChatChunk.ChatChunk> = []
      const error = yield* Stream.runForEach(
        llm.chatStream({
          ...ask,
          tools: [{ name: "lookup", parameters: { type: "object", properties: { q: { type: "string" } } } }],
          toolChoice: "required"
        }),
        (chunk) => Effect.sync(() => chunks.push(chunk))
      ).pipe(Effect.flip)
      expect(error._tag).toBe("TransportError")
      expect(chunks.some((chunk) => chunk._tag === "ToolCallDelta")).toBe(true)
      expect(chunks.some((chunk) => chunk._tag === "Continue")).toBe(false)
    }))
})

describe("Router.chatStream, the other midStream modes, over loopback", () => {
  for (const midStream of ["restart", "fail"] as const) {
    it.live(
      `midStream "${midStream}": a primary that fails before its first chunk starts the stream with the same ` +
        "Start chunk naming the answerer",
      () =>
        Effect.gen(function*() {
          const { llm } = yield* routed(
            "status=503",
            (simulator) => chat(simulator, "sim-large"),
            "ProviderUnavailableError",
            undefined,
            { midStream }
          )
          const chunks = yield* Stream.runCollect(llm.chatStream(ask))
          expect(chunks[0]).toEqual({
            _tag: "Start",
            attempt: 2,
            deployment: "fallback/sim-large",
            model: "sim-large",
            from: primary,
            error: "ProviderUnavailableError"
          })
          expect(chunks.filter((chunk) => chunk._tag === "Start")).toHaveLength(1)
          expect(chunks.some((chunk) => chunk._tag === "Continue" || chunk._tag === "Restart")).toBe(false)
          const answer = yield* ChatChunk.collect(Stream.fromIterable(chunks))
          expect(answer.text).toBe((yield* llm.chat({ ...ask, model: "fallback/sim-large" })).text)
        })
    )
  }
})
