import { describe, expect, it } from "@effect/vitest"
import * as ResponsesStore from "../../src/internal/gateway/responsesStore.js"

const response = (body: string): ResponsesStore.StoredResponse => ({
  body,
  conversation: [{ role: "user", content: body }]
})

// A store whose time is `clock.now`, moved by the test.
const storeAt = (options?: ResponsesStore.StoreOptions) => {
  const clock = { now: 0 }
  return { clock, store: ResponsesStore.make(() => clock.now, options) }
}

describe("ResponsesStore", () => {
  it("keeps a response for its TTL, then forgets it", () => {
    const { clock, store } = storeAt({ ttl: "10 seconds" })
    store.put("resp_a", undefined, response("a"))
    clock.now = 9_999
    expect(store.get("resp_a", undefined)?.body).toBe("a")
    clock.now = 10_000
    expect(store.get("resp_a", undefined)).toBeUndefined()
  })

  it("a response is its key's: another key, or none, does not see or delete it", () => {
    const { store } = storeAt()
    store.put("resp_a", "team-a", response("a"))
    expect(store.get("resp_a", "team-b")).toBeUndefined()
    expect(store.get("resp_a", undefined)).toBeUndefined()
    expect(store.remove("resp_a", "team-b")).toBe(false)
    expect(store.remove("resp_a", "team-a")).toBe(true)
    expect(store.get("resp_a", "team-a")).toBeUndefined()
  })

  it("past maxEntries the oldest goes first", () => {
    const { clock, store } = storeAt({ maxEntries: 2 })
    for (const id of ["one", "two", "three"]) {
      clock.now += 1
      store.put(id, undefined, response(id))
    }
    expect(store.get("one", undefined)).toBeUndefined()
    expect(store.get("two", undefined)?.body).toBe("two")
    expect(store.get("three", undefined)?.body).toBe("three")
  })
})
