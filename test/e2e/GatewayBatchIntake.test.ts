/**
 * A batch's create over loopback, with the official clients and the simulator: its lines read and checked without
 * holding the event loop (while two creates of the largest input file run, run as calls or made a provider's batch,
 * `/health` answers many times over and a chat call of another key is answered before either), and counted against its key's rate limit: a batch run as calls
 * takes a request of it at each line's call, a provider's batch all its lines at its create (docs/batch.md, "The
 * gateway").
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Gateway from "../../src/Gateway.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  anthropicClient,
  batchSimulator,
  create,
  inputFile,
  instances,
  onSimulator,
  openAiClient,
  promise,
  refusal,
  sqliteFile,
  upload
} from "../utils/batchGateways.js"
import { eventually } from "../utils/eventually.js"

const bulkKey = "gw-intake-bulk-4c6e8a0b2d1f3a5c"
const otherKey = "gw-intake-other-9b1d3f5a7c2e4a6b"
const pacedKey = "gw-intake-paced-1e3a5c7b9d0f2a4c"
const unlimitedKey = "gw-intake-unlimited-5d7f9b1c3e0a2b4d"

/** A model of a provider with no batch API (its batches run as calls), and one of OpenAI's (a provider's batch). */
const callsModel = "gpt-4.1-mini"
const providerModel = "gpt-4o-mini"

/** The gateway over `simulator` on a SQLite file, its keys: two with a rate limit of three requests hardly refilled. */
const gatewayOver = (simulator: Simulator.Simulator) =>
  Effect.gen(function*() {
    const hardly = { capacity: 3, refillRate: 0.0001 }
    const [gateway] = yield* instances({
      sim: [{ model_name: callsModel, ...onSimulator(simulator) }],
      openai: [{ model_name: providerModel, ...onSimulator(simulator) }]
    }, {
      database: yield* sqliteFile,
      keys: [
        // Its lines wait for their turns once its creates took its requests: the test's calls stay few.
        { name: "bulk", key: Redacted.make(bulkKey), rateLimit: hardly },
        { name: "other", key: Redacted.make(otherKey) },
        { name: "paced", key: Redacted.make(pacedKey), rateLimit: hardly },
        // A provider's batch takes all its lines of its key's rate limit at once: this key has none.
        { name: "unlimited", key: Redacted.make(unlimitedKey) }
      ]
    })
    return gateway!
  })

/** The largest input file the gateway takes (within its 8 MiB upload with the form's fields): one-word chats. */
const largest = (model: string = callsModel) => {
  const lines: Array<string> = []
  let bytes = 0
  for (let i = 0;; i++) {
    const line = JSON.stringify({
      custom_id: `r${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model, messages: [{ role: "user", content: "hi" }] }
    })
    if (bytes + line.length + 1 > 8 * 1024 * 1024 - 2_000) return lines.join("\n")
    lines.push(line)
    bytes += line.length + 1
  }
}

describe("A batch's create", () => {
  // Two creates of the largest input file at once, by `creator` of `model`: how many `/health` probes, one after
  // another, were answered while both still ran, whether another key's call was answered before they ended, and
  // the batches made.
  const whileTwoCreate = (gateway: Gateway.Service, creator: string, model: string) =>
    Effect.gen(function*() {
      const client = openAiClient(gateway, creator)
      const content = largest(model)
      const files = [yield* upload(client, content), yield* upload(client, content)]
      const seen = yield* promise(async () => {
        let creating = true
        const creates = Promise.all(files.map((file) => create(client, file.id))).finally(() => {
          creating = false
        })
        const call = openAiClient(gateway, otherKey).chat.completions.create({
          model: callsModel,
          messages: [{ role: "user", content: "Hi" }]
        }).then(() => creating)
        // Handled at once, awaited once the probes end: a refusal meanwhile fails the test there, not as a rejection
        // left unhandled while the probes run.
        for (const pending of [creates, call]) pending.catch(() => undefined)
        // A probe is counted when it was answered while both creates still ran. One whose kept-alive connection the
        // server let go of (the in-process simulator's own create held the loop past its keep-alive, under load) is
        // reset, and not counted.
        let answered = 0
        while (creating) {
          const ok = await fetch(`${gateway.url}/health`).then((response) => response.ok, () => false)
          if (ok && creating) answered++
        }
        const made = await creates
        return { answered, callBefore: await call, made }
      })
      expect(seen.made.map((batch) => batch.request_counts?.total)).toEqual(
        Array(2).fill(content.split("\n").length)
      )
      return seen
    })

  it.live(
    "reads its lines in slices: while two of the largest run, /health answers and another key's call is answered",
    () =>
      Effect.gen(function*() {
        const simulator = yield* batchSimulator({ models: [...Simulator.defaultModels, callsModel] })
        const seen = yield* whileTwoCreate(yield* gatewayOver(simulator), bulkKey, callsModel)
        // Held whole, the loop answered none (or the one or two it took before a decode began).
        expect(seen.answered).toBeGreaterThanOrEqual(20)
        expect(seen.callBefore).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    240_000
  )

  it.live(
    "a provider's batch prepares its lines for the provider in slices too: /health answers while two of the largest run",
    () =>
      Effect.gen(function*() {
        const simulator = yield* batchSimulator({ models: [...Simulator.defaultModels, callsModel] })
        const seen = yield* whileTwoCreate(yield* gatewayOver(simulator), unlimitedKey, providerModel)
        expect(seen.answered).toBeGreaterThanOrEqual(20)
        expect(seen.callBefore).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    240_000
  )

  it.live(
    "run as calls: each line takes a request of its key's rate limit, the create one",
    () =>
      Effect.gen(function*() {
        const simulator = yield* batchSimulator({ models: [...Simulator.defaultModels, callsModel] })
        const gateway = yield* gatewayOver(simulator)
        const paced = openAiClient(gateway, pacedKey)
        const file = yield* upload(paced, inputFile(callsModel, 5))
        const batch = yield* promise(() => create(paced, file.id))
        // Three requests: the create's, then two lines'; the other three lines wait for theirs.
        const read = yield* eventually(
          "two lines answered",
          promise(() => paced.batches.retrieve(batch.id)),
          (read) => (read.request_counts?.completed ?? 0) >= 2
        )
        expect(read.request_counts).toMatchObject({ total: 5, completed: 2 })
        const limited = yield* refusal(() =>
          paced.chat.completions.create({ model: callsModel, messages: [{ role: "user", content: "Hi" }] })
        )
        expect(limited).toMatchObject({ status: 429, code: "rate_limit_exceeded" })
        expect((yield* simulator.stats).requests).toBe(2)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a provider's batch: all its lines are requests of its key's rate limit at its create",
    () =>
      Effect.gen(function*() {
        const simulator = yield* batchSimulator()
        const gateway = yield* gatewayOver(simulator)
        const paced = openAiClient(gateway, pacedKey)
        // More lines than the key's rate limit holds at all: refused, naming it, and taking only the create's request.
        const tooMany = yield* upload(paced, inputFile(providerModel, 5))
        const refused = yield* refusal(() => create(paced, tooMany.id))
        expect(refused).toMatchObject({ status: 400, code: "rate_limit_capacity_exceeded" })
        expect(refused.message).toContain("rate_limit_capacity")
        // A line and the create: the key's last two requests; nothing is left for another batch's create.
        const fits = yield* upload(paced, inputFile(providerModel, 1))
        yield* promise(() => create(paced, fits.id))
        const limited = yield* refusal(() =>
          anthropicClient(gateway, pacedKey).messages.batches.create({
            requests: [{
              custom_id: "a",
              params: { model: providerModel, max_tokens: 10, messages: [{ role: "user", content: "Hi" }] }
            }]
          })
        )
        expect(limited).toMatchObject({ status: 429 })
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
