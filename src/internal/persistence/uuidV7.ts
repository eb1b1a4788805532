/**
 * UUIDv7s (RFC 9562) made in one synchronous call from a millisecond of the `Clock` and random bytes, for a record
 * named where a step of its own would cost more than the rest of the record (the request log's row). A generator
 * orders its ids as `SecureRandom.uuidV7` does (RFC 9562 §6.2, Method 1): each sorts after the one before, a 42-bit
 * counter seeded from the random bytes each millisecond ordering those of one millisecond; when the time stalls or
 * moves back the last timestamp is kept, and when the counter overflows the timestamp advances a millisecond. The
 * last 32 bits stay random.
 */

const maxTimestamp = 2 ** 48 - 1
const maxCounter = 2 ** 42 - 1

// The hexadecimal digits' character codes.
const digits = Uint8Array.from("0123456789abcdef", (digit) => digit.charCodeAt(0))

// An id's text is written here and read out as one string: joined piece by piece with `+` it would be a rope of many
// times its own bytes. Synchronous, so one buffer serves every generator.
const written = Buffer.alloc(36, "-")

// The counter a millisecond starts from: its top bit cleared, so that at least 2^41 ids fit in the millisecond.
const seed = (bytes: Uint8Array): number =>
  (((bytes[6]! & 0x07) << 8) | bytes[7]!) * 2 ** 30 +
  (((bytes[8]! & 0x3f) << 24) | (bytes[9]! << 16) | (bytes[10]! << 8) | bytes[11]!)

const text = (bytes: Uint8Array): string => {
  let at = 0
  for (let i = 0; i < 16; i++) {
    // The hyphens, left in place, between the 4th, 6th, 8th and 10th bytes and the next.
    if (i === 4 || i === 6 || i === 8 || i === 10) at++
    written[at++] = digits[bytes[i]! >> 4]!
    written[at++] = digits[bytes[i]! & 0x0f]!
  }
  return written.toString("latin1", 0, 36)
}

/**
 * A generator of ordered UUIDv7s (lowercase, hyphenated) over `randomBytes`, which returns `size` fresh random bytes
 * (it may reuse none it returned before): each call gives the id of the millisecond `millis`.
 */
export const monotonic = (randomBytes: (size: number) => Uint8Array): (millis: number) => string => {
  let last = -1
  let counter = 0
  return (millis) => {
    const bytes = randomBytes(16)
    const timestamp = millis >= 0 ? Math.min(Math.trunc(millis), maxTimestamp) : 0
    if (timestamp > last) {
      last = timestamp
      counter = seed(bytes)
    } else if (counter < maxCounter) {
      counter++
    } else {
      last = Math.min(last + 1, maxTimestamp)
      counter = seed(bytes)
    }
    const high = Math.floor(counter / 2 ** 30)
    const low = counter - high * 2 ** 30
    bytes[0] = Math.floor(last / 2 ** 40)
    bytes[1] = Math.floor(last / 2 ** 32) & 0xff
    bytes[2] = Math.floor(last / 2 ** 24) & 0xff
    bytes[3] = Math.floor(last / 2 ** 16) & 0xff
    bytes[4] = Math.floor(last / 2 ** 8) & 0xff
    bytes[5] = last & 0xff
    bytes[6] = 0x70 | (high >>> 8)
    bytes[7] = high & 0xff
    bytes[8] = 0x80 | (low >>> 24)
    bytes[9] = (low >>> 16) & 0xff
    bytes[10] = (low >>> 8) & 0xff
    bytes[11] = low & 0xff
    return text(bytes)
  }
}
