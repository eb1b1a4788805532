/**
 * The contract every backend of the gateway's `StoredResponses` keeps, run against each
 * (`test/gateway/responsesStoreContract.test.ts`): a response is its key's, its conversation, session, upstream,
 * chain and tools read back whole, on every instance; one larger than `maxResponseBytes` is refused and not kept; no
 * key fills the store (past `maxKeyBytes` its own oldest go, past `maxBytes` the oldest of all); it is gone
 * once its TTL is over; random puts, reads and deletes by any owners, one after another and in concurrent batches
 * from two instances, read as a map of ids to their first live owner; and, for a backend on a server, its faults:
 * down (every step fails with `StoreUnavailableError`), slow (answering later than the store's command bound: the
 * step fails at the bound, on the `TestClock`, and once the server answers promptly again the responses are the
 * server's) and restarted empty. A new backend is one more `responsesStoreContract(...)` line there.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import {
  bytesOf,
  type Service,
  type StoredResponse,
  type StoreOptions
} from "../../src/internal/gateway/responses/store.js"
import type { Message } from "../../src/Message.js"
import type { StoreUnavailableError } from "../../src/Store.js"
import { atBound, type ContractBackend, type Faults, type InstancesBackend } from "../utils/slowStore.js"

/** One test's backend: two instances' stores over `options` (each built from its layer). */
export type Backend = InstancesBackend<StoreOptions, Service>

export type ResponsesStoreBackend = ContractBackend<Backend>

const conversation: ReadonlyArray<Message> = [
  { role: "user", content: [{ type: "text", text: "Who wrote it?" }] },
  {
    role: "assistant",
    content: "",
    toolCalls: [{ id: "call_1", name: "lookup", arguments: `{"q":"it"}` }],
    providerMetadata: { openaiResponses: { reasoningItems: [{ type: "reasoning", encrypted_content: "e" }] } }
  },
  { role: "tool", toolCallId: "call_1", content: "Ada" }
]

const response = (body: string): StoredResponse => ({ body, conversation })

const whole: StoredResponse = {
  body: `{"id":"resp_whole"}`,
  conversation,
  session: "session-1",
  upstream: { id: "resp_upstream", provider: "openai", keyId: "sk-…0001#ab12" },
  chain: 3,
  tools: [
    { type: "custom", name: "apply_patch", format: { type: "grammar", syntax: "lark", definition: "start: /.+/" } },
    { type: "namespace", name: "calendar", tools: [{ type: "function", name: "read", parameters: { type: "object" } }] }
  ]
}

const owners = fc.constantFrom("team-a", "team-b", "null", undefined)

type Step = {
  readonly op: "put" | "get" | "remove"
  readonly id: number
  readonly owner: string | undefined
  readonly on: 0 | 1
}

const step: fc.Arbitrary<Step> = fc.record({
  op: fc.constantFrom("put" as const, "get" as const, "remove" as const),
  id: fc.integer({ min: 0, max: 3 }),
  owner: owners,
  on: fc.constantFrom(0 as const, 1 as const)
})

type Model = Map<string, { readonly owner: string | undefined; readonly body: string }>

/** What `step` on `id` answers by the model's rules (a put: undefined), the model changed as the store must be. */
function modelStep(model: Model, id: string, { op, owner }: Step, body: string): string | boolean | undefined {
  const kept = model.get(id)
  const owns = kept !== undefined && kept.owner === owner
  if (op === "put") {
    if (kept === undefined || owns) model.set(id, { owner, body })
    return undefined
  }
  if (op === "get") return owns ? kept.body : undefined
  if (owns) model.delete(id)
  return owns
}

/** What `step` on `id` answers from `store`, as `modelStep` says it. */
function storeStep(
  store: Service,
  id: string,
  { op, owner }: Step,
  body: string
): Effect.Effect<string | boolean | undefined, StoreUnavailableError> {
  return op === "put"
    ? Effect.as(store.put(id, owner, response(body)), undefined)
    : op === "get"
    ? Effect.map(store.get(id, owner), (kept) => kept?.body)
    : store.remove(id, owner)
}

const faultsOf = (backend: Backend): Faults => {
  if (backend.faults === undefined) throw new Error("a backend on a server gives its faults")
  return backend.faults
}

export const responsesStoreContract = (backend: ResponsesStoreBackend) => {
  const test = backend.clock === "test" ? it.effect : it.live
  describe(`StoredResponses contract: ${backend.name}`, () => {
    test(
      "a response is its key's: another key, or none, neither reads, replaces nor deletes it, on any instance",
      () =>
        Effect.gen(function*() {
          const [one, other] = yield* (yield* backend.connect).instances({})
          expect(yield* one.put("resp_a", "team-a", response("a"))).toBe(true)
          yield* one.put("resp_none", undefined, response("none"))
          expect(yield* other.get("resp_a", "team-a")).toEqual(response("a"))
          expect(yield* other.get("resp_a", "team-b")).toBeUndefined()
          expect(yield* other.get("resp_a", undefined)).toBeUndefined()
          // A key named "null" is not the absence of a key.
          expect(yield* other.get("resp_none", "null")).toBeUndefined()
          // Another key's response of the same id does not replace it.
          yield* other.put("resp_a", "team-b", response("b"))
          expect(yield* one.get("resp_a", "team-b")).toBeUndefined()
          expect((yield* one.get("resp_none", undefined))?.body).toBe("none")
          expect(yield* other.remove("resp_a", "team-b")).toBe(false)
          expect(yield* one.get("resp_a", "team-a")).toEqual(response("a"))
          expect(yield* other.remove("resp_a", "team-a")).toBe(true)
          expect(yield* one.get("resp_a", "team-a")).toBeUndefined()
          expect(yield* one.remove("resp_a", "team-a")).toBe(false)
        }),
      30_000
    )

    test(
      "what is kept is read back whole: body, conversation, session, upstream, chain and tools",
      () =>
        Effect.gen(function*() {
          const [one, other] = yield* (yield* backend.connect).instances({})
          yield* one.put("resp_whole", "team-a", whole)
          expect(yield* other.get("resp_whole", "team-a")).toEqual(whole)
          // Put again by its owner, it is replaced.
          yield* other.put("resp_whole", "team-a", response("again"))
          expect(yield* one.get("resp_whole", "team-a")).toEqual(response("again"))
        }),
      30_000
    )

    test(
      "a response larger than maxResponseBytes is refused and not kept; one at the bound is kept",
      () =>
        Effect.gen(function*() {
          const maxResponseBytes = 4_096
          const [one, other] = yield* (yield* backend.connect).instances({ maxResponseBytes })
          const sized = (extra: number) => response("x".repeat(maxResponseBytes - bytesOf(response("")) + extra))
          expect(yield* one.put("resp_over", "team-a", sized(1))).toBe(false)
          expect(yield* other.get("resp_over", "team-a")).toBeUndefined()
          expect(yield* one.put("resp_at", "team-a", sized(0))).toBe(true)
          expect((yield* other.get("resp_at", "team-a"))?.body.length).toBe(sized(0).body.length)
        }),
      30_000
    )

    test(
      "no key fills the store: past maxKeyBytes a key's own oldest go, never another key's; past maxBytes the " +
        "oldest of all",
      () =>
        Effect.gen(function*() {
          const one = response("x".repeat(1_000))
          const size = bytesOf(one)
          const [first, second] = yield* (yield* backend.connect).instances({
            maxResponseBytes: size,
            maxKeyBytes: 3 * size,
            maxBytes: 5 * size
          })
          // Ids in the order they are put, each put after the last answered.
          const puts = [["resp_1", "a"], ["resp_2", "a"], ["resp_3", "a"], ["resp_4", "a"], ["resp_5", "b"], [
            "resp_6",
            "b"
          ], ["resp_7", "c"]] as const
          for (const [i, [id, owner]] of puts.entries()) {
            expect(yield* (i % 2 === 0 ? first : second).put(id, owner, one)).toBe(true)
          }
          const kept = yield* Effect.forEach(puts, ([id, owner]) => Effect.map(first.get(id, owner), Boolean))
          // a's fourth dropped its first; c's, past the total, the oldest left (a's second); b's untouched.
          expect(kept).toEqual([false, false, true, true, true, true, true])
          // One larger than a key's bound, or than the total, is never kept: no other is dropped for it.
          const [small] = yield* (yield* backend.connect).instances({ maxKeyBytes: size, maxBytes: 2 * size })
          expect(yield* small.put("resp_8", "d", one)).toBe(true)
          expect(yield* small.put("resp_9", "d", response("x".repeat(1_001)))).toBe(false)
          expect(yield* small.get("resp_8", "d")).toEqual(one)
        }),
      30_000
    )

    test(
      "kept for its TTL, then gone on every instance",
      () =>
        Effect.gen(function*() {
          const connected = yield* backend.connect
          const [one, other] = yield* connected.instances({ ttl: "2 seconds" })
          yield* one.put("resp_brief", "team-a", response("brief"))
          yield* connected.elapse("500 millis")
          expect((yield* other.get("resp_brief", "team-a"))?.body).toBe("brief")
          yield* connected.elapse("1600 millis")
          expect(yield* other.get("resp_brief", "team-a")).toBeUndefined()
          expect(yield* one.get("resp_brief", "team-a")).toBeUndefined()
        }),
      30_000
    )

    test(
      "property: any sequence of puts, reads and deletes by any owners reads as a map of ids to their first live owner",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          let run = 0
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(fc.array(step, { maxLength: 30 }), (list) =>
                Effect.runPromise(Effect.scoped(Effect.gen(function*() {
                  const stores = yield* instances({})
                  const prefix = `resp_${run++}_`
                  const model: Model = new Map()
                  for (const [index, one] of list.entries()) {
                    const id = `${prefix}${one.id}`
                    const seen = yield* storeStep(stores[one.on], id, one, `${index}`)
                    expect(seen).toEqual(modelStep(model, id, one, `${index}`))
                  }
                })))),
              { numRuns: 25 }
            )
          )
        }),
      120_000
    )

    test(
      "property: concurrent batches of puts, reads and deletes from two instances, each on its own id, answer as the " +
        "map does",
      () =>
        Effect.gen(function*() {
          const { instances } = yield* backend.connect
          // Each batch's steps on distinct ids, run at once: their answers do not depend on the order they land in.
          const batches = fc.array(fc.uniqueArray(step, { selector: (one) => one.id, minLength: 1, maxLength: 4 }), {
            minLength: 1,
            maxLength: 8
          })
          let run = 0
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(batches, (plan) =>
                Effect.runPromise(Effect.scoped(Effect.gen(function*() {
                  const stores = yield* instances({})
                  const prefix = `resp_batch_${run++}_`
                  const model: Model = new Map()
                  for (const [round, batch] of plan.entries()) {
                    const seen = yield* Effect.forEach(
                      batch,
                      (one, index) => storeStep(stores[one.on], `${prefix}${one.id}`, one, `${round}.${index}`),
                      { concurrency: "unbounded" }
                    )
                    const expected = batch.map((one, index) =>
                      modelStep(model, `${prefix}${one.id}`, one, `${round}.${index}`)
                    )
                    expect(seen).toEqual(expected)
                  }
                })))),
              { numRuns: 25 }
            )
          )
        }),
      120_000
    )

    if (backend.server) {
      it.live(
        "down: every step fails with StoreUnavailableError; back up, empty, it keeps responses again",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const faults = faultsOf(connected)
            const [one, other] = yield* connected.instances({})
            yield* one.put("resp_a", "team-a", response("a"))
            yield* faults.stop
            const down = { _tag: "StoreUnavailableError", address: faults.unanswered.address }
            expect(yield* Effect.flip(one.get("resp_a", "team-a"))).toMatchObject(down)
            expect(yield* Effect.flip(other.put("resp_b", "team-a", response("b")))).toMatchObject(down)
            expect(yield* Effect.flip(other.remove("resp_a", "team-a"))).toMatchObject(down)
            yield* faults.start
            // Restarted empty: what was kept before is gone, and nothing else is wrong.
            expect(yield* other.get("resp_a", "team-a")).toBeUndefined()
            expect(yield* one.put("resp_a", "team-b", response("again"))).toBe(true)
            expect((yield* other.get("resp_a", "team-b"))?.body).toBe("again")
          }),
        30_000
      )

      it.effect(
        "slow: every step fails with StoreUnavailableError at the store's bound, not before; answering again, the " +
          "responses are the server's, the writes it answered late among them",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            const faults = faultsOf(connected)
            const [one, other] = yield* connected.instances({})
            yield* one.put("resp_a", "team-a", response("a"))
            yield* one.put("resp_b", "team-a", response("b"))
            yield* faults.pause
            const unavailable = { _tag: "StoreUnavailableError", ...faults.unanswered }
            expect(yield* Effect.flip(atBound("a get", one.get("resp_a", "team-a"), faults))).toMatchObject(unavailable)
            const put = atBound("a put", other.put("resp_c", "team-a", response("c")), faults)
            expect(yield* Effect.flip(put)).toMatchObject(unavailable)
            const remove = atBound("a remove", other.remove("resp_b", "team-a"), faults)
            expect(yield* Effect.flip(remove)).toMatchObject(unavailable)
            yield* faults.resume
            expect((yield* other.get("resp_a", "team-a"))?.body).toBe("a")
            expect(yield* one.get("resp_b", "team-a")).toBeUndefined()
            expect((yield* one.get("resp_c", "team-a"))?.body).toBe("c")
          }),
        30_000
      )
    }
  })
}
