/**
 * Who a gateway call is from: the authenticated `Caller` (a key of provider.json, a key made at run time, or a caller
 * by token), its ids and ledger scopes, and the key digests every lookup compares. It sits below `keys/auth.ts`,
 * `keys/runtime.ts` and `identity/callers.ts`, which all build callers, so none of them imports another for it.
 */
import { hash, timingSafeEqual } from "node:crypto"
import type * as Budget from "../../../Budget.js"
import type * as RateLimiter from "../../../RateLimiter.js"
import type { Target } from "../engine.js"
import type * as Tools from "./tools.js"

/** What the checks of a caller's models read of the engine: which names it serves, and their prices. */
export interface Served {
  readonly resolve: (model: string) => Pick<Target, "price"> | undefined
  readonly models: ReadonlyArray<{ readonly id: string }>
}

/** The first name of `models` (every name `engine` serves, when undefined) that has no price, if one has none. */
export const unpricedOf = (engine: Served, models: ReadonlyArray<string> | undefined): string | undefined =>
  (models ?? engine.models.map((model) => model.id)).find((model) => engine.resolve(model)?.price === undefined)

/** A key's SHA-256 digest. */
export const digest = (key: string): Buffer => hash("sha256", key, "buffer")

/** Whether two digests are equal, in a time that does not depend on where they differ. */
export const sameDigest = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b)

/** The digest among `digests` equal to that of `presented`: every one compared, whichever matches. */
export const find = <A extends { readonly digest: Uint8Array }>(
  items: ReadonlyArray<A>,
  presented: string | Buffer
): A | undefined => {
  const wanted = typeof presented === "string" ? digest(presented) : presented
  let found: A | undefined
  for (const item of items) if (sameDigest(item.digest, wanted)) found = item
  return found
}

/** An authenticated gateway key: its name, digest and limits. */
export interface Caller {
  /**
   * What the key owns its stored responses, session pins, spend and request-log rows by: a key made at run time's id
   * (`key_…`), never reused; `config:<name>` for a key of provider.json, whose name is its identity there.
   */
  readonly id: string
  readonly name: string
  readonly digest: Buffer
  /** The team id of a key made at run time; undefined for keys of provider.json. */
  readonly team: string | undefined
  /** The names it may call; `undefined`: every name. */
  readonly models: ReadonlySet<string> | undefined
  /** The MCP tools it may list and call (its own `tools` and its team's both; none by default: `tools.ts`). */
  readonly tools: Tools.Rule
  /** The names of the guardrails its calls run besides their target's: its own and its team's (`guardrails.ts`). */
  readonly guardrails: ReadonlyArray<string> | undefined
  readonly limiter: RateLimiter.Service | undefined
  readonly budget: Budget.Service | undefined
  /** With a spend limit: the `maxTokens` a request without one is sent (and reserved) with. */
  readonly defaultMaxTokens: number | undefined
}

/** What the ids of provider.json's keys begin with. */
export const configKeyPrefix = "config:"

/** What the ids of callers by token (`identity/callers.ts`) begin with: `person:<issuer>#<sub>`. */
export const personPrefix = "person:"

/** The id of provider.json's key `name`, as the admin API lists it. */
export const configKeyId = (name: string): string => `${configKeyPrefix}${name}`

/** The ledger scope of a provider.json key's budget, when the gateway has a database. */
export const configKeyScope = (name: string): string => `config-key:${name}`
