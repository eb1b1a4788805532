/**
 * The contract every backend of the gateway's `ResponsesStore` keeps, run against each
 * (`test/gateway/responsesStoreContract.test.ts`): a response is its key's, its conversation, session, upstream and
 * chain read back whole, on every instance; one larger than `maxResponseBytes` is refused and not kept; it is gone
 * once its TTL is over; and, for a backend on a server, every operation fails with `StoreUnavailableError` while the
 * server is down. A new backend is one more `responsesStoreContract(...)` line there.
 */
import { describe, expect, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fc from "fast-check"
import {
  bytesOf,
  type ResponsesStore,
  type StoredResponse,
  type StoreOptions
} from "../../src/internal/gateway/responses/store.js"
import type { Message } from "../../src/Message.js"

/** One test's backend. */
export interface Backend {
  /** Two instances' stores over `options`, sharing what they keep. */
  readonly instances: (options: StoreOptions) => Effect.Effect<readonly [ResponsesStore, ResponsesStore]>
  /** Lets time pass as the backend sees it. */
  readonly elapse: (duration: Duration.Input) => Effect.Effect<void>
  /** Takes the server down, for a backend on one. */
  readonly stop: Effect.Effect<void> | undefined
}

export interface ResponsesStoreBackend {
  readonly name: string
  /** `it.effect` for a backend on this process' clock (`TestClock`), `it.live` for one on a server's. */
  readonly clock: "test" | "live"
  /** Whether it runs on a server, whose going down (`Backend.stop`) the contract plays. */
  readonly server: boolean
  readonly connect: Effect.Effect<Backend, never, Scope.Scope>
}

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
  chain: 3
}

const owners = fc.constantFrom("team-a", "team-b", "null", undefined)

export const responsesStoreContract = (backend: ResponsesStoreBackend) => {
  const test = backend.clock === "test" ? it.effect : it.live
  describe(`ResponsesStore contract: ${backend.name}`, () => {
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
      "what is kept is read back whole: body, conversation, session, upstream and chain",
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
          const steps = fc.array(
            fc.record({
              op: fc.constantFrom("put" as const, "get" as const, "remove" as const),
              id: fc.integer({ min: 0, max: 3 }),
              owner: owners,
              on: fc.constantFrom(0 as const, 1 as const)
            }),
            { maxLength: 30 }
          )
          let run = 0
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(steps, (list) =>
                Effect.runPromise(Effect.gen(function*() {
                  const stores = yield* instances({})
                  const prefix = `resp_${run++}_`
                  const model = new Map<string, { readonly owner: string | undefined; readonly body: string }>()
                  for (const [index, step] of list.entries()) {
                    const id = `${prefix}${step.id}`
                    const store = stores[step.on]
                    const kept = model.get(id)
                    const owns = kept !== undefined && kept.owner === step.owner
                    if (step.op === "put") {
                      yield* store.put(id, step.owner, response(`${index}`))
                      if (kept === undefined || owns) model.set(id, { owner: step.owner, body: `${index}` })
                    } else if (step.op === "get") {
                      expect((yield* store.get(id, step.owner))?.body).toBe(owns ? kept.body : undefined)
                    } else {
                      expect(yield* store.remove(id, step.owner)).toBe(owns)
                      if (owns) model.delete(id)
                    }
                  }
                }))),
              { numRuns: 25 }
            )
          )
        }),
      120_000
    )

    if (backend.server) {
      it.live(
        "a server down fails every operation with StoreUnavailableError",
        () =>
          Effect.gen(function*() {
            const connected = yield* backend.connect
            if (connected.stop === undefined) throw new Error("a backend on a server says how to stop it")
            const [store] = yield* connected.instances({})
            yield* connected.stop
            expect((yield* Effect.flip(store.get("resp_a", undefined)))._tag).toBe("StoreUnavailableError")
            expect((yield* Effect.flip(store.put("resp_a", undefined, response("a"))))._tag).toBe(
              "StoreUnavailableError"
            )
            expect((yield* Effect.flip(store.remove("resp_a", undefined)))._tag).toBe("StoreUnavailableError")
          }),
        30_000
      )
    }
  })
}
