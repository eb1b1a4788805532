/**
 * A Responses request's hosted tools are priced per call, over loopback with the official `openai` client against the
 * simulator (whose replies call the request's hosted tools, `max_tool_calls` calls in all): a budgeted key reserves
 * `max_tool_calls` calls (default `Pricing.defaultMaxToolCalls`, sent upstream as the bound) at the dearest hosted
 * tool's price before the call, and is charged the calls the reply's tool-call items count, whole or streamed, with
 * or without a `usage` object in the reply (the simulator's `usage=none` fault). The prompt the tools' results add is
 * reserved at the model's context window a call, refused where the model has none, and a reply reporting more than
 * was reserved is charged the reservation.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { join } from "node:path"
import OpenAI from "openai"
import * as Pricing from "../../src/Pricing.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { adminKey, gatewayOn, providerKey, temporaryDirectory } from "../utils/adminApi.js"
import { eventually } from "../utils/eventually.js"

// A dollar a million tokens: a short call's tokens cost well under a cent, its searches a cent each.
const perMillion = { input_per_mtok: 1, output_per_mtok: 1 }
const tinyKey = "gw-hosted-prices-tiny-4d6f8a0c2e"
const walletKey = "gw-hosted-prices-wallet-5e7a9c1b3d"
const dearKey = "gw-hosted-prices-dear-6f8b0d2c4e"
const usagelessKey = "gw-hosted-prices-usageless-7a9c1e3b5d"
const windowedKey = "gw-hosted-prices-windowed-8b0d2f4a6c"
const overbilledKey = "gw-hosted-prices-overbilled-9c1e3a5b7d"
const freeKey = "gw-hosted-prices-free-0d2f4b6c8e"

// The context window of the models below: a call's hosted tools' results are reserved at it, a call each.
const window = 1_000

/** The scenario whose replies report a million prompt tokens, as a search's content would, past any window here. */
const overbilled = { turns: [{ text: "Searched far and wide.", usage: { input: 1_000_000, output: 5 } }] }

const served = Effect.gen(function*() {
  const simulator = yield* Simulator.make({
    apiKeys: [providerKey],
    replyTokens: 2,
    models: [...Simulator.defaultModels, "sim-usageless", "sim-windowed", "sim-windowless", "sim-overbilled"],
    scenarios: { overbilled }
  })
  const responses = (
    model: string,
    pricing: Record<string, unknown>,
    headers?: Record<string, string>,
    contextWindow: number | "none" = window
  ) => ({
    model_name: model,
    api: "responses",
    base_url: `${simulator.url}/v1`,
    api_keys: [providerKey],
    max_retries: 0,
    pricing,
    ...(contextWindow === "none" ? {} : { context_window: contextWindow }),
    ...(headers === undefined ? {} : { headers })
  })
  const gateway = yield* gatewayOn(simulator, { sqlite: join(yield* temporaryDirectory("hosted-prices-"), "gw.db") }, {
    sim: [
      responses("gpt-4o-mini", perMillion),
      // Its own price for a search: a dollar.
      responses("gpt-4o", { ...perMillion, hosted_tool_calls: { web_search: 1 } }),
      // An upstream whose replies carry no usage: the calls are counted from the reply's items all the same.
      responses("sim-usageless", perMillion, { [Simulator.faultHeader]: "usage=none" }),
      responses("sim-windowed", perMillion, undefined, 100_000),
      responses("sim-windowless", perMillion, undefined, "none"),
      responses("sim-overbilled", perMillion, { [Simulator.scenarioHeader]: "overbilled" })
    ],
    gateway: {
      keys: [
        { name: "tiny", key: tinyKey, budget: { limit: 0.01, period: "1 day" } },
        { name: "wallet", key: walletKey, budget: { limit: 0.5, period: "1 day" } },
        { name: "dear", key: dearKey, budget: { limit: 5, period: "1 day" } },
        { name: "usageless", key: usagelessKey, budget: { limit: 0.5, period: "1 day" } },
        { name: "windowed", key: windowedKey, budget: { limit: 0.5, period: "1 day" } },
        { name: "overbilled", key: overbilledKey, budget: { limit: 0.5, period: "1 day" } },
        { name: "free", key: freeKey }
      ],
      admin_keys: [{ name: "ops", key: adminKey }]
    }
  })
  const client = (key: string) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 })
  return { simulator, client, gateway }
})

interface Asked {
  readonly status: number
  readonly message: string
  readonly searches: number
}

/** A Responses call with `web_search`, and `max_tool_calls` when given: its status and the searches it made. */
const ask = (client: OpenAI, options: { readonly maxToolCalls?: number; readonly stream?: boolean; model?: string }) =>
  Effect.promise(async (): Promise<Asked> => {
    const body = {
      model: options.model ?? "gpt-4o-mini",
      input: "What happened today?",
      tools: [{ type: "web_search" as const }],
      ...(options.maxToolCalls === undefined ? {} : { max_tool_calls: options.maxToolCalls })
    }
    try {
      if (options.stream === true) {
        let searches = 0
        for await (const event of await client.responses.create({ ...body, stream: true })) {
          if (event.type === "response.output_item.done" && event.item.type === "web_search_call") searches++
        }
        return { status: 200, message: "", searches }
      }
      const response = await client.responses.create(body)
      return { status: 200, message: "", searches: response.output.filter((i) => i.type === "web_search_call").length }
    } catch (error) {
      if (error instanceof OpenAI.APIError) return { status: error.status ?? 0, message: error.message, searches: 0 }
      throw error
    }
  })

/** What a budget refusal says is left of it (`has $X of $Y left`), in dollars. */
const left = (message: string): number => {
  const found = /has \$([0-9.e-]+) of/.exec(message)
  assert.isNotNull(found, message)
  return Number(found![1])
}

/** What a budget refusal says the call may cost (`cost up to $X`), in dollars. */
const reserved = (message: string): number => {
  const found = /cost up to \$([0-9.e-]+)/.exec(message)
  assert.isNotNull(found, message)
  return Number(found![1])
}

/** The request log's rows of `/v1/responses` calls of `model`, with the cost and prompt tokens they were billed. */
const loggedCalls = (url: string, model: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/admin/requests?limit=100`, {
      headers: { authorization: `Bearer ${adminKey}` }
    })
    const page = await response.json() as {
      readonly data: ReadonlyArray<{ model: string | null; cost: number | null; input_tokens: number | null }>
    }
    return page.data.filter((row) => row.model === model)
  })

describe("hosted tools are priced per call", () => {
  it.live(
    "500 web searches on a $0.01 budget are refused before the provider is called: $5.50 reserved for them and their results",
    () =>
      Effect.gen(function*() {
        const { client, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        const refused = yield* ask(client(tinyKey), { maxToolCalls: 500 })
        assert.strictEqual(refused.status, 429)
        // And a window of results a search ($0.50), and the tokens: the key's default max_tokens at most.
        assert.isAtLeast(
          reserved(refused.message),
          500 * (Pricing.defaultHostedToolCalls["web_search"]! + window / 1e6)
        )
        assert.isBelow(reserved(refused.message), 5.51)
        // No bound given: the default's calls reserved, $0.10, past the budget too.
        const unbounded = yield* ask(client(tinyKey), {})
        assert.strictEqual(unbounded.status, 429)
        assert.isAtLeast(reserved(unbounded.message), Pricing.defaultMaxToolCalls * 0.01)
        assert.strictEqual((yield* simulator.stats).requests, before)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a reply's searches are charged at their price, whole and streamed; with no bound the default one is sent upstream",
    () =>
      Effect.gen(function*() {
        const { client } = yield* served
        const wallet = client(walletKey)
        // Three searches: $0.03 and a few tokens.
        const three = yield* ask(wallet, { maxToolCalls: 3 })
        assert.deepStrictEqual([three.status, three.searches], [200, 3])
        // Streamed, four more: $0.04.
        const four = yield* ask(wallet, { maxToolCalls: 4, stream: true })
        assert.deepStrictEqual([four.status, four.searches], [200, 4])
        // No bound of its own: sent the default, so ten searches, $0.10.
        const ten = yield* ask(wallet, {})
        assert.deepStrictEqual([ten.status, ten.searches], [200, Pricing.defaultMaxToolCalls])
        // $0.17 of searches spent, and a little for tokens: 40 more searches ($0.40) do not fit.
        const refused = yield* ask(wallet, { maxToolCalls: 40 })
        assert.strictEqual(refused.status, 429)
        const spent = 0.5 - left(refused.message)
        assert.isAtLeast(spent, 0.17)
        assert.isBelow(spent, 0.171)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a model's hosted_tool_calls price wins over the default, in the reservation and the charge",
    () =>
      Effect.gen(function*() {
        const { client } = yield* served
        const dear = client(dearKey)
        // Two searches at $1 each.
        assert.strictEqual((yield* ask(dear, { maxToolCalls: 2, model: "gpt-4o" })).status, 200)
        const refused = yield* ask(dear, { maxToolCalls: 4, model: "gpt-4o" })
        assert.strictEqual(refused.status, 429)
        assert.isAtLeast(reserved(refused.message), 4)
        const spent = 5 - left(refused.message)
        assert.isAtLeast(spent, 2)
        assert.isBelow(spent, 2.001)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a reply with no usage object is charged its searches all the same, whole and streamed",
    () =>
      Effect.gen(function*() {
        const { client } = yield* served
        const usageless = client(usagelessKey)
        // The upstream's reply says no usage: the gateway's answer carries its estimate, and the calls are charged.
        const three = yield* ask(usageless, { maxToolCalls: 3, model: "sim-usageless" })
        assert.deepStrictEqual([three.status, three.searches], [200, 3])
        const four = yield* ask(usageless, { maxToolCalls: 4, stream: true, model: "sim-usageless" })
        assert.deepStrictEqual([four.status, four.searches], [200, 4])
        // $0.07 of searches spent and a few estimated tokens: 45 more searches ($0.45) do not fit.
        const refused = yield* ask(usageless, { maxToolCalls: 45, model: "sim-usageless" })
        assert.strictEqual(refused.status, 429)
        const spent = 0.5 - left(refused.message)
        assert.isAtLeast(spent, 0.07)
        assert.isBelow(spent, 0.071)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "their results are reserved at the model's context window a call, as the prompt of the turns that read them",
    () =>
      Effect.gen(function*() {
        const { client, simulator } = yield* served
        const windowed = client(windowedKey)
        const before = (yield* simulator.stats).requests
        // Five searches may add five windows of 100,000 prompt tokens: $0.50 at a dollar a million, and $0.05.
        const five = yield* ask(windowed, { maxToolCalls: 5, model: "sim-windowed" })
        assert.strictEqual(five.status, 429)
        assert.isAtLeast(reserved(five.message), 5 * (0.01 + 100_000 / 1e6))
        // No bound: the default's ten.
        const unbounded = yield* ask(windowed, { model: "sim-windowed" })
        assert.strictEqual(unbounded.status, 429)
        assert.isAtLeast(reserved(unbounded.message), Pricing.defaultMaxToolCalls * (0.01 + 100_000 / 1e6))
        assert.strictEqual((yield* simulator.stats).requests, before)
        // Three fit: $0.33 and the tokens.
        const three = yield* ask(windowed, { maxToolCalls: 3, model: "sim-windowed" })
        assert.deepStrictEqual([three.status, three.searches], [200, 3])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a model of no context window is refused a budgeted key's hosted tools, naming the setting; a key without a budget calls",
    () =>
      Effect.gen(function*() {
        const { client, simulator } = yield* served
        const before = (yield* simulator.stats).requests
        const refused = yield* ask(client(walletKey), { maxToolCalls: 1, model: "sim-windowless" })
        assert.strictEqual(refused.status, 400)
        assert.include(refused.message, "'web_search'")
        assert.include(refused.message, "`context_window`")
        assert.strictEqual((yield* simulator.stats).requests, before)
        const free = yield* ask(client(freeKey), { maxToolCalls: 1, model: "sim-windowless" })
        assert.deepStrictEqual([free.status, free.searches], [200, 1])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a reply reporting more than was reserved is charged the reservation; the request log keeps the provider's figure",
    () =>
      Effect.gen(function*() {
        const { client, gateway } = yield* served
        const overbilledClient = client(overbilledKey)
        // A search's window of results reserved ($0.001) with the prompt and the default max_tokens, and the search.
        const answered = yield* ask(overbilledClient, { maxToolCalls: 1, model: "sim-overbilled" })
        assert.strictEqual(answered.status, 200)
        // Fifty searches do not fit what is left, which says what the call was charged: not the $1 reported.
        const refused = yield* ask(overbilledClient, { maxToolCalls: 50, model: "sim-overbilled" })
        assert.strictEqual(refused.status, 429)
        const spent = 0.5 - left(refused.message)
        assert.isAtLeast(spent, 0.01 + window / 1e6)
        assert.isBelow(spent, 0.02)
        const rows = yield* eventually(
          "the over-billed call's row in the request log",
          loggedCalls(gateway.url, "sim-overbilled"),
          (rows) => rows.some((row) => row.input_tokens !== null)
        )
        const billed = rows.filter((row) => row.input_tokens !== null)
        assert.deepStrictEqual(billed.map((row) => row.input_tokens), [1_000_000])
        assert.isAtLeast(billed[0]!.cost!, 1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
