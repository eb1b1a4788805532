/**
 * `serve` reloading its provider.json without a restart, over loopback with the official `openai` client: on SIGHUP
 * (the binary spawned) and on `POST /admin/reload` (in-process), a file refused whole while the running configuration
 * keeps answering, and a stream started before a reload ending whole on the deployment it started on.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import OpenAI from "openai"
import * as Serve from "../../src/cli/serve.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import {
  awaitFirstLine,
  awaitWhileRunning,
  captureIo,
  type Running,
  startCli,
  startInProcess,
  startNpx
} from "../utils/cliHarness.js"
import { pathsNamed, problems, someProblems, withProblems } from "../utils/configProblems.js"

const oldKey = "sk-reload-old-provider-0001"
const newKey = "sk-reload-new-provider-0002"
const appKey = "gw-reload-app-key-5c1e9a"
const adminKey = "gw-reload-admin-key-7b2d4f"

/** A provider.json in a directory of its own (removed with the scope), and what writes it again. */
const providerFile = (json: unknown) =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "reload-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    const file = path.join(dir, "provider.json")
    const write = (next: unknown) => fs.writeFileSync(file, typeof next === "string" ? next : JSON.stringify(next))
    write(json)
    return { dir, file, write }
  })

const entry = (simulator: Simulator.Simulator, key: string, model = "gpt-4o-mini") => ({
  model_name: model,
  base_url: `${simulator.url}/v1`,
  api_keys: [key]
})

const client = (url: string, apiKey = "unused") => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 })

const modelIds = (openai: OpenAI) =>
  Effect.promise(async () => (await openai.models.list()).data.map((model) => model.id).sort())

const ask = (openai: OpenAI, model: string) =>
  Effect.promise(() => openai.chat.completions.create({ model, messages: [{ role: "user", content: "Hello" }] }))

const reloadRequest = (url: string, key: string | undefined, contentType = "application/json") =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/admin/reload`, {
      method: "POST",
      headers: {
        ...(contentType === "" ? {} : { "content-type": contentType }),
        ...(key === undefined ? {} : { authorization: `Bearer ${key}` })
      }
    })
    return { status: response.status, text: await response.text() }
  })

/** Two simulators, each with its own key, and a provider.json over the first: what a reload moves from and to. */
const reloading = Effect.gen(function*() {
  const before = yield* Simulator.make({ apiKeys: [oldKey] })
  const after = yield* Simulator.make({ apiKeys: [newKey] })
  return { before, after, ...yield* providerFile({ sim: [entry(before, oldKey)] }) }
})

const requestsOf = (simulator: Simulator.Simulator) => Effect.map(simulator.stats, (stats) => stats.requests)

/** Once the run's stderr holds `count` reload log lines (`text`, a line the gateway logs for each reload). */
const logged = (running: Running, text: string, count: number) =>
  awaitWhileRunning(
    running,
    `${count} "${text}" log line(s)`,
    Effect.sync(() => running.stderr().split(text).length - 1),
    (seen) => seen >= count
  )

describe("serve reloads its provider.json", () => {
  it.live(
    "on SIGHUP (the binary spawned): the openai client sees the model the file added, and the changed deployment " +
      "answers the next calls",
    () =>
      Effect.gen(function*() {
        const { after, before, dir, file, write } = yield* reloading
        const running = yield* startCli(["serve", "--config", file, "--port", "0", "--data", path.join(dir, "data")])
        const openai = client(yield* awaitFirstLine(running, "serve's URL"))
        expect(yield* modelIds(openai)).toEqual(["gpt-4o-mini", "sim/gpt-4o-mini"])
        expect((yield* ask(openai, "gpt-4o-mini")).object).toBe("chat.completion")
        expect(yield* requestsOf(before)).toBe(1)

        write({ sim: [entry(after, newKey), entry(after, newKey, "gpt-4o")] })
        running.child()!.kill("SIGHUP")
        yield* logged(running, "configuration reloaded", 1)
        expect(yield* modelIds(openai)).toEqual(["gpt-4o", "gpt-4o-mini", "sim/gpt-4o", "sim/gpt-4o-mini"])
        expect((yield* ask(openai, "gpt-4o")).choices[0]!.message.role).toBe("assistant")
        expect((yield* ask(openai, "gpt-4o-mini")).object).toBe("chat.completion")
        expect(yield* requestsOf(before)).toBe(1)
        expect(yield* requestsOf(after)).toBe(2)
        // SIGHUP no longer ends the process (Node's default): it still serves.
        expect(running.exited.pollUnsafe()).toBeUndefined()
        expect(running.stderr()).not.toContain(newKey)

        // A file nested a hundred thousand levels deep: refused with a warning naming why, the running one kept.
        write(`{ "sim": ${"[".repeat(100_000)}${"]".repeat(100_000)} }`)
        running.child()!.kill("SIGHUP")
        yield* logged(running, "configuration not reloaded (the running one stays)", 1)
        const warning = running.stderr().split("\n").find((line) => line.includes("configuration not reloaded"))!
        expect(JSON.parse(warning)).toMatchObject({ level: "WARN" })
        expect(warning).toContain("nested more than 64 levels deep")
        expect((yield* ask(openai, "gpt-4o")).object).toBe("chat.completion")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "under npx (npm and a shell between the caller and the gateway): the process serve.pid names is the gateway; " +
      "SIGHUP to it reloads, SIGTERM to it stops it, npx with it, and the file is gone",
    () =>
      Effect.gen(function*() {
        const { after, dir, file, write } = yield* reloading
        const data = path.join(dir, "data")
        const running = yield* startNpx(
          ["serve", "--config", file, "--port", "0", "--data", data],
          path.join(dir, "npm-cache"),
          { timeoutMs: 240_000 }
        )
        const openai = client(yield* awaitFirstLine(running, "serve's URL"))
        const pidFile = path.join(data, "serve.pid")
        yield* awaitWhileRunning(running, "serve's start line", Effect.sync(running.stderr), (text) =>
          text.includes("Ctrl-C to stop"))
        expect(running.stderr()).toContain(`its process id is in ${pidFile}`)
        const pid = Number(fs.readFileSync(pidFile, "utf8"))
        // What `$!` would be after `npx effect-llm-router serve &` is npm's process, not the gateway's.
        expect(pid).not.toBe(running.child()!.pid)

        write({ sim: [entry(after, newKey, "gpt-4o")] })
        process.kill(pid, "SIGHUP")
        yield* logged(running, "configuration reloaded", 1)
        expect(yield* modelIds(openai)).toEqual(["gpt-4o", "sim/gpt-4o"])
        expect(running.exited.pollUnsafe()).toBeUndefined()

        process.kill(pid, "SIGTERM")
        const exited = yield* Fiber.join(running.exited)
        expect(exited.code).toBe(0)
        expect(fs.existsSync(pidFile)).toBe(false)
      }).pipe(Effect.scoped),
    300_000
  )

  it.live(
    "POST /admin/reload takes an admin key as the other admin paths; a broken file is refused whole with 400 " +
      "naming its problem, and the running configuration still answers",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [oldKey] })
        const gateway = {
          keys: [{ name: "app", key: "env:RELOAD_APP_KEY" }],
          admin_keys: [{ name: "ops", key: "env:RELOAD_ADMIN_KEY" }]
        }
        const good = { sim: [entry(simulator, oldKey)], gateway }
        const { dir, file, write } = yield* providerFile(good)
        const running = yield* startInProcess(
          (io) =>
            Serve.run(["--config", file, "--host", "0.0.0.0", "--port", "0", "--data", path.join(dir, "data")], io),
          { env: { RELOAD_APP_KEY: appKey, RELOAD_ADMIN_KEY: adminKey, RELOAD_PROVIDER_KEY: oldKey } }
        )
        const url = yield* awaitFirstLine(running, "serve's URL")
        const openai = client(url, appKey)

        const none = yield* reloadRequest(url, undefined)
        expect(none.status).toBe(401)
        expect(JSON.parse(none.text).error.code).toBe("invalid_api_key")
        const notAdmin = yield* reloadRequest(url, appKey)
        expect(notAdmin.status).toBe(403)
        expect(JSON.parse(notAdmin.text).error.code).toBe("admin_key_required")
        expect((yield* reloadRequest(url, adminKey, "text/plain")).status).toBe(415)

        const broken = {
          "not valid JSON": "{ \"sim\": [",
          "sim[0].rate_limit_capacity: expected a positive number": {
            sim: [{ ...entry(simulator, oldKey), rate_limit_capacity: 0 }],
            gateway
          },
          "sim[0].api_keys[0]: the environment variable RELOAD_UNSET_KEY is not set": {
            sim: [{ ...entry(simulator, oldKey), api_keys: ["env:RELOAD_UNSET_KEY"] }],
            gateway
          },
          "store.sql: expected the one it started with (a reload keeps the store, the database,": {
            sim: [entry(simulator, oldKey)],
            gateway,
            store: { sql: "postgres://reload@127.0.0.1:1/elsewhere" }
          },
          "gateway.log_payloads: expected the one it started with": {
            sim: [entry(simulator, oldKey)],
            gateway: { ...gateway, log_payloads: true }
          },
          // Served beyond loopback, the gateway keeps its keys.
          "host must be a loopback address": { sim: [entry(simulator, oldKey)] },
          // Decoding walks the file: refused before it could overflow the stack.
          ": nested more than 64 levels deep": `{ "sim": ${"[".repeat(100_000)}${"]".repeat(100_000)} }`,
          "__proto__: __proto__ cannot be a name here": `{ "__proto__": [], "sim": [${
            JSON.stringify(entry(simulator, oldKey))
          }] }`,
          "gateway.keys[0].models[0]: expected a router, deployment, model or group of the configuration": {
            sim: [entry(simulator, oldKey)],
            gateway: { ...gateway, keys: [{ ...gateway.keys[0], models: ["gpt-5"] }] }
          }
        }
        for (const [problem, json] of Object.entries(broken)) {
          write(json)
          const refused = yield* reloadRequest(url, adminKey)
          expect(refused.status).toBe(400)
          const error = JSON.parse(refused.text).error
          expect(error.code).toBe("invalid_configuration")
          expect(error.message).toContain("The configuration was not reloaded; the running one stays.")
          expect(error.message).toContain(problem)
          for (const secret of [oldKey, appKey, adminKey]) expect(refused.text).not.toContain(secret)
          // The running configuration, its keys included, still answers.
          expect((yield* ask(openai, "gpt-4o-mini")).object).toBe("chat.completion")
        }
        // Several problems in one file: every one named in the one refusal, as a start names them.
        const several = [
          {
            json: {
              sim: [
                { ...entry(simulator, oldKey), base_url: "file:///etc/passwd" },
                {
                  ...entry(simulator, oldKey, "gpt-4o"),
                  headers: { "x-trace": "a\r\nx-injected: 1", "bad name": "v" }
                }
              ],
              gateway
            },
            problems: [
              "sim[0].base_url: expected an absolute http:// or https:// URL",
              "sim[1].headers.x-trace: expected a header value without line breaks or control characters",
              "sim[1].headers.bad name: expected a header name"
            ]
          },
          {
            json: {
              sim: [entry(simulator, oldKey)],
              gateway: {
                ...gateway,
                log_payloads: true,
                keys: [{ ...gateway.keys[0], models: ["gpt-5"] }, {
                  name: "second",
                  key: "gw-reload-second-key-0001",
                  models: ["o9"]
                }]
              },
              store: { sql: "postgres://reload@127.0.0.1:1/elsewhere" }
            },
            problems: [
              "store.sql: expected the one it started with",
              "gateway.log_payloads: expected the one it started with",
              "gateway.keys[0].models[0]: expected a router, deployment, model or group",
              "gateway.keys[1].models[0]: expected a router, deployment, model or group"
            ]
          },
          {
            json: {
              sim: [entry(simulator, oldKey)],
              gateway: {
                ...gateway,
                keys: [{ ...gateway.keys[0], models: ["gpt-5"] }, {
                  name: "second",
                  key: "gw-reload-second-key-0001",
                  models: ["o9"]
                }]
              }
            },
            problems: [
              "gateway.keys[0].models[0]: expected a router, deployment, model or group",
              "gateway.keys[1].models[0]: expected a router, deployment, model or group"
            ]
          }
        ]
        for (const { json, problems } of several) {
          write(json)
          const refused = yield* reloadRequest(url, adminKey)
          expect(refused.status).toBe(400)
          const message: string = JSON.parse(refused.text).error.message
          for (const problem of problems) expect(message).toContain(problem)
          expect(message).not.toContain("x-injected")
        }
        yield* logged(
          running,
          "configuration not reloaded (the running one stays)",
          Object.keys(broken).length + several.length
        )

        write({ ...good, sim: [{ ...entry(simulator, oldKey), api_keys: ["env:RELOAD_PROVIDER_KEY"] }] })
        const reloaded = yield* reloadRequest(url, adminKey)
        expect(reloaded.status).toBe(200)
        expect(JSON.parse(reloaded.text)).toEqual({ status: "reloaded", models: ["sim/gpt-4o-mini", "gpt-4o-mini"] })
        expect((yield* ask(openai, "gpt-4o-mini")).object).toBe("chat.completion")
        expect(running.stderr()).not.toContain(adminKey)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("a file too deep at start: serve exits 1 with the file's problem, not a stack overflow", () =>
    Effect.gen(function*() {
      const { dir, file } = yield* providerFile(`{ "sim": ${"[".repeat(100_000)}${"]".repeat(100_000)} }`)
      const { io, result } = captureIo()
      const code = yield* Serve.run(["--config", file, "--port", "0", "--data", path.join(dir, "data")], io)
      const { stderr } = result(code)
      expect(code).toBe(1)
      expect(stderr).toContain(`${file} has a problem`)
      expect(stderr).toContain("sim[0][0]: nested more than 64 levels deep (below this)")
      expect(stderr).not.toContain("Maximum call stack")
    }).pipe(Effect.scoped))

  it.live(
    "a stream started before a reload ends whole on the deployment it started on; a call after goes to the new one",
    () =>
      Effect.gen(function*() {
        // Forty tokens at twenty a second: the stream outlasts the reload.
        const slow = yield* Simulator.make({ apiKeys: [oldKey], tokensPerSecond: 20, replyTokens: 40 })
        const fast = yield* Simulator.make({ apiKeys: [newKey] })
        const { dir, file, write } = yield* providerFile({ sim: [entry(slow, oldKey)] })
        const running = yield* startInProcess((io) =>
          Serve.run(["--config", file, "--port", "0", "--data", path.join(dir, "data")], io)
        )
        const url = yield* awaitFirstLine(running, "serve's URL")
        const openai = client(url)
        const stream = yield* Effect.promise(() =>
          openai.chat.completions.create({
            model: "gpt-4o-mini",
            messages: [{ role: "user", content: "Tell me a story" }],
            stream: true
          })
        )
        const chunks = stream[Symbol.asyncIterator]()
        const first = yield* Effect.promise(() => chunks.next())
        expect(first.done).toBe(false)

        write({ sim: [entry(fast, newKey)] })
        // No admin key in provider.json: the admin paths take the token serve made in its data directory, a file only
        // its owner reads.
        expect((yield* reloadRequest(url, undefined)).status).toBe(401)
        const token = path.join(dir, "data", "admin-token")
        expect(fs.statSync(token).mode & 0o777).toBe(0o600)
        expect(running.stderr()).toContain(`the token in ${token}`)
        expect((yield* reloadRequest(url, fs.readFileSync(token, "utf8").trim())).status).toBe(200)
        expect((yield* ask(openai, "gpt-4o-mini")).object).toBe("chat.completion")
        expect(yield* requestsOf(fast)).toBe(1)

        const rest = yield* Effect.promise(async () => {
          let text = ""
          let finish: string | null | undefined
          for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) {
            text += next.value.choices[0]?.delta.content ?? ""
            finish = next.value.choices[0]?.finish_reason ?? finish
          }
          return { text, finish }
        })
        expect(rest.finish).toBe("stop")
        expect(rest.text.length).toBeGreaterThan(0)
        expect(yield* requestsOf(slow)).toBe(1)
        expect((yield* slow.stats).inFlight).toBe(0)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("a key's spend is not given back by a reload that changes its budget", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [oldKey] })
      // A tenth of a cent a token: one call spends cents.
      const priced = { ...entry(simulator, oldKey), pricing: { input_per_mtok: 1000, output_per_mtok: 1000 } }
      const budgeted = (limit: number) => ({
        sim: [priced],
        gateway: {
          keys: [{ name: "app", key: "env:RELOAD_APP_KEY", budget: { limit, default_max_tokens: 50 } }],
          admin_keys: [{ name: "ops", key: "env:RELOAD_ADMIN_KEY" }]
        }
      })
      const { dir, file, write } = yield* providerFile(budgeted(1))
      const running = yield* startInProcess(
        (io) => Serve.run(["--config", file, "--port", "0", "--data", path.join(dir, "data")], io),
        { env: { RELOAD_APP_KEY: appKey, RELOAD_ADMIN_KEY: adminKey } }
      )
      const url = yield* awaitFirstLine(running, "serve's URL")
      const openai = client(url, appKey)
      const reply = yield* ask(openai, "gpt-4o-mini")
      const spent = reply.usage!.total_tokens / 1000
      expect(spent).toBeGreaterThan(0.01)

      // Lowered below what the key has spent: its budget is spent at once (a fresh one would have it all left).
      write(budgeted(0.01))
      expect((yield* reloadRequest(url, adminKey)).status).toBe(200)
      const refused = yield* Effect.promise(() =>
        openai.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }).then(
          () => undefined,
          (error: unknown) => error as { readonly status: number; readonly code: string; readonly message: string }
        )
      )
      expect(refused).toMatchObject({ status: 429, code: "insufficient_quota" })
      expect(refused!.message).toContain(
        `This gateway key's budget is spent ($${Number(spent.toPrecision(6))} of $0.01)`
      )
    }).pipe(Effect.scoped), 60_000)

  it.live(
    "a provider.json of 100,000 api_keys starts and reloads, /health answering throughout the reload",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [oldKey] })
        const keys = Array.from({ length: 100_000 }, (_, i) => `sk-many-${String(i).padStart(8, "0")}-key`)
        const { dir, file } = yield* providerFile({
          sim: [{ ...entry(simulator, oldKey), api_keys: [oldKey, ...keys] }]
        })
        const running = yield* startInProcess((io) =>
          Serve.run(["--config", file, "--port", "0", "--data", path.join(dir, "data")], io)
        )
        const url = yield* awaitFirstLine(running, "serve's URL")
        const token = fs.readFileSync(path.join(dir, "data", "admin-token"), "utf8").trim()
        // /health asked every 50 ms while the reload runs: which answers came before the reload's. A reload that held
        // the event loop throughout would let none through until it answered.
        const watched = yield* Effect.promise(async () => {
          const events: Array<"health" | "reloaded"> = []
          let reloading = true
          const polls = (async () => {
            while (reloading) {
              const response = await fetch(`${url}/health`)
              await response.text()
              if (response.ok) events.push("health")
              await new Promise((resolve) => setTimeout(resolve, 50))
            }
          })()
          const reloaded = await fetch(`${url}/admin/reload`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${token}` }
          })
          await reloaded.text()
          events.push("reloaded")
          reloading = false
          await polls
          return { status: reloaded.status, during: events.indexOf("reloaded") }
        })
        expect(watched.status).toBe(200)
        // The one asked as the reload was sent aside, /health answered again and again before the reload did.
        expect(watched.during).toBeGreaterThanOrEqual(3)
        expect((yield* ask(client(url), "gpt-4o-mini")).object).toBe("chat.completion")
      }).pipe(Effect.scoped),
    180_000
  )

  it.live(
    "a file with any set of independent problems, its own and those the gateway finds building it, is refused " +
      "naming exactly those, all at once: at start (serve exits 1) and at POST /admin/reload (400)",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [oldKey], models: ["a", "b", "c", "d", "e"] })
        const baseUrl = `${simulator.url}/v1`
        // Every problem together, each alone, and any set of them.
        const samples = [
          [...problems],
          ...problems.map((problem) => [problem]),
          ...fc.sample(someProblems, { numRuns: 40, seed: 75 })
        ]
        const good = withProblems(baseUrl, oldKey, [])
        const { dir, file, write } = yield* providerFile(good.file)
        const data = path.join(dir, "data")

        // At start: each file refused, exit 1, the problems on stderr.
        for (const chosen of samples) {
          const { file: json, paths } = withProblems(baseUrl, oldKey, chosen)
          write(json)
          const { io, result } = captureIo({ env: {} })
          const out = result(yield* Serve.run(["--config", file, "--port", "0", "--data", data], io))
          expect(out.code).toBe(1)
          // After the warnings' JSON lines (a gateway key written in the file), the error.
          const error = out.stderr.slice(out.stderr.indexOf("ProviderConfigError: "))
          expect(error).toMatch(/^ProviderConfigError: \S+ has (a problem|\d+ problems):\n/)
          expect(pathsNamed(error)).toEqual(paths)
        }

        // At reload: the same files, each refused with 400 naming the same problems; the running one stays.
        write(good.file)
        const running = yield* startInProcess(
          (io) => Serve.run(["--config", file, "--port", "0", "--data", data], io),
          { env: {} }
        )
        const url = yield* awaitFirstLine(running, "serve's URL")
        const token = good.file.gateway.admin_keys[0]!.key
        for (const chosen of samples) {
          const { file: json, paths } = withProblems(baseUrl, oldKey, chosen)
          write(json)
          const refused = yield* reloadRequest(url, token)
          expect(refused.status).toBe(400)
          expect(pathsNamed(JSON.parse(refused.text).error.message)).toEqual(paths)
        }
        expect((yield* ask(client(url, good.file.gateway.keys[0]!.key), "a")).object).toBe("chat.completion")
      }).pipe(Effect.scoped),
    120_000
  )
})
