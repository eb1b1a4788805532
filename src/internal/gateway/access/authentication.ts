/**
 * The authentication contract every route reads: which paths need no gateway key and which are the admin's, the
 * credential a request presents (a gateway key, or an issuer's access token by its JWT shape), the `Auth` that turns
 * it into a `Caller` (`caller.ts`) and admits its calls, and what settles an admitted call's cost. `keys/auth.ts` makes
 * the `Auth` of a configuration; callers by token (`identity/callers.ts`) are one `TokenCallers`.
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Budget from "../../../Budget.js"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Input as EmbeddingRequest } from "../../../Embedding.js"
import type { KeyInfo } from "../../../Gateway.js"
import type * as RateLimiter from "../../../RateLimiter.js"
import type { StoreUnavailableError } from "../../../Store.js"
import type { Target } from "../engine.js"
import type * as Errors from "../errorAnswer.js"
import type { Caller } from "./caller.js"

// `/dashboard` is a page without data: a browser opening it sends no key; the data it polls is an admin path.
const keyless: ReadonlySet<string> = new Set(["/health", "/ready", "/dashboard", "/metrics", "/dashboard/data"])

/** The prefix of `model-load`'s paths, an admin path as `/metrics` and `/dashboard/data` are. */
export const adminPrefix = "/llm/model-load/"

/** The prefix of the admin API's paths (`/admin/reload`, `/admin/spend`, `/admin/requests`, keys and teams). */
export const adminApiPrefix = "/admin/"

/**
 * The paths served without a gateway key: `/health`, `/ready`, the dashboard's page, and the admin paths, whose routes
 * ask for an admin key or a signed-on person instead (`identity/principal.ts`). Matched as `intake.ts` normalised them.
 */
export const open = {
  has: (path: string): boolean => keyless.has(path) || path.startsWith(adminPrefix) || path.startsWith(adminApiPrefix)
}

// The paths among the keyless ones whose answers are an admin key's.
const adminKeyless: ReadonlySet<string> = new Set(["/metrics", "/dashboard/data"])

/** Whether `path` (or a route pattern) is an admin path: the admin API, `model-load`, `/metrics`, dashboard data. */
export const isAdminPath = (path: string): boolean =>
  adminKeyless.has(path) || path.startsWith(adminPrefix) || path.startsWith(adminApiPrefix)

/** Charges an admitted call's cost to its key's budget (`undefined`: its reservation). */
export type Settle = (cost: number | undefined) => Effect.Effect<void>

/** A chat's reply bound lowered to what its budget had left: the bound it asked for, the one sent, the dollars left. */
export interface Lowered {
  readonly asked: number
  readonly sent: number
  readonly left: number
}

/** A call admitted: what settles its cost, the request as it is sent, and its reply bound lowered, if it was. */
export interface Admitted<Q extends Request | undefined> {
  readonly settle: Settle
  readonly request: Q
  readonly lowered: Lowered | undefined
}

/** A gateway key's budget as it stands: the key's name (and team), and its limit's state. */
export interface KeyBudget {
  readonly key: string
  readonly team: string | undefined
  readonly status: Budget.LimitStatus
}

export interface Auth {
  /** Whether requests need a key: the configuration and keys ever made say, never those alive (`keys/policy.ts`). */
  readonly required: boolean
  readonly keys: ReadonlyArray<KeyInfo>
  /** Every key's budget by key name, those of keys this configuration no longer has included (`KeyLimits`). */
  readonly budgets: ReadonlyMap<string, KeptBudget>
  readonly isAdmin: (key: Redacted.Redacted<string>) => boolean
  /** The name of the admin key `key` is, when it is one. */
  readonly adminNamed: (key: Redacted.Redacted<string>) => string | undefined
  /**
   * The caller a request's headers name (a gateway key, or an access token of `token_callers`:
   * `identity/callers.ts`), or the answer to give (401; 403 for a token's team that does not exist).
   */
  readonly authenticate: (
    headers: Readonly<Record<string, string | undefined>>
  ) => Effect.Effect<Caller, Errors.ErrorAnswer>
  /** Whether `caller` may call `model`; with no caller (no keys), every model. */
  readonly allows: (caller: Caller | undefined, model: string) => boolean
  /** The request as it is sent for `caller`: a budgeted key's chat without `maxTokens` gets its `defaultMaxTokens`. */
  readonly bounded: <Q extends Request | undefined>(caller: Caller | undefined, request: Q) => Q
  /**
   * Takes `requests` (default one) from `caller`'s rate limit (none without a caller or a limit), or the 429 to give
   * (400 for more than its capacity: a batch's lines, which it could never take).
   */
  readonly limit: (caller: Caller | undefined, requests?: number) => Effect.Effect<void, Errors.ErrorAnswer>
  /**
   * One request of the rate limit of the caller of the id `owner` (`Caller.id`; none for a caller gone or without a
   * limit), waited for: a line of a batch the gateway runs as calls, paced by its maker's rate limit.
   */
  readonly turn: (
    owner: string
  ) => Effect.Effect<
    void,
    StoreUnavailableError | RateLimiter.RateLimiterCostError | RateLimiter.RateLimiterExceededError
  >
  /**
   * Checks the caller's rate limit, models and budget for a call of `model`: its worst case reserved until the
   * request's scope closes, a chat's reply bound lowered to the budget left when its own does not fit (`keys/fit.ts`).
   */
  readonly admit: <Q extends Request | undefined>(
    caller: Caller | undefined,
    model: string,
    target: Pick<Target, "price" | "leastMaxTokens" | "sharedCount" | "llm" | "address">,
    request: Q
  ) => Effect.Effect<Admitted<Q>, Errors.ErrorAnswer, Scope.Scope>
  /**
   * Checks the caller's models and budget for a batch whose lines can cost `estimate` US dollars at most: held on its
   * budget (and its team's), whichever instance later settles it, until settled (`settleBatch`) or `hold.until` lapses
   * (`Budget.Hold`); refused (429) before the batch is sent when it does not fit.
   */
  readonly admitBatch: (
    caller: Caller | undefined,
    model: string,
    estimate: number,
    hold: { readonly id: string; readonly until: number }
  ) => Effect.Effect<Budget.Hold | undefined, Errors.ErrorAnswer>
  /**
   * Replaces a batch's `hold` on `caller`'s budget (none without one) with `cost` US dollars, counted in the window
   * that holds now: once per hold, whichever instance asks and however often (`Budget.settleHold`).
   */
  readonly settleBatch: (
    caller: Caller | undefined,
    hold: Budget.Hold,
    cost: number
  ) => Effect.Effect<void, StoreUnavailableError>
  /** The caller of the id `Caller.id`: a key of the configuration or one made at run time, while it is live. */
  readonly callerOf: (id: string) => Caller | undefined
  /**
   * Takes one call from `caller`'s rate limit and reserves `price` US dollars of its budget for a priced MCP tool call
   * (`tool`), as `admit` does, until the request's scope closes.
   */
  readonly reserve: (
    caller: Caller | undefined,
    tool: string,
    price: number
  ) => Effect.Effect<Settle, Errors.ErrorAnswer, Scope.Scope>
  /** The budget of every key that has one, of this configuration or made at run time, as it stands. */
  readonly budgetStatus: Effect.Effect<ReadonlyArray<KeyBudget>>
}

/** A key's budget, and the settings it was made with (to tell whether a reload changed them). */
export interface KeptBudget {
  readonly settings: string
  readonly budget: Budget.Service
}

/** A request to the engine: a chat's, or embeddings'. */
export type Request = ChatRequest | EmbeddingRequest

/** The callers of the configured issuers' tokens. */
export interface TokenCallers {
  /** The caller a token names, or the answer refusing it (401; 403 for a team that does not exist; 503). */
  readonly caller: (token: string) => Effect.Effect<Caller, Errors.ErrorAnswer>
}

const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** Whether a presented credential has a JWT's shape (three base64url parts), not a key's. */
export const isJwtShaped = (credential: string): boolean => jwtShape.test(credential)

const bearer = /^bearer\s+/i

/** The key a request presents: `Authorization: Bearer <key>`, else `x-api-key`, else `x-goog-api-key`. */
export const presented = (headers: Readonly<Record<string, string | undefined>>): string | undefined => {
  const authorization = headers["authorization"]
  if (authorization !== undefined && bearer.test(authorization)) return authorization.replace(bearer, "").trim()
  const apiKey = headers["x-api-key"] ?? headers["x-goog-api-key"]
  return apiKey === undefined || apiKey === "" ? undefined : apiKey.trim()
}

/** A request's headers with its URL's `?key=` (as Google's clients may send it) as `x-goog-api-key`, if it has none. */
export const withQueryKey = (
  headers: Readonly<Record<string, string | undefined>>,
  url: string
): Readonly<Record<string, string | undefined>> => {
  const query = url.indexOf("?")
  if (query < 0 || presented(headers) !== undefined) return headers
  const key = new URLSearchParams(url.slice(query + 1)).get("key")
  return key === null || key === "" ? headers : { ...headers, "x-goog-api-key": key }
}
