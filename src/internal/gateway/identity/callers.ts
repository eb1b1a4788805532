/**
 * Callers by token (`gateway.token_callers`, docs/identity.md): an API call presenting an issuer's access token instead
 * of a gateway key, checked by the admin API's verifier (`oidc.ts`). Its team claim maps to a team made at run time
 * (looked up at each call), and the call is that team's (budget, tools, guardrails) and the person's: the caller's id
 * is `person:<issuer>#<sub>` (two issuers' people of one user claim are two callers), its name the user claim. An
 * entry may give each person a rate limit and a budget of their own, as a key has: their bucket is named by their id
 * in the keys' limiter store, and their budget, the ledger scope `person:<issuer>#<sub>`, is charged beside their
 * team's, so that a call must fit both.
 */
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as ScopedCache from "effect/ScopedCache"
import type { TokenCallers as TokenCallersOptions } from "../../../Gateway.js"
import type { OptionsError } from "../../../OptionsError.js"
import * as RateLimiter from "../../../RateLimiter.js"
import { periodBounds, periodInBounds } from "../../budget/window.js"
import * as OptionsErrors from "../../optionsError.js"
import type { TokenCallers } from "../access/authentication.js"
import { type Caller, personPrefix, type Served } from "../access/caller.js"
import * as Allow from "../access/tools.js"
import * as Errors from "../errorAnswer.js"
import { pricelessBudget, unknownModels } from "../keys/auth.js"
import { SpendLedger } from "../keys/ledger.js"
import { limitOf, teamScope } from "../keys/runtime.js"
import type { TeamRecord } from "../keys/store.js"
import * as Oidc from "./oidc.js"

/** The reply tokens of a budgeted request without `maxTokens`, as the keys' default. */
const defaultMaxTokens = 4096

/**
 * The people whose limiters are held at once, the least recently calling let go past it (their buckets stay in the
 * store: one made again reads the same level).
 */
const heldLimiters = 10_000

/**
 * What callers by token read besides the spend ledger their budgets are in: the teams made at run time, and the stores
 * of the keys' limiters, where people's buckets are kept too.
 */
export interface Teams {
  readonly teams: () => ReadonlyArray<TeamRecord>
  readonly limiters: Context.Context<RateLimiter.BucketStore | RateLimiter.SlotStore>
}

/** The ledger scope of a person's own spend: their caller id, `person:<issuer>#<sub>` (`Oidc.Person`'s id). */
export const personScope = (person: string): string => `${personPrefix}${person}`

/** The name of a person's bucket at a rate limit, its figures in it: a changed rate limit starts a full bucket. */
export const personLimiterKey = (person: string, capacity: number, refillRate: number): string =>
  `gateway-person/${person}/${capacity}/${refillRate}`

/**
 * The problems of `entries`, each naming its field: the issuer's URL, the audience, a non-empty mapping, models the
 * configuration `known`s, and a database to find the teams in.
 */
export function problems(
  entries: ReadonlyArray<TokenCallersOptions>,
  database: boolean,
  served: Served,
  clients: ReadonlyArray<string>
): ReadonlyArray<OptionsError | undefined> {
  if (entries.length === 0) return []
  return [
    database ? undefined : OptionsErrors.make(
      "Gateway",
      "tokenCallers",
      "callers by token",
      "a database (`serve`'s data directory, or `Gateway.Options.database`): their teams are made there"
    ),
    ...entries.flatMap((entry, index) => [
      Oidc.urlProblem(`tokenCallers[${index}].issuer`, entry.issuer),
      entry.audience === ""
        ? OptionsErrors.make("Gateway", `tokenCallers[${index}].audience`, "", "a non-empty audience")
        : Oidc.audienceProblem(`tokenCallers[${index}].audience`, entry.audience, clients),
      ...unknownModels(served, `tokenCallers[${index}]`, entry.models),
      OptionsErrors.duration("Gateway", `tokenCallers[${index}].maxTokenLifetime`, entry.maxTokenLifetime, true),
      Object.keys(entry.teams).length > 0 ? undefined : OptionsErrors.make(
        "Gateway",
        `tokenCallers[${index}].teams`,
        "{}",
        "at least one value of the team claim mapped to a team's name"
      ),
      ...limitProblems(entry, `tokenCallers[${index}]`, served)
    ])
  ]
}

// The problems of an entry's own rate limit and budget, as a key's are read.
function limitProblems(
  entry: TokenCallersOptions,
  field: string,
  served: Served
): ReadonlyArray<OptionsError | undefined> {
  const period = entry.budget?.period
  return [
    OptionsErrors.positive("Gateway", `${field}.rateLimit.capacity`, entry.rateLimit?.capacity, {
      optional: entry.rateLimit === undefined
    }),
    OptionsErrors.positive("Gateway", `${field}.rateLimit.refillRate`, entry.rateLimit?.refillRate, {
      optional: entry.rateLimit === undefined
    }),
    OptionsErrors.positive("Gateway", `${field}.budget.limit`, entry.budget?.limit, {
      optional: entry.budget === undefined
    }),
    period === undefined || period === "month" || Option.exists(
        Duration.fromInput(period),
        (length) => periodInBounds(Duration.toMillis(length))
      )
      ? undefined
      : OptionsErrors.make("Gateway", `${field}.budget.period`, period, `"month" or a duration ${periodBounds}`),
    OptionsErrors.positive("Gateway", `${field}.budget.defaultMaxTokens`, entry.budget?.defaultMaxTokens, {
      integer: true,
      optional: true
    }),
    pricelessBudget(served, field, entry, "entry's")
  ]
}

const noTeam = (team: string, value: string) =>
  Errors.answer(
    403,
    `The access token's team claim \`${value}\` maps to the team \`${team}\`, which this gateway does not have: ` +
      "make it (POST /admin/teams) or change provider.json's `gateway.token_callers[].teams`.",
    "invalid_request_error",
    null,
    "team_not_found"
  )

/**
 * The first of a token's team claim `values` that `teams` maps (its own entries only: a claim `constructor` maps to
 * nothing unless configured), or undefined.
 */
export function mappedValue(
  teams: Readonly<Record<string, string>>,
  values: ReadonlyArray<string>
): string | undefined {
  return values.find((value) => Object.hasOwn(teams, value))
}

/** What callers by token read of the sign-on: its clients, whose ID tokens are refused, and its signed-out tokens. */
export interface SignOn {
  readonly clients: ReadonlyArray<string>
  readonly signedOut: Oidc.SignedOut
}

/**
 * The callers of `entries`' tokens, verified with `libraries` on the time `now`, their teams from `teams`, an ID token
 * or a signed-out session's token of the sign-on refused; their limiters held for the scope's life.
 */
export const make = Effect.fnUntraced(function*(
  entries: ReadonlyArray<TokenCallersOptions>,
  libraries: Oidc.Libraries,
  now: () => number,
  teams: Teams,
  signOn: SignOn
): Effect.fn.Return<TokenCallers, never, SpendLedger | Scope.Scope> {
  const ledger = yield* SpendLedger
  // A person's limiter at a rate limit, by `[person, capacity, refillRate]` as JSON; checked positive at start.
  const limiters = yield* ScopedCache.make({
    lookup: (wanted: string) => {
      const [subject, capacity, refillRate] = JSON.parse(wanted) as [string, number, number]
      const made = RateLimiter.make({ capacity, refillRate, key: personLimiterKey(subject, capacity, refillRate) })
      return Effect.orDie(Effect.provide(made, teams.limiters))
    },
    capacity: heldLimiters
  })
  const limiterOf = (subject: string, entry: TokenCallersOptions) =>
    entry.rateLimit === undefined
      ? Effect.undefined
      : ScopedCache.get(limiters, JSON.stringify([subject, entry.rateLimit.capacity, entry.rateLimit.refillRate]))

  const issuers = entries.map((entry) => ({
    entry,
    oidc: Oidc.make(
      {
        ...Oidc.settingsOf({
          issuer: entry.issuer,
          clientId: entry.audience,
          userClaim: entry.userClaim ?? "email",
          groupsClaim: entry.teamClaim ?? "groups",
          maxTokenLifetime: entry.maxTokenLifetime
        }),
        audience: entry.audience,
        clients: signOn.clients
      },
      libraries,
      now,
      signOn.signedOut
    )
  }))

  // The issuer whose `iss` the token names (read before its signature is checked, only to choose which checks it).
  function issuerOf(token: string) {
    if (issuers.length === 1) return issuers[0]
    try {
      const iss = libraries.jose.decodeJwt(token).iss
      return issuers.find(({ oidc }) => oidc.settings.issuer.replace(/\/$/, "") === iss?.replace(/\/$/, ""))
    } catch {
      return undefined
    }
  }

  const caller = Effect.fnUntraced(function*(token: string) {
    const issuer = issuerOf(token)
    if (issuer === undefined) {
      return yield* Effect.fail(Oidc.invalidToken("it is not from an issuer this gateway takes"))
    }
    const person = yield* issuer.oidc.verify(token)
    const teamClaim = issuer.oidc.settings.groupsClaim
    const value = mappedValue(issuer.entry.teams, person.groups)
    if (value === undefined) {
      return yield* Effect.fail(Oidc.invalidToken(
        `its \`${teamClaim}\` claim names no team this gateway maps (token_callers[].teams)`
      ))
    }
    const entry = issuer.entry
    const name = entry.teams[value]!
    const team = teams.teams().find((candidate) => candidate.name === name)
    if (team === undefined) return yield* Effect.fail(noTeam(name, value))
    const own = entry.budget === undefined ? undefined : { limit: entry.budget.limit, period: entry.budget.period }
    return {
      id: personScope(person.id),
      name: person.subject,
      digest: undefined,
      team: team.id,
      models: entry.models === undefined ? undefined : new Set(entry.models),
      tools: Allow.rule(team.tools),
      guardrails: team.guardrails,
      limiter: yield* limiterOf(person.id, entry),
      // The person's spend counted under them (against their own limit, or none) and their team's.
      budget: ledger.budget([
        limitOf(personScope(person.id), own),
        limitOf(teamScope(team.id), team.budget)
      ]),
      defaultMaxTokens: own === undefined && team.budget === undefined
        ? undefined
        : entry.budget?.defaultMaxTokens ?? defaultMaxTokens
    } satisfies Caller
  })

  return { caller }
})
