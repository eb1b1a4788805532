/**
 * Gateway keys: who may call the gateway and what each caller may do. A key is kept only as its SHA-256 digest; a
 * presented key (`Authorization: Bearer`, as OpenAI's clients send it; `x-api-key`, as Anthropic's; `x-goog-api-key` or
 * `?key=`, as Google's) is looked up by its digest, so neither the answer's time nor its content tells how close a
 * guess came, and a request costs the same among a hundred thousand keys as among one (`access/caller.ts`' `digest`);
 * one shaped as a JWT is an issuer's access token when callers by token are configured (`identity/callers.ts`). A key's
 * model names, token bucket and budget refuse a request before anything is sent; they live in the stores
 * `keys/limits.ts` chose, named by the key, so a reload keeps them. With a database, keys made at run time
 * (`keys/runtime.ts`) are found beside the configuration's. A budgeted call reserves its worst case at the highest
 * price its model can reach for the request's scope, and is charged its real cost, at most the reservation
 * (docs/cost.md). Admin keys are kept the same way.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import type * as Budget from "../../../Budget.js"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { AdminKey, Key, KeyInfo } from "../../../Gateway.js"
import type { BudgetExceededError, NoCapacityError } from "../../../LlmError.js"
import type { OptionsError } from "../../../OptionsError.js"
import * as Pricing from "../../../Pricing.js"
import type * as RateLimiter from "../../../RateLimiter.js"
import * as OptionsErrors from "../../optionsError.js"
import { mostEmbeddingTokens } from "../../promptSize.js"
import {
  type Admitted,
  type Auth,
  isJwtShaped,
  type KeptBudget,
  type KeyBudget,
  presented,
  type Request,
  type Settle,
  type TokenCallers
} from "../access/authentication.js"
import {
  type Caller,
  configKeyId,
  configKeyPrefix,
  digest,
  personPrefix,
  type Served as CallerServed,
  unpricedOf
} from "../access/caller.js"
import * as Allow from "../access/tools.js"
import type { ModelEntry, Target } from "../engine.js"
import * as Errors from "../errorAnswer.js"
import * as Fit from "./fit.js"
import type * as KeyLimits from "./limits.js"
import type { RuntimeKeys } from "./runtime.js"

/** The reply tokens of a budgeted request without `maxTokens`, unless the key's budget says otherwise. */
const defaultMaxTokens = 4096

/** How many times a chat's reply bound is fitted again when other calls took what was left meanwhile. */
const fitRounds = 4

const settled: Settle = () => Effect.void
const admittedFree: Effect.Effect<Settle> = Effect.succeed(settled)

const dollars = (amount: number): string => `$${Number(amount.toPrecision(6))}`

/** The answer to a call whose budget is in the database's ledger while the database is away. */
const ledgerUnavailable = (): Errors.ErrorAnswer => Errors.databaseUnavailable("the budget ledger could not be read")

/** The least a refused chat could cost: its prompt with the least reply its API takes. */
interface Smallest {
  readonly cost: number
  readonly reply: number
}

/**
 * A budget's refusal: 429 `insufficient_quota` until its period ends, or 503 `unavailable` when its store is away; a
 * chat refused at its least reply (`smallest`) says what that would cost.
 */
const overBudget = (
  error: BudgetExceededError | NoCapacityError,
  now: number,
  unavailable: (message: string) => Errors.ErrorAnswer,
  why: string,
  smallest?: Smallest
): Errors.ErrorAnswer => {
  if (error._tag === "NoCapacityError") return unavailable(error.message)
  const spent = error.spent >= error.limit
  const whose = error.scope.startsWith("team:")
    ? "This caller's team's budget"
    : error.scope.startsWith(personPrefix)
    ? "This person's own budget"
    : "This gateway key's budget"
  const left = `${whose} has ${dollars(error.limit - error.spent)} of ${dollars(error.limit)} left`
  return Errors.answer(
    429,
    spent
      ? `${whose} is spent (${dollars(error.spent)} of ${dollars(error.limit)}); it renews when its period ends.`
      : smallest !== undefined
      ? `${left}, and the smallest call of this request may cost up to ${dollars(smallest.cost)} (its prompt at its ` +
        `model's highest price, and a reply of ${smallest.reply} token${smallest.reply === 1 ? "" : "s"}): send a ` +
        "shorter prompt, or retry when calls in flight end or the period renews."
      : `${left}, and this call may cost up to ${dollars(error.estimate ?? 0)} ${why} retry when calls in flight ` +
        "end or the period renews.",
    "insufficient_quota",
    null,
    "insufficient_quota",
    error.periodEnd !== undefined ? Errors.seconds(error.periodEnd - now) : undefined
  )
}

// Why a model call may cost what it reserves, and how to make it cost less.
const modelWorstCase = "(its prompt with its media and max_tokens, and its hosted tools' calls with a context window " +
  "of results each, or its inputs to embed, at its model's highest price): ask for fewer max_tokens or " +
  "max_tool_calls (or embed fewer inputs), or"

// Why a batch may cost what it reserves, and how to make it cost less.
const batchWorstCase = "(every line's prompt and max_tokens at its model's batch price, or at its live price where " +
  "the gateway runs the batch as calls): ask for fewer max_tokens or send fewer lines, or"

const isChat = (request: Request): request is ChatRequest => "messages" in request

/**
 * Charges a call's `cost` for its `reservation`: when the reservation is its worst case (`bound`), a call reported past
 * it (a provider billing past a bound it was sent) is charged the reservation, so a budget never passes the limit it
 * fitted; the request log keeps the provider's figure (docs/cost.md). A chat sent without a reply bound (a caller whose
 * spend is only counted, which gives none) reserved its prompt alone, and is charged its cost.
 */
const charged = (
  budget: Budget.Service,
  model: string,
  reservation: Budget.Reservation,
  bound: boolean,
  cost: number | undefined
): Effect.Effect<void> => {
  const reserved = reservation.estimate
  if (cost === undefined || cost <= reserved || !bound) return budget.charge(reservation, cost)
  return Effect.andThen(
    Effect.logWarning("a call was reported past its reservation: its budget is charged the reservation").pipe(
      Effect.annotateLogs({ model, cost, reserved })
    ),
    budget.charge(reservation, reserved)
  )
}

/**
 * A call's worst case through `target`, at its highest price: a chat's prompt estimate and `maxTokens` raised to
 * `Target.leastMaxTokens`, or embeddings' inputs counted at most (one token per UTF-8 byte).
 */
export const worstCase = (target: Pick<Target, "price" | "leastMaxTokens">, request: Request | undefined): number => {
  if (request === undefined || target.price === undefined) return 0
  if (isChat(request)) return Fit.worstCaseAt(target, request, request.maxTokens, undefined)
  const inputs = { promptTokens: mostEmbeddingTokens(request), completionTokens: 0, cachedPromptTokens: 0 }
  return Pricing.cost(target.price, inputs)!
}

/**
 * The refusal of a budgeted chat to a model of no context window whose worst case has no bound: a part by URL of
 * unknown size (`Pricing.unboundedPart`), or a hosted tool whose results are billed as input (`Pricing.unboundedTool`).
 */
export const unbounded = (
  target: Pick<Target, "price">,
  request: Request | undefined
): Errors.ErrorAnswer | undefined => {
  if (request === undefined || target.price === undefined || !isChat(request)) return undefined
  const tool = Pricing.unboundedTool(target.price, request)
  if (tool !== undefined) {
    return Errors.invalidRequest(
      `The hosted tool '${tool.type}' adds its results to the prompt, which its provider bills as input, and this ` +
        `model gives no context window to reserve them at, so this gateway key's budget cannot take the call. ` +
        `Give each deployment of the model its \`context_window\` in provider.json, or call without hosted tools.`,
      "tools"
    )
  }
  const part = Pricing.unboundedPart(target.price, request)
  return part === undefined ? undefined : Errors.invalidRequest(
    `${part.at} is ${part.what}: its size cannot be known before the call (its provider bills what the URL holds, ` +
      `whatever its type says), and its model gives no context window to reserve the call at (provider.json ` +
      `\`context_window\`) or refuses such parts (\`media_by_url\`), so this gateway key's budget cannot take it. ` +
      `Send it inline (a data: URL or inlineData, whose size is read).`,
    part.at
  )
}

const missing = Errors.answer(
  401,
  "You didn't provide an API key. Send a gateway key as `Authorization: Bearer YOUR_KEY` (or `x-api-key: YOUR_KEY`, " +
    "or `x-goog-api-key: YOUR_KEY`).",
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

const info = (
  name: string,
  sha256: string,
  admin: boolean,
  key: Pick<Key, "models" | "tools" | "guardrails" | "budget" | "rateLimit">
): KeyInfo => ({
  name,
  sha256,
  admin,
  models: key.models,
  tools: key.tools,
  guardrails: key.guardrails,
  ...(key.budget === undefined ? {} : { budget: key.budget }),
  ...(key.rateLimit === undefined ? {} : { rateLimit: key.rateLimit })
})

/** What the keys' checks read of what a configuration serves: its names, their prices and its guardrails' names. */
export interface Served extends CallerServed {
  readonly models: ReadonlyArray<ModelEntry>
  /** The configuration's guardrails, by name: the names a key may give. Default: none. */
  readonly guardrails?: ReadonlyMap<string, unknown> | undefined
}

/** The problems of `models` the configuration does not serve, each naming its field under `field`. */
export const unknownModels = (served: CallerServed, field: string, models: ReadonlyArray<string> | undefined) =>
  (models ?? []).map((model, m) =>
    served.resolve(model) !== undefined ? undefined : OptionsErrors.make(
      "Gateway",
      `${field}.models[${m}]`,
      model,
      "a router, deployment, model or group of the configuration (GET /v1/models lists them)"
    )
  )

/** The problem of `entry`'s budget on a model without a price, if it has one; `whose` names the entry (`"key's"`). */
export const pricelessBudget = (
  served: CallerServed,
  field: string,
  entry: Pick<Key, "budget" | "models">,
  whose: string
) => {
  const priceless = entry.budget === undefined ? undefined : unpricedOf(served, entry.models)
  return priceless === undefined ? undefined : OptionsErrors.make(
    "Gateway",
    `${field}.budget`,
    priceless,
    "on priced models only (a budget counts dollars: give every deployment of that name `pricing` in " +
      `provider.json, or limit the ${whose} \`models\` to priced ones)`
  )
}

/**
 * Every problem of the keys, each naming its field: a name or key missing or listed twice, a name a key made at run
 * time has, an unknown guardrail, model or group, a budget on a model without a price, a bad default `max_tokens`.
 */
export function problems(
  keys: ReadonlyArray<Key>,
  adminKeys: ReadonlyArray<AdminKey>,
  served: Served,
  named: (name: string) => string | undefined = () => undefined
): ReadonlyArray<OptionsError> {
  const names = new Set<string>()
  const digests = new Set<string>()
  const found: Array<OptionsError | undefined> = []
  const own = (field: string, name: string, key: Redacted.Redacted<string>) => {
    if (name === "" || names.has(`${field}:${name}`)) {
      found.push(OptionsErrors.make("Gateway", `${field}.name`, name, "a name of its own (names are unique)"))
    }
    names.add(`${field}:${name}`)
    const sha256 = digest(Redacted.value(key))
    if (Redacted.value(key) === "" || digests.has(sha256)) {
      found.push(
        OptionsErrors.make("Gateway", `${field}.key`, key, "a non-empty key of its own (a key is listed once)")
      )
    }
    digests.add(sha256)
  }
  for (const [index, key] of keys.entries()) {
    const field = `keys[${index}]`
    own(field, key.name, key.key)
    // A name is one key's: a key made at run time of this name would share the name in every answer and log line.
    const made = named(key.name)
    found.push(
      made === undefined ? undefined : OptionsErrors.make(
        "Gateway",
        `${field}.name`,
        key.name,
        `a name no key made at run time has: the key ${made} (made through the admin API) is named so; rename one ` +
          "of them"
      ),
      ...(key.guardrails ?? []).map((name, g) =>
        served.guardrails?.has(name) === true ? undefined : OptionsErrors.make(
          "Gateway",
          `${field}.guardrails[${g}]`,
          name,
          `the name of a guardrail of the configuration (known: ${
            [...served.guardrails?.keys() ?? []].join(", ") || "none"
          })`
        )
      ),
      ...unknownModels(served, field, key.models),
      pricelessBudget(served, field, key, "key's"),
      OptionsErrors.positive("Gateway", `${field}.budget.defaultMaxTokens`, key.budget?.defaultMaxTokens, {
        integer: true,
        optional: true
      })
    )
  }
  for (const [index, key] of adminKeys.entries()) own(`adminKeys[${index}]`, key.name, key.key)
  return found.filter((problem) => problem !== undefined)
}

const allows = (caller: Caller | undefined, model: string) => caller?.models === undefined || caller.models.has(model)

/** A request's `requests` taken from the caller's token bucket, or the refusal: too many for its capacity, or 429. */
const limited = (caller: Caller, limiter: RateLimiter.Service, requests = 1) =>
  Effect.scoped(limiter.consume({ cost: requests, onExceeded: "fail" })).pipe(
    Effect.mapError((error) =>
      error._tag === "StoreUnavailableError"
        ? Errors.storeUnavailable(error.message)
        : error._tag === "RateLimiterCostError"
        ? Errors.answer(
          400,
          `${requests} requests are more than this gateway key's rate limit holds (${error.capacity}, its ` +
            `rate_limit_capacity): a batch's lines are requests of it, so split them into batches of at most ` +
            `${Math.floor(error.capacity)} lines.`,
          "invalid_request_error",
          null,
          "rate_limit_capacity_exceeded"
        )
        : Errors.answer(
          429,
          `${
            caller.id.startsWith(personPrefix) ? "This person's rate limit" : "This gateway key's rate limit"
          } is reached. Retry after the time in the Retry-After header.`,
          "requests",
          null,
          "rate_limit_exceeded",
          error._tag === "RateLimiterExceededError" && error.retryAfter !== undefined
            ? Errors.seconds(Duration.toMillis(error.retryAfter))
            : 1
        )
    )
  )

const limit = (caller: Caller | undefined, requests = 1): Effect.Effect<void, Errors.ErrorAnswer> =>
  caller?.limiter === undefined || requests === 0 ? Effect.void : limited(caller, caller.limiter, requests)

// What `reserved` reserved, held for the request's scope: charged the real cost by `Settle` (at most the
// reservation when it is the call's worst case, `bound`: `charged`), else when the scope closes nothing (an error
// before any output; a stream's end settles first) or, interrupted, the reservation.
const held = <A extends { readonly reservation: Budget.Reservation }>(
  budget: Budget.Service,
  model: string,
  bound: boolean,
  reserved: Effect.Effect<A, Errors.ErrorAnswer>
) =>
  Effect.acquireRelease(
    reserved,
    ({ reservation }, exit) =>
      budget.charge(reservation, Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause) ? undefined : 0)
  ).pipe(Effect.map((admitted) => ({
    ...admitted,
    settle: ((cost) => charged(budget, model, admitted.reservation, bound, cost)) satisfies Settle
  })))

// `estimate` reserved for the request's scope, or the refusal.
const spend = (
  budget: Budget.Service,
  model: string,
  estimate: number,
  unavailable: (message: string) => Errors.ErrorAnswer,
  why: string
) =>
  Effect.map(
    held(
      budget,
      model,
      true,
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.mapError(
          Effect.map(budget.check({ estimate, provider: "gateway", model }), (reservation) => ({ reservation })),
          (error) => overBudget(error, now, unavailable, why)
        ))
    ),
    ({ settle }) => settle
  )

// A chat's worst case reserved for the request's scope, fitted to what the budget has left (`fit.ts`): as asked
// when it fits; else its prompt counted by its provider and its reply bound lowered, a few times over as other
// calls take from the budget meanwhile; refused when the least reply does not fit.
const spendFitted = (
  budget: Budget.Service,
  model: string,
  target: Fit.Fitting,
  request: ChatRequest,
  unavailable: (message: string) => Errors.ErrorAnswer
) =>
  held(
    budget,
    model,
    // Fitting keeps a bound, or gives none.
    request.maxTokens !== undefined,
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const check = (estimate: number) => Effect.result(budget.check({ estimate, provider: "gateway", model }))
      const asked = yield* check(worstCase(target, request))
      if (Result.isSuccess(asked)) return { reservation: asked.success, request, lowered: undefined }
      let refusal = asked.failure
      // Refused: not even the least reply fits, over the prompt counted as `prompt` tokens.
      const leastRefused = (refused: BudgetExceededError, prompt: number | undefined) => {
        const reply = target.leastMaxTokens
        const cost = Fit.worstCaseAt(target, request, reply, prompt)
        return Effect.fail(overBudget(refused, now, unavailable, modelWorstCase, { cost, reply }))
      }
      const maxTokens = request.maxTokens
      if (refusal._tag === "NoCapacityError" || maxTokens === undefined || refusal.spent >= refusal.limit) {
        return yield* Effect.fail(overBudget(refusal, now, unavailable, modelWorstCase))
      }
      // No count makes a prompt smaller than none: when the least reply does not fit over an empty prompt, the
      // provider is not asked for one.
      if (Fit.replyFitting(target, request, maxTokens, 0, refusal.limit - refusal.spent) === undefined) {
        return yield* leastRefused(refusal, undefined)
      }
      const promptTokens = yield* Fit.countedPrompt(target, request)
      for (let round = 0; round < fitRounds; round++) {
        const left = refusal.limit - refusal.spent
        const sent = Fit.replyFitting(target, request, maxTokens, promptTokens, left)
        if (sent === undefined) return yield* leastRefused(refusal, promptTokens)
        const fitted = yield* check(Fit.worstCaseAt(target, request, sent, promptTokens))
        if (Result.isSuccess(fitted)) {
          return {
            reservation: fitted.success,
            request: sent === maxTokens ? request : { ...request, maxTokens: sent },
            lowered: sent === maxTokens ? undefined : { asked: maxTokens, sent, left }
          }
        }
        refusal = fitted.failure
        if (refusal._tag === "NoCapacityError" || refusal.spent >= refusal.limit) break
      }
      return yield* Effect.fail(overBudget(refusal, now, unavailable, modelWorstCase))
    })
  )

const bounded = <Q extends Request | undefined>(caller: Caller | undefined, request: Q): Q =>
  request === undefined || caller?.defaultMaxTokens === undefined || !isChat(request) ||
    request.maxTokens !== undefined
    ? request
    : { ...request, maxTokens: caller.defaultMaxTokens }

// A caller gone (its key revoked) has no budget to settle: its hold lapses at its end (`Budget.Hold`).
const settleBatch = (caller: Caller | undefined, hold: Budget.Hold, cost: number) =>
  caller?.budget === undefined ? Effect.void : caller.budget.settleHold(hold, cost)

/**
 * A call of `model` admitted for `caller`: allowed the model, within its rate limit and its budget's reservation
 * (a chat's fitted, `spendFitted`), the refusal otherwise; free without a caller.
 */
const admitCall = <Q extends Request | undefined>(
  caller: Caller | undefined,
  model: string,
  target: Fit.Fitting,
  request: Q,
  unavailableFor: (caller: Caller) => (message: string) => Errors.ErrorAnswer
): Effect.Effect<Admitted<Q>, Errors.ErrorAnswer, Scope.Scope> => {
  const free: Admitted<Q> = { settle: settled, request, lowered: undefined }
  if (caller === undefined) return Effect.succeed(free)
  const refused = caller.budget === undefined ? undefined : unbounded(target, request)
  const allowed = !allows(caller, model)
    ? Effect.fail(forbidden(model))
    : refused !== undefined
    ? Effect.fail(refused)
    : Effect.void
  const budget = caller.budget
  const budgeted: Effect.Effect<Admitted<Q>, Errors.ErrorAnswer, Scope.Scope> = budget === undefined
    ? Effect.as(allowed, free)
    : Effect.andThen(
      allowed,
      request !== undefined && isChat(request)
        ? Effect.map(
          spendFitted(budget, model, target, request, unavailableFor(caller)),
          (fitted) => ({ settle: fitted.settle, request: fitted.request as Q, lowered: fitted.lowered })
        )
        : Effect.map(
          spend(budget, model, worstCase(target, request), unavailableFor(caller), modelWorstCase),
          (settle) => ({ ...free, settle })
        )
    )
  return caller.limiter === undefined ? budgeted : Effect.andThen(limited(caller, caller.limiter), budgeted)
}

/**
 * The configuration's keys hashed, each with its limiter and budget from `limits` (a budget handed on from `kept`
 * when it has one), by digest and by id, and its admin keys' names by digest; `budgets` holds `kept` with the keys'
 * own.
 */
const hashed = Effect.fnUntraced(function*(
  keys: ReadonlyArray<Key>,
  adminKeys: ReadonlyArray<AdminKey>,
  limits: KeyLimits.KeyLimits,
  kept: ReadonlyMap<string, KeptBudget>
) {
  const budgets = new Map(kept)
  const byDigest = new Map<string, Caller>()
  const byId = new Map<string, Caller>()
  const admins = new Map<string, string>()
  const infos: Array<KeyInfo> = []
  for (const key of keys) {
    const sha256 = digest(Redacted.value(key.key))
    const limiter = key.rateLimit === undefined ? undefined : yield* limits.limiter(key.name, key.rateLimit)
    let budget: Budget.Service | undefined
    if (key.budget !== undefined) {
      const held = yield* limits.budget(kept, key.name, key.budget)
      budgets.set(key.name, held)
      budget = held.budget
    }
    const caller: Caller = {
      id: configKeyId(key.name),
      name: key.name,
      digest: sha256,
      team: undefined,
      models: key.models === undefined ? undefined : new Set(key.models),
      tools: Allow.rule(key.tools),
      guardrails: key.guardrails,
      limiter,
      budget,
      defaultMaxTokens: key.budget === undefined ? undefined : key.budget.defaultMaxTokens ?? defaultMaxTokens
    }
    byDigest.set(sha256, caller)
    byId.set(caller.id, caller)
    infos.push(info(key.name, sha256, false, key))
  }
  for (const key of adminKeys) {
    const sha256 = digest(Redacted.value(key.key))
    admins.set(sha256, key.name)
    infos.push(info(key.name, sha256, true, { models: undefined, tools: undefined, guardrails: undefined }))
  }
  return { byDigest, byId, admins, infos, budgets }
})

/**
 * The keys checked (`problems`) and hashed, each with its limiter and budget from `limits`, a budget handed on from
 * `kept` (the budgets of the configuration served before, by key name) when it has one.
 */
export const make = (
  keys: ReadonlyArray<Key>,
  adminKeys: ReadonlyArray<AdminKey>,
  engine: Served,
  limits: KeyLimits.KeyLimits,
  kept: ReadonlyMap<string, KeptBudget>,
  options: {
    /**
     * Whether every request needs a key even before one is made (`Policy.keysRequired`: a gateway served beyond
     * loopback, or sharing its limits through Redis). Default `false`.
     */
    readonly keysRequired?: boolean | undefined
    /** With a database: where budgets are kept, provider.json keys' too, and the keys made at run time. */
    readonly database?: { readonly runtime: RuntimeKeys } | undefined
    /** The callers of the configured issuers' tokens (`gateway.token_callers`). Default: none. */
    readonly tokens?: TokenCallers | undefined
  } = {}
): Effect.Effect<Auth, OptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const database = options.database
    const refused = OptionsErrors.all(problems(keys, adminKeys, engine, (name) => database?.runtime.named(name)))
    if (refused !== undefined) return yield* refused
    const clock = yield* Clock.Clock
    const { admins, budgets, byDigest, byId, infos } = yield* hashed(keys, adminKeys, limits, kept)

    const tokens = options.tokens
    const authenticate = (headers: Readonly<Record<string, string | undefined>>) => {
      const key = presented(headers)
      if (key === undefined) return Effect.fail(missing)
      const wanted = digest(key)
      const found = byDigest.get(wanted) ?? database?.runtime.find(wanted, clock.currentTimeMillisUnsafe())
      if (found !== undefined) return "status" in found ? Effect.fail(found) : Effect.succeed(found)
      // Not a key: an access token, when callers by token are configured.
      return tokens !== undefined && isJwtShaped(key) ? tokens.caller(key) : Effect.fail(wrong)
    }

    // The answer when the caller's budget's store is away: a provider.json key's store is the one the gateway chose
    // for them (`KeyLimits.Stores`); a key made at run time's is the database's ledger.
    const unavailableFor = (caller: Caller) =>
      caller.id.startsWith(configKeyPrefix) ? limits.unavailable : ledgerUnavailable

    const admit = <Q extends Request | undefined>(
      caller: Caller | undefined,
      model: string,
      target: Fit.Fitting,
      request: Q
    ) => admitCall(caller, model, target, request, unavailableFor)

    const admitBatch = (
      caller: Caller | undefined,
      model: string,
      estimate: number,
      hold: { readonly id: string; readonly until: number }
    ): Effect.Effect<Budget.Hold | undefined, Errors.ErrorAnswer> => {
      if (caller === undefined) return Effect.succeed(undefined)
      const allowed = allows(caller, model) ? Effect.void : Effect.fail(forbidden(model))
      const budget = caller.budget
      return budget === undefined ? Effect.as(allowed, undefined) : Effect.andThen(
        allowed,
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.mapError(
            budget.hold({ estimate, provider: "gateway", model }, hold),
            (error) => overBudget(error, now, unavailableFor(caller), batchWorstCase)
          ))
      )
    }

    const callerOf = (id: string): Caller | undefined => byId.get(id) ?? database?.runtime.byId(id)

    const reserve = (
      caller: Caller | undefined,
      tool: string,
      price: number
    ): Effect.Effect<Settle, Errors.ErrorAnswer, Scope.Scope> => {
      if (caller === undefined) return admittedFree
      // A free tool's calls do not touch the budget: a spent one does not refuse them.
      const budgeted = caller.budget === undefined || price === 0 ? admittedFree : spend(
        caller.budget,
        tool,
        price,
        unavailableFor(caller),
        `(the price of a call of the MCP tool \`${tool}\`): ask for a larger budget, or`
      )
      return caller.limiter === undefined ? budgeted : Effect.andThen(limited(caller, caller.limiter), budgeted)
    }

    const turn = (owner: string) => {
      const limiter = callerOf(owner)?.limiter
      return limiter === undefined
        ? Effect.void
        : Effect.asVoid(Effect.scoped(limiter.consume({ onExceeded: "delay" })))
    }

    // The configuration's budgeted keys and those made at run time now, each with its own limit (a budget the
    // database cannot read now has none to show).
    const budgetStatus = Effect.suspend(() =>
      Effect.map(
        Effect.forEach(
          [
            ...Array.from(byId.values()).filter((caller) => caller.budget !== undefined),
            ...(database?.runtime.budgeted() ?? [])
          ],
          (caller) =>
            Effect.map(
              caller.budget!.status,
              ([own]): ReadonlyArray<KeyBudget> =>
                own === undefined ? [] : [{ key: caller.name, team: caller.team, status: own }]
            ),
          // Together, so the ledger's reads are one transaction (`budget/sql.ts`).
          { concurrency: "unbounded" }
        ),
        (found) => found.flat()
      )
    )

    function adminNamed(key: Redacted.Redacted<string>) {
      return admins.get(digest(Redacted.value(key)))
    }

    const always = byId.size > 0 || tokens !== undefined || options.keysRequired === true
    const common = {
      keys: infos,
      budgets,
      budgetStatus,
      isAdmin: (key: Redacted.Redacted<string>) => adminNamed(key) !== undefined,
      adminNamed,
      authenticate,
      allows,
      bounded,
      limit,
      turn,
      admit,
      admitBatch,
      settleBatch,
      callerOf,
      reserve
    }
    // Without a database no key is made at run time: whether keys are required is the configuration's, decided here.
    if (database === undefined) return { ...common, required: always }
    const runtime = database.runtime
    return {
      ...common,
      get required() {
        return always || runtime.everMade()
      }
    }
  })
