/**
 * Every program in examples/ runs as a user would run it (`npx node --import tsx
 * examples/<name>.ts`, its header's command), with no provider in the environment, so against the
 * built-in simulator, and prints what it promises.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { ProviderConfig } from "effect-llm-router"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Semaphore from "effect/Semaphore"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { simulatedKeys } from "../../examples/_provider.js"
import * as Gateway from "../../src/Gateway.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { awaitFirstLine, awaitWhileRunning, type Running, spawnProcess } from "../utils/cliHarness.js"
import { freePort } from "../utils/freePort.js"
import * as OidcIssuer from "../utils/oidcIssuer.js"

const root = path.resolve(import.meta.dirname, "../..")

const examples = [
  "basic-chat",
  "cost-and-cache",
  "effect-ai",
  "embeddings",
  "execution-plan",
  "failover",
  "gateway",
  "interruption",
  "mcp-tools",
  "provider-json",
  "rate-limits",
  "retry-policy",
  "router",
  "streaming",
  "structured-output",
  "telemetry",
  "tool-loop",
  "weighted-keys"
] as const
type Example = (typeof examples)[number]

/** The examples that serve until stopped, each run by a test of its own. */
const servers = ["oidc-issuer"] as const

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** The test process's environment without a provider, so the examples start the simulator. */
const envWithoutProvider = (): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && name !== "OPENAI_API_KEY" && name !== "OPENAI_BASE_URL") env[name] = value
  }
  return env
}

const runExample = (name: Example): Effect.Effect<Run> =>
  Effect.callback<Run>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", `examples/${name}.ts`], {
      cwd: root,
      env: envWithoutProvider(),
      stdio: ["ignore", "pipe", "pipe"],
      // Killed only if it hangs: a loaded machine runs the slowest example (failover, about 15 s) several times over.
      timeout: 180_000
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    child.once("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
    return Effect.sync(() => {
      child.kill()
    })
  })

// Each tsx start costs about a second of CPU: start every example at once (a
// few at a time, so a small machine does not time them out), then let each
// test wait for its own.
const runs = new Map<Example, Promise<Run>>()
beforeAll(() => {
  const slots = Semaphore.makeUnsafe(2)
  for (const name of examples) runs.set(name, Effect.runPromise(slots.withPermits(1)(runExample(name))))
})

/** The run of `name`, checked to have exited 0 after saying it used the simulator. */
const ran = (name: Example) =>
  Effect.gen(function*() {
    const run = yield* Effect.promise(() => runs.get(name) ?? Promise.reject(new Error(`${name} was not started`)))
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toMatchObject({ code: 0, signal: null })
    expect(run.stderr).toContain("using the built-in simulator at http://127.0.0.1:")
    return run
  })

const lines = (text: string) => text.split("\n").filter((line) => line !== "")

const timeout = { timeout: 240_000 }

describe("examples", () => {
  it("every example in examples/ is run here", () => {
    const found = fs.readdirSync(path.join(root, "examples"))
      .filter((file) => file.endsWith(".ts") && !file.startsWith("_") && !file.endsWith(".test.ts"))
      .map((file) => file.slice(0, -".ts".length))
      .sort()
    expect(found).toEqual([...examples, ...servers].sort())
  })

  it("each example's header runs it through npx, on the project's Node (a plain `node` may be Node 20)", () => {
    for (const name of [...examples, ...servers]) {
      const header = fs.readFileSync(path.join(root, "examples", `${name}.ts`), "utf8").split(" */", 1)[0]!
      const command = new RegExp(`^ \\* {3}(\\S+=\\S+ )?npx node --import tsx examples/${name}\\.ts$`, "m")
      expect(header, name).toMatch(command)
    }
  })

  it.live(
    "basic-chat's header command runs as written from a shell whose PATH npm has not changed",
    () =>
      Effect.gen(function*() {
        const header = fs.readFileSync(path.join(root, "examples", "basic-chat.ts"), "utf8")
        const command = /^ \* {3}(npx .*)$/m.exec(header)![1]!
        const env = Object.fromEntries(
          Object.entries(envWithoutProvider()).filter(([name]) => !name.toLowerCase().startsWith("npm_"))
        )
        env.PATH = (env.PATH ?? "").split(path.delimiter).filter((dir) => !dir.includes("node_modules"))
          .join(path.delimiter)
        const run = yield* spawnProcess("sh", ["-c", command], { cwd: root, env, timeoutMs: 120_000 })
        expect({ code: run.code, stderr: run.stderr }).toMatchObject({ code: 0 })
        expect(lines(run.stdout)[0]).toMatch(/^[A-Z][a-z]+( [a-z]+)+\.$/)
      }),
    timeout
  )

  it.live(
    "gateway serves the provider.json over HTTP: a reply, a stream ending in [DONE], a refusal naming the field",
    () =>
      Effect.gen(function*() {
        const [models, reply, streamed, refused] = lines((yield* ran("gateway")).stdout)
        expect(models).toBe("models: main, simulator/gpt-4o-mini, gpt-4o-mini")
        expect(reply).toMatch(/^reply: [A-Z][a-z]+( [a-z]+)+\.$/)
        expect(streamed).toMatch(/^streamed: [A-Z][a-z]+( [a-z]+)+\. \(\d+ events, the last data: \[DONE\]\)$/)
        expect(refused).toBe("refused: 400 temperature: temperature: expected a value between 0 and 2, got 5")
      }),
    timeout
  )

  it.live("basic-chat prints a reply and its usage", () =>
    Effect.gen(function*() {
      const [reply, usage] = lines((yield* ran("basic-chat")).stdout)
      expect(reply).toMatch(/^[A-Z][a-z]+( [a-z]+)+\.$/)
      expect(usage).toMatch(/^usage: \d+ prompt \+ 16 completion = \d+ tokens, simulator\/gpt-4o-mini in /)
    }), timeout)

  it.live(
    "cost-and-cache prices each call, serves the repeat from cache, refuses the call past the budget unsent",
    () =>
      Effect.gen(function*() {
        const output = lines((yield* ran("cost-and-cache")).stdout)
        expect(output).toHaveLength(6)
        expect(output[0]).toMatch(/^What is a Layer\? \d+ tokens, \$0\.0000\d\d$/)
        expect(output[1]).toBe(output[0])
        expect(output[2]).toMatch(/^What is a Scope\? \d+ tokens, \$0\.0000\d\d$/)
        expect(output[3]).toMatch(/^refused before sending: the overall budget of \$0\.05, this call about \$0\.6\d+$/)
        expect(output[4]).toBe("cache: 1 hit, 3 misses")
        expect(output[5]).toMatch(/^ledger: 2 calls reached the model, \$0\.0000\d\d in all$/)
      }),
    timeout
  )

  it.live("streaming writes the reply as it comes, then the usage", () =>
    Effect.gen(function*() {
      const [text, usage] = lines((yield* ran("streaming")).stdout)
      // The simulator was asked for 40 tokens, one word each.
      expect(text?.split(" ")).toHaveLength(40)
      expect(usage).toMatch(/^usage: \d+ prompt \+ 40 completion = \d+ tokens$/)
    }), timeout)

  it.live(
    "weighted-keys spreads twelve calls 6:4:2 over keys weighted 3:2:1, showing masked ids only",
    () =>
      Effect.gen(function*() {
        const { stdout } = yield* ran("weighted-keys")
        expect(lines(stdout)).toEqual([
          "sk-…0001#2263  weight 3  in flight 0  total 6",
          "sk-…0002#5ae2  weight 2  in flight 0  total 4",
          "sk-…0003#6f58  weight 1  in flight 0  total 2"
        ])
        for (const key of simulatedKeys) expect(stdout).not.toContain(key)
      }),
    timeout
  )

  it.live("rate-limits paces a burst of 15 through a bucket of 5 refilled at 10/s", () =>
    Effect.gen(function*() {
      const [summary, perCall, sideJob, status] = lines((yield* ran("rate-limits")).stdout)
      // Ten calls beyond the burst at 10 a second: at least a second.
      const seconds = Number(/^15 calls took ([\d.]+) s/.exec(summary ?? "")?.[1])
      expect(seconds).toBeGreaterThanOrEqual(0.9)
      // Each call's own time starts when its fiber does, which a loaded machine staggers: within the burst's, not a
      // second each (both rounded to a tenth).
      const times = (perCall ?? "").split(" ").map(Number)
      expect(times).toHaveLength(15)
      for (const time of times) expect(time).toBeGreaterThanOrEqual(0)
      expect(Math.max(...times)).toBeLessThanOrEqual(seconds + 0.1)
      // Right after the burst the bucket is short of five tokens, unless the machine stalled for half a second.
      expect(sideJob).toMatch(
        /^a side job (would wait: The rate limiter's bucket \(5\) has [\d.]+ left\. Wait for about|went at once)/
      )
      expect(status).toMatch(/^limiter: [\d.]+\/5 tokens available, 10\/s refill, 0 in flight \(max 4\), 0 waiting$/)
    }), timeout)

  it.live(
    "provider-json loads a provider.json and chats through models.openai[\"gpt-4o-mini\"]",
    () =>
      Effect.gen(function*() {
        const [loaded, reply, usage] = lines((yield* ran("provider-json")).stdout)
        expect(loaded).toBe("loaded openai models: gpt-4o-mini, gpt-4o")
        expect(reply).toMatch(/^gpt-4o-mini: [A-Z]/)
        expect(usage).toMatch(/^usage: \d+ prompt \+ 16 completion tokens$/)
      }),
    timeout
  )

  it.live(
    "retry-policy retries the rate-limited model per its policy, then recovers on the backup",
    () =>
      Effect.gen(function*() {
        const { stderr, stdout } = yield* ran("retry-policy")
        // maxKeyRotations 2: three attempts, each seen by the tapped policy.
        expect(stderr.match(/gpt-4o attempt failed: RateLimitError/g)).toHaveLength(3)
        expect(stderr).toContain("[HTTP 429] rate-limited the request")
        expect(lines(stdout)).toEqual([expect.stringMatching(/^recovered: gpt-4o-mini answered: [A-Z]/)])
      }),
    timeout
  )

  it.live("interruption stops a long stream after five chunks and frees its key", () =>
    Effect.gen(function*() {
      const output = lines((yield* ran("interruption")).stdout)
      expect(output).toHaveLength(6)
      for (const line of output.slice(0, 5)) expect(line).toMatch(/^chunk ".+" \(keys in flight: 1\)$/)
      expect(output[5]).toBe("stopped after 5 chunks; keys in flight: 0")
    }), timeout)

  it.live(
    "tool-loop runs the same tool loop through all five adapters, to the same answer",
    () =>
      Effect.gen(function*() {
        const output = lines((yield* ran("tool-loop")).stdout)
        expect(output.map((line) => line.split(":", 1)[0])).toEqual([
          "chat-completions",
          "responses",
          "anthropic",
          "gemini",
          "ollama"
        ])
        const answers = new Set(output.map((line) => line.slice(line.indexOf(": ") + 2)))
        expect(answers.size).toBe(1)
        expect([...answers][0]).toMatch(/^get_weather\(\{"city":"[^"]*"\}\) -> The tool returned sunny and 21 C in /)
      }),
    timeout
  )

  it.live(
    "mcp-tools runs a tool loop over the simulator's MCP tools with effect/ai and with Llm, then sees a tool fail",
    () =>
      Effect.gen(function*() {
        const output = lines((yield* ran("mcp-tools")).stdout)
        // The simulator's model calls the tool its prompt names; its answer quotes the tool's result.
        const weather = /^\{"city":"[^"]*","temperatureC":-?\d+,"sky":"[a-z]+"\}$/
        const effectAi = /^effect\/ai: weather -> (.*)$/.exec(output[0] ?? "")
        expect(JSON.parse(effectAi?.[1] ?? "null")).toMatch(weather)
        expect(output[1]).toContain(`effect/ai: answer: The tool returned ${JSON.parse(effectAi![1]!)}`)
        const llm = /^Llm: weather\(\{"city":"[^"]*"\}\) -> (.*)$/.exec(output[2] ?? "")
        expect(llm?.[1]).toMatch(weather)
        expect(output[3]).toContain(`Llm: answer: The tool returned ${llm![1]}`)
        expect(output[4]).toBe("a failing server: ToolError")
        expect(output).toHaveLength(5)
      }),
    timeout
  )

  it.live(
    "effect-ai runs effect/ai's Chat, streamText and generateObject over a router that fails over, then catches a " +
      "rate limit",
    () =>
      Effect.gen(function*() {
        expect(lines((yield* ran("effect-ai")).stdout)).toEqual([
          "tool call: GetWeather({\"city\":\"sim\"})",
          expect.stringMatching(/^answer from anthropic: The tool returned sunny and 21 C in sim( [a-z]+)+\.$/),
          "streamed 12 text deltas, the same text as generateText: true",
          expect.stringMatching(/^object: a Recipe for ([1-9]|1[0-2]) \(string title\)$/),
          "rate limited: retry after 30s"
        ])
      }),
    timeout
  )

  it.live(
    "embeddings ranks three documents, then embeds 3000 texts in batches, in order",
    () =>
      Effect.gen(function*() {
        const output = lines((yield* ran("embeddings")).stdout)
        expect(output).toHaveLength(5)
        const ranked = output.slice(0, 3).map((line) => /^(-?\d\.\d{3}) {2}(.+)$/.exec(line))
        expect(ranked.map((match) => match?.[2]).sort()).toEqual([
          "A fiber is a lightweight thread of execution in Effect.",
          "Effect is a TypeScript library for typed, composable programs.",
          "The Eiffel Tower is in Paris."
        ])
        const scores = ranked.map((match) => Number(match?.[1]))
        expect([...scores].sort((a, b) => b - a)).toEqual(scores)
        expect(output[3]).toMatch(/^usage: [1-9]\d* tokens$/)
        expect(output[4]).toBe("3000 vectors of 8 dimensions; vector 2500 is note 2500's: true")
      }),
    timeout
  )

  it.live(
    "structured-output decodes the same typed recipe through all five adapters, then shows OutputDecodeError",
    () =>
      Effect.gen(function*() {
        const output = lines((yield* ran("structured-output")).stdout)
        expect(output.slice(0, 5).map((line) => line.split(":", 1)[0])).toEqual([
          "chat-completions",
          "responses",
          "anthropic",
          "gemini",
          "ollama"
        ])
        for (const line of output.slice(0, 5)) {
          expect(line).toMatch(/: easy, serves 1, 1 ingredient\(s\) \(1 g of sim\); [1-9]\d* completion tokens$/)
        }
        expect(output[5]).toMatch(/^OutputDecodeError, raw text: \{"title":42,/)
        expect(output).toHaveLength(6)
      }),
    timeout
  )

  it.live(
    "router splits the fast group by weight and falls back from an unknown model to the smart group",
    () =>
      Effect.gen(function*() {
        const output = lines((yield* ran("router")).stdout)
        expect(output[0]).toBe("legacy was answered by gpt-4o")
        expect(output[1]).toMatch(/^load \d+(\.\d+)?%$/)
        const requests = (name: string) =>
          Number(/, (\d+) requests/.exec(output.find((line) => line.startsWith(`${name}:`)) ?? "")?.[1])
        expect(requests("mini-a") + requests("mini-b")).toBe(200)
        // 3:1 by weight, with a seeded Random: the same split on every run.
        expect(requests("mini-a")).toBeGreaterThan(2 * requests("mini-b"))
        expect(output).toContain("retired: weight 1, 1 requests, 1 failed, cooldown closed")
        expect(output).toContain("big: weight 1, 1 requests, 0 failed, cooldown closed")
      }),
    timeout
  )

  it.live(
    "execution-plan tries the unknown model twice, then answers from the next step",
    () =>
      Effect.gen(function*() {
        expect(lines((yield* ran("execution-plan")).stdout)).toEqual([
          "failed first: gpt-3.5-retired: ModelNotFoundError, gpt-3.5-retired: ModelNotFoundError",
          "answered by gpt-4o"
        ])
      }),
    timeout
  )

  it.live(
    "failover restarts a cut or stalled stream on the fallback, counts a malformed event, hedges a slow primary, " +
      "skips a rate-limited one, and brings a recovered one back",
    () =>
      Effect.gen(function*() {
        const output = lines((yield* ran("failover")).stdout)
        const after = (prefix: string) => output.slice(output.findIndex((line) => line.startsWith(prefix)))
        // The cut stream: one Restart chunk, then the fallback's whole reply (24 tokens, one word each).
        expect(after("cut stream:").slice(0, 4)).toEqual([
          "cut stream: restart, attempt 2 on fallback after TransportError",
          "cut stream: 24 words from gpt-4o-mini, finish stop",
          "  primary: 1 requests, 1 failed, breaker open, hedges 0 started 0 cancelled, 0 keys cooling",
          "  fallback: 1 requests, 0 failed, breaker closed, hedges 0 started 0 cancelled, 0 keys cooling"
        ])
        // The primary's stream stalls: its 1 s idle timeout restarts it on the fallback, which answers whole.
        const [stalled, stalledReply] = after("stalled stream:")
        expect(stalled).toBe("stalled stream: restart on fallback after TimeoutError")
        // The stall never ends: only the idle timeout ended the attempt, however long the machine took.
        expect(stalledReply).toMatch(/^stalled stream: 24 words from gpt-4o-mini in [\d.]+ s$/)
        // A malformed event in the primary's stream: skipped, the reply whole, counted on it and in the status.
        expect(output).toContain("malformed event: 24 words from gpt-4o, 1 event skipped, 1 in the primary's status")
        // The primary's first token is 5 s away: the hedge after 1 s answers first (the fallback's model; the primary's
        // attempt cancelled).
        const [slow, slowPrimary, slowFallback] = after("slow primary:")
        expect(slow).toMatch(/^slow primary: answered by gpt-4o-mini in [\d.]+ s$/)
        expect(slowPrimary).toMatch(
          /^ {2}primary: 1 requests, 0 failed, breaker closed, hedges 0 started 1 cancelled, /
        )
        expect(slowFallback).toMatch(/^ {2}fallback: 1 requests, 0 failed, breaker closed, hedges 1 started /)
        // Three attempts on the primary (two key rotations) leave its three keys cooling; no wait for them.
        const [limited, limitedPrimary] = after("rate-limited primary:")
        // Waiting for the keys would take their Retry-After, 10 s: the whole call came in under that, with the time
        // a loaded machine takes to spare.
        expect(Number(/^rate-limited primary: answered by gpt-4o-mini in ([\d.]+) s$/.exec(limited ?? "")?.[1]))
          .toBeLessThan(9)
        expect(limitedPrimary).toBe(
          "  primary: 1 requests, 1 failed, breaker closed, hedges 0 started 0 cancelled, 3 keys cooling"
        )
        expect(output).toContain("model gone: answered by gpt-4o-mini")
        // Down for 1.5 s: the fallback answers while the breaker is open, the primary once a probe finds it healthy.
        const flapping = output.filter((line) => line.startsWith("flapping primary:"))
        expect(flapping).toHaveLength(10)
        expect(flapping[0]).toMatch(/ gpt-4o-mini, breaker open$/)
        // Back by the tenth call, 3.6 s of sleeps in: after the recovery at 1.5 s and one cooldown period (1 s),
        // however
        // slow the machine (it only makes the calls later).
        expect(flapping[9]).toMatch(/ gpt-4o, breaker closed$/)
        const back = flapping.findIndex((line) => line.endsWith(" gpt-4o, breaker closed"))
        // Every answer from the first on the primary is the primary's: one probe brought it back.
        for (const line of flapping.slice(back)) expect(line).toMatch(/ gpt-4o, breaker closed$/)
        expect(output.at(-2)).toMatch(/^ {2}primary: \d+ requests, [12] failed, breaker closed, /)
      }),
    timeout
  )

  it.live(
    "telemetry prints each span through the OpenTelemetry SDK: a call span, attempt spans, GenAI attributes, no key",
    () =>
      Effect.gen(function*() {
        const { stdout } = yield* ran("telemetry")
        const count = (text: string) => stdout.split(text).length - 1
        expect(lines(stdout).filter((line) => !line.startsWith(" ") && /^[a-z]/.test(line))).toEqual([
          "chat: answered by gpt-4o-mini, 30 tokens",
          "stream: answered by gpt-4o-mini, 30 tokens"
        ])
        // Per call: its span, the router's two attempts, the primary's two (one retry) and the fallback's one.
        expect(count("name: 'chat main'")).toBe(2)
        expect(count("name: 'Router.attempt'")).toBe(4)
        expect(count("name: 'Llm.attempt'")).toBe(6)
        expect(count("'gen_ai.operation.name': 'chat'")).toBe(2)
        expect(count("'gen_ai.response.model': 'gpt-4o-mini'")).toBe(2)
        expect(count("'llm_router.deployment': 'fallback'")).toBe(4)
        expect(count("'error.type': 'ProviderUnavailableError'")).toBe(6)
        expect(count("'llm_router.time_to_first_token_ms'")).toBe(1)
        expect(stdout).toMatch(/'llm_router\.key_id': 'sk-…0001#[0-9a-f]{4}'/)
        for (const key of simulatedKeys) expect(stdout).not.toContain(key)
      }),
    timeout
  )

  it.effect("examples/provider.example.json decodes, its keys read from the environment", () =>
    Effect.gen(function*() {
      const json: unknown = JSON.parse(fs.readFileSync(path.join(root, "examples/provider.example.json"), "utf8"))
      const config = yield* ProviderConfig.fromJson(json, "provider.example.json")
      expect(Object.keys(config.providers.openai ?? {})).toEqual(["gpt-4o-mini", "gpt-4o"])
      expect(config.providers.openai?.["gpt-4o-mini"]?.entry.base_url).toBe("https://api.openai.com/v1")
      expect(config.providers.openai?.["gpt-4o-mini"]?.keys).toHaveLength(1)
      expect(config.routers["main"]?.deployments).toEqual(["openai/gpt-4o-mini", "openai/gpt-4o"])
      expect(config.routers["main"]?.options).toMatchObject({ strategy: "priority", midStream: "restart" })
      const missing = yield* Effect.flip(
        ProviderConfig.fromJson(json, "provider.example.json").pipe(
          Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: {} }))
        )
      )
      expect(missing.issues[0]).toEqual({
        path: "openai[0].api_keys[0]",
        message: "the environment variable OPENAI_API_KEY is not set"
      })
    }).pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({ env: { OPENAI_API_KEY: "sk-example-0123456789" } })
      )
    ))

  it.live(
    "oidc-issuer serves an issuer whose printed gateway section signs a person in to a gateway, with their roles",
    () =>
      Effect.gen(function*() {
        const [issuerPort, gatewayPort] = yield* Effect.promise(() => Promise.all([freePort(), freePort()]))
        const gatewayUrl = `http://127.0.0.1:${gatewayPort}`
        let stdout = ""
        let stderr = ""
        const exited = yield* Effect.forkScoped(
          spawnProcess(process.execPath, ["--import", "tsx", "examples/oidc-issuer.ts"], {
            cwd: root,
            env: { ...envWithoutProvider(), OIDC_ISSUER_PORT: String(issuerPort), GATEWAY_URL: gatewayUrl },
            timeoutMs: 120_000,
            onStdout: (soFar) => {
              stdout = soFar
            },
            onStderr: (soFar) => {
              stderr = soFar
            }
          })
        )
        const running: Running = { stdout: () => stdout, stderr: () => stderr, exited }
        const issuer = yield* awaitFirstLine(running, "the issuer's URL")
        expect(issuer).toBe(`http://127.0.0.1:${issuerPort}`)
        yield* awaitWhileRunning(
          running,
          "the issuer's gateway section",
          Effect.sync(() => stderr),
          (text) => text.includes("Ctrl-C to stop.")
        )
        // The section it prints, as a reader pastes it into provider.json, and the secret it names.
        const printed = /"gateway": (\{[\s\S]*?\n\})\n/.exec(stderr)![1]!
        const secret = /OIDC_CLIENT_SECRET=(\S+)/.exec(stderr)![1]!
        const section = JSON.parse(printed) as { readonly oidc: Record<string, unknown> }
        const config = yield* ProviderConfig.fromJson({
          sim: [{ model_name: "gpt-4o-mini", base_url: "http://127.0.0.1:9/v1", api_keys: ["sk-unused"] }],
          gateway: { admin_keys: [{ name: "ops", key: "gw-oidc-example-admin-0001" }], ...section }
        }).pipe(
          Effect.provideService(
            ConfigProvider.ConfigProvider,
            ConfigProvider.fromEnv({ env: { OIDC_CLIENT_SECRET: secret } })
          )
        )
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: gatewayPort }).pipe(
          Effect.provide(UndiciHttpClient.layer())
        )
        // A person signs in to the dashboard through the issuer's pages, and the gateway knows them and their role.
        const login = yield* Effect.promise(() => fetch(`${gateway.url}/admin/login`, { redirect: "manual" }))
        expect(login.status).toBe(302)
        const state = login.headers.getSetCookie().find((line) => line.startsWith("elr_login="))!.split(";", 1)[0]!
        const back = new URL(yield* OidcIssuer.signIn(login.headers.get("location")!, "ada@example.com"))
        expect(`${back.origin}${back.pathname}`).toBe(`${gatewayUrl}/admin/callback`)
        const done = yield* Effect.promise(() =>
          fetch(`${gateway.url}${back.pathname}${back.search}`, { redirect: "manual", headers: { cookie: state } })
        )
        expect(done.status).toBe(302)
        const session = done.headers.getSetCookie().find((line) => line.startsWith("elr_session="))!.split(";", 1)[0]!
        const me = yield* Effect.promise(() =>
          fetch(`${gateway.url}/admin/me`, { headers: { cookie: session } }).then((response) => response.json())
        )
        expect(me).toMatchObject({ name: "ada@example.com", roles: ["admin"] })
      }).pipe(Effect.scoped),
    timeout
  )
})
