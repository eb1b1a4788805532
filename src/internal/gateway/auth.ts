/**
 * Gateway keys: who may call the gateway and what each caller may do. A key
 * is kept only as its SHA-256 digest; a presented key (`Authorization: Bearer
 * <key>`, as OpenAI's clients send it, or `x-api-key`, as Anthropic's do) is
 * hashed and compared with every digest by `crypto.timingSafeEqual`, all of
 * them whatever matches, so neither the answer's time nor its content tells
 * how close a guess came. Each key may be limited to some model names, have
 * its own token bucket (`RateLimiter`) and a spend limit (`Budget`); a request
 * past one is refused before anything is sent. Admin keys are kept the same
 * way, for the admin endpoints.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { createHash, timingSafeEqual } from "node:crypto"
import * as Budget from "../../Budget.js"
import type { AdminKey, Key, KeyInfo } from "../../Gateway.js"
import type { OptionsError } from "../../OptionsError.js"
import * as RateLimiter from "../../RateLimiter.js"
import * as OptionsErrors from "../optionsError.js"
import * as Errors from "./errors.js"

// `/dashboard` is a page without data: a browser opening it sends no key; the data it polls is an admin path.
const keyless: ReadonlySet<string> = new Set(["/health", "/ready", "/dashboard", "/metrics", "/dashboard/data"])

/** The prefix of `model-load`'s paths, an admin path as `/metrics` and `/dashboard/data` are. */
export const adminPrefix = "/llm/model-load/"

/**
 * The paths served without a gateway key: `/health`, `/ready`, the dashboard's page, and the admin paths, whose
 * routes ask for an admin key instead (`adminRefusal`).
 */
export const open = { has: (path: string): boolean => keyless.has(path) || path.startsWith(adminPrefix) }

/** A key's SHA-256 digest. */
export const digest = (key: string): Buffer => createHash("sha256").update(key, "utf8").digest()

/** Whether two digests are equal, in a time that does not depend on where they differ. */
export const sameDigest = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b)

/** The digest among `digests` equal to that of `presented`: every one compared, whichever matches. */
export const find = <A extends { readonly digest: Uint8Array }>(items: ReadonlyArray<A>, presented: string): A | undefined => {
  const wanted = digest(presented)
  let found: A | undefined
  for (const item of items) if (sameDigest(item.digest, wanted)) found = item
  return found
}

/** An authenticated gateway key: its name, digest and limits. */
export interface Caller {
  readonly name: string
  readonly digest: Buffer
  /** The names it may call; `undefined`: every name. */
  readonly models: ReadonlySet<string> | undefined
  readonly limiter: RateLimiter.Service | undefined
  readonly budget: Budget.Service | undefined
}

/** Charges an admitted call's cost to its key's budget. */
export type Settle = (cost: number | undefined) => Effect.Effect<void>

const settled: Settle = () => Effect.void
const admittedFree: Effect.Effect<Settle> = Effect.succeed(settled)

export interface Auth {
  /** Whether requests need a key: some gateway key is configured. */
  readonly required: boolean
  readonly keys: ReadonlyArray<KeyInfo>
  readonly isAdmin: (key: Redacted.Redacted<string>) => boolean
  /** The caller a request's headers name, or the 401 answer to give. */
  readonly authenticate: (headers: Readonly<Record<string, string | undefined>>) => Caller | Errors.ErrorAnswer
  /** Whether `caller` may call `model`; with no caller (no keys), every model. */
  readonly allows: (caller: Caller | undefined, model: string) => boolean
  /** Checks the caller's models, rate limit and budget for a call of `model`; what settles its cost. */
  readonly admit: (caller: Caller | undefined, model: string) => Effect.Effect<Settle, Errors.ErrorAnswer>
}

export const missing = Errors.answer(
  401,
  "You didn't provide an API key. Send a gateway key as `Authorization: Bearer YOUR_KEY` (or `x-api-key: YOUR_KEY`).",
  "invalid_request_error",
  null,
  "invalid_api_key"
)

const wrong = Errors.answer(
  401,
  "Incorrect API key provided. Use one of this gateway's keys (not a provider's key).",
  "invalid_request_error",
  null,
  "invalid_api_key"
)

const forbidden = (model: string) =>
  Errors.answer(
    403,
    `This key may not use the model \`${model}\` (GET /v1/models lists the models it may use).`,
    "invalid_request_error",
    "model",
    "model_not_allowed"
  )

// An admin path with a key that is not an admin key.
const adminRequired = Errors.answer(
  403,
  "This is an admin endpoint: it takes an admin key (provider.json's `gateway.admin_keys`), as `Authorization: Bearer <key>`.",
  "invalid_request_error",
  null,
  "admin_key_required"
)

const adminMissing = Errors.answer(
  401,
  "You didn't provide an API key. This is an admin endpoint: send an admin key as `Authorization: Bearer YOUR_ADMIN_KEY`.",
  "invalid_request_error",
  null,
  "invalid_api_key"
)

const noAdminKeys = Errors.answer(
  403,
  "This is an admin endpoint and this gateway has keys but no admin key: add `admin_keys` to provider.json's `gateway` " +
    "section (or `Gateway.Options.adminKeys`) and send one as `Authorization: Bearer <key>`.",
  "invalid_request_error",
  null,
  "admin_key_required"
)

/**
 * The answer refusing an admin path to a request's `headers`, or `undefined` when they may have it: a gateway without
 * any key (served on loopback only) opens it to every caller; otherwise it takes an admin key.
 */
export const adminRefusal = (auth: Auth, headers: Readonly<Record<string, string | undefined>>): Errors.ErrorAnswer | undefined => {
  const admins = auth.keys.some((key) => key.admin)
  if (!admins) return auth.required ? noAdminKeys : undefined
  const key = presented(headers)
  if (key === undefined) return adminMissing
  return auth.isAdmin(Redacted.make(key)) ? undefined : adminRequired
}

// Whole seconds, at least one, as `Retry-After` takes them.
const seconds = (millis: number): number => Math.max(1, Math.ceil(millis / 1000))

const bearer = /^bearer\s+/i

/** The key a request presents: `Authorization: Bearer <key>`, else `x-api-key`. */
export const presented = (headers: Readonly<Record<string, string | undefined>>): string | undefined => {
  const authorization = headers["authorization"]
  if (authorization !== undefined && bearer.test(authorization)) return authorization.replace(bearer, "").trim()
  const apiKey = headers["x-api-key"]
  return apiKey === undefined || apiKey === "" ? undefined : apiKey.trim()
}

const info = (name: string, hash: Buffer, admin: boolean, models: ReadonlyArray<string> | undefined): KeyInfo => ({
  name,
  sha256: hash.toString("hex"),
  admin,
  models
})

/**
 * The keys checked (names given and unique, no key listed twice, every model
 * name one of `known`) and hashed, each with its limiter and budget.
 */
export const make = (
  keys: ReadonlyArray<Key>,
  adminKeys: ReadonlyArray<AdminKey>,
  known: (model: string) => boolean
): Effect.Effect<Auth, OptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const callers: Array<Caller> = []
    const admins: Array<{ readonly name: string; readonly digest: Buffer }> = []
    const infos: Array<KeyInfo> = []
    const names = new Set<string>()
    const digests = new Set<string>()
    const add = (field: string, name: string, key: Redacted.Redacted<string>): Buffer | OptionsError => {
      if (name === "" || names.has(`${field}:${name}`)) {
        return OptionsErrors.make("Gateway", `${field}.name`, name, "a name of its own (names are unique)")
      }
      names.add(`${field}:${name}`)
      const hash = digest(Redacted.value(key))
      if (Redacted.value(key) === "" || digests.has(hash.toString("hex"))) {
        return OptionsErrors.make("Gateway", `${field}.key`, key, "a non-empty key of its own (a key is listed once)")
      }
      digests.add(hash.toString("hex"))
      return hash
    }
    for (const [index, key] of keys.entries()) {
      const field = `keys[${index}]`
      const hash = add(field, key.name, key.key)
      if (!Buffer.isBuffer(hash)) return yield* hash
      for (const [m, model] of (key.models ?? []).entries()) {
        if (!known(model)) {
          return yield* OptionsErrors.make(
            "Gateway",
            `${field}.models[${m}]`,
            model,
            "a router, deployment, model or group of the configuration (GET /v1/models lists them)"
          )
        }
      }
      const limiter = key.rateLimit === undefined ? undefined : yield* RateLimiter.make(key.rateLimit)
      const budget = key.budget === undefined
        ? undefined
        : yield* Budget.make({ limits: [{ scope: Budget.overall, limit: key.budget.limit, period: key.budget.period }] })
      callers.push({
        name: key.name,
        digest: hash,
        models: key.models === undefined ? undefined : new Set(key.models),
        limiter,
        budget
      })
      infos.push(info(key.name, hash, false, key.models))
    }
    for (const [index, key] of adminKeys.entries()) {
      const hash = add(`adminKeys[${index}]`, key.name, key.key)
      if (!Buffer.isBuffer(hash)) return yield* hash
      admins.push({ name: key.name, digest: hash })
      infos.push(info(key.name, hash, true, undefined))
    }

    const authenticate = (headers: Readonly<Record<string, string | undefined>>): Caller | Errors.ErrorAnswer => {
      const key = presented(headers)
      if (key === undefined) return missing
      return find(callers, key) ?? wrong
    }

    const allows = (caller: Caller | undefined, model: string) =>
      caller?.models === undefined || caller.models.has(model)

    const limited = (limiter: RateLimiter.Service) =>
      Effect.scoped(limiter.consume({ onExceeded: "fail" })).pipe(
        Effect.mapError((error) =>
          Errors.answer(
            429,
            "This gateway key's rate limit is reached. Retry after the time in the Retry-After header.",
            "requests",
            null,
            "rate_limit_exceeded",
            error._tag === "RateLimiterExceededError" && error.retryAfter !== undefined
              ? seconds(Duration.toMillis(error.retryAfter))
              : 1
          )
        )
      )

    const spend = (budget: Budget.Service, model: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        budget.check({ estimate: 0, provider: "gateway", model }).pipe(
          Effect.map((reservation): Settle => (cost) => budget.charge(reservation, cost ?? 0)),
          Effect.mapError((error) =>
            Errors.answer(
              429,
              error._tag === "BudgetExceededError"
                ? `This gateway key's budget is spent ($${error.spent} of $${error.limit}); it renews when its period ends.`
                : error.message,
              "insufficient_quota",
              null,
              "insufficient_quota",
              error._tag === "BudgetExceededError" && error.periodEnd !== undefined ? seconds(error.periodEnd - now) : undefined
            )
          )
        ))

    const admit = (caller: Caller | undefined, model: string): Effect.Effect<Settle, Errors.ErrorAnswer> => {
      if (caller === undefined) return admittedFree
      if (!allows(caller, model)) return Effect.fail(forbidden(model))
      const budgeted = caller.budget === undefined ? admittedFree : spend(caller.budget, model)
      return caller.limiter === undefined ? budgeted : Effect.andThen(limited(caller.limiter), budgeted)
    }

    return {
      required: callers.length > 0,
      keys: infos,
      isAdmin: (key) => find(admins, Redacted.value(key)) !== undefined,
      authenticate,
      allows,
      admit
    }
  })
