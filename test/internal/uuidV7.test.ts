/**
 * The synchronous UUIDv7 generator (`persistence/uuidV7`) against RFC 9562's layout and a model of its order: at any
 * instants (stalled, moving back, out of range) and any random bytes, every id is a version 7, variant 10 UUID whose
 * timestamp is the latest instant given so far (clamped to 48 bits), each sorts after the one before, and its last
 * 32 bits are the random bytes'.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as UuidV7 from "../../src/internal/persistence/uuidV7.js"

const shape = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const maxTimestamp = 2 ** 48 - 1

/** The bytes of `id`, its hyphens dropped. */
const bytesOf = (id: string): Array<number> =>
  Array.from({ length: 16 }, (_, i) => Number.parseInt(id.replaceAll("-", "").slice(2 * i, 2 * i + 2), 16))

const timestampOf = (id: string): number => Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16)

describe("uuidV7", () => {
  it("at any instants and random bytes: UUIDv7s of the latest instant given, each sorting after the one before", () =>
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            millis: fc.oneof(
              fc.integer({ min: 0, max: 50 }),
              fc.double({ min: -1e15, max: 1e15, noNaN: true }),
              fc.constantFrom(-1, 0, maxTimestamp - 1, maxTimestamp, maxTimestamp + 1, Number.MAX_SAFE_INTEGER)
            ),
            random: fc.uint8Array({ minLength: 16, maxLength: 16 })
          }),
          { minLength: 1, maxLength: 60 }
        ),
        (calls) => {
          let drawn = 0
          const next = UuidV7.monotonic((size) => {
            expect(size).toBe(16)
            return Uint8Array.from(calls[drawn++]!.random)
          })
          let latest = -1
          let previous = ""
          for (const { millis, random } of calls) {
            const id = next(millis)
            latest = Math.max(latest, millis >= 0 ? Math.min(Math.trunc(millis), maxTimestamp) : 0)
            expect(id).toMatch(shape)
            expect(timestampOf(id)).toBe(latest)
            expect(bytesOf(id).slice(12)).toEqual([...random.slice(12)])
            expect(id > previous).toBe(true)
            previous = id
          }
        }
      )
    ))

  it("ids of one millisecond count up from a seed with its top bit clear, whatever the random bytes", () =>
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 2, max: 50 }), (seed, count) => {
        const next = UuidV7.monotonic(() => Uint8Array.from(seed))
        const counters = Array.from({ length: count }, () => {
          const bytes = bytesOf(next(1_000))
          return ((bytes[6]! & 0x0f) * 256 + bytes[7]!) * 2 ** 30 +
            (bytes[8]! & 0x3f) * 2 ** 24 + bytes[9]! * 2 ** 16 + bytes[10]! * 2 ** 8 + bytes[11]!
        })
        expect(counters[0]!).toBeLessThan(2 ** 41)
        expect(counters).toEqual(counters.map((_, i) => counters[0]! + i))
      })
    ))
})
