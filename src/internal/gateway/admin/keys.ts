/**
 * The admin API of the keys and teams made at run time, on a gateway with a database: `/admin/keys[/{id}[/rotate]]`
 * and `/admin/teams[/{id}]`, for those whose roles grant it (`identity/access.ts`: a team's roles reach its own keys
 * and team only). A key is shown once, when made or rotated. provider.json's keys are listed too (`config:<name>`),
 * read-only. A change is in force on this instance before its answer and on the others within
 * `KeyStore.refreshEvery`. A name another key or team has is 409, and so is any key or team made where limits are
 * shared through Redis but the database is a SQLite file of its own (`shared_database_required`): the other instances
 * would never see it.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import { randomBytes } from "node:crypto"
import type * as Budget from "../../../Budget.js"
import type { KeyInfo } from "../../../Gateway.js"
import { maskKey } from "../../../LlmError.js"
import type { StoreUnavailableError } from "../../../Store.js"
import { periodName } from "../../budget/window.js"
import type { Principal } from "../access/adminCheck.js"
import { AdminCheck } from "../access/adminCheck.js"
import type * as Auth from "../access/authentication.js"
import * as Caller from "../access/caller.js"
import { madeId, type Params, type Subjects } from "../audit/record.js"
import * as Errors from "../errorAnswer.js"
import * as Access from "../identity/access.js"
import { SpendLedger } from "../keys/ledger.js"
import { keyScope, limitOf, teamScope } from "../keys/runtime.js"
import {
  type BudgetLimit,
  type KeyRecord,
  KeyStore,
  type NameTaken,
  type Store,
  type TeamRecord
} from "../keys/store.js"
import { decodePath, errorResponse, json } from "../serving/answers.js"
import { Configuration } from "../serving/configuration.js"
import { Requests } from "../serving/requests.js"
import { graceOf, Invalid, keyInput, parse, teamInput, unixSeconds } from "./input.js"

type Refusal = Errors.ErrorAnswer

// The record of the id `id` among `records`, if any.
const byId = <A extends { readonly id: string }>(records: ReadonlyArray<A>, id: string | undefined) =>
  records.find((record) => record.id === id)

// `record`, or 404 when none has the id.
const existing = <A>(what: "key" | "team", id: string, record: A | undefined): Effect.Effect<A, Refusal> =>
  record === undefined ? Effect.fail(notFound(what, id)) : Effect.succeed(record)

const fresh = (prefix: string, bytes: number) => `${prefix}${randomBytes(bytes).toString("base64url")}`

const notFound = (what: string, id: string): Refusal =>
  Errors.answer(404, `No ${what} has the id \`${id}\`.`, "invalid_request_error", "id", `${what}_not_found`)

// Keys' names and teams' names are two namespaces: a key's is taken by any key ever made (or provider.json's), a
// team's only by another team.
const takenBy = {
  key: "by a key of provider.json, or one made here, revoked ones included",
  team: "by another team"
} as const

const nameTaken = (what: keyof typeof takenBy, name: string): Refusal =>
  Errors.answer(
    409,
    `The name \`${name}\` is taken (${takenBy[what]}): choose another for the ${what}.`,
    "invalid_request_error",
    "name",
    "name_taken"
  )

const readOnly = (name: string): Refusal =>
  Errors.answer(
    403,
    `The key \`${name}\` is defined in provider.json, which this API does not change: edit provider.json (and ` +
      "restart the gateway), or make a key here instead.",
    "invalid_request_error",
    "id",
    "key_read_only"
  )

// Keys and teams made where the other instances sharing the limits would never see them.
const sharedDatabaseRequired: Refusal = Errors.answer(
  409,
  "This gateway shares its limits with other instances through Redis, but its database is a SQLite file of its own: " +
    "a key or team made here would work on this instance alone. Keep keys made at run time in a Postgres database " +
    "every instance shares (provider.json's `\"store\": {\"sql\": \"postgres://...\"}`), or list keys in " +
    "provider.json's `gateway.keys`.",
  "invalid_request_error",
  null,
  "shared_database_required"
)

const unavailable = (error: StoreUnavailableError): Refusal => Errors.databaseUnavailable(error.reason)

const seconds = (millis: number | undefined) => millis === undefined ? null : unixSeconds(millis)
const budgetView = (budget: BudgetLimit | undefined) =>
  budget === undefined ? null : { limit: budget.limit, period: periodName(budget.period) }

// What a key may use and spend, as a key made here and a provider.json key both show it.
const limitsView = (key: Partial<Pick<KeyRecord, "models" | "tools" | "guardrails" | "budget" | "rateLimit">>) => ({
  models: key.models ?? null,
  tools: key.tools ?? null,
  guardrails: key.guardrails ?? null,
  budget: budgetView(key.budget),
  rate_limit_capacity: key.rateLimit?.capacity ?? null,
  rate_limit_refill_rate: key.rateLimit?.refillRate ?? null
})

// A budget's spend in its period now, with its `limit` and `period`.
const spendView = (found: Budget.CounterSpend, limit: number | null, period: string) => ({
  spent: found.spent,
  reserved: found.reserved,
  limit,
  period,
  period_start: seconds(found.periodStart),
  period_end: seconds(found.periodEnd)
})

/** An update's fields as a change writes them: each cleared one (`null`) as `undefined`. */
type Change<I> = { [K in keyof I]?: null extends I[K] ? NonNullable<I[K]> | undefined : I[K] }

/** The fields an update names, as its change writes them. */
function changeOf<I extends object>(input: I): Change<I> {
  const named = Object.entries(input).filter(([, value]) => value !== undefined)
  return Object.fromEntries(named.map(([field, value]) => [field, value ?? undefined])) as Change<I>
}

const keyView = (key: KeyRecord) => ({
  id: key.id,
  object: "gateway.key",
  name: key.name,
  source: "api",
  read_only: false,
  team: key.teamId ?? null,
  ...limitsView(key),
  expires_at: seconds(key.expiresAt),
  metadata: key.metadata ?? null,
  created_at: seconds(key.createdAt),
  revoked_at: seconds(key.revokedAt),
  // When the last key a rotation replaced stops working (an earlier one may stop before it).
  previous_key_valid_until: seconds(key.previous.at(-1)?.until)
})

// A provider.json key, with the fields of `keyView` its configuration can have: its budget and rate limit, which it is
// held to, shown as a key made here shows them.
const configView = (key: KeyInfo) => ({
  id: Caller.configKeyId(key.name),
  object: "gateway.key",
  name: key.name,
  source: "provider.json",
  read_only: true,
  ...limitsView(key)
})

const teamView = (team: TeamRecord) => ({
  id: team.id,
  object: "gateway.team",
  name: team.name,
  tools: team.tools ?? null,
  guardrails: team.guardrails ?? null,
  budget: budgetView(team.budget),
  metadata: team.metadata ?? null,
  created_at: seconds(team.createdAt)
})

/** The admin API's paths and what each serves. */
const operations = [
  ["POST", "/admin/keys", "createKey"],
  ["GET", "/admin/keys", "listKeys"],
  ["GET", "/admin/keys/:id", "getKey"],
  ["PATCH", "/admin/keys/:id", "updateKey"],
  ["DELETE", "/admin/keys/:id", "revokeKey"],
  ["POST", "/admin/keys/:id/rotate", "rotateKey"],
  ["POST", "/admin/teams", "createTeam"],
  ["GET", "/admin/teams", "listTeams"],
  ["GET", "/admin/teams/:id", "getTeam"],
  ["PATCH", "/admin/teams/:id", "updateTeam"],
  ["DELETE", "/admin/teams/:id", "deleteTeam"]
] as const

type Operation = (typeof operations)[number][2]

// What every key and team route works with: who may ask, the request's body checked, the store's rows and the spend.
const adminContext = Effect.gen(function*() {
  const configuration = yield* Configuration
  const { engine, options } = configuration
  const { served } = yield* Requests
  const { adminAs } = yield* AdminCheck
  const ledger = yield* SpendLedger
  const store = yield* KeyStore
  // What makes a key or a team first: refused where the other instances would not know it.
  const shared = options.keysLocalOnly ? Effect.fail(sharedDatabaseRequired) : Effect.void
  const auth = options.auth
  const configNames = () => new Set(auth.keys.map((key) => key.name))

  // An admin route: the request's id and body, answered for who asks once the route's rule lets them, or refused.
  const admin = (
    handle: (
      id: string,
      body: string,
      principal: Principal
    ) => Effect.Effect<HttpServerResponse.HttpServerResponse, Refusal>
  ) =>
    served(({ request }) =>
      Effect.gen(function*() {
        const params = yield* HttpRouter.params
        const body = request.method === "GET" || request.method === "DELETE"
          ? ""
          : yield* Effect.mapError(
            request.text,
            () => Errors.invalidRequest("The request body could not be read.", undefined)
          )
        return yield* adminAs((principal) => handle(decodePath(params["id"] ?? ""), body, principal), body)
      }).pipe(Effect.catch((refusal: Refusal) => Effect.succeed(errorResponse(refusal))))
    )
  // Whether `principal` may see the row of a key or team of `teamId` (none: of the whole gateway).
  const sees = (principal: Principal, permission: "keys.read" | "teams.read", teamId: string | undefined) =>
    Access.sees(principal, permission, teamId === undefined ? undefined : teams.byId(teamId))
  const teams = Access.teamsOf(store)

  const checked = <A>(value: A | Invalid): Effect.Effect<A, Refusal> =>
    value instanceof Invalid ? Effect.fail(Errors.invalidRequest(value.message, value.field)) : Effect.succeed(value)
  const bodyOf = (text: string) => checked(parse(text))
  const saved = <A>(
    effect: Effect.Effect<A, StoreUnavailableError | NameTaken>,
    name: () => string,
    what: keyof typeof takenBy
  ) =>
    Effect.andThen(
      Effect.mapError(effect, (error) => error._tag === "NameTaken" ? nameTaken(what, name()) : unavailable(error)),
      Effect.mapError(store.reload, unavailable)
    )

  const liveKey = (id: string) => {
    if (id.startsWith(Caller.configKeyPrefix)) {
      const name = id.slice(Caller.configKeyPrefix.length)
      return Effect.fail(configNames().has(name) ? readOnly(name) : notFound("key", id))
    }
    const key = byId(store.keys(), id)
    return existing("key", id, key?.revokedAt === undefined ? key : undefined)
  }
  const teamOf = (id: string) => existing("team", id, byId(store.teams(), id))

  // Guardrail names the configuration has (checked again per call: a reload may remove one, and its calls are refused).
  const knownGuardrails = (names: ReadonlyArray<string> | null | undefined) => {
    const unknown = (names ?? []).findIndex((name) => !engine.guardrails.has(name))
    if (unknown < 0) return Effect.void
    const known = [...engine.guardrails.keys()]
    return Effect.fail(Errors.invalidRequest(
      `\`${names![unknown]}\` is not a guardrail of this gateway's configuration (known: ${
        known.length === 0 ? "none" : known.join(", ")
      }).`,
      `guardrails[${unknown}]`
    ))
  }

  // A key's models and team as they would be: every model known, and priced when a budget binds the key.
  const vet = (
    models: ReadonlyArray<string> | undefined,
    budget: BudgetLimit | undefined,
    teamId: string | undefined
  ) =>
    Effect.gen(function*() {
      const team = byId(store.teams(), teamId)
      if (teamId !== undefined && team === undefined) {
        return yield* Effect.fail(
          Errors.invalidRequest(`No team has the id \`${teamId}\` (GET /admin/teams lists them).`, "team")
        )
      }
      for (const [index, model] of (models ?? []).entries()) {
        if (engine.resolve(model) === undefined) {
          return yield* Effect.fail(Errors.invalidRequest(
            `\`${model}\` is not a model of this gateway (GET /v1/models lists them).`,
            `models[${index}]`
          ))
        }
      }
      if (budget === undefined && team?.budget === undefined) return
      const unpriced = (models ?? engine.models.map((model) => model.id))
        .find((model) => engine.resolve(model)?.price === undefined)
      if (unpriced !== undefined) {
        return yield* Effect.fail(Errors.invalidRequest(
          `A budget (the key's or its team's) counts dollars, and \`${unpriced}\` has no price: give it \`pricing\` ` +
            "in provider.json, or limit the key's `models` to priced ones.",
          budget === undefined ? "team" : "budget"
        ))
      }
    })

  const spendOf = (scope: string, budget: BudgetLimit | undefined) => {
    const { period } = limitOf(scope, budget)
    return Effect.map(
      Effect.mapError(ledger.spend(scope, period), unavailable),
      (found) => spendView(found, budget?.limit ?? null, periodName(period))
    )
  }

  const membersOf = (id: string) => store.keys().filter((key) => key.teamId === id && key.revokedAt === undefined)

  return {
    configuration,
    auth,
    store,
    admin,
    sees,
    shared,
    configNames,
    bodyOf,
    checked,
    saved,
    liveKey,
    teamOf,
    knownGuardrails,
    vet,
    spendOf,
    membersOf
  }
})

type AdminContext = Effect.Success<typeof adminContext>

// The routes of the keys the store holds (and, read only, of the configuration's keys).
function keyHandlers(context: AdminContext) {
  const { admin, auth, bodyOf, checked, configNames, configuration, knownGuardrails, liveKey, saved, sees } = context
  const { shared, spendOf, store, vet } = context

  const createKey = admin((_, text) =>
    Effect.gen(function*() {
      yield* shared
      const now = configuration.now()
      const input = yield* checked(keyInput(yield* bodyOf(text), "create", now))
      const { name: _name, team, ...limits } = changeOf(input)
      const name = input.name!
      if (configNames().has(name)) return yield* Effect.fail(nameTaken("key", name))
      yield* vet(limits.models, limits.budget, team)
      yield* knownGuardrails(input.guardrails)
      const key = fresh("elr-", 24)
      const record: KeyRecord = {
        id: fresh("key_", 12),
        name,
        sha256: Caller.digest(key),
        previous: [],
        teamId: team,
        ...limits,
        createdAt: now,
        updatedAt: now,
        revokedAt: undefined
      }
      yield* saved(store.insertKey(record), () => name, "key")
      return json(201, JSON.stringify({ ...keyView(record), key }))
    })
  )

  const listKeys = admin((_id, _body, principal) =>
    Effect.succeed(json(
      200,
      JSON.stringify({
        object: "list",
        data: [
          ...auth.keys.filter((key) => !key.admin && sees(principal, "keys.read", undefined)).map(configView),
          ...store.keys().filter((key) => key.revokedAt === undefined && sees(principal, "keys.read", key.teamId)).map(
            keyView
          )
        ]
      })
    ))
  )

  const getKey = admin((id) =>
    Effect.gen(function*() {
      if (id.startsWith(Caller.configKeyPrefix)) {
        const found = auth.keys.find((key) => !key.admin && Caller.configKeyId(key.name) === id)
        if (found === undefined) return yield* Effect.fail(notFound("key", id))
        // Its budget as the gateway keeps it (in the ledger, the store or memory), if it has one.
        const budget = (yield* auth.budgetStatus).find((held) => held.team === undefined && held.key === found.name)
        const spend = budget === undefined ? null : spendView(budget.status, budget.status.limit, budget.status.period)
        return json(200, JSON.stringify({ ...configView(found), spend }))
      }
      const key = yield* existing("key", id, byId(store.keys(), id))
      const team = byId(store.teams(), key.teamId)
      const spend = yield* spendOf(keyScope(key.id), key.budget)
      const teamSpend = team === undefined ? null : yield* spendOf(teamScope(team.id), team.budget)
      return json(200, JSON.stringify({ ...keyView(key), spend, team_spend: teamSpend }))
    })
  )

  const updateKey = admin((id, text) =>
    Effect.gen(function*() {
      const key = yield* liveKey(id)
      const input = yield* checked(keyInput(yield* bodyOf(text), "update", configuration.now()))
      if (input.name !== undefined && input.name !== key.name && configNames().has(input.name)) {
        return yield* Effect.fail(nameTaken("key", input.name))
      }
      const { team, ...fields } = changeOf(input)
      const change = { ...fields, ...(input.team === undefined ? {} : { teamId: team }) }
      const changed = { ...key, ...change }
      yield* vet(changed.models, changed.budget, changed.teamId)
      yield* knownGuardrails(input.guardrails)
      yield* saved(store.updateKey(id, change), () => input.name ?? key.name, "key")
      return json(200, JSON.stringify(keyView(byId(store.keys(), id)!)))
    })
  )

  const rotateKey = admin((id, text) =>
    Effect.gen(function*() {
      yield* shared
      const key = yield* liveKey(id)
      const grace = yield* checked(graceOf(yield* bodyOf(text)))
      const replacement = fresh("elr-", 24)
      const now = configuration.now()
      // The keys replaced before keep their own grace; the one replaced now has this one's, if any.
      const previous = [
        ...key.previous.filter((replaced) => replaced.until > now),
        ...(grace > 0 ? [{ sha256: key.sha256, until: now + grace }] : [])
      ]
      yield* saved(
        store.updateKey(id, { sha256: Caller.digest(replacement), previous }),
        () => key.name,
        "key"
      )
      return json(200, JSON.stringify({ ...keyView(byId(store.keys(), id)!), key: replacement }))
    })
  )

  const revokeKey = admin((id) =>
    Effect.gen(function*() {
      yield* liveKey(id)
      yield* saved(store.updateKey(id, { revokedAt: configuration.now() }), () => id, "key")
      return json(200, JSON.stringify({ id, object: "gateway.key", deleted: true }))
    })
  )

  return { createKey, listKeys, getKey, updateKey, revokeKey, rotateKey }
}

// The routes of the teams the store holds.
function teamHandlers(context: AdminContext) {
  const { admin, bodyOf, checked, configuration, knownGuardrails, membersOf, saved, sees, shared } = context
  const { spendOf, store, teamOf, vet } = context

  const createTeam = admin((_, text) =>
    Effect.gen(function*() {
      yield* shared
      const now = configuration.now()
      const input = yield* checked(teamInput(yield* bodyOf(text), "create"))
      yield* knownGuardrails(input.guardrails)
      const record: TeamRecord = {
        id: fresh("team_", 12),
        ...changeOf(input),
        name: input.name!,
        createdAt: now,
        updatedAt: now
      }
      yield* saved(store.insertTeam(record), () => record.name, "team")
      return json(201, JSON.stringify(teamView(record)))
    })
  )

  const listTeams = admin((_id, _body, principal) =>
    Effect.succeed(json(
      200,
      JSON.stringify({
        object: "list",
        data: store.teams().filter((team) => sees(principal, "teams.read", team.id)).map(teamView)
      })
    ))
  )

  const getTeam = admin((id) =>
    Effect.gen(function*() {
      const team = yield* teamOf(id)
      const spend = yield* spendOf(teamScope(team.id), team.budget)
      const keys = membersOf(id).map((key) => ({ id: key.id, name: key.name }))
      return json(200, JSON.stringify({ ...teamView(team), spend, keys }))
    })
  )

  const updateTeam = admin((id, text) =>
    Effect.gen(function*() {
      const team = yield* teamOf(id)
      const input = yield* checked(teamInput(yield* bodyOf(text), "update"))
      yield* knownGuardrails(input.guardrails)
      if (input.budget !== undefined && input.budget !== null) {
        for (const key of membersOf(id)) yield* vet(key.models, input.budget, undefined)
      }
      yield* saved(store.updateTeam(id, changeOf(input)), () => input.name ?? team.name, "team")
      return json(200, JSON.stringify(teamView(byId(store.teams(), id)!)))
    })
  )

  const deleteTeam = admin((id) =>
    Effect.gen(function*() {
      const team = yield* teamOf(id)
      const members = membersOf(id)
      if (members.length > 0) {
        return yield* Effect.fail(Errors.answer(
          409,
          `The team still has ${members.length} key(s) (${members.map((key) => key.name).join(", ")}): revoke them ` +
            "or move them to another team first.",
          "invalid_request_error",
          "id",
          "team_not_empty"
        ))
      }
      yield* saved(store.deleteTeam(id), () => team.name, "team")
      return json(200, JSON.stringify({ id, object: "gateway.team", deleted: true }))
    })
  )

  return { createTeam, listTeams, getTeam, updateTeam, deleteTeam }
}

/** The admin routes of keys and teams over the configuration served, on the keys' store and the spend ledger. */
export const routes = Effect.gen(function*() {
  const context = yield* adminContext
  const handlers: Record<Operation, ReturnType<AdminContext["admin"]>> = {
    ...keyHandlers(context),
    ...teamHandlers(context)
  }
  return operations.map(([method, path, operation]) => HttpRouter.route(method, path, handlers[operation]))
})

// A key's values after an action whose answer shows it once (made, rotated): with it masked (`LlmError.maskKey`).
function withMaskedKey(state: unknown, answer: unknown) {
  const key = typeof answer === "object" && answer !== null && "key" in answer ? answer.key : undefined
  return typeof key === "string" && typeof state === "object" && state !== null
    ? { ...state, key: maskKey(key) }
    : state
}

/**
 * The audit subjects of the keys' and teams' routes that change something (`audit/record.ts`): a key or a team by its
 * id, its values as `GET` shows them (a key's digest never; its secret only masked, once, when made or rotated), read
 * from provider.json's keys and `store`'s (which has none without a database).
 */
export function subjects(store: Store, auth: Auth.Auth): Subjects {
  function keyState(id: string | undefined) {
    return Effect.sync(() => {
      const config = auth.keys.find((key) => !key.admin && Caller.configKeyId(key.name) === id)
      if (config !== undefined) return configView(config)
      const key = byId(store.keys(), id)
      return key === undefined ? null : keyView(key)
    })
  }
  function teamState(id: string | undefined) {
    return Effect.sync(() => {
      const team = byId(store.teams(), id)
      return team === undefined ? null : teamView(team)
    })
  }
  const made = (_: Params, answer: unknown) => madeId(answer)
  const named = (params: Params) => params["id"] === undefined ? undefined : decodePath(params["id"])
  return {
    "POST /admin/keys": { object: made, state: keyState, after: withMaskedKey },
    "PATCH /admin/keys/:id": { object: named, state: keyState },
    "DELETE /admin/keys/:id": { object: named, state: keyState },
    "POST /admin/keys/:id/rotate": { object: named, state: keyState, after: withMaskedKey },
    "POST /admin/teams": { object: made, state: teamState },
    "PATCH /admin/teams/:id": { object: named, state: teamState },
    "DELETE /admin/teams/:id": { object: named, state: teamState }
  }
}

const noDatabase = Errors.answer(
  404,
  "This gateway has no database, where keys and teams made at run time are kept: start it with `serve --data DIR` " +
    "(or provider.json's `\"store\": {\"sql\": \"postgres://...\"}`).",
  "invalid_request_error",
  null,
  "no_database"
)

/** The same paths on a gateway without a database: refused, saying why, to those the route's rule lets in. */
export const unmanaged = Effect.gen(function*() {
  const { served } = yield* Requests
  const { adminOnly } = yield* AdminCheck
  const refused = served(() => adminOnly(Effect.succeed(errorResponse(noDatabase))))
  return operations.map(([method, path]) => HttpRouter.route(method, path, refused))
})
