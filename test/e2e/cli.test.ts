import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as ChatChunk from "../../src/ChatChunk.js"
import * as Chat from "../../src/cli/chat.js"
import { apis } from "../../src/cli/chatArgs.js"
import { printStream } from "../../src/cli/chatOutput.js"
import { keyVariable } from "../../src/cli/chatSource.js"
import * as Simulate from "../../src/cli/simulate.js"
import { chatUsage } from "../../src/cli/usage.js"
import * as Presets from "../../src/providers/Presets.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import {
  awaitFirstLine,
  type Captured,
  captureIo,
  EndedEarly,
  envWithoutKeys,
  recorder,
  spawnCli,
  startCli,
  startInProcess
} from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"

const KEY = "sk-cli-test-secret-0123456789abcdef"
const OTHER_KEY = "sk-cli-other-secret-9876543210fedcba"
const WRONG_KEY = "sk-cli-wrong-secret-5555555555555555"
const PROMPT = "Tell me about Effect."

/** Runs `chat` in-process and checks that no key reached its output. */
const chat = (
  argv: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly stdin?: string } = {}
) =>
  Effect.gen(function*() {
    const { io, result } = captureIo(options)
    const captured = result(yield* Chat.run(argv, io, { simulator: { port: 0, replyTokens: 12 } }))
    for (const key of [KEY, OTHER_KEY, WRONG_KEY]) {
      expect(captured.stdout).not.toContain(key)
      expect(captured.stderr).not.toContain(key)
    }
    return captured
  })

const firstLine = (text: string) => text.split("\n", 1)[0]!

/** The simulator's reply to the prompt, fetched without the CLI. */
const referenceReply = (sim: Simulator.Simulator, model = "gpt-4o-mini") =>
  Effect.promise(async () => {
    const response = await fetch(`${sim.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ model, messages: [{ role: "user", content: PROMPT }] })
    })
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }> }
    return body.choices[0]!.message.content
  })

const simulator = (options: Simulator.Options = {}) => Simulator.make({ apiKeys: [KEY, OTHER_KEY], ...options })

const direct = (sim: Simulator.Simulator, ...rest: ReadonlyArray<string>) => [
  "--base-url",
  `${sim.url}/v1`,
  "--key",
  KEY,
  ...rest
]

const expectUsageError = (captured: Captured, reason: RegExp) => {
  expect(captured.code).toBe(2)
  expect(captured.stdout).toBe("")
  expect(firstLine(captured.stderr)).toMatch(/^effect-llm-router: /)
  expect(firstLine(captured.stderr)).toMatch(reason)
  // The reason, then where the usage is: never the usage itself.
  expect(captured.stderr).toBe(`${firstLine(captured.stderr)}\nRun "effect-llm-router chat --help" for its usage.\n`)
}

const writeConfig = (json: unknown): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "elr-cli-"))
  const file = path.join(dir, "provider.json")
  fs.writeFileSync(file, JSON.stringify(json))
  return file
}

describe("chat, in-process against a simulator", () => {
  it.live("streams the reply to stdout, ending with a newline", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const expected = yield* referenceReply(sim)
      const out = yield* chat(direct(sim, PROMPT))
      expect(out).toEqual({ code: 0, stdout: `${expected}\n`, stderr: "" })
    }))

  it.live("--no-stream prints the same text at the end", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const expected = yield* referenceReply(sim)
      const out = yield* chat(direct(sim, "--no-stream", PROMPT))
      expect(out).toEqual({ code: 0, stdout: `${expected}\n`, stderr: "" })
    }))

  it.live("reads the prompt from stdin when it is omitted", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const expected = yield* referenceReply(sim)
      const out = yield* chat(direct(sim), { stdin: `${PROMPT}\n` })
      expect(out).toEqual({ code: 0, stdout: `${expected}\n`, stderr: "" })
    }))

  it.live("--json prints only the collected response, streamed or not", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ replyTokens: 7 })
      const expected = yield* referenceReply(sim)
      const streamed = yield* chat(direct(sim, "--json", PROMPT))
      const whole = yield* chat(direct(sim, "--json", "--no-stream", PROMPT))
      for (const out of [streamed, whole]) {
        expect(out.code).toBe(0)
        expect(out.stderr).toBe("")
        expect(out.stdout.endsWith("}\n")).toBe(true)
        expect(out.stdout.trim().split("\n")).toHaveLength(1)
        const json = JSON.parse(out.stdout)
        expect(json).toMatchObject({
          text: expected,
          toolCalls: [],
          finishReason: "stop",
          model: "gpt-4o-mini",
          provider: "openai",
          usage: { completionTokens: 7, estimated: false }
        })
        expect(json.usage.totalTokens).toBe(json.usage.promptTokens + json.usage.completionTokens)
        expect(json.usage.promptTokens).toBeGreaterThan(0)
        expect(typeof json.latencyMs).toBe("number")
        expect(json).not.toHaveProperty("keyId")
        // gpt-4o-mini's built-in price: $0.15 and $0.60 per million tokens, shown without float noise.
        const cost = (json.usage.promptTokens * 0.15 + json.usage.completionTokens * 0.6) / 1e6
        expect(json.cost).toBeCloseTo(cost, 15)
        expect(String(json.cost)).toMatch(/^0\.0*[1-9]\d{0,11}$/)
      }
      const { id: _a, latencyMs: _b, ...a } = JSON.parse(streamed.stdout)
      const { id: _c, latencyMs: _d, ...b } = JSON.parse(whole.stdout)
      expect(a).toEqual(b)
    }))

  it.live("--system, --temperature and --max-tokens reach the request", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const proxy = yield* recorder(sim.url)
      const flags = ["--base-url", proxy.baseUrl, "--key", KEY, "--json"]
      const plain = yield* chat([...flags, "--no-stream", PROMPT])
      const shaped = yield* chat([
        ...flags,
        "--system",
        "You are terse and precise about Effect.",
        "--temperature",
        "0.25",
        "--max-tokens",
        "3",
        PROMPT
      ])
      expect(plain.code).toBe(0)
      expect(shaped.code).toBe(0)
      expect(proxy.bodies).toHaveLength(2)
      expect(proxy.bodies[0]).toMatchObject({ model: "gpt-4o-mini", messages: [{ role: "user", content: PROMPT }] })
      expect(proxy.bodies[0]?.["stream"] ?? false).toBe(false)
      expect(proxy.bodies[0]).not.toHaveProperty("temperature")
      expect(proxy.bodies[1]).toMatchObject({
        model: "gpt-4o-mini",
        stream: true,
        temperature: 0.25,
        max_completion_tokens: 3,
        messages: [
          { role: "system", content: "You are terse and precise about Effect." },
          { role: "user", content: PROMPT }
        ]
      })
      // The simulator honours them too: a capped reply, a longer prompt.
      const before = JSON.parse(plain.stdout)
      const after = JSON.parse(shaped.stdout)
      expect(after.finishReason).toBe("length")
      expect(after.usage.completionTokens).toBe(3)
      expect(after.usage.promptTokens).toBeGreaterThan(before.usage.promptTokens)
    }))

  it.live("a wrong key fails with AuthError, exit 1, and never shows the key", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      for (const mode of [[], ["--no-stream"], ["--json"]]) {
        const out = yield* chat(["--base-url", `${sim.url}/v1`, "--key", WRONG_KEY, ...mode, PROMPT])
        expect(out.code).toBe(1)
        expect(firstLine(out.stderr)).toMatch(/^AuthError: openai \(gpt-4o-mini\) \[HTTP 401\] rejected the API key/)
        if (mode[0] !== "--json") expect(out.stdout).toBe("")
      }
    }))

  it.live("--json on failure: the error as one JSON object on stdout, as well as the stderr line, exit 1", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const wrong = yield* chat(["--base-url", `${sim.url}/v1`, "--key", WRONG_KEY, "--json", PROMPT])
      expect(wrong.code).toBe(1)
      expect(wrong.stdout.trim().split("\n")).toHaveLength(1)
      const { error } = JSON.parse(wrong.stdout)
      expect(error).toMatchObject({
        tag: "AuthError",
        provider: "openai",
        model: "gpt-4o-mini",
        status: 401,
        reason: "invalid_key"
      })
      expect(firstLine(wrong.stderr)).toBe(`AuthError: ${error.message}`)

      // A rate limit with `retry-after: 0`: its wait in milliseconds, and a message that says "now".
      const limited = yield* simulator({ fault: "status=429;retry-after=0" })
      const rated = yield* chat(direct(limited, "--max-retries", "0", "--json", "--no-stream", PROMPT))
      expect(rated.code).toBe(1)
      const rate = JSON.parse(rated.stdout).error
      expect(rate).toMatchObject({ tag: "RateLimitError", status: 429, retryAfterMs: 0 })
      expect(rate.message).toContain("Retry now, or with another key.")
      expect(rated.stderr).not.toMatch(/Retry in 0\b/)

      // A router's error lists its attempts.
      const failing = yield* simulator({ fault: "status=503" })
      const routed = yield* chat(
        direct(failing, "--max-retries", "0", "--fallback", "sim-small", "--timeout", "20", "--json", PROMPT)
      )
      expect(routed.code).toBe(1)
      const last = JSON.parse(routed.stdout).error
      expect(last).toMatchObject({ tag: "ProviderUnavailableError", status: 503 })
      expect(last.attempts.map((attempt: { deployment: string; error: string }) => [attempt.deployment, attempt.error]))
        .toEqual([
          ["openai/gpt-4o-mini", "ProviderUnavailableError"],
          ["openai/sim-small", "ProviderUnavailableError"]
        ])

      // A configuration error too; a usage error (exit 2) prints no JSON.
      const missing = yield* chat([
        "--config",
        path.join(os.tmpdir(), "elr-no-such-dir", "provider.json"),
        "--json",
        PROMPT
      ])
      expect(missing.code).toBe(1)
      expect(JSON.parse(missing.stdout).error).toMatchObject({ tag: "ProviderConfigError" })
      expectUsageError(yield* chat(["--json", "--max-tokens", "0", PROMPT]), /--max-tokens/)
    }))

  it.live("the key may come from OPENAI_API_KEY", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const expected = yield* referenceReply(sim)
      const good = yield* chat(["--base-url", `${sim.url}/v1`, PROMPT], { env: { OPENAI_API_KEY: KEY } })
      expect(good).toEqual({ code: 0, stdout: `${expected}\n`, stderr: "" })
      const bad = yield* chat(["--base-url", `${sim.url}/v1`, PROMPT], { env: { OPENAI_API_KEY: WRONG_KEY } })
      expect(bad.code).toBe(1)
      expect(firstLine(bad.stderr)).toMatch(/^AuthError: /)
    }))

  it.live("an unknown model fails with ModelNotFoundError", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const out = yield* chat(direct(sim, "--model", "gpt-9-imaginary", PROMPT))
      expect(out.code).toBe(1)
      expect(out.stdout).toBe("")
      expect(firstLine(out.stderr)).toMatch(/^ModelNotFoundError: openai \(gpt-9-imaginary\) \[HTTP 404\]/)
    }))

  it.live("a failing provider ends in ProviderUnavailableError after the retries", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ fault: "status=503" })
      const out = yield* chat(direct(sim, "--max-retries", "1", PROMPT))
      expect(out.code).toBe(1)
      expect(out.stdout).toBe("")
      expect(firstLine(out.stderr)).toMatch(/^ProviderUnavailableError: openai \(gpt-4o-mini\) \[HTTP 503\]/)
      expect(yield* sim.requestCount).toBe(2)
    }))

  it.live("bad flags exit 2 with a reason and the usage", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
        [["--bogus", PROMPT], /--bogus/],
        [[PROMPT, "--model"], /--model/],
        [["--temperature", "warm", PROMPT], /--temperature needs a number from 0 to 2, got "warm"/],
        [["--temperature", "2.5", PROMPT], /--temperature/],
        [["--max-tokens", "0", PROMPT], /--max-tokens needs a positive integer, got "0"/],
        [["--max-tokens", "1.5", PROMPT], /--max-tokens needs a positive integer/],
        [["--max-retries", "-1", PROMPT], /--max-retries needs an integer, 0 or more, got "-1"/],
        [["--timeout", "-2", PROMPT], /--timeout needs a positive number of seconds, got "-2"/],
        [
          ["--config", "provider.json", "--base-url", `${sim.url}/v1`, PROMPT],
          /--config cannot be combined with --base-url/
        ],
        [["--config", "provider.json", "--key", KEY, PROMPT], /--config cannot be combined with --key/],
        [["--base-url", "not a url", "--key", KEY, PROMPT], /--base-url needs an absolute URL/],
        [["--base-url", `${sim.url}/v1`, PROMPT], /--base-url needs a key/],
        [direct(sim), /no prompt/],
        [direct(sim, "   "), /no prompt/]
      ]
      for (const [argv, reason] of cases) expectUsageError(yield* chat(argv), reason)
      expect(yield* sim.requestCount).toBe(0)
    }))

  it.live("--help prints the usage on stdout", () =>
    Effect.gen(function*() {
      const out = yield* chat(["--help"])
      expect(out.code).toBe(0)
      expect(out.stdout).toContain("Usage: effect-llm-router chat [PROMPT] [options]")
      expect(out.stderr).toBe("")
    }))

  it.live("--config reads provider.json (plain and env: keys) and picks its only model", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const expected = yield* referenceReply(sim)
      const file = writeConfig({
        sim: [{
          model_name: "gpt-4o-mini",
          api_keys: [KEY, "env:CLI_TEST_KEY"],
          base_url: `${sim.url}/v1`,
          max_retries: 0
        }]
      })
      const implicit = yield* chat(["--config", file, "--json", PROMPT], { env: { CLI_TEST_KEY: OTHER_KEY } })
      expect(implicit.code).toBe(0)
      expect(implicit.stderr).toBe("")
      expect(JSON.parse(implicit.stdout)).toMatchObject({ text: expected, provider: "sim", model: "gpt-4o-mini" })
      // Both keys are used: the pool rotates between them.
      const explicit = yield* chat(["--config", file, "--provider", "sim", "--model", "gpt-4o-mini", PROMPT], {
        env: { CLI_TEST_KEY: OTHER_KEY }
      })
      expect(explicit).toEqual({ code: 0, stdout: `${expected}\n`, stderr: "" })
    }))

  it.live("--config with several choices and no --provider or --model names them (exit 2)", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const entry = (model: string) => ({ model_name: model, api_keys: [KEY], base_url: `${sim.url}/v1` })
      const file = writeConfig({ alpha: [entry("gpt-4o-mini"), entry("gpt-4o")], beta: [entry("sim-small")] })
      expectUsageError(yield* chat(["--config", file, PROMPT]), /choose one with --provider: alpha, beta/)
      expectUsageError(
        yield* chat(["--config", file, "--provider", "alpha", PROMPT]),
        /choose one with --model: gpt-4o-mini, gpt-4o/
      )
      const chosen = yield* chat(["--config", file, "--provider", "alpha", "--model", "gpt-4o", "--json", PROMPT])
      expect(chosen.code).toBe(0)
      expect(JSON.parse(chosen.stdout)).toMatchObject({ provider: "alpha", model: "gpt-4o" })
      const unknown = yield* chat(["--config", file, "--provider", "gamma", PROMPT])
      expect(unknown.code).toBe(1)
      expect(firstLine(unknown.stderr)).toMatch(/^ProviderConfigError: /)
      expect(unknown.stderr).toContain("no such provider; known: alpha, beta")
    }))

  it.live(
    "--config --router NAME streams through the file's router: its fallback answers when the first deployment " +
      "faults",
    () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const entry = (model: string, extra: Record<string, unknown> = {}) => ({
          model_name: model,
          api_keys: [KEY],
          base_url: `${sim.url}/v1`,
          max_retries: 0,
          ...extra
        })
        const file = writeConfig({
          failing: [entry("gpt-4o-mini", { headers: { [Simulator.faultHeader]: "status=503" } })],
          healthy: [entry("sim-large", { groups: ["big"] })],
          // The router's own retries off: the 503 goes straight to the fallback (the group "big").
          router: {
            main: {
              deployments: ["failing/gpt-4o-mini", "sim-large"],
              fallbacks: { "gpt-4o-mini": [{ to: "big", on: ["ProviderUnavailableError"] }] },
              strategy: "priority",
              retry_on: [],
              model: "gpt-4o-mini",
              deadline: 20
            }
          }
        })
        const expected = yield* referenceReply(sim, "sim-large")
        const out = yield* chat(["--config", file, "--router", "main", PROMPT])
        expect(out).toEqual({ code: 0, stdout: `${expected}\n`, stderr: "" })
        expect(yield* sim.requestCount).toBe(3) // the reference, the 503, the fallback
        const json = yield* chat(["--config", file, "--router", "main", "--json", "--model", "big", PROMPT])
        expect(JSON.parse(json.stdout)).toMatchObject({ text: expected, provider: "healthy", model: "sim-large" })
        expect(yield* sim.requestCount).toBe(4) // --model big goes to the healthy deployment only

        const unknown = yield* chat(["--config", file, "--router", "backup", PROMPT])
        expect(unknown.code).toBe(1)
        expect(firstLine(unknown.stderr)).toMatch(/^ProviderConfigError: /)
        expect(unknown.stderr).toContain("router.backup: no such router; known: main")
        expectUsageError(yield* chat(["--router", "main", PROMPT]), /--router needs --config/)
        expectUsageError(
          yield* chat([
            "--config",
            file,
            "--router",
            "main",
            "--provider",
            "healthy",
            "--fallback",
            "sim-large",
            PROMPT
          ]),
          /--router cannot be combined with --provider, --fallback/
        )
        expect(yield* sim.requestCount).toBe(4)
      })
  )

  it.live(
    "--fallback MODEL: the call falls back to it when the first model fails (with --config, or the same " +
      "API)",
    () =>
      Effect.gen(function*() {
        const sim = yield* simulator()
        const expected = yield* referenceReply(sim, "sim-small")
        const direct1 = yield* chat(
          direct(sim, "--model", "gpt-9-imaginary", "--fallback", "sim-small", "--timeout", "20", "--json", PROMPT)
        )
        expect(direct1.code).toBe(0)
        expect(JSON.parse(direct1.stdout)).toMatchObject({ text: expected, provider: "openai", model: "sim-small" })
        expect(yield* sim.requestCount).toBe(3) // the reference, the 404, the fallback

        const entry = (model: string) => ({
          model_name: model,
          api_keys: [KEY],
          base_url: `${sim.url}/v1`,
          max_retries: 0
        })
        const file = writeConfig({ alpha: [entry("gpt-9-imaginary")], beta: [entry("sim-small")] })
        const viaFile = yield* chat(["--config", file, "--provider", "alpha", "--fallback", "sim-small", PROMPT])
        expect(viaFile).toEqual({ code: 0, stdout: `${expected}\n`, stderr: "" })
        expect(yield* sim.requestCount).toBe(5)
        const noFallback = yield* chat(["--config", file, "--provider", "alpha", PROMPT])
        expect(noFallback.code).toBe(1)
        expect(firstLine(noFallback.stderr)).toMatch(/^ModelNotFoundError: /)

        expectUsageError(
          yield* chat(["--config", file, "--provider", "alpha", "--fallback", "gpt-5", PROMPT]),
          /--fallback: no deployment gpt-5; known: alpha\/gpt-9-imaginary, beta\/sim-small/
        )
        expectUsageError(
          yield* chat(direct(sim, "--timeout", "0", PROMPT)),
          /--timeout needs a positive number of seconds, got "0"/
        )
        expectUsageError(
          yield* chat(direct(sim, "--timeout", "soon", PROMPT)),
          /--timeout needs a positive number of seconds/
        )
        expect(yield* sim.requestCount).toBe(6)
      })
  )

  it.live("--timeout bounds the call: a reply slower than it fails with TimeoutError", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ latency: "2 seconds" })
      const out = yield* chat(direct(sim, "--timeout", "0.2", "--no-stream", PROMPT))
      expect(out.code).toBe(1)
      expect(out.stdout).toBe("")
      expect(firstLine(out.stderr)).toMatch(/^TimeoutError: /)
      // With --router, --timeout overrides the router's deadline.
      const file = writeConfig({
        slow: [{ model_name: "gpt-4o-mini", api_keys: [KEY], base_url: `${sim.url}/v1`, max_retries: 0 }],
        router: { main: { deployments: ["gpt-4o-mini"], deadline: 60 } }
      })
      // The router's deadline (60 s) would let the 2 s reply through: the TimeoutError is --timeout's.
      const routed = yield* chat(["--config", file, "--router", "main", "--timeout", "0.2", PROMPT])
      expect(routed.code).toBe(1)
      expect(firstLine(routed.stderr)).toMatch(/^TimeoutError: /)
    }))

  it.live(
    "--headers-timeout, --first-token-timeout and --idle-timeout fail the attempt with TimeoutError of their " +
      "phase",
    () =>
      Effect.gen(function*() {
        const cases = [
          ["silent=forever", "--headers-timeout", "headers", "sent no response headers within 0.3 s"],
          ["first-token=10000", "--first-token-timeout", "firstToken", "sent no first token within 0.3 s"],
          ["stall=3", "--idle-timeout", "idle", "stalled: its stream sent nothing for 0.3 s"]
        ] as const
        for (const [fault, flag, phase, what] of cases) {
          const sim = yield* simulator({ fault })
          const out = yield* chat(direct(sim, "--max-retries", "0", flag, "0.3", PROMPT))
          expect(out.code).toBe(1)
          expect(firstLine(out.stderr)).toMatch(/^TimeoutError: openai \(gpt-4o-mini\) /)
          expect(firstLine(out.stderr)).toContain(what)
          const json = yield* chat(direct(sim, "--max-retries", "0", flag, "0.3", "--json", PROMPT))
          expect(json.code).toBe(1)
          expect(JSON.parse(json.stdout).error).toMatchObject({ tag: "TimeoutError", phase, timeoutMs: 300 })
        }
      })
  )

  it.live("the timeout flags override every deployment's own in provider.json, with --router too", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const entry = (model: string, fault: string) => ({
        model_name: model,
        api_keys: [KEY],
        base_url: `${sim.url}/v1`,
        max_retries: 0,
        idle_timeout: 60,
        first_token_timeout: 60,
        headers: { [Simulator.faultHeader]: fault }
      })
      const file = writeConfig({
        stalling: [entry("gpt-4o-mini", "stall=2")],
        slow: [entry("sim-small", "first-token=10000")],
        router: { main: { deployments: ["stalling/gpt-4o-mini", "slow/sim-small"], retry_on: [], deadline: 60 } }
      })
      const one = yield* chat(["--config", file, "--provider", "stalling", "--idle-timeout", "0.3", "--json", PROMPT])
      expect(one.code).toBe(1)
      expect(JSON.parse(one.stdout).error).toMatchObject({ tag: "TimeoutError", phase: "idle", timeoutMs: 300 })
      const routed = yield* chat([
        "--config",
        file,
        "--router",
        "main",
        "--model",
        "sim-small",
        "--first-token-timeout",
        "0.3",
        "--json",
        PROMPT
      ])
      expect(routed.code).toBe(1)
      expect(JSON.parse(routed.stdout).error).toMatchObject({
        tag: "TimeoutError",
        phase: "firstToken",
        timeoutMs: 300,
        provider: "slow"
      })
    }))

  it.live("bad timeout values exit 2 naming the flag", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      for (const flag of ["--headers-timeout", "--first-token-timeout", "--idle-timeout"]) {
        for (const value of ["-1", "0", "soon", "", "Infinity"]) {
          expectUsageError(
            yield* chat(direct(sim, `${flag}=${value}`, PROMPT)),
            new RegExp(`^effect-llm-router: ${flag} needs a positive number of seconds, got "${value}"$`)
          )
        }
        // Without `=` a negative value is the flag's too, not an option of its own.
        expectUsageError(
          yield* chat(direct(sim, flag, "-0.5", PROMPT)),
          new RegExp(`^effect-llm-router: ${flag} needs a positive number of seconds, got "-0.5"$`)
        )
      }
      expect(yield* sim.requestCount).toBe(0)
    }))

  it.live("a missing env: variable fails with ProviderConfigError naming it", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const file = writeConfig({
        sim: [{ model_name: "gpt-4o-mini", api_keys: [KEY, "env:CLI_TEST_MISSING_KEY"], base_url: `${sim.url}/v1` }]
      })
      const out = yield* chat(["--config", file, PROMPT])
      expect(out.code).toBe(1)
      expect(out.stdout).toBe("")
      expect(firstLine(out.stderr)).toMatch(/^ProviderConfigError: /)
      expect(out.stderr).toContain("CLI_TEST_MISSING_KEY")
      expect(yield* sim.requestCount).toBe(0)
    }))

  it.live("a provider.json that does not decode, or does not exist, is a ProviderConfigError", () =>
    Effect.gen(function*() {
      const bad = writeConfig({
        sim: [{ model_name: "m", api_keys: [KEY], base_url: "nowhere", rate_limit_capacity: -1 }]
      })
      const out = yield* chat(["--config", bad, PROMPT])
      expect(out.code).toBe(1)
      expect(firstLine(out.stderr)).toMatch(/^ProviderConfigError: /)
      expect(out.stderr).toContain("sim[0].rate_limit_capacity")
      const missing = yield* chat(["--config", path.join(os.tmpdir(), "elr-no-such-dir", "provider.json"), PROMPT])
      expect(missing.code).toBe(1)
      expect(firstLine(missing.stderr)).toMatch(/^ProviderConfigError: /)
    }))

  it.live("a wrong key in provider.json never shows, in any output", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const file = writeConfig({
        sim: [{ model_name: "gpt-4o-mini", api_keys: ["env:CLI_TEST_KEY"], base_url: `${sim.url}/v1` }]
      })
      const out = yield* chat(["--config", file, "--json", PROMPT], { env: { CLI_TEST_KEY: WRONG_KEY } })
      expect(out.code).toBe(1)
      expect(JSON.parse(out.stdout).error).toMatchObject({ provider: "sim", model: "gpt-4o-mini" })
      // Not pinned to AuthError: Llm retries a rejected key on another one, and
      // with a single key the pool then reports NoCapacityError instead.
      expect(firstLine(out.stderr)).toMatch(/^(AuthError|NoCapacityError): sim \(gpt-4o-mini\)/)
    }))

  it.live("with no key and no config, the built-in simulator answers and says so", () =>
    Effect.gen(function*() {
      const out = yield* chat(["--json", PROMPT])
      expect(out.code).toBe(0)
      expect(out.stderr).toMatch(
        new RegExp(
          String.raw`^effect-llm-router: no provider configured; using the built-in simulator at ` +
            String.raw`http://127\.0\.0\.1:\d+ \(set OPENAI_API_KEY or pass --config FILE for a real provider\)\n$`
        )
      )
      expect(JSON.parse(out.stdout)).toMatchObject({
        provider: "simulator",
        model: "gpt-4o-mini",
        finishReason: "stop"
      })
      const named = yield* chat(["--model", "my-local-model", "--no-stream", PROMPT])
      expect(named.code).toBe(0)
      expect(named.stdout.trim().length).toBeGreaterThan(0)
    }))
})

describe("chat --api and --preset, in-process against a simulator", () => {
  const apiRoot = (sim: Simulator.Simulator, api: string) =>
    api === "chat-completions" || api === "responses" ? `${sim.url}/v1` : sim.url

  it.live("--api each: the same reply through every wire format, streamed and not", () =>
    Effect.gen(function*() {
      const sim = yield* simulator({ replyTokens: 9 })
      const expected = yield* referenceReply(sim, "sim-small")
      for (const api of apis) {
        const flags = ["--api", api, "--base-url", apiRoot(sim, api), "--key", KEY, "--model", "sim-small"]
        const streamed = yield* chat([...flags, PROMPT])
        expect(streamed).toEqual({ code: 0, stdout: `${expected}\n`, stderr: "" })
        const json = yield* chat([...flags, "--json", "--no-stream", PROMPT])
        expect(json.code).toBe(0)
        expect(JSON.parse(json.stdout)).toMatchObject({
          text: expected,
          model: "sim-small",
          provider: api === "chat-completions" || api === "responses" ? "openai" : api,
          usage: { completionTokens: 9 }
        })
      }
    }))

  it.live("the key comes from the API's variable: ANTHROPIC_API_KEY, GEMINI_API_KEY; a wrong one is an AuthError", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const expected = yield* referenceReply(sim, "sim-small")
      for (const [api, variable] of [["anthropic", "ANTHROPIC_API_KEY"], ["gemini", "GEMINI_API_KEY"]] as const) {
        const flags = ["--api", api, "--base-url", sim.url, "--model", "sim-small", "--no-stream", PROMPT]
        expect(yield* chat(flags, { env: { [variable]: KEY, OPENAI_API_KEY: WRONG_KEY } }))
          .toEqual({ code: 0, stdout: `${expected}\n`, stderr: "" })
        const wrong = yield* chat(flags, { env: { [variable]: WRONG_KEY } })
        expect(wrong.code).toBe(1)
        expect(firstLine(wrong.stderr)).toMatch(new RegExp(`^AuthError: ${api} \\(sim-small\\)`))
        expectUsageError(
          yield* chat(flags, { env: { OPENAI_API_KEY: KEY } }),
          new RegExp(`--base-url needs a key: --key KEY or ${variable}`)
        )
      }
    }))

  it.live("--api ollama needs no key; --api anthropic with no key at all is the built-in simulator speaking it", () =>
    Effect.gen(function*() {
      const open = yield* Simulator.make({ replyTokens: 4 })
      const local = yield* chat(["--api", "ollama", "--base-url", open.url, "--model", "sim-small", "--json", PROMPT])
      expect(local.code).toBe(0)
      expect(JSON.parse(local.stdout)).toMatchObject({ provider: "ollama", usage: { completionTokens: 4 } })
      const built = yield* chat(["--api", "anthropic", "--json", PROMPT])
      expect(built.code).toBe(0)
      expect(built.stderr).toContain("using the built-in simulator")
      expect(built.stderr).toContain("set ANTHROPIC_API_KEY")
      expect(JSON.parse(built.stdout)).toMatchObject({
        provider: "simulator",
        model: "gpt-4o-mini",
        finishReason: "stop"
      })
    }))

  it.live("--api ollama with nothing configured is the built-in simulator speaking it, not localhost:11434", () =>
    Effect.gen(function*() {
      const built = yield* chat(["--api", "ollama", "--json", PROMPT])
      expect(built.code).toBe(0)
      expect(built.stderr).toMatch(
        /using the built-in simulator at http:\/\/127\.0\.0\.1:\d+ \(pass --base-url for an Ollama server/
      )
      expect(JSON.parse(built.stdout)).toMatchObject({
        provider: "simulator",
        model: "gpt-4o-mini",
        finishReason: "stop"
      })
      const streamed = yield* chat(["--api", "ollama", "--model", "llama3.2", PROMPT])
      expect(streamed.code).toBe(0)
      expect(streamed.stdout.trim().length).toBeGreaterThan(0)
    }))

  it.live("--preset with --base-url at the simulator: its provider name, its key variable, max_tokens", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const proxy = yield* recorder(sim.url)
      const expected = yield* referenceReply(sim, "sim-small")
      for (const preset of ["deepseek", "groq", "openrouter", "together", "dashscope", "zhipu", "vllm", "ollama"]) {
        const out = yield* chat(
          [
            "--preset",
            preset,
            "--base-url",
            proxy.baseUrl,
            "--model",
            "sim-small",
            "--max-tokens",
            "20",
            "--json",
            PROMPT
          ],
          { env: { [keyVariable("chat-completions", preset as Presets.Name)!]: KEY } }
        )
        expect(out.code).toBe(0)
        expect(JSON.parse(out.stdout)).toMatchObject({ text: expected, provider: preset })
      }
      expect(proxy.bodies).toHaveLength(8)
      for (const body of proxy.bodies) expect(body).toMatchObject({ max_tokens: 20 })
      const local = yield* chat([
        "--preset",
        "ollama",
        "--base-url",
        `${(yield* Simulator.make()).url}/v1`,
        "--model",
        "sim-small",
        PROMPT
      ])
      expect(local.code).toBe(0)
    }))

  it.live("bad --api and --preset values and combinations exit 2 with the usage", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
        [
          ["--api", "soap", PROMPT],
          /--api needs one of chat-completions, responses, anthropic, gemini, ollama, got "soap"/
        ],
        [
          ["--preset", "acme", PROMPT],
          /--preset needs one of deepseek, openrouter, groq, together, vllm, ollama, zhipu, dashscope, got "acme"/
        ],
        [
          ["--preset", "deepseek", "--api", "anthropic", PROMPT],
          /--preset is for --api chat-completions, not anthropic/
        ],
        [["--config", "provider.json", "--api", "gemini", PROMPT], /--config cannot be combined with --api/],
        [["--config", "provider.json", "--preset", "groq", PROMPT], /--config cannot be combined with --preset/],
        [["--preset", "vllm", "--model", "m", PROMPT], /--preset vllm needs --base-url/],
        [
          ["--preset", "deepseek", "--model", "m", PROMPT],
          /--preset deepseek needs a key: --key KEY or DEEPSEEK_API_KEY/
        ],
        [["--preset", "groq", "--key", KEY, PROMPT], /--model is needed with --preset groq/],
        [["--api", "gemini", "--base-url", sim.url, "--key", KEY, PROMPT], /--model is needed with --api gemini/]
      ]
      for (const [argv, reason] of cases) expectUsageError(yield* chat(argv), reason)
      expect(yield* sim.requestCount).toBe(0)
    }))

  it("the help's table of key variables is the code's", () => {
    for (const api of apis) {
      if (api === "chat-completions" || api === "responses") continue
      expect(chatUsage).toMatch(new RegExp(`\\n  ${api} +${keyVariable(api, undefined)}`))
    }
    expect(chatUsage).toMatch(/chat-completions, responses +OPENAI_API_KEY/)
    for (const preset of Presets.names) {
      expect(chatUsage).toMatch(new RegExp(`--preset ${preset} +${Presets.presets[preset].keyVariable}`))
    }
  })
})

describe("simulate, in-process", () => {
  it.live("bad flags exit 2 with a reason and where the usage is", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
        [["--bogus"], /--bogus/],
        [["--port", "http"], /--port needs a port from 0 to 65535, got "http"/],
        [["--port", "70000"], /--port/],
        [["--tokens-per-second", "0"], /--tokens-per-second needs a positive number/],
        [["--reply-tokens", "-3"], /--reply-tokens/],
        [["--fault", "meltdown=1"], /--fault "meltdown=1": unknown fault "meltdown"/],
        [
          ["--fault", "stall=soon"],
          /--fault "stall=soon": "stall" needs a number of chunks \(0 or more\) or end, got "soon"/
        ],
        [["--models", ","], /--models needs at least one model/],
        [["extra"], /simulate takes no arguments/]
      ]
      for (const [argv, reason] of cases) {
        const { io, result } = captureIo()
        const out = result(yield* Simulate.run(argv, io))
        expect(out.code).toBe(2)
        expect(out.stdout).toBe("")
        expect(firstLine(out.stderr)).toMatch(reason)
        expect(out.stderr).toBe(`${firstLine(out.stderr)}\nRun "effect-llm-router simulate --help" for its usage.\n`)
      }
    }))

  it.live("maps its flags onto the simulator and serves until interrupted", () =>
    Effect.gen(function*() {
      const running = yield* startInProcess((io) =>
        Simulate.run(
          ["--port", "0", "--keys", `${KEY},${OTHER_KEY}`, "--reply-tokens", "5", "--context-window", "50"],
          io
        )
      )
      const url = yield* awaitFirstLine(running, "the simulator's first line (its URL)")
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const reply = yield* chat(["--base-url", `${url}/v1`, "--key", OTHER_KEY, "--json", PROMPT])
      expect(JSON.parse(reply.stdout).usage.completionTokens).toBe(5)
      const wrong = yield* chat(["--base-url", `${url}/v1`, "--key", WRONG_KEY, PROMPT])
      expect(firstLine(wrong.stderr)).toMatch(/^AuthError: /)
      const tooLong = yield* chat(["--base-url", `${url}/v1`, "--key", KEY, "--max-tokens", "100", PROMPT])
      expect(firstLine(tooLong.stderr)).toMatch(/^ContextLengthError: /)
      yield* Fiber.interrupt(running.exited)
      const exit = yield* Fiber.await(running.exited)
      expect(Exit.hasInterrupts(exit)).toBe(true)
      // Closed with its scope: the port no longer answers.
      const after = yield* Effect.promise(() => fetch(`${url}/v1/models`).then(() => "answered", () => "refused"))
      expect(after).toBe("refused")
    }).pipe(Effect.scoped))

  it.live("a wait for its URL ends as soon as it exits without one, naming its exit code and stderr", () =>
    Effect.gen(function*() {
      const running = yield* startInProcess((io) => Simulate.run(["--port", "http"], io))
      const ended = yield* Effect.flip(awaitFirstLine(running, "the simulator's first line (its URL)"))
      expect(ended).toBeInstanceOf(EndedEarly)
      expect(ended).toMatchObject({ what: "the simulator's first line (its URL)", code: 2, signal: null })
      expect(ended.stderr).toContain("--port needs a port from 0 to 65535, got \"http\"")
      expect(ended.message).toMatch(
        /^the simulator's first line \(its URL\): the run exited with code 2 before it came; its stderr:\n/
      )
      expect(ended.message).toContain(`Run "effect-llm-router simulate --help" for its usage.`)
    }).pipe(Effect.scoped))
})

describe.concurrent("the binary, spawned", () => {
  it.live("chat --json against a simulator", () =>
    Effect.gen(function*() {
      const sim = yield* simulator()
      const expected = yield* referenceReply(sim)
      const out = yield* spawnCli(["chat", ...direct(sim, "--json", PROMPT)])
      expect(out.code).toBe(0)
      expect(out.stderr).toBe("")
      expect(JSON.parse(out.stdout)).toMatchObject({ text: expected, provider: "openai", finishReason: "stop" })
      expect(out.stdout).not.toContain(KEY)
    }))

  it.live("simulate --port 0 prints a URL that serves /v1/models until SIGINT", () =>
    Effect.gen(function*() {
      let models: unknown
      const out = yield* spawnCli(["simulate", "--port", "0", "--models", "alpha,beta"], {
        onStdout: (soFar, child) => {
          if (!soFar.includes("\n") || models !== undefined) return
          models = null
          fetch(`${soFar.split("\n", 1)[0]}/v1/models`)
            .then((response) => response.json())
            .then((json) => {
              models = json
            })
            .catch((error) => {
              models = String(error)
            })
            .finally(() => child.kill("SIGINT"))
        }
      })
      expect(out.code).toBe(0)
      expect(firstLine(out.stdout)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(models).toMatchObject({ object: "list", data: [{ id: "alpha" }, { id: "beta" }] })
    }))

  it.live("a wait for the URL of a process that exits without one ends at once, naming its exit code and stderr", () =>
    Effect.gen(function*() {
      const running = yield* startCli(["serve", "--port", "0", "--grace-period", "0"])
      const ended = yield* Effect.flip(awaitFirstLine(running, "serve's first line (its URL)"))
      expect(ended).toBeInstanceOf(EndedEarly)
      expect(ended).toMatchObject({ code: 2, signal: null })
      expect(ended.stderr).toMatch(/^effect-llm-router: .*--grace-period needs a positive number of seconds/)
      expect(ended.message).toMatch(
        /^serve's first line \(its URL\): the run exited with code 2 before it came; its stderr:\n/
      )
      expect(ended.message).toContain(`Run "effect-llm-router serve --help" for its usage.`)
    }).pipe(Effect.scoped))

  it.live("chat with no key and no config uses the built-in simulator", () =>
    Effect.gen(function*() {
      const out = yield* spawnCli(["chat", PROMPT], { env: envWithoutKeys() })
      expect(out.code).toBe(0)
      expect(firstLine(out.stderr)).toMatch(
        /^effect-llm-router: no provider configured; using the built-in simulator at http:\/\/127\.0\.0\.1:\d+ /
      )
      // The built-in pace: about 60 words.
      expect(out.stdout.trim().split(" ").length).toBeGreaterThan(40)
      expect(out.stdout.endsWith(".\n")).toBe(true)
    }))

  it.live("SIGINT while streaming aborts the request and exits 130", () =>
    Effect.gen(function*() {
      // 40 s of reply: the process, signalled at its first output, ends far short of it on a loaded machine.
      const sim = yield* simulator({ replyTokens: 2_000, tokensPerSecond: 50 })
      let signalled = false
      const out = yield* spawnCli(["chat", ...direct(sim, PROMPT)], {
        onStdout: (_soFar, child) => {
          if (signalled) return
          signalled = true
          child.kill("SIGINT")
        }
      })
      expect(out.code).toBe(130)
      expect(out.stdout.length).toBeGreaterThan(0)
      expect(out.stdout.split(" ").length).toBeLessThan(1_500)
      // The simulator saw the client hang up mid-stream.
      const stats = yield* eventually("the simulator with nothing in flight", sim.stats, (s) => s.inFlight === 0)
      expect(stats.clientClosed).toBe(1)
    }))
})

describe("printStream", () => {
  it.effect(
    "a Restart ends the broken attempt's partial line, says so on stderr, and the whole reply follows on a " +
      "line of its own",
    () =>
      Effect.gen(function*() {
        const { io, result } = captureIo()
        yield* printStream(
          Stream.make<Array<ChatChunk.ChatChunk>>(
            { _tag: "TextDelta", text: "a partial" },
            {
              _tag: "Restart",
              attempt: 2,
              deployment: "backup",
              model: "m",
              from: "primary",
              error: "StreamTruncatedError"
            },
            { _tag: "TextDelta", text: "the whole " },
            { _tag: "TextDelta", text: "answer" }
          ),
          io
        )
        const captured = result(0)
        expect(captured.stdout).toBe("a partial\nthe whole answer\n")
        expect(captured.stderr).toBe(
          "effect-llm-router: the reply broke off (StreamTruncatedError); it starts again from backup\n"
        )
      })
  )
})

describe("usage errors and help, every command (the binary spawned)", () => {
  const commands = ["audit", "batch", "chat", "keys", "login", "logout", "serve", "simulate", "spend", "teams"]

  /**
   * The binary run with each of `argvs`, a few at once, its results in their order: a command's usage error loads the
   * command's whole module, slow on a loaded machine, and one spawn after another outlasted the test's timeout there.
   */
  const spawnedAll = (argvs: ReadonlyArray<ReadonlyArray<string>>) =>
    Effect.forEach(argvs, (argv) => spawnCli(argv, { env: envWithoutKeys() }), { concurrency: 4 })

  it.live(
    "a flag the parser refuses is named in the command's words, quotes balanced, then where the usage is, exit 2",
    () =>
      Effect.gen(function*() {
        const dash = "(an argument that starts with a dash goes after --)"
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
          [["chat", "--bogus"], `unknown option "--bogus" ${dash}`],
          [["chat", "-x", PROMPT], `unknown option "-x" ${dash}`],
          [["chat", PROMPT, "--model"], "--model needs a value"],
          [["chat", "--json=yes", PROMPT], `--json takes no value, got "yes"`],
          [
            ["chat", "--model", "--json", PROMPT],
            `--model needs a value, got "--json" (write --model=--json if that is the value)`
          ],
          [["batch", "in.jsonl", "--out"], "--out needs a value"],
          [["simulate", "--port"], "--port needs a value"],
          // Every command refuses a flag it does not have the same way.
          ...commands.map((command) => [[command, "--bogus"], `unknown option "--bogus" ${dash}`] as const)
        ]
        const outs = yield* spawnedAll(cases.map(([argv]) => argv))
        for (const [i, [argv, reason]] of cases.entries()) {
          const out = outs[i]!
          expect({ argv, code: out.code, stdout: out.stdout, stderr: out.stderr }).toEqual({
            argv,
            code: 2,
            stdout: "",
            stderr: `effect-llm-router: ${reason}\nRun "effect-llm-router ${argv[0]} --help" for its usage.\n`
          })
        }
      })
  )

  it.live("a command line with no command, or one it does not know, says so in a line and points to --help", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [[], "no command"],
        [["frobnicate"], `unknown command "frobnicate"`],
        [["--bogus"], `unknown option "--bogus" before the command`],
        [["help", "frobnicate"], `no help for "frobnicate"`]
      ]
      for (const [argv, reason] of cases) {
        const out = yield* spawnCli(argv, { env: envWithoutKeys() })
        expect({ argv, code: out.code, stdout: out.stdout, stderr: out.stderr }).toEqual({
          argv,
          code: 2,
          stdout: "",
          stderr: `effect-llm-router: ${reason}\nRun "effect-llm-router --help" for the commands.\n`
        })
      }
    }))

  it.live("--help is a screen: every command in a line; COMMAND --help and help COMMAND give the command's usage", () =>
    Effect.gen(function*() {
      const [top, help, h, ...each] = yield* spawnedAll([
        ["--help"],
        ["help"],
        ["-h"],
        ...commands.flatMap((command) => [[command, "--help"], ["help", command]])
      ])
      expect(top!.code).toBe(0)
      expect(top!.stdout.split("\n").length).toBeLessThanOrEqual(24)
      for (const command of commands) expect(top!.stdout).toMatch(new RegExp(`\\b${command}\\b`))
      expect(top!.stdout).toContain("effect-llm-router COMMAND --help")
      expect(help!.stdout).toBe(top!.stdout)
      expect(h!.stdout).toBe(top!.stdout)
      for (const [i, command] of commands.entries()) {
        const asked = each[2 * i]!
        expect({ command, code: asked.code }).toEqual({ command, code: 0 })
        expect(asked.stdout).toMatch(new RegExp(`^Usage: effect-llm-router ${command}\\b`))
        expect(each[2 * i + 1]!.stdout).toBe(asked.stdout)
      }
    }))
})
