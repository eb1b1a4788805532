/**
 * `effect-llm-router keys create|list|update|revoke|rotate`: the admin API of keys made at run time, against a running
 * gateway (`--url`). A key made or rotated is printed once, alone on stdout's first line, so a script can take it; the
 * rest goes to stderr.
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as AdminApi from "./adminApi.js"
import type { Io } from "./io.js"
import { keysUsage, listFlag, numberFlag, type UsageError } from "./usage.js"

const flags = {
  ...AdminApi.commonFlags,
  name: { type: "string" },
  team: { type: "string" },
  "no-team": { type: "boolean" },
  models: { type: "string" },
  "all-models": { type: "boolean" },
  tools: { type: "string" },
  "no-tools": { type: "boolean" },
  budget: { type: "string" },
  period: { type: "string" },
  "no-budget": { type: "boolean" },
  "expires-at": { type: "string" },
  "no-expiry": { type: "boolean" },
  grace: { type: "string" }
} as const

const keyFlags = Object.keys(flags).filter((flag) => !(flag in AdminApi.commonFlags))

type Action =
  | { readonly verb: "create"; readonly body: Record<string, unknown> }
  | { readonly verb: "list" }
  | { readonly verb: "update"; readonly id: string; readonly body: Record<string, unknown> }
  | { readonly verb: "revoke"; readonly id: string }
  | { readonly verb: "rotate"; readonly id: string; readonly graceSeconds: number | undefined }

type Parsed = AdminApi.Parsed<Action>

const expiresAtFlag = (text: string | undefined) =>
  numberFlag("expires-at", text, { integer: true, expected: "Unix seconds" })

// What a key's flags set (`create`), or set or clear (`update`), besides its name; `--budget` read first.
const keyFields = (values: AdminApi.ActionFlags<typeof flags>["values"]) =>
  Result.map(AdminApi.budgetFlags(values), (budget): ReadonlyArray<AdminApi.RecordField> => [
    ["team", values.team, "no-team"],
    ["models", listFlag(values.models), "all-models"],
    ["tools", listFlag(values.tools), "no-tools"],
    ["budget", budget, "no-budget"],
    Result.map(expiresAtFlag(values["expires-at"]), (at) => ["expires-at", at, "no-expiry"])
  ])

const parse = (argv: ReadonlyArray<string>): Result.Result<Parsed | "help", UsageError> =>
  AdminApi.parseActions(
    "keys",
    "create, list, update, revoke or rotate",
    argv,
    flags,
    ({ argument, onlyFor, values, verb }) =>
      Result.gen(function*() {
        switch (verb) {
          case "create": {
            const name = yield* argument("the key's NAME")
            yield* onlyFor(["team", "models", "tools", "budget", "period", "expires-at"])
            return { verb, body: yield* AdminApi.recordBody(values, [["name", name], ...yield* keyFields(values)]) }
          }
          case "update": {
            const id = yield* argument("the key's ID (keys list)")
            yield* onlyFor(keyFlags.filter((flag) => flag !== "grace"))
            // Each field given a new value or cleared (`--no-team`, `--all-models`...); at least one.
            const body = yield* AdminApi.recordBody(
              values,
              [["name", values.name], ...yield* keyFields(values)],
              "keys update needs --name, --team, --no-team, --models, --all-models, --tools, --no-tools, --budget, " +
                "--no-budget, --expires-at or --no-expiry"
            )
            return { verb, id, body }
          }
          case "revoke":
          case "rotate": {
            const id = yield* argument("the key's ID (keys list)")
            yield* onlyFor(verb === "rotate" ? ["grace"] : [])
            if (verb === "revoke") return { verb, id }
            const grace = yield* numberFlag("grace", values.grace, { min: 0, expected: "0 or more seconds" })
            return { verb, id, graceSeconds: grace }
          }
        }
      })
  )

/** A key as the admin API shows it (`GET /admin/keys`), the fields printed here; it may have more. */
const KeyView = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  source: Schema.String,
  team: Schema.optional(Schema.NullOr(Schema.String)),
  models: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  tools: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  budget: Schema.optional(Schema.NullOr(Schema.Struct({ limit: Schema.Number, period: Schema.String })))
})
type KeyView = typeof KeyView.Type

/** A key made or rotated: the key itself, shown once, and until when the old one works (rotated). */
const MadeKey = Schema.Struct({
  ...KeyView.fields,
  key: Schema.String,
  previous_key_valid_until: Schema.optional(Schema.NullOr(Schema.Number))
})

const shownKey = (made: typeof MadeKey.Type): string => made.key

const describeKey = (key: KeyView): string => {
  const budget = AdminApi.budgetCell(key.budget)
  const models = key.models === null || key.models === undefined ? "all" : key.models.join(",")
  return AdminApi.tabbed([key.id, key.name, key.source, key.team ?? "-", models, budget, AdminApi.toolsCell(key.tools)])
}

const keyRecords = {
  noun: "key",
  item: KeyView,
  header: "id\tname\tsource\tteam\tmodels\tbudget\ttools",
  row: describeKey
}

/** A team as `keys create` reads it: the MCP tools it allows its keys. */
const TeamTools = Schema.Struct({ tools: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))) })

/**
 * The note `keys create` adds when the key got tools in a team that allows none: a key uses only what its list and its
 * team's both allow (docs/mcp.md), so it would list none. Left out when the team cannot be read (the key is made).
 */
function teamToolsNote(url: string, key: Redacted.Redacted<string>, made: KeyView) {
  if (made.team === null || made.team === undefined || (made.tools ?? []).length === 0) return Effect.succeed("")
  const team = made.team
  return AdminApi.requestJson(
    { url, key, method: "GET", path: `/admin/teams/${encodeURIComponent(team)}` },
    TeamTools,
    "team"
  ).pipe(
    Effect.map(({ answer }) =>
      (answer.tools ?? []).length > 0 ? "" : ` Its team ${team} allows no MCP tool, so it lists none: give the team ` +
        `its tools with teams update ${team} --tools A,B.`
    ),
    Effect.orElseSucceed(() => "")
  )
}

const perform = (parsed: Parsed, key: Redacted.Redacted<string>, io: Io) =>
  Effect.gen(function*() {
    const action = parsed.action
    const keys = AdminApi.recordsClient(keyRecords, parsed, key, io)
    switch (action.verb) {
      case "create": {
        const made = yield* keys.make({ item: MadeKey, what: "key made", shown: shownKey }, action.body)
        const note = yield* teamToolsNote(parsed.url, key, made)
        AdminApi.say(io, `made the key ${made.name} (id ${made.id}); it is shown only now: keep it.${note}`)
        return
      }
      case "list":
        return yield* keys.list
      case "update":
        return yield* keys.update(action.id, action.body)
      case "revoke":
        return yield* keys.remove(action.id, "revoked")
      case "rotate": {
        const body = action.graceSeconds === undefined ? {} : { grace_seconds: action.graceSeconds }
        const rotated = yield* keys.make(
          { item: MadeKey, what: "key rotated", shown: shownKey },
          body,
          action.id,
          "/rotate"
        )
        const until = rotated.previous_key_valid_until
        const old = until === null || until === undefined
          ? "The old key no longer works."
          : `The old key works until ${new Date(until * 1000).toISOString()}.`
        AdminApi.say(io, `rotated the key ${rotated.name} (id ${action.id}); the new key is shown only now. ${old}`)
        return
      }
    }
  })

/**
 * Runs `keys`: 0 done, 1 refused or unreachable, 2 bad flags or no admin key.
 */
export const run = (argv: ReadonlyArray<string>, io: Io): Effect.Effect<number> =>
  AdminApi.runCommand("keys", keysUsage, io, parse(argv), perform)
