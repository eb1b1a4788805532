/**
 * Who a gateway call is from: the authenticated `Caller` (a key of provider.json, a key made at run time, or a caller
 * by token), its ids and ledger scopes, and the key digest every lookup is by. It sits below `keys/auth.ts`,
 * `keys/runtime.ts` and `identity/callers.ts`, which all build callers, so none of them imports another for it.
 */
import { hash } from "node:crypto"
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

/**
 * A key's SHA-256 digest, in hex: what a key is kept and looked up by. A lookup by it (a `Map`'s) takes a time that
 * depends on the digest of what was presented and on no key's text, so it tells nothing of how close a guess came (a
 * guess one character off has an unrelated digest), and not on how many keys there are.
 */
export const digest = (key: string): string => hash("sha256", key, "hex")

/** An authenticated gateway key: its name, digest and limits. */
export interface Caller {
  /**
   * What the key owns its stored responses, session pins, spend and request-log rows by: a key made at run time's id
   * (`key_…`), never reused; `config:<name>` for a key of provider.json, whose name is its identity there.
   */
  readonly id: string
  readonly name: string
  /**
   * The digest of the key it was asked with (a replaced key's, within its rotation's grace: `keys/runtime.ts`);
   * undefined for a caller by token.
   */
  readonly digest: string | undefined
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
