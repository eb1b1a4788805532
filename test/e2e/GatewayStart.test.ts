/**
 * `serve` answering at every instant of its start and of a reload, with MCP servers configured (over Streamable HTTP,
 * one with an OAuth token endpoint, and over stdio) that are slow to initialize, that fail, or that never answer (the
 * start waits 10 seconds for them at most, whatever they wait for), or its database a Postgres whose every reply comes
 * late (the start's steps after the port is bound slow): requests of every kind (a model
 * call in two dialects, `/mcp`, `/health`, `/ready`, `/metrics`, the dashboard, the admin API) are sent every 10 ms
 * from before the gateway listens until after a reload, each given a bound to be answered in. Before the first
 * configuration is served each is answered at once, 503 with `Retry-After` (`/health` and `/ready` saying `starting`);
 * once `serve` has said it listens, every one is the configuration's answer, a model call answered whatever its MCP
 * servers do, and so during the reload, which the running configuration answers until the new one is built.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as AdminToken from "../../src/cli/adminToken.js"
import * as Serve from "../../src/cli/serve.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { awaitWhileRunning, startCli, startInProcess } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import { freePort } from "../utils/freePort.js"
import { calcServer, heldUpstream, namedTools } from "../utils/mcpUpstreams.js"
import { postgresServer } from "../utils/postgresServer.js"
import { pausableProxy } from "../utils/redisProxy.js"

const providerKey = "sk-provider-start-0001"

/** How long a request may go unanswered: far past any answer the gateway gives, far short of "never". */
const boundMillis = 8_000

/** One kind of request sent during the start. */
interface Probe {
  readonly method: "GET" | "POST"
  readonly path: string
  readonly body?: unknown
  /** Sent with the admin token, once the data directory holds it. */
  readonly admin?: boolean
}

const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] }

const probes: ReadonlyArray<Probe> = [
  { method: "GET", path: "/health" },
  { method: "POST", path: "/v1/chat/completions", body: chat },
  { method: "GET", path: "/ready" },
  { method: "POST", path: "/v1/messages", body: { ...chat, max_tokens: 16 } },
  {
    method: "POST",
    path: "/mcp",
    body: {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "start", version: "1.0.0" } }
    }
  },
  { method: "GET", path: "/metrics", admin: true },
  { method: "GET", path: "/dashboard" },
  { method: "GET", path: "/admin/keys", admin: true }
]

/** What came of a request: nothing listened yet, no answer within the bound, another failure, or its answer. */
type Outcome =
  | { readonly _tag: "Refused" }
  | { readonly _tag: "Unanswered" }
  | { readonly _tag: "Failed"; readonly message: string }
  | {
    readonly _tag: "Answered"
    readonly status: number
    readonly retryAfter: string | null
    readonly body: string
  }

/** A request sent: which, in what phase of the run, and what came of it. */
interface Sent {
  readonly probe: Probe
  readonly phase: Phase
  readonly outcome: Outcome
}

/** Before `serve` said it listens, after it did, and while a reload is under way. */
type Phase = "starting" | "started" | "reloading"

/** What the requests of a run read as they are sent: its phase, the admin token once known, whether to stop. */
interface Run {
  phase: Phase
  token: string | undefined
  stop: boolean
}

// `probe` sent to the gateway at `url`, given `boundMillis` to be answered in.
function send(url: string, probe: Probe, token: string | undefined): Promise<Outcome> {
  return fetch(`${url}${probe.path}`, {
    method: probe.method,
    headers: {
      accept: "application/json, text/event-stream",
      ...(probe.body === undefined ? {} : { "content-type": "application/json" }),
      ...(probe.admin === true && token !== undefined ? { authorization: `Bearer ${token}` } : {})
    },
    ...(probe.body === undefined ? {} : { body: JSON.stringify(probe.body) }),
    signal: AbortSignal.timeout(boundMillis)
  }).then(
    async (response): Promise<Outcome> => ({
      _tag: "Answered",
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      body: await response.text()
    }),
    (error: Error): Outcome => {
      if (error.name === "TimeoutError") return { _tag: "Unanswered" }
      const code = (error.cause as { readonly code?: string } | undefined)?.code
      return code === "ECONNREFUSED" ? { _tag: "Refused" } : { _tag: "Failed", message: `${error.message} (${code})` }
    }
  )
}

// Whether `outcome` is the answer of a gateway not serving yet: 503 with `Retry-After` (Anthropic's 529 under
// `/v1/messages`, its status for a service that cannot answer now), and `/health` and `/ready` saying so.
function isStarting(probe: Probe, outcome: Outcome): boolean {
  const unavailable = probe.path === "/v1/messages" ? 529 : 503
  if (outcome._tag !== "Answered" || outcome.status !== unavailable || outcome.retryAfter === null) return false
  return probe.path === "/health" || probe.path === "/ready"
    ? JSON.parse(outcome.body).status === "starting"
    : outcome.body.includes("The gateway is starting")
}

/** The MCP servers of a run, as provider.json's `mcp_servers` takes them, and its `store` if it has one. */
interface Upstreams {
  readonly name: string
  readonly servers: Effect.Effect<Record<string, unknown>, never, Scope.Scope>
  readonly store?: Effect.Effect<Record<string, unknown>, never, Scope.Scope>
  /** Whether the start lasts long enough that requests are certain to land before the gateway serves. */
  readonly lasting: boolean
}

const nodeCommand = (code: string) => ({ command: process.execPath, args: ["-e", code] })

const runs: ReadonlyArray<Upstreams> = [
  {
    name: "slow to initialize",
    lasting: true,
    servers: Effect.gen(function*() {
      const files = yield* heldUpstream(yield* namedTools(["read"]), 300)
      // The calculator started a second late, by a shell that then becomes it.
      const calc = {
        command: "/bin/sh",
        args: ["-c", "sleep 1 && exec \"$0\" \"$@\"", calcServer.command, ...calcServer.args]
      }
      return { files: { url: files }, calc }
    })
  },
  {
    name: "failing",
    lasting: false,
    servers: Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      return { files: { url: `http://127.0.0.1:${port}/mcp` }, calc: nodeCommand("process.exit(3)") }
    })
  },
  {
    name: "never answering (the server, its OAuth token endpoint, the process)",
    lasting: true,
    servers: Effect.gen(function*() {
      const files = yield* heldUpstream(yield* namedTools(["read"]), "never")
      const tokens = yield* heldUpstream(yield* namedTools(["read"]), "never")
      return {
        files: { url: files },
        search: { url: yield* namedTools(["find"]), token_url: tokens, client_id: "gateway", client_secret: "s3cret" },
        calc: nodeCommand("setInterval(() => {}, 60_000)")
      }
    })
  },
  {
    // Every step of its start after the port is bound (the request log's, the audit log's, the sessions') slow.
    name: "its database a Postgres far away (each reply 50 ms late)",
    lasting: true,
    servers: Effect.succeed({}),
    store: Effect.gen(function*() {
      const server = yield* postgresServer
      const database = new URL(yield* server.database("start"))
      const proxy = yield* pausableProxy(server.port, 50)
      database.port = String(proxy.port)
      return { sql: database.href }
    })
  }
]

/**
 * A provider.json over the simulator with `servers` as its `mcp_servers` and `store` as its store, its data
 * directory, and a free port.
 */
const configured = (servers: Record<string, unknown>, store?: Record<string, unknown>) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "start-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    const file = path.join(dir, "provider.json")
    fs.writeFileSync(
      file,
      JSON.stringify({
        sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
        mcp_servers: servers,
        ...(store === undefined ? {} : { store })
      })
    )
    const port = yield* Effect.promise(freePort)
    return { file, data: path.join(dir, "data"), port, url: `http://127.0.0.1:${port}` }
  })

/**
 * One request every 10 ms to `url`, each left to its own fate and marked with the phase of `run` it was sent in, from
 * now until `run.stop`; what stops them and gives what came of each.
 */
const sweep = (url: string, run: Run) =>
  Effect.gen(function*() {
    const sent: Array<Promise<Sent>> = []
    const sending = yield* Effect.forkScoped(Effect.gen(function*() {
      for (let at = 0; !run.stop; at++) {
        const probe = probes[at % probes.length]!
        const phase = run.phase
        sent.push(send(url, probe, run.token).then((outcome) => ({ probe, phase, outcome })))
        yield* Effect.sleep("10 millis")
      }
    }))
    return Effect.gen(function*() {
      run.stop = true
      yield* Fiber.join(sending)
      return yield* Effect.promise(() => Promise.all(sent))
    })
  })

/**
 * Every request answered within the bound (or, before the start, finding nothing listening yet); before the gateway
 * served, the starting answer (on every path when the start lasted) or already the configuration's; once it said it
 * listens, the configuration's answers, a model call answered.
 */
function check(outcomes: ReadonlyArray<Sent>, lasting: boolean) {
  const lost = outcomes.filter((one) => one.outcome._tag === "Unanswered" || one.outcome._tag === "Failed")
  expect(lost.map((one) => `${one.phase} ${one.probe.method} ${one.probe.path}: ${JSON.stringify(one.outcome)}`))
    .toEqual([])
  const refused = outcomes.filter((one) => one.outcome._tag === "Refused")
  expect(refused.every((one) => one.phase === "starting")).toBe(true)
  const starting = outcomes.filter((one) => isStarting(one.probe, one.outcome))
  expect(starting.every((one) => one.phase === "starting")).toBe(true)
  if (lasting) expect(new Set(starting.map((one) => one.probe.path)).size).toBe(probes.length)
  const served = outcomes.filter((one) => one.phase !== "starting")
  expect(served.length).toBeGreaterThan(probes.length)
  for (const one of served) {
    expect(one.outcome._tag).toBe("Answered")
    if (one.probe.path.startsWith("/v1/")) expect(one.outcome).toMatchObject({ status: 200 })
  }
}

const startLine = "gateway listening at"

describe("serve answers every request at every instant of its start and of a reload", () => {
  for (const upstreams of runs) {
    it.live(upstreams.name, () =>
      Effect.gen(function*() {
        const store = upstreams.store === undefined ? undefined : yield* upstreams.store
        const { data, file, port, url } = yield* configured(yield* upstreams.servers, store)
        const run: Run = { phase: "starting", token: undefined, stop: false }
        const finish = yield* sweep(url, run)
        const running = yield* startInProcess((io) =>
          Serve.run(["--config", file, "--port", String(port), "--data", data], io)
        )
        yield* awaitWhileRunning(
          running,
          "serve's start line",
          Effect.sync(running.stderr),
          (s) => s.includes(startLine)
        )
        run.phase = "started"
        run.token = fs.readFileSync(AdminToken.pathIn(data), "utf8").trim()
        yield* Effect.sleep("300 millis")
        run.phase = "reloading"
        const reloaded = yield* Effect.promise(() =>
          fetch(`${url}/admin/reload`, { method: "POST", headers: { authorization: `Bearer ${run.token}` } })
        )
        expect(reloaded.status).toBe(200)
        check(yield* finish, upstreams.lasting)
      }).pipe(Effect.scoped), 120_000)
  }

  it.live(
    "the binary: a SIGHUP at any instant of its start is a reload once it serves, never its end",
    () =>
      Effect.gen(function*() {
        const { data, file, port, url } = yield* configured(yield* runs[0]!.servers)
        const run: Run = { phase: "starting", token: undefined, stop: false }
        const finish = yield* sweep(url, run)
        const running = yield* startCli(["serve", "--config", file, "--port", String(port), "--data", data])
        // From when its port answers until it serves, a SIGHUP every 50 ms.
        const hangups = yield* Effect.forkScoped(Effect.gen(function*() {
          yield* eventually(
            "its port answering",
            Effect.promise(() => send(url, probes[0]!, undefined)),
            (outcome) => outcome._tag === "Answered"
          )
          while (run.phase === "starting") {
            running.child()?.kill("SIGHUP")
            yield* Effect.sleep("50 millis")
          }
        }))
        yield* awaitWhileRunning(
          running,
          "serve's start line",
          Effect.sync(running.stderr),
          (s) => s.includes(startLine)
        )
        run.phase = "started"
        yield* Fiber.join(hangups)
        // The SIGHUPs of the start are one reload, once it serves, answered meanwhile by the configuration it started
        // with.
        yield* awaitWhileRunning(
          running,
          "a reload after the start",
          Effect.sync(running.stderr),
          (stderr) => stderr.slice(stderr.indexOf(startLine)).includes("configuration reloaded")
        )
        check(yield* finish, true)
        expect(running.exited.pollUnsafe()).toBeUndefined()
      }).pipe(Effect.scoped),
    120_000
  )
})
