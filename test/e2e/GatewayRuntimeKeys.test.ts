/**
 * Keys and teams made at run time through the admin API, on a gateway with a SQLite database, called with the
 * official `openai` client over loopback: a key made is shown once and works, is listed without itself, changed,
 * rotated with a grace period, revoked at once; a team's budget binds its keys together; bad input is refused naming
 * the field; provider.json's keys are listed read-only; the spend is the same after a restart.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type * as Dashboard from "../../src/internal/gateway/observe/dashboard/dashboard.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import {
  adminKey,
  type Answer,
  call,
  cappedKey,
  chat,
  chatWithoutKey,
  configKey,
  gatewayOn,
  providerKey
} from "../utils/adminApi.js"
import { eventually } from "../utils/eventually.js"

const temporary = Effect.acquireRelease(
  Effect.sync(() => join(mkdtempSync(join(tmpdir(), "runtime-keys-")), "gateway.db")),
  (file) => Effect.sync(() => rmSync(join(file, ".."), { recursive: true, force: true }))
)

const setup = Effect.gen(function*() {
  const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
  const file = yield* temporary
  const gateway = yield* gatewayOn(simulator, { sqlite: file })
  return { simulator, file, gateway }
})

describe("keys made at run time", () => {
  it.live(
    "are shown once, work, are listed without the key, and are refused at once when revoked",
    () =>
      Effect.gen(function*() {
        const { gateway } = yield* setup
        const made = yield* call(gateway.url, "POST", "/admin/keys", { name: "alice", metadata: { owner: "alice" } })
        assert.strictEqual(made.status, 201)
        const key = made.body.key!
        assert.match(key, /^elr-/)
        assert.strictEqual(made.body.name!, "alice")
        assert.strictEqual((yield* chat(gateway, key)).status, 200)

        const listed = yield* call(gateway.url, "GET", "/admin/keys")
        assert.strictEqual(listed.status, 200)
        assert.notInclude(JSON.stringify(listed.body), key)
        const names = listed.body.data!.map((entry) => `${entry.name}:${entry.read_only}`)
        assert.deepStrictEqual(names, ["fixed:true", "capped:true", "alice:false"])

        const one = yield* call(gateway.url, "GET", `/admin/keys/${made.body.id!}`)
        assert.strictEqual(one.status, 200)
        assert.notInclude(JSON.stringify(one.body), key)
        assert.isAbove(one.body.spend!.spent, 0)
        assert.deepStrictEqual(one.body.metadata!, { owner: "alice" })

        const revoked = yield* call(gateway.url, "DELETE", `/admin/keys/${made.body.id!}`)
        assert.strictEqual(revoked.status, 200)
        const refused = yield* chat(gateway, key)
        assert.strictEqual(refused.status, 401)
        // provider.json's key keeps working.
        assert.strictEqual((yield* chat(gateway, configKey)).status, 200)
      }),
    60_000
  )

  it.live(
    "refuse bad input naming the field, a taken name with 409, and changes to provider.json's keys",
    () =>
      Effect.gen(function*() {
        const { gateway } = yield* setup
        const field = (answer: Answer) => answer.body.error?.param
        const noName = yield* call(gateway.url, "POST", "/admin/keys", { models: ["gpt-4o-mini"] })
        assert.strictEqual(noName.status, 400)
        assert.strictEqual(field(noName), "name")
        const badBudget = yield* call(gateway.url, "POST", "/admin/keys", {
          name: "b",
          budget: { limit: -1, period: "month" }
        })
        assert.strictEqual(field(badBudget), "budget.limit")
        const badPeriod = yield* call(gateway.url, "POST", "/admin/keys", {
          name: "b",
          budget: { limit: 1, period: "fortnight" }
        })
        assert.strictEqual(field(badPeriod), "budget.period")
        const unknownModel = yield* call(gateway.url, "POST", "/admin/keys", {
          name: "b",
          models: ["gpt-4o-mini", "nope"]
        })
        assert.strictEqual(field(unknownModel), "models[1]")
        // "house" has no price: a budget cannot count it.
        const unpriced = yield* call(gateway.url, "POST", "/admin/keys", {
          name: "b",
          models: ["house"],
          budget: { limit: 1, period: "1 day" }
        })
        assert.strictEqual(field(unpriced), "budget")
        const stray = yield* call(gateway.url, "POST", "/admin/keys", { name: "b", colour: "blue" })
        assert.strictEqual(field(stray), "colour")
        const halfRate = yield* call(gateway.url, "POST", "/admin/keys", { name: "b", rate_limit_capacity: 3 })
        assert.strictEqual(field(halfRate), "rate_limit_refill_rate")
        // Bounded: a budget's period from a minute to a year, a name without a terminal's escape codes, metadata of
        // 16 KiB, an expiry before the year 10000, a rate a million a second, a grace period of 30 days.
        const bounded = [
          ["budget.period", { name: "b", budget: { limit: 1, period: "1 millis" } }],
          ["budget.period", { name: "b", budget: { limit: 1, period: "1000 days" } }],
          ["budget.limit", { name: "b", budget: { limit: 1e308, period: "month" } }],
          ["name", { name: "\u001b[2J\u001b[31mroot" }],
          ["metadata", { name: "b", metadata: { note: "x".repeat(17_000) } }],
          ["expires_at", { name: "b", expires_at: 1e308 }],
          ["rate_limit_capacity", { name: "b", rate_limit_capacity: 1e300, rate_limit_refill_rate: 1 }],
          ["models", { name: "b", models: Array.from({ length: 1001 }, () => "gpt-4o-mini") }]
        ] as const
        for (const [param, body] of bounded) {
          const answer = yield* call(gateway.url, "POST", "/admin/keys", body)
          assert.deepStrictEqual([answer.status, field(answer)], [400, param])
        }
        const made = yield* call(gateway.url, "POST", "/admin/keys", { name: "rotated" })
        const forever = yield* call(gateway.url, "POST", `/admin/keys/${made.body.id!}/rotate`, {
          grace_seconds: 1e308
        })
        assert.deepStrictEqual([forever.status, field(forever)], [400, "grace_seconds"])
        for (const answer of [badBudget, badPeriod, unknownModel, unpriced, stray, halfRate]) {
          assert.strictEqual(answer.status, 400)
        }

        const configName = yield* call(gateway.url, "POST", "/admin/keys", { name: "fixed" })
        assert.strictEqual(configName.status, 409)
        assert.strictEqual((yield* call(gateway.url, "POST", "/admin/keys", { name: "bob" })).status, 201)
        const twice = yield* call(gateway.url, "POST", "/admin/keys", { name: "bob" })
        assert.strictEqual(twice.status, 409)
        assert.strictEqual(twice.body.error!.code, "name_taken")

        for (const method of ["PATCH", "DELETE"]) {
          const readOnly = yield* call(
            gateway.url,
            method,
            "/admin/keys/config:fixed",
            method === "PATCH" ? {} : undefined
          )
          assert.strictEqual(readOnly.status, 403)
          assert.include(readOnly.body.error!.message, "provider.json")
        }
        assert.strictEqual((yield* call(gateway.url, "GET", "/admin/keys/key_nothing")).status, 404)
        // Not an admin key: the admin API is refused.
        const notAdmin = yield* call(gateway.url, "GET", "/admin/keys", undefined, configKey)
        assert.strictEqual(notAdmin.status, 403)
      }),
    60_000
  )

  it.live("are changed in place: models and an expiry", () =>
    Effect.gen(function*() {
      const { gateway } = yield* setup
      const made = yield* call(gateway.url, "POST", "/admin/keys", { name: "carol" })
      const key = made.body.key!
      const limited = yield* call(gateway.url, "PATCH", `/admin/keys/${made.body.id!}`, { models: ["house"] })
      assert.strictEqual(limited.status, 200)
      assert.deepStrictEqual(limited.body.models!, ["house"])
      assert.strictEqual((yield* chat(gateway, key)).status, 403)
      yield* call(gateway.url, "PATCH", `/admin/keys/${made.body.id!}`, { models: null })
      assert.strictEqual((yield* chat(gateway, key)).status, 200)
      const soon = Math.floor(Date.now() / 1000) + 2
      yield* call(gateway.url, "PATCH", `/admin/keys/${made.body.id!}`, { expires_at: soon })
      yield* eventually("the key expired", chat(gateway, key), (answer) => answer.status === 401, {
        every: "100 millis",
        within: "5 seconds"
      })
    }), 60_000)

  it.live(
    "have their own rate limit, kept while other keys change, replaced when theirs does",
    () =>
      Effect.gen(function*() {
        const { gateway } = yield* setup
        const made = yield* call(gateway.url, "POST", "/admin/keys", {
          name: "hasty",
          rate_limit_capacity: 1,
          rate_limit_refill_rate: 0.001
        })
        const key = made.body.key!
        assert.strictEqual((yield* chat(gateway, key)).status, 200)
        // Another key made reloads every key: this one's bucket stays empty.
        yield* call(gateway.url, "POST", "/admin/keys", { name: "patient" })
        const limited = yield* chat(gateway, key)
        assert.strictEqual(limited.status, 429)
        assert.strictEqual(limited.error?.code, "rate_limit_exceeded")
        yield* call(gateway.url, "PATCH", `/admin/keys/${made.body.id!}`, {
          rate_limit_capacity: 5,
          rate_limit_refill_rate: 1
        })
        assert.strictEqual((yield* chat(gateway, key)).status, 200)
      }),
    60_000
  )

  it.live(
    "are rotated: the new key works at once, the old one for its grace period only",
    () =>
      Effect.gen(function*() {
        const { gateway } = yield* setup
        const made = yield* call(gateway.url, "POST", "/admin/keys", { name: "dave" })
        const old = made.body.key!
        const rotated = yield* call(gateway.url, "POST", `/admin/keys/${made.body.id!}/rotate`, { grace_seconds: 1 })
        assert.strictEqual(rotated.status, 200)
        const fresh = rotated.body.key!
        assert.notStrictEqual(fresh, old)
        assert.strictEqual((yield* chat(gateway, fresh)).status, 200)
        assert.strictEqual((yield* chat(gateway, old)).status, 200)
        yield* eventually("the old key's grace ended", chat(gateway, old), (answer) => answer.status === 401, {
          every: "100 millis",
          within: "5 seconds"
        })
        assert.strictEqual((yield* chat(gateway, fresh)).status, 200)
        const noGrace = yield* call(gateway.url, "POST", `/admin/keys/${made.body.id!}/rotate`, { grace_seconds: 0 })
        assert.strictEqual((yield* chat(gateway, fresh)).status, 401)
        assert.strictEqual((yield* chat(gateway, noGrace.body.key!)).status, 200)
      }),
    60_000
  )

  it.live("in a team are bound by its budget together, besides their own", () =>
    Effect.gen(function*() {
      const { gateway } = yield* setup
      // A call with 10 max_tokens reserves about $0.025 and costs about $0.016: the team fits two or three.
      const team = yield* call(gateway.url, "POST", "/admin/teams", {
        name: "research",
        budget: { limit: 0.05, period: "1 day" }
      })
      assert.strictEqual(team.status, 201)
      const teamId = team.body.id!
      // A team's name is taken by another team, and the refusal says so (not a key's words).
      const twice = yield* call(gateway.url, "POST", "/admin/teams", { name: "research" })
      assert.deepStrictEqual([twice.status, twice.body.error!.code], [409, "name_taken"])
      assert.strictEqual(
        twice.body.error!.message,
        "The name `research` is taken (by another team): choose another for the team."
      )
      const first = yield* call(gateway.url, "POST", "/admin/keys", {
        name: "erin",
        team: teamId,
        models: ["gpt-4o-mini"]
      })
      const second = yield* call(gateway.url, "POST", "/admin/keys", {
        name: "frank",
        team: teamId,
        models: ["gpt-4o-mini"],
        budget: { limit: 10, period: "month" }
      })
      const statuses: Array<number> = []
      for (let i = 0; i < 4; i++) {
        statuses.push((yield* chat(gateway, first.body.key!)).status)
        statuses.push((yield* chat(gateway, second.body.key!)).status)
      }
      assert.include(statuses, 200)
      assert.include(statuses, 429)
      const refused = yield* chat(gateway, second.body.key!)
      assert.include(String(refused.error?.message), "team's budget")
      const read = yield* call(gateway.url, "GET", `/admin/teams/${teamId}`)
      assert.isAtMost(read.body.spend!.spent, 0.05)
      assert.deepStrictEqual(read.body.keys!.map((key) => key.name).sort(), ["erin", "frank"])
      const own = yield* call(gateway.url, "GET", `/admin/keys/${second.body.id!}`)
      const ownFirst = yield* call(gateway.url, "GET", `/admin/keys/${first.body.id!}`)
      assert.closeTo(own.body.spend!.spent + ownFirst.body.spend!.spent, read.body.spend!.spent, 1e-9)
      // The dashboard lists the budget of the key with one of its own (not of the one bound by its team only).
      const dashboard = yield* call(gateway.url, "GET", "/dashboard/data")
      const budgets = (dashboard.body as unknown as { readonly budgets: ReadonlyArray<Dashboard.BudgetData> }).budgets
      const frank = budgets.find((budget) => budget.key === "frank")
      assert.deepStrictEqual(
        { team: frank?.team, limit: frank?.limit, period: frank?.period },
        { team: teamId, limit: 10, period: "month" }
      )
      assert.closeTo(frank!.spent, own.body.spend!.spent, 1e-9)
      assert.isUndefined(budgets.find((budget) => budget.key === "erin"))
      const busy = yield* call(gateway.url, "DELETE", `/admin/teams/${teamId}`)
      assert.strictEqual(busy.status, 409)
      // A larger team budget lets the keys call again; an empty team can be deleted.
      const raised = yield* call(gateway.url, "PATCH", `/admin/teams/${teamId}`, {
        budget: { limit: 5, period: "1 day" }
      })
      assert.strictEqual(raised.status, 200)
      assert.strictEqual((yield* chat(gateway, first.body.key!)).status, 200)
      for (const key of [first, second]) yield* call(gateway.url, "DELETE", `/admin/keys/${key.body.id!}`)
      assert.strictEqual((yield* call(gateway.url, "DELETE", `/admin/teams/${teamId}`)).status, 200)
      const teams = yield* call(gateway.url, "GET", "/admin/teams")
      assert.deepStrictEqual(teams.body.data, [])
    }), 60_000)

  it.live(
    "a provider.json key's budget is kept in the database: a restart gives nothing back",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const file = yield* temporary
        const answered = yield* Effect.scoped(Effect.gen(function*() {
          const gateway = yield* gatewayOn(simulator, { sqlite: file })
          let count = 0
          while ((yield* chat(gateway, cappedKey, 1)).status === 200) count++
          return count
        }))
        assert.isAtLeast(answered, 1)
        const gateway = yield* gatewayOn(simulator, { sqlite: file })
        const after = yield* chat(gateway, cappedKey, 1)
        assert.strictEqual(after.status, 429)
        assert.include(String(after.error?.message), "budget")
        // The admin API shows that key's spend, read-only.
        const read = yield* call(gateway.url, "GET", "/admin/keys/config:capped")
        assert.strictEqual(read.status, 200)
        assert.isTrue(read.body.read_only)
        assert.isAbove(read.body.spend!.spent, 0)
        assert.isAtMost(read.body.spend!.spent + read.body.spend!.reserved, read.body.spend!.limit!)
      }),
    60_000
  )

  it.live(
    "on a loopback gateway without keys of its own, calls need a key once one is made, and still after it is " +
      "revoked and after a restart: the keys alive now do not decide it",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const file = yield* temporary
        const admins = { gateway: { admin_keys: [{ name: "ops", key: adminKey }] } }
        const made = yield* Effect.scoped(Effect.gen(function*() {
          const gateway = yield* gatewayOn(simulator, { sqlite: file }, admins)
          assert.strictEqual((yield* chat(gateway, "anything")).status, 200)
          const made = yield* call(gateway.url, "POST", "/admin/keys", { name: "first" })
          assert.strictEqual((yield* chat(gateway, "anything")).status, 401)
          assert.strictEqual((yield* chat(gateway, made.body.key!)).status, 200)
          yield* call(gateway.url, "DELETE", `/admin/keys/${made.body.id!}`)
          // The last key revoked: the gateway stays closed, to it and to a request with no key.
          assert.strictEqual((yield* chat(gateway, made.body.key!)).status, 401)
          assert.strictEqual((yield* chat(gateway, "anything")).status, 401)
          assert.strictEqual((yield* chatWithoutKey(gateway)).status, 401)
          return made.body.key!
        }))
        const restarted = yield* gatewayOn(simulator, { sqlite: file }, admins)
        assert.strictEqual((yield* chat(restarted, made)).status, 401)
        assert.strictEqual((yield* chatWithoutKey(restarted)).status, 401)
      }),
    60_000
  )

  it.live(
    "without a budget, count their whole spend, a call sent without max_tokens too (its reply past what was reserved)",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 200 })
        const gateway = yield* gatewayOn(simulator, { sqlite: yield* temporary })
        const made = yield* call(gateway.url, "POST", "/admin/keys", { name: "counted" })
        const costs = [yield* chat(gateway, made.body.key!, null), yield* chat(gateway, made.body.key!, 300)]
        assert.deepStrictEqual(costs.map((answered) => answered.status), [200, 200])
        const read = yield* call(gateway.url, "GET", `/admin/keys/${made.body.id!}`)
        assert.closeTo(read.body.spend!.spent, costs[0]!.cost + costs[1]!.cost, 1e-9)
        assert.strictEqual(read.body.spend!.reserved, 0)
      }),
    60_000
  )

  it.live("on a gateway without a database, the admin API says it needs one", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
      const gateway = yield* gatewayOn(simulator, undefined)
      const refused = yield* call(gateway.url, "POST", "/admin/keys", { name: "nowhere" })
      assert.strictEqual(refused.status, 404)
      assert.strictEqual(refused.body.error!.code, "no_database")
      assert.include(refused.body.error!.message, "serve --data")
      // Still for admin keys only.
      assert.strictEqual((yield* call(gateway.url, "GET", "/admin/keys", undefined, configKey)).status, 403)
    }), 60_000)

  it.live("keep their spend across a restart of the gateway on the same SQLite file", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
      const file = yield* temporary
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const gateway = yield* gatewayOn(simulator, { sqlite: file })
        const made = yield* call(gateway.url, "POST", "/admin/keys", {
          name: "gina",
          models: ["gpt-4o-mini"],
          budget: { limit: 1, period: "month" }
        })
        for (let i = 0; i < 3; i++) assert.strictEqual((yield* chat(gateway, made.body.key!)).status, 200)
        const read = yield* call(gateway.url, "GET", `/admin/keys/${made.body.id!}`)
        return { id: made.body.id!, key: made.body.key!, spent: read.body.spend!.spent }
      }))
      assert.isAbove(first.spent, 0)
      const gateway = yield* gatewayOn(simulator, { sqlite: file })
      const read = yield* call(gateway.url, "GET", `/admin/keys/${first.id}`)
      assert.strictEqual(read.body.spend!.spent, first.spent)
      assert.strictEqual((yield* chat(gateway, first.key)).status, 200)
      // With a database and admin keys, every call needs a key.
      assert.strictEqual((yield* chat(gateway, "elr-guessed")).status, 401)
      assert.strictEqual((yield* call(gateway.url, "GET", "/admin/keys", undefined, "elr-guessed")).status, 403)
    }), 60_000)
})
