/**
 * The contract every backend of the request log (`observe/requestLogStore.ts`' `RequestLogStore`) keeps, run against
 * each (`test/gateway/requestLog.test.ts`: SQLite and Postgres): rows at any instants, of any sizes, swept with
 * any retention and any bounds on rows and bytes, leave exactly the newest rows since the retention's start that fit
 * both bounds, counted from the newest (ties by id), to the backend's grain (`grainOf`: Postgres keeps the day the
 * retention starts in, and the day in which a bound is passed, whole), and a second sweep removes nothing; pages read
 * by cursor under any filters, concatenated, are the matching rows newest first; and spend summed per key, team, model
 * or deployment over any range, whole or per hour or day, is the rows' sums (calls apart from other requests), each
 * key named by its newest row, MCP tool calls per server, in the order the admin path gives (costliest first, or
 * oldest bucket first); and each MCP tool's calls, errors and cost are its rows'.
 */
import { assert, describe } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import type * as RequestLogStore from "../../src/internal/gateway/observe/requestLogStore.js"
import * as Requests from "../../src/internal/gateway/observe/requestTable.js"
import { effectProp } from "../utils/effectProp.js"
import type { StoreBackend } from "../utils/sqlDatabases.js"

/** The runs of each property: fewer on Postgres, whose steps are slower. */
const runsOf = { SQLite: 50, Postgres: 15 } as const

const hour = 3_600_000

/**
 * What a backend's sweep removes at once, in milliseconds of `at` (`requestLogStore.ts`): none, row by row,
 * on SQLite; on Postgres, a UTC day's partition.
 */
const grainOf = { SQLite: undefined, Postgres: 24 * hour } as const

/** A row of the log, its fields drawn from small sets so that groups, filters and ties happen. */
const row = fc.record({
  at: fc.integer({ min: 0, max: 72 * hour }),
  key: fc.constantFrom(null, "k1", "k2", "k3"),
  keyName: fc.constantFrom("alpha", "beta"),
  team: fc.constantFrom(null, "t1", "t2"),
  model: fc.constantFrom(null, "gpt-4o-mini", "claude-haiku"),
  deployment: fc.constantFrom(null, "sim/gpt-4o-mini", "sim/claude-haiku"),
  mcp: fc.constantFrom(null, "files", "search"),
  tool: fc.constantFrom("read", "write"),
  status: fc.constantFrom(200, 404, 500),
  // Quarters of a dollar and whole tokens: sums exact in any order of addition.
  cost: fc.option(fc.integer({ min: 0, max: 40 }).map((quarters) => quarters / 4), { nil: null }),
  tokens: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: null }),
  payload: fc.integer({ min: 0, max: 600 }),
  sameMillisecond: fc.boolean()
}).map((drawn): Omit<Requests.Row, "id" | "request_id"> => ({
  // Every other row may share its millisecond with another: the id breaks the tie.
  at: drawn.sameMillisecond ? drawn.at - (drawn.at % hour) : drawn.at,
  key_id: drawn.key,
  key_name: drawn.key === null ? null : drawn.keyName,
  team_id: drawn.team,
  route: drawn.mcp === null ? "/v1/chat/completions" : "/mcp",
  model: drawn.mcp === null ? drawn.model : null,
  deployment: drawn.mcp === null ? drawn.deployment : null,
  status: drawn.status,
  input_tokens: drawn.tokens,
  output_tokens: drawn.tokens === null ? null : drawn.tokens * 2,
  cached_tokens: drawn.tokens === null ? null : drawn.tokens % 7,
  cache_write_tokens: drawn.tokens === null ? null : drawn.tokens % 5,
  cache_write_1h_tokens: null,
  cost: drawn.cost,
  cache_savings: drawn.cost === null ? null : drawn.cost / 2,
  latency_ms: 5,
  first_token_ms: null,
  error: drawn.status === 200 ? null : "ProviderUnavailableError",
  payload: drawn.payload === 0 ? null : "p".repeat(drawn.payload),
  mcp_server: drawn.mcp,
  mcp_tool: drawn.mcp === null ? null : drawn.tool,
  arguments_digest: drawn.mcp === null ? null : "a".repeat(64)
}))

/** Up to `maxLength` rows, each its own id. */
const rows = (maxLength: number): fc.Arbitrary<ReadonlyArray<Requests.Row>> =>
  fc.array(row, { maxLength }).map((drawn) =>
    drawn.map((one, index) => ({ id: `row-${String(index).padStart(4, "0")}`, request_id: `request-${index}`, ...one }))
  )

/** Newest first, ties by id: the log's order. */
const newestFirst = (a: Requests.Row, b: Requests.Row) => b.at - a.at || (a.id < b.id ? 1 : -1)

/** Every row the store holds, newest first. */
const everything = (log: RequestLogStore.Service) => log.list({ limit: 100_000 })

/**
 * The rows a sweep keeps: since `before`, the newest that fit both bounds, counted from the newest; with a `grain`,
 * every row of the grains (`Math.floor(at / grain)`) from `before`'s on, then of the grains from the one where the
 * first row past a bound falls on.
 */
function swept(
  written: ReadonlyArray<Requests.Row>,
  before: number,
  bounds: Requests.Bounds,
  grain: number | undefined
) {
  const of = (at: number) => grain === undefined ? at : Math.floor(at / grain)
  const since = written.filter((candidate) => of(candidate.at) >= of(before)).sort(newestFirst)
  let bytes = 0
  const cut = since.findIndex((one, index) => {
    bytes += Requests.bytesOf(one)
    return index + 1 > bounds.rows || bytes > bounds.bytes
  })
  if (cut === -1) return since
  return grain === undefined ? since.slice(0, cut) : since.filter((one) => of(one.at) >= of(since[cut]!.at))
}

/** The sums `Requests.spend` gives of `written`, in no particular order. */
function sums(written: ReadonlyArray<Requests.Row>, query: Requests.SpendQuery) {
  const column = Requests.groupColumns[query.groupBy]
  const byServer = query.groupBy === "model" || query.groupBy === "deployment"
  const size = query.bucket === undefined ? undefined : Requests.buckets[query.bucket]
  const groups = new Map<string, Array<Requests.Row>>()
  for (const one of written.filter((candidate) => candidate.at >= query.from && candidate.at < query.to)) {
    const bucket = size === undefined ? undefined : Math.floor(one.at / size) * size
    const id = JSON.stringify([one[column], byServer ? one.mcp_server : null, bucket])
    groups.set(id, [...groups.get(id) ?? [], one])
  }
  const total = (members: ReadonlyArray<Requests.Row>, field: keyof Requests.Row) =>
    members.reduce((sum, member) => sum + ((member[field] as number | null) ?? 0), 0)
  return [...groups.values()].map((members): Requests.SpendRow => {
    const first = members[0]!
    const group = first[column]
    const newest = written.filter((one) => one.key_id === group && group !== null).sort(newestFirst)[0]
    return {
      group,
      ...(query.groupBy === "key" ? { name: newest?.key_name ?? null } : {}),
      ...(byServer ? { mcp_server: first.mcp_server } : {}),
      ...(size === undefined ? {} : { bucket: Math.floor(first.at / size) * size }),
      // A call names a model or an MCP tool; the other requests (a file, a batch read, a session message) neither.
      calls: members.filter((member) => member.model !== null || member.mcp_server !== null).length,
      other_requests: members.filter((member) => member.model === null && member.mcp_server === null).length,
      cost: total(members, "cost"),
      input_tokens: total(members, "input_tokens"),
      output_tokens: total(members, "output_tokens"),
      cached_tokens: total(members, "cached_tokens"),
      cache_write_tokens: total(members, "cache_write_tokens"),
      cache_savings: total(members, "cache_savings")
    }
  })
}

/** Groups in one order whatever the store's, to compare them as sets. */
const canonical = (groups: ReadonlyArray<Requests.SpendRow>) =>
  [...groups].sort((a, b) => {
    const [x, y] = [
      JSON.stringify([a.bucket, a.group, a.mcp_server]),
      JSON.stringify([b.bucket, b.group, b.mcp_server])
    ]
    return x < y ? -1 : x > y ? 1 : 0
  })

export const requestLogContract = (backend: StoreBackend<RequestLogStore.Service>) =>
  describe(`the request log's store contract: ${backend.name}`, () => {
    effectProp(
      `${backend.name}: rows at any instants and sizes, swept with any retention and bounds, leave the newest since ` +
        "the retention's start that fit both bounds, to the backend's grain; a second sweep removes nothing",
      fc.record({
        written: rows(40),
        before: fc.integer({ min: 0, max: 80 * hour }),
        now: fc.integer({ min: 0, max: 100 * hour }),
        maxRows: fc.integer({ min: 1, max: 45 }),
        maxBytes: fc.integer({ min: 100, max: 20_000 })
      }),
      ({ before, maxBytes, maxRows, now, written }) =>
        Effect.gen(function*() {
          const log = yield* backend.store
          // Written in batches, as the writer writes them.
          for (let from = 0; from < written.length; from += 7) yield* log.write(written.slice(from, from + 7))
          assert.deepStrictEqual(yield* everything(log), [...written].sort(newestFirst))
          const bounds = { rows: maxRows, bytes: maxBytes }
          yield* log.sweep({ now, before, bounds })
          const kept = swept(written, before, bounds, grainOf[backend.name])
          assert.deepStrictEqual(yield* everything(log), kept)
          yield* log.sweep({ now, before, bounds })
          assert.deepStrictEqual(yield* everything(log), kept)
        }),
      runsOf[backend.name]
    )

    effectProp(
      `${backend.name}: pages by cursor under any filters, concatenated, are the matching rows newest first`,
      fc.record({
        written: rows(30),
        limit: fc.integer({ min: 1, max: 8 }),
        key: fc.constantFrom(undefined, "k1", "k2"),
        team: fc.constantFrom(undefined, "t1"),
        model: fc.constantFrom(undefined, "gpt-4o-mini"),
        status: fc.constantFrom(undefined, 200, 500)
      }),
      ({ written, limit, ...filters }) =>
        Effect.gen(function*() {
          const log = yield* backend.store
          yield* log.write(written)
          const pages: Array<Requests.Row> = []
          let after: { readonly at: number; readonly id: string } | undefined
          while (true) {
            const page = yield* log.list({ ...filters, limit, after })
            assert.isAtMost(page.length, limit)
            pages.push(...page)
            if (page.length < limit) break
            after = { at: page.at(-1)!.at, id: page.at(-1)!.id }
          }
          const matching = written.filter((one) =>
            (filters.key === undefined || one.key_id === filters.key) &&
            (filters.team === undefined || one.team_id === filters.team) &&
            (filters.model === undefined || one.model === filters.model) &&
            (filters.status === undefined || one.status === filters.status)
          )
          assert.deepStrictEqual(pages, matching.sort(newestFirst))
        }),
      runsOf[backend.name]
    )

    effectProp(
      `${backend.name}: a key's name is its newest row's, rows of one millisecond told apart by their ids`,
      fc.record({ written: rows(12), at: fc.integer({ min: 0, max: 72 * hour }) }),
      ({ at, written }) =>
        Effect.gen(function*() {
          const log = yield* backend.store
          // Every row of one key, in one millisecond: only the ids order them.
          const keyed = written.map((one) => ({ ...one, at, key_id: "k1", key_name: one.key_name ?? "gamma" }))
          yield* log.write(keyed)
          const found = yield* log.spend({ groupBy: "key", from: 0, to: 73 * hour, bucket: undefined })
          assert.deepStrictEqual(found.map((one) => one.name), keyed.length === 0 ? [] : [keyed.at(-1)!.key_name])
        }),
      runsOf[backend.name]
    )

    effectProp(
      `${backend.name}: spend per key, team, model or deployment over any range, whole or per hour or day, is the ` +
        "rows' sums, in the admin path's order",
      fc.record({
        written: rows(30),
        groupBy: fc.constantFrom(...Object.keys(Requests.groupColumns) as Array<Requests.GroupBy>),
        bucket: fc.constantFrom(undefined, "hour" as const, "day" as const),
        from: fc.integer({ min: 0, max: 72 * hour }),
        length: fc.integer({ min: 0, max: 80 * hour })
      }),
      ({ bucket, from, groupBy, length, written }) =>
        Effect.gen(function*() {
          const log = yield* backend.store
          yield* log.write(written)
          const query = { groupBy, from, to: from + length, bucket }
          const found = yield* log.spend(query)
          assert.deepStrictEqual(canonical(found), canonical(sums(written, query)))
          for (let i = 1; i < found.length; i++) {
            const [before, next] = [found[i - 1]!, found[i]!]
            if (bucket === undefined) {
              assert.isTrue(before.cost > next.cost || (before.cost === next.cost && before.calls >= next.calls))
            } else {
              assert.isTrue(
                before.bucket! < next.bucket! || (before.bucket === next.bucket && before.cost >= next.cost)
              )
            }
          }
        }),
      runsOf[backend.name]
    )

    effectProp(
      `${backend.name}: each MCP tool's calls, errors and cost are its rows'`,
      rows(30),
      (written) =>
        Effect.gen(function*() {
          const log = yield* backend.store
          yield* log.write(written)
          const expected = new Map<string, Requests.ToolCalls>()
          for (const one of written) {
            if (one.mcp_server === null) continue
            const id = `${one.mcp_server}/${one.mcp_tool}`
            const counted = expected.get(id) ??
              { server: one.mcp_server, tool: one.mcp_tool!, calls: 0, errors: 0, cost: 0 }
            expected.set(id, {
              ...counted,
              calls: counted.calls + 1,
              errors: counted.errors + (one.error === null ? 0 : 1),
              cost: counted.cost + (one.cost ?? 0)
            })
          }
          const byTool = (tools: ReadonlyArray<Requests.ToolCalls>) =>
            [...tools].sort((a, b) => `${a.server}/${a.tool}` < `${b.server}/${b.tool}` ? -1 : 1)
          assert.deepStrictEqual(byTool(yield* log.toolCalls), byTool([...expected.values()]))
        }),
      runsOf[backend.name]
    )
  })
