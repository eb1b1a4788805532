/**
 * Keys made at run time and their spend on a real PostgreSQL server shared by two gateway instances, called with the
 * official `openai` client over loopback: a key made on one works on the other and, revoked, is refused at once by
 * the one that revoked it and within a second by the other; a budget is never passed by 200 concurrent calls across
 * both; the spend is the same after a restart of the gateway and of Postgres; while Postgres is down a call is
 * refused promptly with 503, and the charge of a call that was in flight is written once it is back.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Simulator from "../../src/simulator/Simulator.js"
import { call, chat, gatewayOn, providerKey } from "../utils/adminApi.js"
import { eventually } from "../utils/eventually.js"
import { postgresServer } from "../utils/postgresServer.js"

const spentOf = (url: string, id: string) =>
  Effect.map(call(url, "GET", `/admin/keys/${id}`), (answer) => answer.body.spend?.spent as number)

describe("keys made at run time on a shared Postgres", () => {
  it.live(
    "made on one instance work on the other; revoked, they are refused there within a second",
    () =>
      Effect.gen(function*() {
        const server = yield* postgresServer
        const database = { postgres: Redacted.make(yield* server.database("revocation")) }
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const one = yield* gatewayOn(simulator, database)
        const other = yield* gatewayOn(simulator, database)
        const made = yield* call(one.url, "POST", "/admin/keys", { name: "shared" })
        const key = made.body.key!
        yield* eventually("the other instance knows the key", chat(other, key), (answer) => answer.status === 200, {
          every: "50 millis",
          within: "1 second"
        })
        assert.strictEqual((yield* call(one.url, "DELETE", `/admin/keys/${made.body.id!}`)).status, 200)
        assert.strictEqual((yield* chat(one, key)).status, 401)
        yield* eventually("the other instance refuses the key", chat(other, key), (answer) => answer.status === 401, {
          every: "50 millis",
          within: "1 second"
        })
      }),
    60_000
  )

  it.live("spend by team names each team, from the request log on Postgres", () =>
    Effect.gen(function*() {
      const server = yield* postgresServer
      const database = { postgres: Redacted.make(yield* server.database("spend_by_team")) }
      const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
      const gateway = yield* gatewayOn(simulator, database)
      const team = yield* call(gateway.url, "POST", "/admin/teams", { name: "analysts" })
      const made = yield* call(gateway.url, "POST", "/admin/keys", { name: "ana", team: team.body.id! })
      assert.strictEqual((yield* chat(gateway, made.body.key!)).status, 200)
      const byTeam = yield* eventually(
        "the spend by team to count the call",
        call(gateway.url, "GET", "/admin/spend?group_by=team"),
        (answer) => JSON.stringify(answer.body).includes(team.body.id!),
        { every: "50 millis", within: "5 seconds" }
      )
      const groups = (byTeam.body as unknown as {
        readonly groups: ReadonlyArray<{ readonly group: string | null; readonly name: string | null }>
      }).groups
      assert.deepStrictEqual(groups.map(({ group, name }) => ({ group, name })), [
        { group: team.body.id!, name: "analysts" }
      ])
    }), 60_000)

  it.live("never pass a budget under 200 concurrent calls across two instances", () =>
    Effect.gen(function*() {
      const server = yield* postgresServer
      const database = { postgres: Redacted.make(yield* server.database("concurrency")) }
      const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
      const instances = [yield* gatewayOn(simulator, database), yield* gatewayOn(simulator, database)]
      const limit = 0.25
      const team = yield* call(instances[0]!.url, "POST", "/admin/teams", {
        name: "crowd",
        budget: { limit: 0.4, period: "1 day" }
      })
      const made = yield* call(instances[0]!.url, "POST", "/admin/keys", {
        name: "crowded",
        team: team.body.id!,
        models: ["gpt-4o-mini"],
        budget: { limit, period: "1 day" }
      })
      const key = made.body.key!
      const warmUp = yield* eventually(
        "the second instance knows the key",
        chat(instances[1]!, key, 1),
        (answer) => answer.status === 200
      )
      const answers = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, index) => instances[index % 2]!),
        (gateway) => chat(gateway, key),
        { concurrency: 200 }
      )
      // Answered, or refused for the budget; on a loaded machine a call whose turn at the budget's rows does not come
      // within the store's bound is refused, the ledger's database or the limits' store unavailable (503), and is not
      // charged either.
      const statuses = new Set(answers.map((answer) => answer.status))
      assert.includeMembers([...statuses], [200, 429])
      assert.includeMembers([200, 429, 503], [...statuses])
      const unavailable = answers.filter((answer) => answer.status === 503)
      for (const answer of unavailable) {
        assert.include(["database_unavailable", "store_unavailable"], answer.error?.code)
      }
      const answered = answers.filter((answer) => answer.status === 200)
      const spent = answered.reduce((sum, answer) => sum + answer.cost, warmUp.cost)
      assert.isAtLeast(answered.length, 5)
      // Every answered call is charged, once: the ledger holds their costs and the warm-up call's, and no reservation.
      // A charge the store took late is written by a retry, and a reservation whose step passed its bound (its call
      // refused) lapses: on a loaded machine either may come after the answers.
      yield* eventually(
        "the team's spend to be the answered calls' and nothing reserved",
        call(instances[1]!.url, "GET", `/admin/teams/${team.body.id!}`),
        (read) => Math.abs(read.body.spend!.spent - spent) < 1e-9 && read.body.spend!.reserved === 0,
        { every: "100 millis", within: "90 seconds" }
      )
      const first = yield* spentOf(instances[0]!.url, made.body.id!)
      assert.isAtMost(first, limit + 1e-9)
      assert.closeTo(first, spent, 1e-9)
    }), 240_000)

  it.live(
    "keep their spend across restarts of the gateway and of Postgres; Postgres down is a prompt 503",
    () =>
      Effect.gen(function*() {
        const server = yield* postgresServer
        const database = { postgres: Redacted.make(yield* server.database("restarts")) }
        // Each call takes a while, so one is in flight when Postgres goes down.
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4, latency: "1500 millis" })
        const made = yield* Effect.scoped(Effect.gen(function*() {
          const gateway = yield* gatewayOn(simulator, database)
          const made = yield* call(gateway.url, "POST", "/admin/keys", {
            name: "durable",
            models: ["gpt-4o-mini"],
            budget: { limit: 5, period: "month" }
          })
          assert.strictEqual((yield* chat(gateway, made.body.key!)).status, 200)
          return { id: made.body.id!, key: made.body.key! }
        }))
        const gateway = yield* gatewayOn(simulator, database)
        const before = yield* spentOf(gateway.url, made.id)
        assert.isAbove(before, 0)

        // A call admitted before Postgres goes down is answered; its charge waits for Postgres to return.
        const inFlight = yield* Effect.forkChild(chat(gateway, made.key))
        yield* Effect.sleep("300 millis")
        yield* server.stop
        const started = Date.now()
        const refused = yield* chat(gateway, made.key)
        assert.strictEqual(refused.status, 503)
        assert.isBelow(Date.now() - started, 6_000)
        assert.strictEqual((yield* call(gateway.url, "GET", `/admin/keys/${made.id}`)).status, 503)
        const answered = yield* Fiber.join(inFlight)
        assert.strictEqual(answered.status, 200)

        yield* server.start
        const after = yield* eventually(
          "the in-flight call's charge is written",
          spentOf(gateway.url, made.id),
          (spent) => spent !== undefined && Math.abs(spent - (before + answered.cost)) < 1e-9,
          { every: "200 millis", within: "20 seconds" }
        )
        const restarted = yield* Effect.scoped(Effect.flatMap(
          gatewayOn(simulator, database),
          (fresh) => spentOf(fresh.url, made.id)
        ))
        assert.strictEqual(restarted, after)
      }),
    120_000
  )
})
