/**
 * `effect-llm-router teams create|list|show|update|delete`: the admin API of teams, against a running gateway
 * (`--url`). A team made is printed as its id alone on stdout, so a script can give it to `keys create --team`; the
 * rest goes to stderr.
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { definedFields } from "../internal/json.js"
import * as AdminApi from "./adminApi.js"
import type { Io } from "./io.js"
import { listFlag, teamsUsage, type UsageError } from "./usage.js"

const flags = {
  ...AdminApi.commonFlags,
  name: { type: "string" },
  budget: { type: "string" },
  period: { type: "string" },
  "no-budget": { type: "boolean" },
  tools: { type: "string" },
  "no-tools": { type: "boolean" }
} as const

type Action =
  | { readonly verb: "create"; readonly body: Record<string, unknown> }
  | { readonly verb: "list" }
  | { readonly verb: "show"; readonly id: string }
  | { readonly verb: "update"; readonly id: string; readonly body: Record<string, unknown> }
  | { readonly verb: "delete"; readonly id: string }

type Parsed = AdminApi.Parsed<Action>

const parse = (argv: ReadonlyArray<string>): Result.Result<Parsed | "help", UsageError> =>
  AdminApi.parseActions(
    "teams",
    "create, list, show, update or delete",
    argv,
    flags,
    ({ argument, onlyFor, values, verb }) =>
      Result.gen(function*() {
        switch (verb) {
          case "create": {
            const name = yield* argument("the team's NAME")
            yield* onlyFor(["budget", "period", "tools"])
            const budget = yield* AdminApi.budgetFlags(values)
            return { verb, body: definedFields({ name, budget, tools: listFlag(values.tools) }) }
          }
          case "show":
          case "delete": {
            const id = yield* argument("the team's ID (teams list)")
            yield* onlyFor([])
            return { verb, id }
          }
          case "update": {
            const id = yield* argument("the team's ID (teams list)")
            // A new name, a new budget or none (`--no-budget`), new tools or none; at least one of them.
            const budget = yield* AdminApi.budgetFlags(values)
            const body = yield* AdminApi.recordBody(values, [
              ["name", values.name],
              ["budget", budget, "no-budget"],
              ["tools", listFlag(values.tools), "no-tools"]
            ], "teams update needs --name, --budget, --no-budget, --tools or --no-tools")
            return { verb, id, body }
          }
        }
      })
  )

/** A team as the admin API shows it (`GET /admin/teams`), the fields printed here; it may have more. */
const TeamView = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  budget: Schema.optional(Schema.NullOr(Schema.Struct({ limit: Schema.Number, period: Schema.String }))),
  tools: Schema.optional(Schema.NullOr(Schema.Array(Schema.String)))
})
type TeamView = typeof TeamView.Type

/** `GET /admin/teams/{id}`: the team, the spend in its budget's current period, and its keys. */
const TeamDetail = Schema.Struct({
  ...TeamView.fields,
  spend: Schema.optional(Schema.NullOr(Schema.Struct({ spent: Schema.Number }))),
  keys: Schema.optional(Schema.Array(Schema.Struct({ id: Schema.String, name: Schema.String })))
})

const row = (team: TeamView): string =>
  AdminApi.tabbed([team.id, team.name, AdminApi.budgetCell(team.budget), AdminApi.toolsCell(team.tools)])

const teamRecords = { noun: "team", item: TeamView, header: "id\tname\tbudget\ttools", row }

function perform(parsed: Parsed, key: Redacted.Redacted<string>, io: Io) {
  return Effect.gen(function*() {
    const action = parsed.action
    const teams = AdminApi.recordsClient(teamRecords, parsed, key, io)
    switch (action.verb) {
      case "create": {
        const made = yield* teams.make({ item: TeamView, what: "team made", shown: (team) => team.id }, action.body)
        AdminApi.say(io, `made the team ${made.name} (id ${made.id}).`)
        return
      }
      case "list":
        return yield* teams.list
      case "show": {
        const { answer: team, whole } = yield* AdminApi.requestJson(teams.request("GET", action.id), TeamDetail, "team")
        if (parsed.json) {
          io.stdout(`${JSON.stringify(whole)}\n`)
          return
        }
        const spent = team.spend === null || team.spend === undefined ? "-" : `$${team.spend.spent}`
        const members = (team.keys ?? []).map((member) => `${member.name} (${member.id})`).join(", ")
        io.stdout(
          AdminApi.printable(`${team.name} (id ${team.id}): budget ${AdminApi.budgetCell(team.budget)}`) +
            `, spent ${spent} this period\n` + AdminApi.printable(`tools: ${AdminApi.toolsCell(team.tools)}`) + "\n" +
            AdminApi.printable(`keys: ${members === "" ? "none" : members}`) + "\n"
        )
        return
      }
      case "update":
        return yield* teams.update(action.id, action.body)
      case "delete":
        return yield* teams.remove(action.id, "deleted")
    }
  })
}

/**
 * Runs `teams`: 0 done, 1 refused or unreachable, 2 bad flags or no admin key.
 */
export const run = (argv: ReadonlyArray<string>, io: Io): Effect.Effect<number> =>
  AdminApi.runCommand("teams", teamsUsage, io, parse(argv), perform)
