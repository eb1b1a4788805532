/**
 * The organisation a simulator stands for on the Responses API. OpenAI's encrypted content (a `reasoning` item's
 * `encrypted_content` asked for with `include: ["reasoning.encrypted_content"]`, a `compaction` item's) can be read
 * back only by the organisation that made it: replayed to another, it is refused 400 `invalid_encrypted_content` ("The
 * encrypted content gAAA...DQ== could not be verified."). The simulator's stand-in is its text sealed with an HMAC
 * under the organisation's secret, so content made by one simulator is refused by another as OpenAI refuses it, and a
 * gateway that replays it to the wrong deployment fails its test as it would fail in production.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import type { ApiError } from "../../../simulator/WireFormat.js"
import { isJsonObject } from "../../json.js"
import { invalid } from "../requestChecks.js"

/** An organisation's encrypted content: made by `seal`, checked in a request's input items by `refusal`. */
export interface Organization {
  /** `text` as the organisation's encrypted content: opaque, in the `gAAAAB` form OpenAI's takes. */
  readonly seal: (text: string) => string
  /** The text the organisation sealed in `encrypted`; undefined when it did not make it. */
  readonly open: (encrypted: unknown) => string | undefined
  /** The refusal of the first input item whose encrypted content the organisation did not make, if any. */
  readonly refusal: (input: unknown) => ApiError | undefined
}

// The Fernet token prefix OpenAI's encrypted content starts with; the simulator's keeps it.
const prefix = "gAAAAB"

// Between the sealed text and its MAC; never in the MAC (base64url).
const separator = "\u0000"

/** The organisation of `secret`: two simulators with the same secret read each other's content. */
export function organization(secret: string | Uint8Array): Organization {
  const mac = (text: string) => createHmac("sha256", secret).update(text).digest("base64url")
  function seal(text: string): string {
    return prefix + Buffer.from(`${text}${separator}${mac(text)}`).toString("base64")
  }
  function open(encrypted: unknown): string | undefined {
    if (typeof encrypted !== "string" || !encrypted.startsWith(prefix)) return undefined
    const plain = Buffer.from(encrypted.slice(prefix.length), "base64").toString("utf8")
    const at = plain.lastIndexOf(separator)
    if (at < 0) return undefined
    const given = Buffer.from(plain.slice(at + 1))
    const expected = Buffer.from(mac(plain.slice(0, at)))
    return given.length === expected.length && timingSafeEqual(given, expected) ? plain.slice(0, at) : undefined
  }
  function refusal(input: unknown): ApiError | undefined {
    if (!Array.isArray(input)) return undefined
    for (const item of input) {
      if (!isJsonObject(item)) continue
      const encrypted = item["encrypted_content"]
      if (typeof encrypted !== "string" || open(encrypted) !== undefined) continue
      return unverified(encrypted, item["type"] === "reasoning" ? undefined : item["id"])
    }
    return undefined
  }
  return { seal, open, refusal }
}

/** An organisation of its own: what each simulator started stands for. */
export function freshOrganization(): Organization {
  return organization(randomBytes(32))
}

// Its first and last four characters, as OpenAI's message names the content it could not verify.
function shortened(text: string): string {
  return text.length <= 8 ? text : `${text.slice(0, 4)}...${text.slice(-4)}`
}

// OpenAI's refusal of encrypted content another organisation made (or nobody did); a compaction item is named by id.
function unverified(encrypted: string, id: unknown): ApiError {
  const what = typeof id === "string" ? `for item ${shortened(id)}` : shortened(encrypted)
  return invalid(
    `The encrypted content ${what} could not be verified. Reason: Encrypted content could not be decrypted or parsed.`,
    undefined,
    "invalid_encrypted_content"
  )
}
