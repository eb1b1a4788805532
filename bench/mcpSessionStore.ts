/**
 * What the read of the MCP session store costs a request naming a session (`internal/gateway/mcp/sessions.ts` reads
 * the store at each one; on a database, one query by key). A gateway in this process in front of the simulator's
 * MCP server, one session a gateway, `tools/call`s one after another: the store in memory (a gateway without a
 * database), on SQLite (its `database` option) and on Postgres (a throwaway server, started as the tests start one),
 * side by side in each round, each round's sides in another order. Then the floor: the store's `read` of a recorded
 * session alone, in a loop, on each backend. Per side: the mean time a call (the median of the rounds'), its ratio
 * to memory's (the median of the rounds' ratios, and their range); the read alone's time, the process's CPU a read,
 * and the read's share of a call.
 *
 *   node --import tsx bench/mcpSessionStore.ts
 *
 * MCP_CALLS (100) calls a side a round, BENCH_ROUNDS (21) rounds after one to warm up, MCP_READS (3000) reads of the
 * floor a backend; MCP_POSTGRES=0 leaves Postgres out. Short rounds, so that a round's sides run under one load of a
 * shared machine.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Gateway from "../src/Gateway.js"
import { schemas } from "../src/internal/gateway/databaseSchema.js"
import * as Sessions from "../src/internal/gateway/mcp/sessions.js"
import * as Database from "../src/internal/persistence/database.js"
import * as Sql from "../src/internal/persistence/sql.js"
import * as ProviderConfig from "../src/ProviderConfig.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { postgresServer } from "../test/utils/postgresServer.js"
import { envNumber } from "./env.js"
import { median, range, round2 } from "./stats.js"

const providerKey = "sk-mcp-session-store-bench"
const protocolVersion = "2025-11-25"

/** A backend of the session store, as the gateway's `database` option names it (none: memory). */
interface Backend {
  readonly name: "memory" | "SQLite" | "Postgres"
  readonly database: Gateway.Database | undefined
}

// A JSON-RPC message posted to the gateway's `/mcp`, in the session `session` when there is one: the answer's text.
async function post(url: string, session: string | undefined, message: object) {
  const response = await fetch(`${url}/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(session === undefined ? {} : { "mcp-session-id": session, "mcp-protocol-version": protocolVersion })
    },
    body: JSON.stringify({ jsonrpc: "2.0", ...message })
  })
  return { session: response.headers.get("mcp-session-id"), status: response.status, text: await response.text() }
}

// A session started at the gateway `url` as a client starts one: its id.
async function started(url: string): Promise<string> {
  const initialize = await post(url, undefined, {
    id: 0,
    method: "initialize",
    params: { protocolVersion, capabilities: {}, clientInfo: { name: "session-store-bench", version: "1.0.0" } }
  })
  if (initialize.session === null) throw new Error(`no session started (${initialize.status}: ${initialize.text})`)
  await post(url, initialize.session, { method: "notifications/initialized" })
  return initialize.session
}

// `calls` tool calls in `session`, one after another: the mean milliseconds a call. Each must be answered.
async function calling(url: string, session: string, calls: number): Promise<number> {
  const began = performance.now()
  for (let id = 1; id <= calls; id++) {
    const answer = await post(url, session, {
      id,
      method: "tools/call",
      params: { name: "sim__add", arguments: { a: id, b: 1 } }
    })
    if (answer.status !== 200 || !answer.text.includes(`${id + 1}`)) {
      throw new Error(`tools/call ${id} was not answered (${answer.status}: ${answer.text})`)
    }
  }
  return (performance.now() - began) / calls
}

// The store's `read` of a recorded session, `reads` times one after another (after a tenth as many): the mean
// milliseconds a read, and of the process's CPU.
const reading = Effect.fnUntraced(function*(store: Sessions.Store, reads: number) {
  yield* store.save(
    {
      id: "5b0c3f1e-2a47-4d8e-9c61-7f2e8a9b4d10",
      path: "/mcp",
      caller: null,
      initialize: JSON.stringify({ protocolVersion, capabilities: {}, clientInfo: { name: "session-store-bench" } }),
      startedAt: yield* Clock.currentTimeMillis
    },
    0,
    Sessions.defaultBounds
  )
  const read = store.read("5b0c3f1e-2a47-4d8e-9c61-7f2e8a9b4d10")
  for (let warming = 0; warming < reads / 10; warming++) yield* read
  const began = performance.now()
  const cpu = process.cpuUsage()
  for (let count = 0; count < reads; count++) yield* read
  const used = process.cpuUsage(cpu)
  return { millis: (performance.now() - began) / reads, cpuMillis: (used.user + used.system) / 1000 / reads }
})

// The session store of `backend`, on a database of its own.
const storeOf = Effect.fnUntraced(function*(backend: Backend) {
  if (backend.database === undefined) return yield* Effect.provide(Sessions.SessionStore, Sessions.layerMemory)
  const sql = yield* Effect.orDie(Database.connect(backend.database, schemas))
  const database = { sql, bounds: { address: backend.name, timeout: Sql.defaultTimeout } }
  return yield* Effect.provide(
    Sessions.SessionStore,
    Layer.provide(Sessions.layerSql, Layer.succeed(Sql.Database, database))
  )
})

/** One run: each side's mean call and read, and their ratios. */
export const measure = Effect.fnUntraced(function*(options: {
  readonly calls: number
  readonly rounds: number
  readonly reads: number
  readonly postgres: boolean
}) {
  const directory = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "mcp-session-store-bench-"))),
    (made) => Effect.sync(() => fs.rmSync(made, { recursive: true, force: true }))
  )
  const postgres = options.postgres ? yield* postgresServer : undefined
  // A new database of `backend`'s kind named `name` (a gateway's, or the floor's); none for memory.
  const databaseOf = (backend: Backend["name"], name: string): Effect.Effect<Gateway.Database | undefined> => {
    if (backend === "SQLite") return Effect.succeed({ sqlite: path.join(directory, `${name}.db`) })
    if (backend === "Postgres" && postgres !== undefined) {
      return Effect.map(postgres.database(name), (url) => ({ postgres: Redacted.make(url) }))
    }
    return Effect.succeed(undefined)
  }
  const names: ReadonlyArray<Backend["name"]> = postgres === undefined
    ? ["memory", "SQLite"]
    : ["memory", "SQLite", "Postgres"]
  const backends = yield* Effect.forEach(
    names,
    (name): Effect.Effect<Backend> => Effect.map(databaseOf(name, "gateway"), (database) => ({ name, database }))
  )
  const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
  const config = ProviderConfig.gatewayConfig(
    yield* ProviderConfig.fromJson({
      sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
      mcp_servers: { sim: { url: `${simulator.url}/mcp` } }
    })
  )
  const sides = yield* Effect.forEach(backends, (backend) =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.make({ config, port: 0, database: backend.database })
      const session = yield* Effect.promise(() => started(gateway.url))
      return { backend, url: gateway.url, session, means: [] as Array<number> }
    }))

  for (let round = 0; round <= options.rounds; round++) {
    for (let turn = 0; turn < sides.length; turn++) {
      const side = sides[(round + turn) % sides.length]!
      const mean = yield* Effect.promise(() => calling(side.url, side.session, options.calls))
      // Round 0 warms up.
      if (round > 0) side.means.push(mean)
    }
  }

  const floors = new Map<string, { readonly millis: number; readonly cpuMillis: number }>()
  for (const backend of backends) {
    const store = yield* storeOf({ name: backend.name, database: yield* databaseOf(backend.name, "floor") })
    floors.set(backend.name, yield* reading(store, options.reads))
  }

  const memory = sides[0]!
  return sides.map((side) => {
    const call = median(side.means)
    const read = floors.get(side.backend.name)!
    const ratios = side.means.map((mean, round) => mean / memory.means[round]!)
    return {
      store: side.backend.name,
      callMillis: round2(call),
      callRatio: round2(median(ratios)),
      callRatios: range(ratios),
      readMicros: Math.round(read.millis * 10_000) / 10,
      readCpuMicros: Math.round(read.cpuMillis * 10_000) / 10,
      readShare: round2(read.millis / call)
    }
  })
}, (effect) => effect.pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

/**
 * Prints the figures of one run.
 *
 * @since 0.3.0
 * @category Benchmarks
 */
export const main = async (): Promise<void> => {
  const options = {
    calls: envNumber("MCP_CALLS", 100),
    rounds: envNumber("BENCH_ROUNDS", 21),
    reads: envNumber("MCP_READS", 3000),
    postgres: process.env["MCP_POSTGRES"] !== "0"
  }
  const figures = await Effect.runPromise(measure(options))
  console.log(
    `Node ${process.version}; ${options.calls} tools/call a side a round, ${options.rounds} rounds, ` +
      `${options.reads} reads of the store alone; load average ${os.loadavg().map((n) => n.toFixed(1)).join(" ")}`
  )
  console.log("| store | a call | / memory (rounds' range) | a read alone | its CPU | read / call |")
  console.log("| --- | --- | --- | --- | --- | --- |")
  for (const side of figures) {
    const ratio = `${side.callRatio} (${side.callRatios.join(" to ")})`
    const read = `${side.readMicros} us | ${side.readCpuMicros} us | ${side.readShare}`
    console.log(`| ${side.store} | ${side.callMillis} ms | ${ratio} | ${read} |`)
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main()
}
