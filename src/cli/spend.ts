/**
 * `effect-llm-router spend`: a running gateway's spend from its request log (`GET /admin/spend`), as a table per key,
 * team, model or deployment over a time range, or the gateway's JSON with `--json`. The admin key is never a flag, so
 * it stays out of the shell's history and the process list.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { summed } from "../internal/gateway/observe/requestTable.js"
import { definedFields } from "../internal/json.js"
import * as AdminApi from "./adminApi.js"
import { ExitCode, type Io, runParsed } from "./io.js"
import { failUsage, spendUsage, type UsageError } from "./usage.js"

const groups = ["key", "team", "model", "deployment"] as const

const flags = {
  ...AdminApi.commonFlags,
  "group-by": { type: "string" },
  from: { type: "string" },
  to: { type: "string" }
} as const

interface Args {
  readonly url: string
  /** The data directory of the `serve` whose token is the admin key, unless the environment gives one. */
  readonly data: string | undefined
  readonly groupBy: string
  readonly from: string | undefined
  readonly to: string | undefined
  readonly json: boolean
}

const parse = (argv: ReadonlyArray<string>, now: number): Result.Result<Args | "help", UsageError> =>
  Result.gen(function*() {
    const parsed = yield* AdminApi.gatewayCommandFlags("spend", argv, flags)
    if (parsed === "help") return parsed
    const { url, values } = parsed
    const groupBy = values["group-by"] ?? "model"
    if (!(groups as ReadonlyArray<string>).includes(groupBy)) {
      return yield* failUsage(`--group-by needs one of ${groups.join(", ")}, got "${groupBy}"`)
    }
    const from = yield* AdminApi.timeFlag("from", values.from, now)
    const to = yield* AdminApi.timeFlag("to", values.to, now)
    return { url, data: values.data, groupBy, from, to, json: values.json === true }
  })

/** A group of `GET /admin/spend`'s answer, the fields printed here. */
const Group = Schema.Struct({
  group: Schema.NullOr(Schema.String),
  /** Grouped by key or team: its name (`group` is its id). */
  name: Schema.optional(Schema.NullOr(Schema.String)),
  /** Grouped by model or deployment: the MCP server of the tool calls of a group without one. */
  mcp_server: Schema.optional(Schema.NullOr(Schema.String)),
  /** Model calls and MCP tool calls. */
  calls: Schema.Number,
  /** The group's requests that are not calls (MCP protocol messages, file uploads, batch reads). */
  other_requests: Schema.optional(Schema.Number),
  cost: Schema.Number,
  input_tokens: Schema.Number,
  output_tokens: Schema.Number,
  cached_tokens: Schema.Number,
  cache_write_tokens: Schema.Number,
  /** US dollars the prompt cache saved the group's calls, net of its writes' premiums (negative if they cost more). */
  cache_savings: Schema.Number
})

/** `GET /admin/spend`'s answer, the fields printed here. */
const Answer = Schema.Struct({
  group_by: Schema.String,
  from: Schema.Number,
  to: Schema.Number,
  groups: Schema.Array(Group)
})
type Answer = typeof Answer.Type

type Group = typeof Group.Type

// The table's numeric columns, in order; the dollar ones shown to the micro-dollar.
const columns = ["calls", ...summed] as const
type Sums = { readonly [K in typeof columns[number]]: number }

// A group of requests that are not calls alone: nothing to show in the table's columns.
const onlyOtherRequests = (group: Group): boolean => columns.every((column) => group[column] === 0)

// The requests that are not calls, apart from the table: their count, if there are any.
const otherRequestsLine = (groups: ReadonlyArray<Group>): string => {
  const others = groups.reduce((sum, group) => sum + (group.other_requests ?? 0), 0)
  return others === 0
    ? ""
    : `Not counted as calls: ${others} other request(s) (MCP protocol messages, file uploads and reads, batch ` +
      "reads, requests refused before their model was read).\n"
}

// A sum of floating-point dollars may come out as -0.0000001: shown to the micro-dollar, it is no saving.
const dollars = (value: number) => {
  const shown = Math.abs(value) < 5e-7 ? 0 : value
  return `${shown < 0 ? "-" : ""}$${Math.abs(shown).toFixed(6)}`
}

const numbers = (sums: Sums): Array<string> =>
  columns.map((column) =>
    column === "cost" || column === "cache_savings" ? dollars(sums[column]) : String(sums[column])
  )

/**
 * The answer as a table: a row per group with calls, the costliest first, and their total; then the other requests'
 * count. By key or team, a row shows name and id (two keys may have shared a name; a deleted team has none). `CACHED`
 * and `WRITTEN` are prompt-cache reads and writes, `SAVED` what caching saved (negative where premium writes cost more
 * than the reads saved). A range from the log's start reads "all time".
 */
const table = (answer: Answer): string => {
  const named = answer.group_by === "key" || answer.group_by === "team"
  const header = [
    answer.group_by.toUpperCase(),
    ...(named ? ["ID"] : []),
    "CALLS",
    "COST",
    "INPUT",
    "OUTPUT",
    "CACHED",
    "WRITTEN",
    "SAVED"
  ]
  const text = (value: string | null | undefined) =>
    value === null || value === undefined ? "(none)" : AdminApi.printable(value)
  const total = Object.fromEntries(
    columns.map((column) => [column, answer.groups.reduce((sum, group) => sum + group[column], 0)])
  ) as Sums
  const rows = [
    header,
    ...answer.groups.filter((group) => !onlyOtherRequests(group)).map((group) => [
      ...(named
        ? [text(group.name), text(group.group)]
        : [
          group.group === null && typeof group.mcp_server === "string"
            ? `(MCP tools: ${AdminApi.printable(group.mcp_server)})`
            : text(group.group)
        ]),
      ...numbers(group)
    ]),
    ["TOTAL", ...(named ? [""] : []), ...numbers(total)]
  ]
  const to = new Date(answer.to * 1000).toISOString()
  const range = answer.from === 0 ? `all time to ${to}` : `${new Date(answer.from * 1000).toISOString()} to ${to}`
  return `Spend by ${answer.group_by}, ${range}\n${AdminApi.aligned(rows, named ? 2 : 1)}${
    otherRequestsLine(answer.groups)
  }`
}

const fetchSpend = (args: Args, key: Redacted.Redacted<string> | undefined) => {
  const query = new URLSearchParams(definedFields({ group_by: args.groupBy, from: args.from, to: args.to }))
  return AdminApi.requestJson(
    { url: args.url, key, method: "GET", path: `/admin/spend?${query}` },
    Answer,
    "spend report"
  )
}

/**
 * Runs `spend`: prints the table (or the JSON) on stdout. Gives 2 for bad flags, 1 when the gateway cannot be reached
 * or refuses.
 */
export const run = (argv: ReadonlyArray<string>, io: Io): Effect.Effect<number> =>
  runParsed(
    io,
    "spend",
    spendUsage,
    Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fromResult(parse(argv, now))),
    (args, secrets) =>
      AdminApi.withAdminAccess(io, args, secrets, (key) =>
        Effect.map(fetchSpend(args, key), ({ answer, text }) => {
          io.stdout(args.json ? `${text}\n` : table(answer))
          return ExitCode.ok
        }))
  )
