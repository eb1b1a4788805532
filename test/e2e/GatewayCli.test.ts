import Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it, vi } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import OpenAI from "openai"
import * as Keys from "../../src/cli/keys.js"
import * as LogLines from "../../src/cli/logLines.js"
import * as Serve from "../../src/cli/serve.js"
import { serveUsage } from "../../src/cli/usage.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import {
  awaitFirstLine,
  awaitWhileRunning,
  captureIo,
  spawnCli,
  startCli,
  startInProcess
} from "../utils/cliHarness.js"
import { effectProp } from "../utils/effectProp.js"
import { rejection } from "../utils/gatewayHarness.js"

const key = "sk-serve-cli-key-00000001"

const lineOne = (text: string) => text.split("\n", 1)[0]!

const chatBody = (model: string, stream = false) =>
  JSON.stringify({ model, messages: [{ role: "user", content: "Hello" }], ...(stream ? { stream: true } : {}) })

const post = (url: string, body: string) =>
  fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body })

describe("serve, in-process", () => {
  it.live("--help prints the usage and exits 0", () =>
    Effect.gen(function*() {
      const { io, result } = captureIo()
      const out = result(yield* Serve.run(["--help"], io))
      expect(out).toEqual({ code: 0, stdout: serveUsage, stderr: "" })
      expect(serveUsage).toContain("--grace-period SECONDS")
      // Every API it speaks, and which process to signal.
      const usage = serveUsage.replace(/\s+/g, " ")
      for (const served of ["OpenAI's API", "Anthropic's (/v1/messages)", "Gemini's", "MCP (/mcp", "serve.pid"]) {
        expect(usage).toContain(served)
      }
      // Where the admin key comes from, as the gateway below enforces it (no gateway keys, /metrics still closed).
      expect(serveUsage.replace(/\s+/g, " ")).toContain(
        "/metrics, the dashboard's data and the admin API (/admin/...) always take an admin key, whatever the " +
          "provider.json says of gateway keys: one of its gateway.admin_keys, else the admin token serve makes at " +
          "its first start, the file admin-token of its data directory (--data)"
      )
    }))

  it.live("bad flags exit 2 with a reason and where the usage is", () =>
    Effect.gen(function*() {
      const refusals = {
        "--port http": /--port needs a port from 0 to 65535, got "http"/,
        "--grace-period 0": /--grace-period needs a positive number of seconds/,
        "--max-body-bytes 1.5": /--max-body-bytes needs a positive integer/,
        "extra": /serve takes no arguments/
      }
      const outs = yield* Effect.forEach(Object.keys(refusals), (line) => {
        const { io, result } = captureIo()
        return Effect.map(Serve.run(line.split(" "), io), result)
      })
      Object.values(refusals).forEach((reason, i) => {
        expect(outs[i]).toMatchObject({ code: 2, stdout: "" })
        expect(lineOne(outs[i]!.stderr)).toMatch(reason)
        expect(outs[i]!.stderr).toBe(
          `${lineOne(outs[i]!.stderr)}\nRun "effect-llm-router serve --help" for its usage.\n`
        )
      })
    }))

  it.live("--config serves the file's models on loopback, its data in --data, says so, and stops when interrupted", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "serve-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "provider.json")
      fs.writeFileSync(
        file,
        JSON.stringify({ sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key] }] })
      )
      const data = path.join(dir, "data")
      const running = yield* startInProcess((io) => Serve.run(["--config", file, "--port", "0", "--data", data], io))
      const url = yield* awaitFirstLine(running, "serve's first line (its URL)")
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(running.stderr()).toContain("on 127.0.0.1 only: no gateway keys are configured")
      expect(running.stderr()).toContain(
        `Dashboard: ${url}/dashboard (its data, /metrics and the admin API take an admin key: the token in ` +
          `${data}/admin-token, which keys, teams and spend read there). Models: sim/gpt-4o-mini, gpt-4o-mini. ` +
          `Data: ` +
          `SQLite file ${data}/gateway.db.`
      )
      expect(fs.existsSync(path.join(data, "gateway.db"))).toBe(true)
      const reply = yield* Effect.promise(() => post(url, chatBody("gpt-4o-mini")).then((response) => response.json()))
      expect(reply).toMatchObject({ object: "chat.completion", model: "gpt-4o-mini" })
      // The request's line reaches stderr at its window's write, whole, and holds no key.
      const logged = yield* awaitWhileRunning(
        running,
        "the request's log line",
        Effect.sync(running.stderr),
        (stderr) => stderr.includes(`"message":"request"`)
      )
      const line = logged.split("\n").filter((text) => text.startsWith("{")).map((text) =>
        JSON.parse(text) as { readonly message: string; readonly level: string; readonly annotations: object }
      ).find((entry) => entry.message === "request")
      expect(line).toMatchObject({
        level: "INFO",
        annotations: { method: "POST", path: "/v1/chat/completions", status: 200, model: "gpt-4o-mini" }
      })
      expect(running.stderr()).not.toContain(key)
      // No gateway keys, yet /metrics takes the admin key: the token in the data directory.
      const token = fs.readFileSync(path.join(data, "admin-token"), "utf8").trim()
      const metrics = (authorization?: string) =>
        Effect.promise(() =>
          fetch(`${url}/metrics`, authorization === undefined ? {} : { headers: { authorization } })
            .then((response) => response.status)
        )
      expect(yield* metrics()).toBe(401)
      expect(yield* metrics(`Bearer ${token}`)).toBe(200)
      yield* Fiber.interrupt(running.exited)
      expect(Exit.hasInterrupts(yield* Fiber.await(running.exited))).toBe(true)
      const after = yield* Effect.promise(() => fetch(`${url}/health`).then(() => "answered", () => "refused"))
      expect(after).toBe("refused")
    }).pipe(Effect.scoped))
})

describe("serve, a deployment its adapter refuses", () => {
  it.live("exits 1 naming the entry and what is wrong, without the usage", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "serve-refused-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "provider.json")
      fs.writeFileSync(
        file,
        JSON.stringify({
          gcp: [{ model_name: "gemini-2.5-flash", api: "vertex", project: "my proj", location: "us-central1" }]
        })
      )
      const { io, result } = captureIo()
      const out = result(yield* Serve.run(["--config", file, "--port", "0", "--data", path.join(dir, "data")], io))
      expect(out.code).toBe(1)
      expect(out.stderr).toBe(
        `ProviderConfigError: ${file} has a problem:\n  gcp[0].project: expected a Google Cloud project id, such as ` +
          "my-proj or us-central1, got \"my proj\"\n"
      )
      expect(out.stderr).not.toContain("Usage:")
    }).pipe(Effect.scoped))
})

describe("serve's data directory", () => {
  const modeOf = (file: string) => fs.statSync(file).mode & 0o777

  it.live("with admin_keys in provider.json (no token made), the directory is made 0700 and its database 0600", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "serve-modes-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const file = path.join(dir, "provider.json")
      fs.writeFileSync(
        file,
        JSON.stringify({
          sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key] }],
          gateway: { admin_keys: [{ name: "ops", key: "env:MODES_ADMIN_KEY" }] }
        })
      )
      const data = path.join(dir, "nested", "data")
      const running = yield* startInProcess(
        (io) => Serve.run(["--config", file, "--port", "0", "--data", data], io),
        { env: { MODES_ADMIN_KEY: "gw-modes-admin-key-0001" } }
      )
      const url = yield* awaitFirstLine(running, "serve's URL")
      // A call, so the request log writes (and SQLite makes its -wal and -shm files).
      expect((yield* Effect.promise(() => post(url, chatBody("gpt-4o-mini")))).status).toBe(200)
      expect(fs.existsSync(path.join(data, "admin-token"))).toBe(false)
      expect(modeOf(data)).toBe(0o700)
      expect(modeOf(path.join(dir, "nested"))).toBe(0o700)
      const files = fs.readdirSync(data)
      expect(files).toContain("gateway.db")
      for (const name of files) expect([name, modeOf(path.join(data, name))]).toEqual([name, 0o600])
      yield* Fiber.interrupt(running.exited)
    }).pipe(Effect.scoped))

  it.live(
    "an admin-token others may read, or behind a symbolic link, is refused by serve and by keys, naming why",
    () =>
      Effect.gen(function*() {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "serve-token-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const token = "elr-admin-test-token-000000000001"
        const run = (data: string) =>
          Effect.gen(function*() {
            const served = captureIo()
            const serveCode = yield* Serve.run(["--port", "0", "--data", data], served.io)
            const listed = captureIo()
            const keysCode = yield* Keys.run(["list", "--url", "http://127.0.0.1:9", "--data", data], listed.io)
            return [served.result(serveCode), listed.result(keysCode)]
          })
        const cases = [
          { mode: 0o644, why: "its mode is 0644: others than its owner may read or change it" },
          { mode: 0o620, why: "its mode is 0620" },
          { mode: 0o604, why: "its mode is 0604" }
        ]
        for (const { mode, why } of cases) {
          const data = path.join(dir, `mode-${mode.toString(8)}`)
          fs.mkdirSync(data, { mode: 0o700 })
          fs.writeFileSync(path.join(data, "admin-token"), `${token}\n`, { mode })
          fs.chmodSync(path.join(data, "admin-token"), mode)
          for (const out of yield* run(data)) {
            expect(out.code).toBe(1)
            expect(lineOne(out.stderr)).toContain(`AdminTokenError: The admin token at ${data}/admin-token`)
            expect(out.stderr).toContain(why)
            expect(out.stderr + out.stdout).not.toContain(token)
          }
        }
        // A link to a file only its owner reads is refused all the same: the link may be changed under it.
        const linked = path.join(dir, "linked")
        fs.mkdirSync(linked, { mode: 0o700 })
        fs.writeFileSync(path.join(dir, "elsewhere"), `${token}\n`, { mode: 0o600 })
        fs.symlinkSync(path.join(dir, "elsewhere"), path.join(linked, "admin-token"))
        for (const out of yield* run(linked)) {
          expect(out.code).toBe(1)
          expect(out.stderr).toContain("it is a symbolic link")
          expect(out.stderr + out.stdout).not.toContain(token)
        }
        // A token only its owner reads is taken: keys goes on to the gateway (none there).
        const fine = path.join(dir, "fine")
        fs.mkdirSync(fine, { mode: 0o700 })
        fs.writeFileSync(path.join(fine, "admin-token"), `${token}\n`, { mode: 0o600 })
        const listed = captureIo()
        const code = yield* Keys.run(["list", "--url", "http://127.0.0.1:9", "--data", fine], listed.io)
        expect(listed.result(code)).toMatchObject({ code: 1 })
        expect(listed.result(code).stderr).toContain("GatewayRequestError: The gateway at http://127.0.0.1:9 could not")
      }).pipe(Effect.scoped)
  )
})

describe("serve, the binary spawned", () => {
  it.live(
    "with no config it serves the built-in simulator, and SIGTERM lets a stream finish, then exits 0",
    () =>
      Effect.gen(function*() {
        let answer: unknown
        let streamed: Promise<string> | undefined
        const out = yield* spawnCli(["serve", "--port", "0", "--grace-period", "10"], {
          onStdout: (soFar, child) => {
            if (!soFar.includes("\n") || answer !== undefined) return
            answer = null
            const url = lineOne(soFar)
            post(url, chatBody("gpt-4o-mini"))
              .then((response) => response.json())
              .then((json) => {
                answer = json
                // A stream in flight when SIGTERM arrives: it must still end whole.
                streamed = post(url, chatBody("gpt-4o-mini", true)).then(async (response) => {
                  const reader = response.body!.getReader()
                  const decoder = new TextDecoder()
                  let text = ""
                  for (let next = await reader.read(); !next.done; next = await reader.read()) {
                    if (text === "") child.kill("SIGTERM")
                    text += decoder.decode(next.value, { stream: true })
                  }
                  return text
                })
              })
              .catch((error: unknown) => {
                answer = String(error)
                child.kill("SIGTERM")
              })
          }
        })
        expect(out.code).toBe(0)
        expect(lineOne(out.stdout)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
        expect(out.stderr).toMatch(
          /no provider configured; serving the built-in simulator at http:\/\/127\.0\.0\.1:\d+/
        )
        expect(answer).toMatchObject({ object: "chat.completion", choices: [{ message: { role: "assistant" } }] })
        const text = yield* Effect.promise(() => streamed ?? Promise.resolve("no stream"))
        expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true)
      }),
    60_000
  )

  it.live(
    "SIGTERM with a grace period shorter than a stream ends it with an error event, logged with its error",
    () =>
      Effect.gen(function*() {
        // Four tokens a second: the replies last longer than the test.
        const simulator = yield* Simulator.make({ tokensPerSecond: 4, replyTokens: 400 })
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "serve-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const file = path.join(dir, "provider.json")
        const deployment = { model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key] }
        fs.writeFileSync(file, JSON.stringify({ sim: [deployment] }))
        const running = yield* startCli(["serve", "--config", file, "--port", "0", "--grace-period", "0.5"])
        const url = yield* awaitFirstLine(running, "serve's first line (its URL)")
        const openAi = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 })
        const anthropic = new Anthropic({ baseURL: url, apiKey: "unused", maxRetries: 0 })
        const messages = [{ role: "user" as const, content: "Hello" }]
        const chat = yield* Effect.promise(() =>
          openAi.chat.completions.create({ model: "gpt-4o-mini", messages, stream: true })
        )
        const message = yield* Effect.promise(() =>
          anthropic.messages.create({ model: "gpt-4o-mini", max_tokens: 1000, messages, stream: true })
        )
        const chatEvents = chat[Symbol.asyncIterator]()
        const messageEvents = message[Symbol.asyncIterator]()
        // Both streams under way when the signal comes.
        yield* Effect.promise(() => Promise.all([chatEvents.next(), messageEvents.next()]))
        running.child()!.kill("SIGTERM")
        const toEnd = (events: AsyncIterator<unknown>) =>
          rejection(async () => {
            for (let next = await events.next(); next.done !== true; next = await events.next()) void next.value
          })
        const [chatError, messageError] = yield* Effect.all([toEnd(chatEvents), toEnd(messageEvents)], {
          concurrency: 2
        })
        expect(chatError).toBeInstanceOf(OpenAI.APIError)
        expect(chatError).toMatchObject({ code: "server_shutting_down", type: "server_error" })
        expect((chatError as Error).message).toMatch(/shutting down and its grace period ended before this stream did/)
        expect(messageError).toBeInstanceOf(Anthropic.APIError)
        expect(messageError).toMatchObject({ error: { type: "error", error: { type: "overloaded_error" } } })
        expect((messageError as Error).message).toMatch(
          /shutting down and its grace period ended before this stream did/
        )
        const exited = yield* Fiber.join(running.exited)
        expect(exited.code).toBe(0)
        const logged = running.stderr().split("\n").filter((line) => line.startsWith("{"))
          .map((line) => (JSON.parse(line) as { readonly annotations: Record<string, unknown> }).annotations)
        const byPath = logged.map(({ error, path, status }) => ({ path: String(path), status, error }))
          .sort((a, b) => a.path.localeCompare(b.path))
        expect(byPath).toEqual([
          { path: "/v1/chat/completions", status: 200, error: "ServerShutdown" },
          { path: "/v1/messages", status: 200, error: "ServerShutdown" }
        ])
      }).pipe(Effect.scoped),
    60_000
  )
})

describe("serve's log lines", () => {
  const primitive = fc.oneof(
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.bigInt(),
    fc.constant(null),
    fc.constant(undefined),
    fc.constantFrom(Symbol("described"), Symbol(), Symbol.for("registered"), Symbol.iterator),
    fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 1e21, 5e-324)
  )
  // Keys JSON and objects treat apart: array indices (ordered first), `__proto__`, escapes and lone surrogates.
  const key = fc.oneof(fc.string(), fc.constantFrom("__proto__", "0", "7", "10", "-1", "\"\n", "\ud800"))
  const value = fc.oneof(
    primitive,
    fc.array(primitive),
    fc.object(),
    fc.string().map((secret) => Redacted.make(secret)),
    fc.string().map((secret) => ({ apiKey: Redacted.make(secret) }))
  )
  const level = fc.constantFrom<LogLevel.Severity>("Trace", "Debug", "Info", "Warn", "Error", "Fatal")
  const line = (part: fc.Arbitrary<unknown>) =>
    fc.record({
      message: fc.array(part, { minLength: 1, maxLength: 3 }),
      annotations: fc.dictionary(key, part, { maxKeys: 6 }),
      spans: fc.array(key, { maxLength: 3 }),
      cause: fc.boolean(),
      level
    })
  type Line = typeof line extends (part: fc.Arbitrary<unknown>) => fc.Arbitrary<infer A> ? A : never

  /** Logs `entry` on the running fiber, under its annotations and spans, each span opened a millisecond apart. */
  const logged = (entry: Line) =>
    Effect.gen(function*() {
      const parts = entry.cause ? [...entry.message, Cause.fail("broken")] : entry.message
      let effect = Effect.logWithLevel(entry.level)(...parts).pipe(Effect.annotateLogs(entry.annotations))
      for (const span of entry.spans) {
        effect = Effect.withLogSpan(effect, span).pipe(Effect.andThen(TestClock.adjust("1 millis")))
      }
      yield* effect
    })

  /** Changes every plain object and array `entry` holds, as a caller may after logging it. */
  const disturb = (entry: Line) => {
    for (const part of [...entry.message, ...Object.values(entry.annotations)]) {
      if (Array.isArray(part)) part.push("changed")
      else if (typeof part === "object" && part !== null && Object.getPrototypeOf(part) === Object.prototype) {
        ;(part as Record<string, unknown>).changed = true
      }
    }
  }

  effectProp(
    "each line is Logger.formatJson's as it was logged, byte for byte: any message, annotations, spans, cause and level",
    // Lines of primitives too, as every request's is, or few would be held to their window's write.
    fc.array(fc.oneof(line(value), line(primitive)), { minLength: 1, maxLength: 4 }),
    (entries) =>
      Effect.gen(function*() {
        const writes: Array<string> = []
        const expected: Array<string> = []
        const scope = yield* Scope.make()
        const serves = yield* Scope.provide(LogLines.jsonLines({ stderr: (text) => void writes.push(text) }), scope)
        const reference = Logger.map(Logger.formatJson, (text) => void expected.push(text))
        // Each line under the annotations and spans of a block the fiber leaves before the write.
        for (const entry of entries) {
          yield* logged(entry).pipe(
            Effect.annotateLogs({ window: "open" }),
            Effect.provide(Logger.layer([serves, reference])),
            Effect.provideService(References.MinimumLogLevel, "All")
          )
          disturb(entry)
        }
        expect(writes).toEqual([])
        yield* TestClock.adjust(LogLines.logWindow)
        expect(writes).toEqual([`${expected.join("\n")}\n`])
        yield* Scope.close(scope, Exit.void)
      }),
    200
  )

  effectProp(
    "a line of primitives with no cause (every request's) is formatted at its window's write, not on its fiber",
    fc.array(line(primitive).map((entry) => ({ ...entry, cause: false })), { minLength: 1, maxLength: 4 }),
    (entries) =>
      Effect.gen(function*() {
        const writes: Array<string> = []
        const scope = yield* Scope.make()
        const serves = yield* Scope.provide(LogLines.jsonLines({ stderr: (text) => void writes.push(text) }), scope)
        const stringify = vi.spyOn(JSON, "stringify")
        yield* Effect.addFinalizer(() => Effect.sync(() => stringify.mockRestore()))
        for (const entry of entries) {
          yield* logged(entry).pipe(
            Effect.provide(Logger.layer([serves])),
            Effect.provideService(References.MinimumLogLevel, "All")
          )
        }
        expect(stringify).not.toHaveBeenCalled()
        yield* TestClock.adjust(LogLines.logWindow)
        expect(stringify).toHaveBeenCalledTimes(entries.length)
        expect(writes.join("").split("\n").filter((text) => text !== "").map((text) => JSON.parse(text).level))
          .toEqual(entries.map((entry) => entry.level.toUpperCase()))
        yield* Scope.close(scope, Exit.void)
      })
  )

  // Each window a count of lines logged, the last window's cut short by the scope's close.
  effectProp(
    "a window's lines go out in one write when it passes, the rest when the scope closes: each once, in order, whole",
    fc.array(fc.nat({ max: 5 }), { minLength: 1, maxLength: 6 }),
    (windows) =>
      Effect.gen(function*() {
        const writes: Array<string> = []
        const scope = yield* Scope.make()
        const logger = yield* Scope.provide(LogLines.jsonLines({ stderr: (text) => void writes.push(text) }), scope)
        const logged = (n: number) =>
          Effect.logInfo("request").pipe(Effect.annotateLogs({ n }), Effect.provide(Logger.layer([logger])))
        let n = 0
        for (const [i, count] of windows.entries()) {
          for (let j = 0; j < count; j++) yield* logged(n++)
          const before = writes.length
          if (i < windows.length - 1) {
            yield* TestClock.adjust(LogLines.logWindow)
            expect(writes.length - before).toBe(count === 0 ? 0 : 1)
          }
        }
        const open = writes.length
        yield* Scope.close(scope, Exit.void)
        expect(writes.length - open).toBe(windows.at(-1)! === 0 ? 0 : 1)
        for (const write of writes) expect(write.endsWith("\n")).toBe(true)
        const lines = writes.join("").split("\n").filter((line) => line !== "")
        expect(
          lines.map((line) => (JSON.parse(line) as { readonly annotations: { readonly n: number } }).annotations.n)
        )
          .toEqual(Array.from({ length: n }, (_, i) => i))
      })
  )
})
