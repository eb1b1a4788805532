/**
 * Callers by token (provider.json's `gateway.token_callers`, docs/identity.md): an API call presenting an issuer's
 * access token instead of a gateway key. The token is checked by the same verifier as the admin API's (`oidc.ts`: the
 * issuer's published keys, its issuer, the audience, the expiry); its team claim maps to a team made at run time, and
 * the call is that team's (its budget in the database's ledger, its tools and guardrails) and the person's: the
 * caller's id is `person:<user claim>` and its name the user claim, so the request log and spend name the person and
 * the team. Teams are looked up at each call, as the admin API makes and removes them.
 */
import * as Effect from "effect/Effect"
import type { TokenCallers as TokenCallersOptions } from "../../../Gateway.js"
import type { OptionsError } from "../../../OptionsError.js"
import * as OptionsErrors from "../../optionsError.js"
import * as Errors from "../errorAnswer.js"
import { type Caller, digest, personPrefix } from "../keys/auth.js"
import type { Ledger } from "../keys/ledger.js"
import { limitOf, teamScope } from "../keys/runtime.js"
import type { TeamRecord } from "../keys/store.js"
import * as Allow from "../mcp/allow.js"
import * as Oidc from "./oidc.js"

/** The reply tokens of a budgeted request without `maxTokens`, as the keys' default. */
const defaultMaxTokens = 4096

/** The callers of the configured issuers' tokens. */
export interface TokenCallers {
  /** The caller a token names, or the answer refusing it (401; 403 for a team that does not exist; 503). */
  readonly caller: (token: string) => Effect.Effect<Caller, Errors.ErrorAnswer>
}

/** What callers by token read: the teams made at run time, and the ledger their budgets are in. */
export interface Teams {
  readonly teams: () => ReadonlyArray<TeamRecord>
  readonly ledger: Ledger
}

/**
 * The problems of `entries`, each naming its field: the issuer's URL, the audience, a non-empty mapping, models the
 * configuration `known`s, and a database to find the teams in.
 */
export function problems(
  entries: ReadonlyArray<TokenCallersOptions>,
  database: boolean,
  known: (model: string) => boolean
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
        : undefined,
      ...(entry.models ?? []).map((model, m) =>
        known(model) ? undefined : OptionsErrors.make(
          "Gateway",
          `tokenCallers[${index}].models[${m}]`,
          model,
          "a router, deployment, model or group of the configuration (GET /v1/models lists them)"
        )
      ),
      Object.keys(entry.teams).length > 0 ? undefined : OptionsErrors.make(
        "Gateway",
        `tokenCallers[${index}].teams`,
        "{}",
        "at least one value of the team claim mapped to a team's name"
      )
    ])
  ]
}

const refused = (why: string) =>
  Errors.answer(401, `The access token was refused: ${why}.`, "invalid_request_error", null, "invalid_token")

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

/** The callers of `entries`' tokens, verified with `libraries` on the time `now`, their teams from `teams`. */
export function make(
  entries: ReadonlyArray<TokenCallersOptions>,
  libraries: Oidc.Libraries,
  now: () => number,
  teams: Teams
): TokenCallers {
  const issuers = entries.map((entry) => ({
    entry,
    oidc: Oidc.make(
      {
        issuer: entry.issuer,
        clientId: entry.audience,
        audience: entry.audience,
        userClaim: entry.userClaim ?? "email",
        groupsClaim: entry.teamClaim ?? "groups"
      },
      libraries,
      now
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
    if (issuer === undefined) return yield* Effect.fail(refused("it is not from an issuer this gateway takes"))
    const person = yield* issuer.oidc.verify(token)
    const teamClaim = issuer.oidc.settings.groupsClaim
    const value = mappedValue(issuer.entry.teams, person.groups)
    if (value === undefined) {
      return yield* Effect.fail(refused(
        `its \`${teamClaim}\` claim names no team this gateway maps (token_callers[].teams)`
      ))
    }
    const name = issuer.entry.teams[value]!
    const team = teams.teams().find((candidate) => candidate.name === name)
    if (team === undefined) return yield* Effect.fail(noTeam(name, value))
    return {
      id: `${personPrefix}${person.subject}`,
      name: person.subject,
      digest: digest(token),
      team: team.id,
      models: issuer.entry.models === undefined ? undefined : new Set(issuer.entry.models),
      tools: Allow.rule(team.tools),
      guardrails: team.guardrails,
      limiter: undefined,
      budget: teams.ledger.budget([limitOf(teamScope(team.id), team.budget)]),
      defaultMaxTokens: team.budget === undefined ? undefined : defaultMaxTokens
    } satisfies Caller
  })

  return { caller }
}
