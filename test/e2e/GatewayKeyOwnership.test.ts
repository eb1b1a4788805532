/**
 * What a gateway key owns is owned by its id, never its name (over loopback, SQLite database, the simulator): a key
 * renamed and a new key given its old name each keep their own stored responses, spend and request-log rows, and
 * session pins; a provider.json key named like a key made at run time is refused at start and at reload, naming both;
 * and a key revoked while its stream is open has the stream end with the revocation's error event.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  adminKey,
  call,
  chat,
  client,
  configJson,
  configKey,
  gatewayOn,
  heldGateway,
  makeKey,
  openHeld,
  providerKey,
  temporaryDirectory,
  watch
} from "../utils/adminApi.js"
import { eventually } from "../utils/eventually.js"

const directory = temporaryDirectory("key-ownership-")

/** `GET /v1/responses/{id}` with `key`: its status. */
const readResponse = (gateway: Gateway.Service, id: string, key: string) =>
  Effect.promise(() =>
    fetch(`${gateway.url}/v1/responses/${id}`, { headers: { authorization: `Bearer ${key}` } }).then((response) =>
      response.text().then(() => response.status)
    )
  )

interface SpendGroup {
  readonly group: string
  readonly name: string
  readonly calls: number
  readonly other_requests: number
}

describe("a gateway key owns what it made by its id", () => {
  it.live(
    "a key renamed, and a new key of its old name: stored responses, spend and the log stay apart",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const gateway = yield* gatewayOn(simulator, { sqlite: join(yield* directory, "gateway.db") })
        const first = yield* makeKey(gateway.url, "alice")
        const stored = yield* Effect.promise(() =>
          client(gateway, first.key).responses.create({ model: "gpt-4o-mini", input: "Remember this", store: true })
        )
        assert.strictEqual(yield* readResponse(gateway, stored.id, first.key), 200)
        const renamed = yield* call(gateway.url, "PATCH", `/admin/keys/${first.id}`, { name: "alice-old" })
        assert.strictEqual(renamed.status, 200)
        const second = yield* makeKey(gateway.url, "alice")
        assert.notStrictEqual(second.id, first.id)
        // The new "alice" neither reads nor continues the old one's response; its owner still does.
        assert.strictEqual(yield* readResponse(gateway, stored.id, second.key), 404)
        const continued = yield* Effect.promise(() =>
          client(gateway, second.key).responses.create({
            model: "gpt-4o-mini",
            input: "And now?",
            previous_response_id: stored.id
          }).then(() => 200, (error: { status?: number }) => error.status)
        )
        assert.strictEqual(continued, 404)
        assert.strictEqual(yield* readResponse(gateway, stored.id, first.key), 200)
        assert.strictEqual((yield* chat(gateway, second.key)).status, 200)

        // Spend by key: one group per id (each key's three requests), each named by its name in its newest row; read
        // once the request log has written every request's row (it writes them in batches, a moment after the calls).
        // A stored response read is a request, not a call, and so is a continuation refused before its model was
        // read: each key has one call and two other requests.
        const requests = (group: SpendGroup | undefined) => (group?.calls ?? 0) + (group?.other_requests ?? 0)
        const spend = yield* eventually(
          "the spend by key to count each key's three requests",
          Effect.promise(() =>
            fetch(`${gateway.url}/admin/spend?group_by=key`, { headers: { authorization: `Bearer ${adminKey}` } })
              .then((response) => response.json() as Promise<{ readonly groups: ReadonlyArray<SpendGroup> }>)
          ),
          (read) => [first.id, second.id].every((id) => requests(read.groups.find((group) => group.group === id)) === 3)
        )
        const byId = new Map(spend.groups.map((group) => [group.group, group]))
        assert.deepStrictEqual(
          [first.id, second.id].map((id) => [byId.get(id)?.calls, byId.get(id)?.other_requests, byId.get(id)?.name]),
          [[1, 2, "alice-old"], [1, 2, "alice"]]
        )
        // The log's rows, by the key's id.
        const rows = yield* Effect.promise(() =>
          fetch(`${gateway.url}/admin/requests?key=${second.id}`, { headers: { authorization: `Bearer ${adminKey}` } })
            .then((response) =>
              response.json() as Promise<{ readonly data: ReadonlyArray<{ key_id: string; key_name: string }> }>
            )
        )
        assert.deepStrictEqual(
          rows.data.map((row) => [row.key_id, row.key_name]),
          Array.from({ length: 3 }, () => [second.id, "alice"])
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live("one session named by two keys is two sessions: each key's pin is its own", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
      const gateway = yield* gatewayOn(simulator, { sqlite: join(yield* directory, "gateway.db") })
      const other = yield* makeKey(gateway.url, "other")
      for (const key of [configKey, other.key]) {
        const answer = yield* Effect.promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${key}`,
              "content-type": "application/json",
              "x-session-id": "shared-session"
            },
            body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }], max_tokens: 4 })
          }).then((response) => response.text().then(() => response.status))
        )
        assert.strictEqual(answer, 200)
      }
      const details = Object.values((yield* gateway.status).details)
      assert.strictEqual(details.reduce((total, detail) => total + (detail.pinnedSessions ?? 0), 0), 2)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 60_000)

  it.live(
    "a provider.json key named like a key made at run time is refused at start and at reload, naming both",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const file = join(yield* directory, "gateway.db")
        const colliding = configJson(simulator, {
          gateway: {
            keys: [{ name: "fixed", key: configKey }, { name: "bob", key: "gw-key-ownership-bob-5d7f9b1c" }],
            admin_keys: [{ name: "ops", key: adminKey }]
          }
        })
        const config = ProviderConfig.gatewayConfig(yield* ProviderConfig.fromJson(colliding))
        const bob = yield* Effect.scoped(Effect.gen(function*() {
          const gateway = yield* gatewayOn(simulator, { sqlite: file })
          const bob = yield* makeKey(gateway.url, "bob")
          // Another instance on the database, whose provider.json is changed to name a key "bob" and reloaded.
          const base = ProviderConfig.gatewayConfig(yield* ProviderConfig.fromJson(configJson(simulator)))
          const other = yield* Gateway.make({
            config: base,
            port: 0,
            database: { sqlite: file },
            source: Effect.succeed(config)
          })
          const refused = yield* Effect.flip(other.reload)
          // The running configuration stays.
          assert.strictEqual((yield* chat(other, configKey)).status, 200)
          return { id: bob.id, message: refused.message }
        }))
        assert.include(bob.message, "keys[1].name")
        assert.include(bob.message, bob.id)
        // At start, on the same database: refused before it serves.
        const atStart = yield* Effect.flip(gatewayOn(simulator, { sqlite: file }, {
          gateway: {
            keys: [{ name: "bob", key: "gw-key-ownership-bob-5d7f9b1c" }],
            admin_keys: [{ name: "ops", key: adminKey }]
          }
        }))
        assert.include(atStart.message, "keys[0].name")
        assert.include(atStart.message, bob.id)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})

describe("a key revoked while its stream is open", () => {
  it.live(
    "has the stream end with the revocation's error event; another key's stream goes on",
    () =>
      Effect.gen(function*() {
        const gateway = yield* heldGateway({ sqlite: join(yield* directory, "gateway.db") })
        const revoked = yield* makeKey(gateway.url, "leaving")
        const kept = yield* makeKey(gateway.url, "staying")
        const leaving = yield* openHeld(gateway, revoked.key)
        const staying = yield* openHeld(gateway, kept.key)
        assert.include(leaving.first, "data: ")
        assert.strictEqual((yield* call(gateway.url, "DELETE", `/admin/keys/${revoked.id}`)).status, 200)
        const rest = watch(leaving.reader)
        assert.strictEqual(yield* rest.within(10_000), "key_revoked")
        assert.notInclude(rest.text(), "[DONE]")
        // The other key's stream is still open: nothing more came, and it has not ended.
        const other = watch(staying.reader)
        assert.strictEqual(yield* other.within(300), "open")
        assert.strictEqual(other.text(), "")
        yield* Effect.promise(() => staying.reader.cancel())
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})

describe("a key replaced by a rotation while its stream is open", () => {
  it.live(
    "without grace has the stream cut at once; with grace, when it ends; a second rotation keeps the first one's grace",
    () =>
      Effect.gen(function*() {
        const gateway = yield* heldGateway({ sqlite: join(yield* directory, "gateway.db") })
        const open = (key: string) => Effect.map(openHeld(gateway, key), (opened) => opened.reader)
        const rotate = (id: string, grace: number) =>
          Effect.map(
            call(gateway.url, "POST", `/admin/keys/${id}/rotate`, { grace_seconds: grace }),
            (answer) => answer.body.key!
          )

        // No grace: the old key's stream is cut at once; the new key's goes on.
        const first = yield* makeKey(gateway.url, "rotated-now")
        const old = watch(yield* open(first.key)).within
        const fresh = yield* rotate(first.id, 0)
        const freshStream = yield* open(fresh)
        const freshFate = watch(freshStream).within
        assert.strictEqual(yield* old(1_000), "key_revoked")
        assert.strictEqual(yield* freshFate(300), "open")
        yield* Effect.promise(() => freshStream.cancel())

        // A grace of 2 seconds: the old key's stream goes on through it, and is cut when it ends.
        const second = yield* makeKey(gateway.url, "rotated-later")
        const graced = watch(yield* open(second.key)).within
        const k1 = yield* rotate(second.id, 2)
        assert.strictEqual(yield* graced(500), "open")
        assert.strictEqual(yield* graced(5_000), "key_revoked")

        // Rotated again with a shorter grace: the first replaced key keeps its own (10 s), the second has 1 s.
        const third = yield* makeKey(gateway.url, "rotated-twice")
        const k0 = third.key
        const k1b = yield* rotate(third.id, 10)
        const k0Stream = yield* open(k0)
        const k0Fate = watch(k0Stream).within
        yield* rotate(third.id, 1)
        assert.strictEqual((yield* chat(gateway, k0)).status, 200)
        assert.strictEqual((yield* chat(gateway, k1b)).status, 200)
        yield* eventually("the second replaced key's grace ended", chat(gateway, k1b), (answer) =>
          answer.status === 401, {
          every: "100 millis",
          within: "5 seconds"
        })
        assert.strictEqual((yield* chat(gateway, k0)).status, 200)
        assert.strictEqual(yield* k0Fate(300), "open")
        yield* Effect.promise(() =>
          k0Stream.cancel()
        )
        assert.notStrictEqual(k1, second.key)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
