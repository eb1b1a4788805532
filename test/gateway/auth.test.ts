import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import * as Auth from "../../src/internal/gateway/auth.js"

describe("gateway keys: digests and their constant-time compare", () => {
  it("a key's digest is its SHA-256", () => {
    expect(Auth.digest("gw-key-0001").toString("hex")).toBe(createHash("sha256").update("gw-key-0001").digest("hex"))
  })

  it("sameDigest: equal digests match; one byte off, or another length, does not (and does not throw)", () => {
    const a = Auth.digest("gw-key-0001")
    expect(Auth.sameDigest(a, Buffer.from(a))).toBe(true)
    for (const index of [0, 15, 31]) {
      const b = Buffer.from(a)
      b[index] = b[index]! ^ 1
      expect(Auth.sameDigest(a, b)).toBe(false)
    }
    expect(Auth.sameDigest(a, a.subarray(0, 16))).toBe(false)
    expect(Auth.sameDigest(a, new Uint8Array(0))).toBe(false)
  })

  it("two keys' digests match exactly when the keys are equal", () =>
    fc.assert(fc.property(fc.string(), fc.string(), (x, y) => {
      expect(Auth.sameDigest(Auth.digest(x), Auth.digest(y))).toBe(x === y)
      expect(Auth.sameDigest(Auth.digest(x), Auth.digest(x))).toBe(true)
    })))

  it("find: the item whose digest is the presented key's, else none", () =>
    fc.assert(fc.property(
      fc.uniqueArray(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 6 }),
      fc.nat(),
      fc.string(),
      (keys, pick, other) => {
        const items = keys.map((key) => ({ key, digest: Auth.digest(key) }))
        const wanted = keys[pick % keys.length]!
        expect(Auth.find(items, wanted)?.key).toBe(wanted)
        expect(Auth.find(items, other)?.key).toBe(keys.includes(other) ? other : undefined)
      }
    )))
})
