/**
 * A call in flight when `serve` is killed (SIGKILL, the binary spawned over a SQLite data directory): its stream is
 * open, its worst case reserved on the key's budget; `serve` started again over the same file lets the dead call's
 * lease lapse uncharged, so the budget shows none of it, where the provider (the simulator) billed it as any call of
 * the same request, and where its worst case would have been counted as spent.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import OpenAI from "openai"
import * as Simulator from "../../src/simulator/Simulator.js"
import { awaitFirstLine, startCli } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import { providerFile } from "../utils/serveCluster.js"

const providerKey = "sk-killed-call-provider-0001"
const agentKey = "gw-killed-call-agent-4b8d2f6a1c"
const adminKey = "gw-killed-call-admin-9e3a7c5b1d"
const pricing = { input_per_mtok: 3, output_per_mtok: 15 }

interface BudgetRow {
  readonly key: string
  readonly spent: number
  readonly reserved: number
}

describe("a call in flight when serve is killed", () => {
  it.live(
    "is charged nothing once its lease lapses, where the simulator billed it as a call of the same request",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 8, models: ["held", "live"] })
        const deployment = (model: string) => ({
          model_name: model,
          base_url: `${simulator.url}/v1`,
          api_keys: [providerKey],
          max_retries: 0,
          pricing
        })
        const file = yield* providerFile({
          // `held` stalls every stream after its first chunk, so the call is in flight until its gateway dies.
          sim: [{ ...deployment("held"), headers: { "x-simulator-fault": "stall=2" } }, deployment("live")],
          gateway: {
            keys: [{ name: "agent", key: agentKey, budget: { limit: 1, period: "1 day" } }],
            admin_keys: [{ name: "ops", key: adminKey }]
          }
        })
        const data = fs.mkdtempSync(path.join(os.tmpdir(), "killed-call-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(data, { recursive: true, force: true })))
        const serve = Effect.gen(function*() {
          const running = yield* startCli(["serve", "--config", file, "--port", "0", "--data", data], {
            timeoutMs: 170_000
          })
          return { running, url: yield* awaitFirstLine(running, "serve's first line (its URL)") }
        })
        const budgetOf = (url: string) =>
          Effect.promise(async () => {
            const answer = await fetch(`${url}/dashboard/data`, { headers: { authorization: `Bearer ${adminKey}` } })
            const body = await answer.json() as { readonly budgets: ReadonlyArray<BudgetRow> }
            return body.budgets.find((budget) => budget.key === "agent")!
          })
        const ask = { messages: [{ role: "user" as const, content: "Hello, are you there?" }], max_tokens: 1000 }

        const first = yield* serve
        const openai = new OpenAI({ baseURL: `${first.url}/v1`, apiKey: agentKey, maxRetries: 0 })
        const stream = yield* Effect.promise(() =>
          openai.chat.completions.create({ ...ask, model: "held", stream: true })
        )
        const iterator = stream[Symbol.asyncIterator]()
        yield* Effect.promise(() => iterator.next())
        // In flight: its worst case held, nothing spent.
        const held = yield* budgetOf(first.url)
        expect(held.spent).toBe(0)
        expect(held.reserved).toBeGreaterThan(0.015)
        first.running.child()!.kill("SIGKILL")
        yield* Fiber.join(first.running.exited)
        yield* Effect.promise(() => iterator.return?.() ?? Promise.resolve(undefined)).pipe(Effect.ignore)

        const second = yield* serve
        // The dead call's lease lapses within the ledger's 30 seconds: then nothing of it is reserved, nor spent.
        const lapsed = yield* eventually(
          "the dead call's reservation lapsed",
          budgetOf(second.url),
          (budget) => budget.reserved === 0,
          { every: "500 millis", within: "90 seconds" }
        )
        expect(lapsed.spent).toBe(0)
        // What the provider billed the dead call: what it bills the same request answered whole.
        const again = new OpenAI({ baseURL: `${second.url}/v1`, apiKey: agentKey, maxRetries: 0 })
        const reply = yield* Effect.promise(() => again.chat.completions.create({ ...ask, model: "live" }))
        const billed = (reply.usage!.prompt_tokens * pricing.input_per_mtok +
          reply.usage!.completion_tokens * pricing.output_per_mtok) / 1e6
        const after = yield* eventually("the call's charge", budgetOf(second.url), (budget) => budget.reserved === 0)
        expect(after.spent).toBeCloseTo(billed, 12)
        // The budget is short of the provider's bill by the dead call's cost, where its worst case would have counted
        // more than a hundred times it.
        expect(held.reserved / billed).toBeGreaterThan(100)
      }).pipe(Effect.scoped),
    180_000
  )
})
