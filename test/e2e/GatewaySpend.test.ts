/**
 * The request log's admin paths over loopback, on a SQLite file: `GET /admin/spend` (sums per key, team, model or
 * deployment over a time range, per hour for a chart, bad parameters named), `GET /admin/requests` (newest first,
 * filtered, a page at a time by an opaque cursor, the page size capped), the retention (old rows deleted at start),
 * and the `spend` command against a running gateway.
 */
import Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import OpenAI, { toFile } from "openai"
import * as Spend from "../../src/cli/spend.js"
import * as Gateway from "../../src/Gateway.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { captureIo, envWithoutKeys, spawnCli } from "../utils/cliHarness.js"
import { get } from "../utils/gatewayHarness.js"
import { scrape, valueOf } from "../utils/prometheus.js"
import {
  admin,
  adminKey,
  alphaKey,
  betaKey,
  embeddingModel,
  gatewaySection,
  type LoggedRow,
  type Page,
  providerKey,
  rows,
  serveOn,
  simulator,
  temporary
} from "../utils/requestLogHarness.js"

interface SpendGroup {
  readonly group: string | null
  readonly name?: string | null
  readonly bucket?: number
  readonly calls: number
  readonly other_requests: number
  readonly cost: number
  readonly input_tokens: number
  readonly output_tokens: number
  readonly cached_tokens: number
}

interface SpendAnswer {
  readonly group_by: string
  readonly from: number
  readonly to: number
  readonly bucket?: string
  readonly groups: ReadonlyArray<SpendGroup>
}

/** Seven calls: alpha's three chats, an embedding and a failure; beta's two chats. */
const load = (gateway: Gateway.Service) =>
  Effect.promise(async () => {
    const client = (key: string) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 })
    const chat = (key: string, model: string) =>
      client(key).chat.completions.create({ model, messages: [{ role: "user", content: "Hello, ledger" }] })
        .then(() => undefined, () => undefined)
    for (let i = 0; i < 3; i++) await chat(alphaKey, "gpt-4o-mini")
    await client(alphaKey).embeddings.create({ model: embeddingModel, input: "count me" })
    await chat(alphaKey, "sim-small")
    for (let i = 0; i < 2; i++) await chat(betaKey, "gpt-4o-mini")
  })

const sum = (logged: ReadonlyArray<LoggedRow>, pick: (row: LoggedRow) => number | null) =>
  logged.reduce((total, row) => total + (pick(row) ?? 0), 0)

const served = Effect.gen(function*() {
  const file = join(yield* temporary, "gateway.db")
  const gateway = yield* serveOn(yield* simulator, { sqlite: file })
  return { gateway, file }
})

describe("GET /admin/spend", () => {
  it.live("sums calls, cost and tokens per key, team, model and deployment over a time range", () =>
    Effect.gen(function*() {
      const { gateway } = yield* served
      yield* load(gateway)
      const logged = yield* rows(gateway, 7)
      const byKey = yield* admin<SpendAnswer>(gateway, "/admin/spend?group_by=key")
      expect(byKey.group_by).toBe("key")
      // A key's group is its id (provider.json's key `alpha` is `config:alpha`), named by its name.
      const alpha = byKey.groups.find((group) => group.group === "config:alpha")!
      expect(alpha.name).toBe("alpha")
      const alphaRows = logged.filter((row) => row.key_name === "alpha")
      expect(alpha.calls).toBe(5)
      expect(alpha.cost).toBeCloseTo(sum(alphaRows, (row) => row.cost), 12)
      expect(alpha.input_tokens).toBe(sum(alphaRows, (row) => row.input_tokens))
      expect(alpha.output_tokens).toBe(sum(alphaRows, (row) => row.output_tokens))
      expect(byKey.groups.find((group) => group.group === "config:beta")!.calls).toBe(2)
      // The costliest first.
      expect(byKey.groups.map((group) => group.group)).toEqual(["config:alpha", "config:beta"])

      // By model by default.
      const byModel = yield* admin<SpendAnswer>(gateway, "/admin/spend")
      expect(byModel.group_by).toBe("model")
      expect(Object.fromEntries(byModel.groups.map((group) => [group.group, group.calls]))).toEqual({
        "gpt-4o-mini": 5,
        [embeddingModel]: 1,
        "sim-small": 1
      })
      expect(byModel.groups.find((group) => group.group === "sim-small")!.cost).toBe(0)
      const byDeployment = yield* admin<SpendAnswer>(gateway, "/admin/spend?group_by=deployment")
      expect(byDeployment.groups.find((group) => group.group === "sim/gpt-4o-mini")!.calls).toBe(5)
      // Keys of provider.json have no team.
      const byTeam = yield* admin<SpendAnswer>(gateway, "/admin/spend?group_by=team")
      expect(byTeam.groups).toEqual([expect.objectContaining({ group: null, calls: 7 })])

      // The range is [from, to): a range after the calls, or ending at the first, holds none.
      const first = Math.min(...logged.map((row) => row.at))
      const last = Math.max(...logged.map((row) => row.at))
      expect((yield* admin<SpendAnswer>(gateway, `/admin/spend?from=${last + 0.001}`)).groups).toEqual([])
      expect((yield* admin<SpendAnswer>(gateway, `/admin/spend?to=${first}`)).groups).toEqual([])
      const iso = yield* admin<SpendAnswer>(
        gateway,
        `/admin/spend?group_by=key&from=${new Date(first * 1000).toISOString()}&to=${
          new Date(last * 1000 + 1).toISOString()
        }`
      )
      expect(iso.groups.reduce((total, group) => total + group.calls, 0)).toBe(7)

      // Per hour, for a chart: every group's calls in the hour they came in.
      const hourly = yield* admin<SpendAnswer>(gateway, "/admin/spend?group_by=key&bucket=hour")
      expect(hourly.bucket).toBe("hour")
      for (const group of hourly.groups) expect(group.bucket! % 3600).toBe(0)
      expect(hourly.groups.reduce((total, group) => total + group.calls, 0)).toBe(7)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("refuses bad parameters with a 400 naming each, and callers without an admin key", () =>
    Effect.gen(function*() {
      const { gateway } = yield* served
      const bad = yield* get(gateway, "/admin/spend?group_by=flavour&from=yesterday&limit=3", adminKey)
      expect(bad.status).toBe(400)
      const error = JSON.parse(bad.text).error
      for (const name of ["group_by", "from", "limit"]) expect(error.message).toContain(name)
      expect(error.message).toContain("key, team, model, deployment")
      expect(error.param).toBe("limit")
      const backwards = yield* get(gateway, "/admin/spend?from=2000&to=1000", adminKey)
      expect(backwards.status).toBe(400)
      expect(JSON.parse(backwards.text).error.message).toContain("from (2000) is after to (1000)")
      expect((yield* get(gateway, "/admin/spend")).status).toBe(401)
      const refused = yield* get(gateway, "/admin/spend", alphaKey)
      expect(refused.status).toBe(403)
      expect(JSON.parse(refused.text).error.code).toBe("admin_key_required")
      expect((yield* get(gateway, "/admin/requests", alphaKey)).status).toBe(403)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})

describe("prompt caching in the request log, spend and metrics", () => {
  // A price with a cached rate and a write premium each (an OpenAI model, a Claude model), in provider.json's names.
  const cheapReads = { input_per_mtok: 2, cached_input_per_mtok: 0.5, output_per_mtok: 8 }
  const claudePrices = {
    input_per_mtok: 3,
    cached_input_per_mtok: 0.3,
    cache_write_per_mtok: 3.75,
    cache_write_1h_per_mtok: 6,
    output_per_mtok: 15
  }
  // 2000 characters: 500 prompt tokens as the simulator counts them.
  const rules = "Review Go code with care, line by line. ".repeat(50)

  it.live(
    "each row has its cached and written tokens and what caching saved it (negative for a write's premium); spend " +
      "sums them per group; llm_gateway_cache_savings_usd adds them up",
    () =>
      Effect.gen(function*() {
        const file = join(yield* temporary, "gateway.db")
        const sim = yield* Simulator.make({
          apiKeys: [providerKey],
          replyTokens: 6,
          models: ["gpt-4o-mini", "claude-x"]
        })
        const entry = (model: string, api: string, baseUrl: string, pricing: object) => [{
          model_name: model,
          api,
          base_url: baseUrl,
          api_keys: [providerKey],
          max_retries: 0,
          pricing
        }]
        const config = yield* ProviderConfig.fromJson({
          chat: entry("gpt-4o-mini", "chat-completions", `${sim.url}/v1`, cheapReads),
          claude: entry("claude-x", "anthropic", sim.url, claudePrices),
          gateway: gatewaySection()
        })
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          database: { sqlite: file }
        })
        yield* Effect.promise(async () => {
          const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: alphaKey, maxRetries: 0 })
          const anthropic = new Anthropic({ baseURL: gateway.url, apiKey: alphaKey, maxRetries: 0 })
          for (const question of ["Is this loop safe?", "And this one?"]) {
            await openai.chat.completions.create({
              model: "gpt-4o-mini",
              prompt_cache_key: "review-bot",
              messages: [{ role: "system", content: rules }, { role: "user", content: question }]
            })
            await anthropic.messages.create({
              model: "claude-x",
              max_tokens: 64,
              system: [{ type: "text", text: rules, cache_control: { type: "ephemeral", ttl: "1h" } }],
              messages: [{ role: "user", content: question }]
            })
          }
        })
        type CachedRow = LoggedRow & {
          readonly cache_write_tokens: number | null
          readonly cache_write_1h_tokens: number | null
          readonly cache_savings: number | null
        }
        const logged = (yield* rows(gateway, 4)) as ReadonlyArray<CachedRow>
        const priceOf = (row: CachedRow) => Pricing.fromPerMtok(row.model === "claude-x" ? claudePrices : cheapReads)
        for (const row of logged) {
          const usage = {
            promptTokens: row.input_tokens!,
            completionTokens: row.output_tokens!,
            cachedPromptTokens: row.cached_tokens!,
            cacheWriteTokens: row.cache_write_tokens ?? 0,
            cacheWrite1hTokens: row.cache_write_1h_tokens ?? 0
          }
          expect(row.cost).toBeCloseTo(Pricing.cost(priceOf(row), usage)!, 12)
          const cached = usage.cachedPromptTokens > 0 || usage.cacheWriteTokens > 0
          if (cached) expect(row.cache_savings).toBeCloseTo(Pricing.cacheSavings(priceOf(row), usage)!, 12)
          else expect(row.cache_savings).toBeNull()
        }
        // Oldest last: each model's first call wrote (Anthropic at the hour's premium) or read nothing; its second read.
        const [claudeSecond, chatSecond, claudeFirst, chatFirst] = logged
        expect([chatFirst!.cached_tokens, chatFirst!.cache_savings]).toEqual([0, null])
        expect(chatSecond!.cached_tokens).toBe(500)
        // 500 tokens read at $0.50 instead of $2.
        expect(chatSecond!.cache_savings).toBeCloseTo(500 * 1.5 / 1e6, 12)
        expect([claudeFirst!.cache_write_tokens, claudeFirst!.cache_write_1h_tokens]).toEqual([500, 500])
        // 500 tokens written for an hour at $6 instead of $3: a premium, not a saving.
        expect(claudeFirst!.cache_savings).toBeCloseTo(-500 * 3 / 1e6, 12)
        expect(claudeSecond!.cached_tokens).toBe(500)
        expect(claudeSecond!.cache_savings).toBeCloseTo(500 * 2.7 / 1e6, 12)

        const byModel = yield* admin<{ readonly groups: ReadonlyArray<SpendGroup & Record<string, number>> }>(
          gateway,
          "/admin/spend"
        )
        for (const model of ["gpt-4o-mini", "claude-x"]) {
          const group = byModel.groups.find((one) => one.group === model)!
          const mine = logged.filter((row) => row.model === model)
          expect(group.cached_tokens).toBe(sum(mine, (row) => row.cached_tokens))
          expect(group["cache_write_tokens"]).toBe(sum(mine, (row) => (row as CachedRow).cache_write_tokens))
          expect(group["cache_savings"]).toBeCloseTo(sum(mine, (row) => (row as CachedRow).cache_savings), 12)
          const { samples } = yield* scrape(gateway.url, adminKey)
          expect(valueOf(samples, "llm_gateway_cache_savings_usd", { model })).toBeCloseTo(group["cache_savings"]!, 12)
        }

        // The `spend` command's table: per model its tokens read and written, and what caching saved, to the
        // micro-dollar: $0.000750 on the chat, $0.001350 less the write's $0.001500 premium on Claude.
        const { io, result } = captureIo({ env: { EFFECT_LLM_ROUTER_ADMIN_KEY: adminKey } })
        const printed = result(yield* Spend.run(["--url", gateway.url], io))
        expect(printed.code).toBe(0)
        const lines = printed.stdout.trim().split("\n")
        expect(lines[1]).toMatch(/^MODEL\s+CALLS\s+COST\s+INPUT\s+OUTPUT\s+CACHED\s+WRITTEN\s+SAVED$/)
        expect(lines).toContainEqual(
          expect.stringMatching(/^gpt-4o-mini\s+2\s+\$\S+\s+\d+\s+\d+\s+500\s+0\s+\$0\.000750$/)
        )
        expect(lines).toContainEqual(
          expect.stringMatching(/^claude-x\s+2\s+\$\S+\s+\d+\s+\d+\s+500\s+500\s+-\$0\.000150$/)
        )
        expect(lines.at(-1)).toMatch(/^TOTAL\s+4\s+\$\S+\s+\d+\s+\d+\s+1000\s+500\s+\$0\.000600$/)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer()))
  )
})

describe("GET /admin/requests", () => {
  it.live("pages newest first by an opaque cursor, filters by key, model and status, and caps the page", () =>
    Effect.gen(function*() {
      const { file, gateway } = yield* served
      yield* load(gateway)
      const all = yield* rows(gateway, 7)
      const pages: Array<Page> = []
      let cursor: string | null = null
      do {
        const page: Page = yield* admin<Page>(
          gateway,
          `/admin/requests?limit=3${cursor === null ? "" : `&cursor=${cursor}`}`
        )
        pages.push(page)
        cursor = page.next_cursor
      } while (cursor !== null)
      expect(pages.map((page) => page.data.length)).toEqual([3, 3, 1])
      expect(pages.flatMap((page) => page.data)).toEqual(all)
      expect(new Set(all.map((row) => row.id)).size).toBe(7)

      // `key` is a key's id.
      const beta = yield* admin<Page>(gateway, "/admin/requests?key=config:beta")
      expect(beta.data.map((row) => row.key_name)).toEqual(["beta", "beta"])
      const embeddings = yield* admin<Page>(gateway, `/admin/requests?model=${embeddingModel}&status=200`)
      expect(embeddings.data).toHaveLength(1)
      const failures = yield* admin<Page>(gateway, `/admin/requests?key=config:alpha&model=sim-small`)
      expect(failures.data[0]!.error).toBe("ProviderUnavailableError")
      expect((yield* admin<Page>(gateway, "/admin/requests?status=200&key=config:alpha")).data).toHaveLength(4)

      for (const query of ["cursor=not-a-cursor", "limit=0", "limit=ten", "status=99", "sort=asc"]) {
        const refused = yield* get(gateway, `/admin/requests?${query}`, adminKey)
        expect(refused.status, query).toBe(400)
        expect(JSON.parse(refused.text).error.message).toContain(query.split("=")[0])
      }

      // Rows enough for more than the largest page: it is served capped, with a cursor for the rest.
      const db = new DatabaseSync(file)
      const insert = db.prepare(
        "INSERT INTO requests (id, request_id, at, route, status, latency_ms) VALUES (?, ?, ?, ?, 200, 1)"
      )
      for (let i = 0; i < 600; i++) insert.run(`old-${i}`, `r-${i}`, 1_000 + i, "/v1/chat/completions")
      db.close()
      const capped = yield* admin<Page>(gateway, "/admin/requests?limit=100000")
      expect(capped.data).toHaveLength(500)
      expect(capped.next_cursor).not.toBeNull()
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})

describe("the request log's retention", () => {
  it.live("rows older than request_log_retention (days) are deleted when the gateway starts; newer ones stay", () =>
    Effect.gen(function*() {
      const file = join(yield* temporary, "gateway.db")
      const sim = yield* simulator
      yield* Effect.scoped(serveOn(sim, { sqlite: file }))
      const day = 86_400_000
      const db = new DatabaseSync(file)
      const insert = db.prepare(
        "INSERT INTO requests (id, request_id, at, route, status, latency_ms) VALUES (?, ?, ?, ?, 200, 1)"
      )
      insert.run("forty-days", "a", Date.now() - 40 * day, "/v1/chat/completions")
      insert.run("two-days", "b", Date.now() - 2 * day, "/v1/chat/completions")
      db.close()
      const gateway = yield* serveOn(sim, { sqlite: file }, gatewaySection({ request_log_retention: 7 }))
      const page = yield* admin<Page>(gateway, "/admin/requests")
      expect(page.data.map((row) => row.id)).toEqual(["two-days"])
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})

describe("effect-llm-router spend", () => {
  it.live("prints a running gateway's spend per group, or its JSON; refuses bad flags and a missing admin key", () =>
    Effect.gen(function*() {
      const { gateway } = yield* served
      yield* load(gateway)
      // Two requests that are not calls: a batch's input file uploaded, then read.
      yield* Effect.promise(async () => {
        const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: alphaKey, maxRetries: 0 })
        const line = { custom_id: "1", method: "POST", url: "/v1/chat/completions", body: { model: "gpt-4o-mini" } }
        const file = await openai.files.create({
          file: await toFile(Buffer.from(`${JSON.stringify(line)}\n`), "input.jsonl"),
          purpose: "batch"
        })
        await openai.files.retrieve(file.id)
      })
      yield* rows(gateway, 9)
      const env = { EFFECT_LLM_ROUTER_ADMIN_KEY: adminKey }
      const run = (argv: ReadonlyArray<string>, withEnv: Record<string, string> = env) =>
        Effect.gen(function*() {
          const { io, result } = captureIo({ env: withEnv })
          return result(yield* Spend.run(argv, io))
        })

      const table = yield* run(["--url", gateway.url, "--group-by", "key", "--from", "1h"])
      expect(table.code).toBe(0)
      const lines = table.stdout.trim().split("\n")
      expect(lines[0]).toMatch(/^Spend by key, \d{4}-.* to \d{4}-/)
      expect(lines[1]).toMatch(/^KEY\s+ID\s+CALLS\s+COST\s+INPUT\s+OUTPUT\s+CACHED\s+WRITTEN\s+SAVED$/)
      expect(lines[2]).toMatch(/^alpha\s+config:alpha\s+5\s+\$0\.\d{6}\s+\d+\s+\d+\s+0\s+0\s+\$0\.000000$/)
      expect(lines[3]).toMatch(/^beta\s+config:beta\s+2\s+/)
      expect(lines[4]).toMatch(/^TOTAL\s+7\s+/)
      expect(lines[5]).toMatch(/^Not counted as calls: 2 other request\(s\) \(MCP protocol messages, file uploads/)
      expect(lines).toHaveLength(6)

      // Without --from, all the log holds; the group of no model, which has no call, is not a row.
      const byModel = yield* run(["--url", gateway.url])
      expect(byModel.stdout).toMatch(/^Spend by model, all time to \d{4}-/)
      expect(byModel.stdout).not.toContain("(none)")
      expect(byModel.stdout).toMatch(/\nTOTAL\s+7\s+\$.*\nNot counted as calls: 2 other request\(s\)/)

      const json = yield* run(["--url", `${gateway.url}/`, "--json"])
      expect(json.code).toBe(0)
      const answer = JSON.parse(json.stdout) as SpendAnswer
      expect(answer.group_by).toBe("model")
      expect(answer.groups.find((group) => group.group === "gpt-4o-mini")!.calls).toBe(5)
      expect(answer.groups.find((group) => group.group === null)).toMatchObject({ calls: 0, other_requests: 2 })
      // Nothing between two days and a day ago.
      expect((yield* run(["--url", gateway.url, "--from", "2d", "--to", "1d"])).stdout)
        .toMatch(/\nTOTAL\s+0\s+\$0\.000000/)
      const backwards = yield* run(["--url", gateway.url, "--from", "1h", "--to", "2h"])
      expect(backwards.code).toBe(1)
      expect(backwards.stderr).toMatch(/answered 400: Bad parameters: from \([\d.]+\) is after to/)

      const badUrl = yield* run(["--url", "gateway:4000"])
      expect(badUrl.code).toBe(2)
      expect(badUrl.stderr).toContain(`--url needs an http:// or https:// URL, got "gateway:4000"`)
      const badGroup = yield* run(["--url", gateway.url, "--group-by", "colour"])
      expect(badGroup.code).toBe(2)
      expect(badGroup.stderr).toContain("--group-by needs one of key, team, model, deployment")
      expect((yield* run(["--url", gateway.url, "--from", "last tuesday"])).code).toBe(2)

      // The test's own data home, where no serve keeps a token.
      const noKey = yield* run(["--url", gateway.url], { XDG_DATA_HOME: process.env.XDG_DATA_HOME! })
      expect(noKey.code).toBe(1)
      expect(noKey.stderr.split("\n")[0]).toMatch(
        /^GatewayRequestError: The gateway at .* answered 401: .*set EFFECT_LLM_ROUTER_ADMIN_KEY/
      )
      const wrongKey = yield* run(["--url", gateway.url], { EFFECT_LLM_ROUTER_ADMIN_KEY: alphaKey })
      expect(wrongKey.code).toBe(1)
      expect(wrongKey.stderr).toContain("answered 403")
      expect(wrongKey.stderr).not.toContain(alphaKey)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live(
    "the binary: `spend` and `help spend` from the command line, against a running gateway",
    () =>
      Effect.gen(function*() {
        const { gateway } = yield* served
        yield* load(gateway)
        yield* rows(gateway, 7)
        const out = yield* spawnCli(["spend", "--url", gateway.url, "--group-by", "deployment"], {
          env: { ...envWithoutKeys(), EFFECT_LLM_ROUTER_ADMIN_KEY: adminKey }
        })
        expect(out.code).toBe(0)
        expect(out.stdout).toMatch(/\nsim\/gpt-4o-mini\s+5\s+\$0\.\d{6}\s/)
        expect(out.stdout).toMatch(/\nTOTAL\s+7\s/)
        const help = yield* spawnCli(["help", "spend"], { env: envWithoutKeys() })
        expect(help.code).toBe(0)
        expect(help.stdout).toContain("Usage: effect-llm-router spend [options]")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
