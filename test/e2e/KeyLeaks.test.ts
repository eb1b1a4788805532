/**
 * A provider that echoes the key back (the simulator's `echo-key` fault): the
 * key must not reach any field of the error, its message, `Cause.pretty`, its
 * JSON, a log line, or the command line's output, through any adapter,
 * streamed or not.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  Anthropic,
  ChatChunk,
  Gemini,
  KeyPool,
  Llm,
  LlmError,
  Message,
  OpenAiChat,
  OpenAiResponses,
  RateLimiter,
  UndiciHttpClient
} from "effect-llm-router"
import { Simulator } from "effect-llm-router/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Chat from "../../src/cli/chat.js"
import { SkippedEvents } from "../../src/internal/transport/skippedEvents.js"
import { captureIo } from "../utils/cliHarness.js"
import { registryInMemory } from "../utils/memoryStores.js"

const KEY = "sk-proj-echoed-secret-0123456789abcdefghijklmnop"
const MASKED = LlmError.maskKey(KEY)
const request = { model: "sim-small", messages: [Message.user("Hi")] }

const adapters = {
  "chat-completions": (url: string, fault: string) =>
    OpenAiChat.layer({ baseUrl: `${url}/v1`, headers: { [Simulator.faultHeader]: fault } }),
  responses: (url: string, fault: string) =>
    OpenAiResponses.layer({ baseUrl: `${url}/v1`, headers: { [Simulator.faultHeader]: fault } }),
  anthropic: (url: string, fault: string) =>
    Anthropic.layer({ baseUrl: url, headers: { [Simulator.faultHeader]: fault } }),
  gemini: (url: string, fault: string) => Gemini.layer({ baseUrl: url, headers: { [Simulator.faultHeader]: fault } })
}

/** Runs `effect` with a logger that keeps every line it logs (message, cause and annotations), at every level. */
const withLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const lines: Array<string> = []
    const logger = Logger.make((options) => {
      lines.push(
        [
          options.logLevel,
          ...(Array.isArray(options.message) ? options.message : [options.message]).map((part) =>
            typeof part === "string" ? part : JSON.stringify(part)
          ),
          Cause.pretty(options.cause),
          JSON.stringify(options.fiber.getRef(References.CurrentLogAnnotations))
        ].join(" ")
      )
    })
    return Effect.map(
      Effect.provide(Effect.withLogSpan(effect, "call"), Logger.layer([logger])),
      (a): [A, ReadonlyArray<string>] => [a, lines]
    )
  })

/** Every way an error is shown: each field, its message, `String`, `Cause.pretty`, JSON, its encoded schema form. */
const renderings = (error: LlmError.LlmError): ReadonlyArray<string> => [
  ...Object.values(error).map((value) => typeof value === "string" ? value : JSON.stringify(value) ?? ""),
  error.message,
  String(error),
  Cause.pretty(Cause.fail(error)),
  JSON.stringify(error),
  JSON.stringify(Schema.encodeSync(LlmError.LlmError)(error))
]

const failure = (api: keyof typeof adapters, url: string, fault: string, streamed: boolean) =>
  Effect.gen(function*() {
    const layer = Llm.layer({ model: "sim-small" }).pipe(
      Layer.provide(adapters[api](url, fault)),
      Layer.provide(KeyPool.layer({ providerId: api, keys: [KEY] })),
      Layer.provide(registryInMemory),
      Layer.provide(RateLimiter.unlimited),
      Layer.provide(UndiciHttpClient.layer())
    )
    const call = streamed ? ChatChunk.collect(Llm.chatStream(request)) : Llm.chat(request)
    // The application logs the failure, as one would.
    return yield* withLogs(
      Effect.flip(Effect.tapCause(call, (cause) => Effect.logError("the call failed", cause))).pipe(
        Effect.provide(layer)
      )
    )
  })

describe("a provider that echoes the key", () => {
  it("the simulator's echo-key fault parses, and names what is wrong", () => {
    expect(Simulator.decodeFault("echo-key=error")).toEqual(Result.succeed({ _tag: "EchoKey", where: "error" }))
    expect(Simulator.decodeFault("echo-key=body")).toEqual(Result.succeed({ _tag: "EchoKey", where: "body" }))
    expect(Simulator.decodeFault("echo-key=header")).toEqual(
      Result.fail(`"echo-key" needs error or body, got "header"`)
    )
    expect(Simulator.decodeFault("echo-key=error;status=401")).toEqual(
      Result.fail(`"echo-key" takes no parameters, got "status"`)
    )
  })

  it.live("never gets it into an error, its message, Cause.pretty, JSON or a log line, through any adapter", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make()
      for (const api of Object.keys(adapters) as Array<keyof typeof adapters>) {
        for (const streamed of [false, true]) {
          const [echoed, echoedLogs] = yield* failure(api, simulator.url, "echo-key=error", streamed)
          const [raw, rawLogs] = yield* failure(api, simulator.url, "echo-key=body", streamed)
          const where = `${api}, ${streamed ? "streamed" : "whole"}`
          expect(echoed._tag, where).toBe("InvalidRequestError")
          expect(raw._tag, where).toBe("OutputDecodeError")
          for (const text of [...renderings(echoed), ...renderings(raw), ...echoedLogs, ...rawLogs]) {
            expect(text, where).not.toContain(KEY)
            // Nor a long piece of it (a raw body or detail cut short in the middle of the key).
            expect(text, where).not.toContain(KEY.slice(0, 20))
          }
          // Masked, not dropped: the provider's words stay readable.
          expect(echoed.message, where).toContain(MASKED)
          expect((raw as LlmError.OutputDecodeError).raw, where).toContain(MASKED)
          expect(echoedLogs.length, where).toBeGreaterThan(0)
        }
      }
      // Chat Completions names the field the provider echoed: it is masked too.
      const [chat] = yield* failure("chat-completions", simulator.url, "echo-key=error", false)
      expect((chat as LlmError.InvalidRequestError).param).toBe(MASKED)
      expect((chat as LlmError.InvalidRequestError).code).toBe(`denied:${MASKED}`)
    }))

  it.effect("never gets it into the warning about a stream event that is not JSON", () =>
    Effect.gen(function*() {
      const skipped = new SkippedEvents(() => ({ provider: "openai", model: "gpt-4o-mini" }))
      skipped.skip(`{"error": "key ${KEY} is not allowed", broken`)
      const [, lines] = yield* withLogs(skipped.report)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain("key <masked> is not")
      expect(lines[0]).not.toContain(KEY.slice(0, 12))
    }))

  it.live("never gets it into the command line's output, plain or --json, streamed or not", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make()
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "elr-key-leaks-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      for (const where of ["error", "body"]) {
        const file = path.join(dir, `provider-${where}.json`)
        fs.writeFileSync(
          file,
          JSON.stringify({
            sim: [{
              model_name: "sim-small",
              api_keys: [KEY],
              base_url: `${simulator.url}/v1`,
              headers: { [Simulator.faultHeader]: `echo-key=${where}` }
            }]
          })
        )
        for (const mode of [[], ["--no-stream"], ["--json"], ["--json", "--no-stream"]]) {
          const { io, result } = captureIo()
          const out = result(yield* Chat.run(["--config", file, ...mode, "Hi"], io))
          expect(out.code).toBe(1)
          expect(out.stderr).toMatch(where === "error" ? /^InvalidRequestError: / : /^OutputDecodeError: /)
          expect(out.stdout + out.stderr).not.toContain(KEY)
          expect(out.stdout + out.stderr).not.toContain(KEY.slice(0, 20))
        }
      }
    }))
})
