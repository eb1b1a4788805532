/**
 * `effect-llm-router audit`: the admin audit log (docs/identity.md, "Audit log").
 *
 * - `audit [list]` prints a running gateway's rows (`GET /admin/audit`), newest first, filtered by actor, action and
 *   time, as a table or with `--jsonl` as JSON lines (the gateway's export). The admin key is read as for `spend`.
 * - `audit verify` reads the gateway's database itself (`store.sql`, else the data directory's SQLite file), not the
 *   gateway's answer, so a row edited, deleted or moved is found whatever the gateway says. It walks the whole chain
 *   and prints the first broken row (exit 1), or the rows read and the head's digest (write it down: a chain rewritten
 *   whole from an earlier row ends on another digest). With `--anchor <file>` (`gateway.audit.anchor`) it also fails
 *   when the chain misses a head or base written there (rewritten, or cut short), or starts anywhere but at a base.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { existsSync, readFileSync } from "node:fs"
import * as Path from "node:path"
import { DatabaseError } from "../Gateway.js"
import type * as Gateway from "../Gateway.js"
import { messageOf } from "../internal/errorText.js"
import * as AuditAnchor from "../internal/gateway/audit/anchor.js"
import type * as Chain from "../internal/gateway/audit/chain.js"
import * as AuditStore from "../internal/gateway/audit/store.js"
import { definedFields } from "../internal/json.js"
import * as Database from "../internal/persistence/database.js"
import { describe } from "../internal/persistence/database.js"
import * as Sql from "../internal/persistence/sql.js"
import * as ProviderConfig from "../ProviderConfig.js"
import * as AdminApi from "./adminApi.js"
import * as AdminToken from "./adminToken.js"
import { ExitCode, type Io, runParsed, withEnv } from "./io.js"
import { auditUsage, failUsage, parseFlags, positiveIntegerFlag, UsageError } from "./usage.js"

const flags = {
  url: { type: "string" },
  data: { type: "string" },
  config: { type: "string" },
  anchor: { type: "string" },
  actor: { type: "string" },
  action: { type: "string" },
  from: { type: "string" },
  to: { type: "string" },
  limit: { type: "string" },
  jsonl: { type: "boolean" }
} as const

interface ListArgs {
  readonly _tag: "list"
  readonly url: string
  readonly data: string | undefined
  readonly query: URLSearchParams
  readonly jsonl: boolean
}

interface VerifyArgs {
  readonly _tag: "verify"
  readonly data: string
  readonly config: string | undefined
  /** The anchor file whose points the chain must hold (`gateway.audit.anchor`). */
  readonly anchor: string | undefined
}

const listFlags = ["url", "data", "actor", "action", "from", "to", "limit", "jsonl"]
const verifyFlags = ["data", "config", "anchor"]

const parse = (
  argv: ReadonlyArray<string>,
  io: Io,
  now: number
): Result.Result<ListArgs | VerifyArgs | "help", UsageError> =>
  Result.gen(function*() {
    const { positionals, values } = yield* parseFlags(argv, flags)
    if (values.help === true) return "help" as const
    const [action = "list", ...rest] = positionals
    if (rest.length > 0 || (action !== "list" && action !== "verify")) {
      return yield* failUsage(`audit takes list or verify, got "${positionals.join(" ")}"`)
    }
    yield* AdminApi.strayFlag(
      `audit ${action}`,
      values,
      Object.keys(flags),
      action === "list" ? listFlags : verifyFlags
    )
    if (action === "verify") {
      return {
        _tag: "verify" as const,
        data: AdminToken.dataDirectory(values.data, io.env),
        config: values.config,
        anchor: values.anchor
      }
    }
    const url = yield* AdminApi.gatewayUrl(values.url)
    const from = yield* AdminApi.timeFlag("from", values.from, now)
    const to = yield* AdminApi.timeFlag("to", values.to, now)
    const limit = yield* positiveIntegerFlag("limit", values.limit)
    const query = new URLSearchParams(
      definedFields({ actor: values.actor, action: values.action, from, to, limit: limit?.toString() })
    )
    return { _tag: "list" as const, url, data: values.data, query, jsonl: values.jsonl === true }
  })

/** A row of `GET /admin/audit`'s answer, the fields printed here. */
const Row = Schema.Struct({
  seq: Schema.Number,
  at: Schema.Number,
  actor: Schema.String,
  action: Schema.String,
  object: Schema.NullOr(Schema.String),
  outcome: Schema.String,
  status: Schema.Number,
  code: Schema.NullOr(Schema.String),
  from: Schema.NullOr(Schema.String)
})

const Page = Schema.Struct({ data: Schema.Array(Row), next_cursor: Schema.NullOr(Schema.String) })

const table = (rows: ReadonlyArray<typeof Row.Type>): string => {
  const header = ["SEQ", "AT", "ACTOR", "ACTION", "OBJECT", "OUTCOME", "FROM"]
  const lines = [
    header,
    ...rows.map((row) => [
      String(row.seq),
      new Date(row.at * 1000).toISOString(),
      AdminApi.printable(row.actor),
      AdminApi.printable(row.action),
      row.object === null ? "-" : AdminApi.printable(row.object),
      row.outcome === "ok" ? "ok" : `${row.outcome} ${row.status}${row.code === null ? "" : ` ${row.code}`}`,
      row.from ?? "-"
    ])
  ]
  return AdminApi.aligned(lines, header.length)
}

const list = (args: ListArgs, key: Redacted.Redacted<string> | undefined, io: Io) =>
  Effect.gen(function*() {
    const request = (query: URLSearchParams) => ({
      url: args.url,
      key,
      method: "GET" as const,
      path: `/admin/audit?${query}`
    })
    if (args.jsonl) {
      const query = new URLSearchParams(args.query)
      query.set("format", "jsonl")
      io.stdout(yield* AdminApi.requestJsonLines(request(query), Row, "audit log as JSON lines"))
      return
    }
    const { answer } = yield* AdminApi.requestJson(request(args.query), Page, "audit log page")
    io.stdout(table(answer.data))
    if (answer.next_cursor !== null) io.stdout("(more rows: narrow --from/--to, raise --limit, or use --jsonl)\n")
  })

/** The database `serve` would use: provider.json's, else the data directory's SQLite file. */
const databaseOf = (args: VerifyArgs) =>
  args.config === undefined
    ? Effect.succeed<Gateway.Database>({ sqlite: Path.join(args.data, "gateway.db") })
    : Effect.map(
      ProviderConfig.load(args.config).pipe(Effect.provide(NodeFileSystem.layer)),
      (config): Gateway.Database => config.database ?? { sqlite: Path.join(args.data, "gateway.db") }
    )

// The points the anchor file of `args` holds (none without one), or a usage error naming what is wrong with it.
function anchorsOf(args: VerifyArgs): Result.Result<ReadonlyArray<Chain.Anchored>, UsageError> {
  if (args.anchor === undefined) return Result.succeed([])
  let text: string
  try {
    text = readFileSync(args.anchor, "utf8")
  } catch (cause) {
    return failUsage(`--anchor ${args.anchor} cannot be read: ${messageOf(cause)}`)
  }
  return Result.mapError(
    AuditAnchor.parse(text),
    (reason) => new UsageError({ reason: `--anchor ${args.anchor} is not an audit anchor: ${reason}` })
  )
}

const verify = (args: VerifyArgs, io: Io, secrets: Array<Redacted.Redacted<string>>) =>
  Effect.gen(function*() {
    const anchors = yield* Effect.fromResult(anchorsOf(args))
    const database = yield* databaseOf(args)
    if ("postgres" in database) secrets.push(database.postgres)
    const where = describe(database)
    // Read, never made: a path with no database is named, not left with an empty one.
    if ("sqlite" in database && !existsSync(database.sqlite)) {
      return yield* new DatabaseError({ database: where, reason: "there is no database there (serve's --data?)" })
    }
    const sql = yield* Database.open(database)
    const found = yield* Effect.mapError(
      Effect.provide(
        AuditStore.AuditLogStore.use((log) => log.verify(anchors)),
        // However long the walk takes: the command is asked to read the whole chain.
        Layer.provide(
          AuditStore.layerSql,
          Layer.succeed(Sql.Database, { sql, bounds: { address: where, timeout: Duration.infinity } })
        )
      ),
      (cause) =>
        new DatabaseError({
          database: where,
          reason: "its audit log could not be read (a gateway's database, of a version with the audit log?)",
          cause
        })
    )
    if (found.broken !== undefined) {
      io.stdout(`The audit log of ${where} is broken at row ${found.broken.seq}: ${found.broken.reason}.\n`)
      return ExitCode.failed
    }
    const bases = anchors.filter((point) => point.kind === "base").length
    const anchored = anchors.length === 0
      ? ""
      : ` It holds the ${anchors.length - bases} head(s)${
        bases === 0 ? "" : ` and ${bases} base(s)`
      } of ${args.anchor}, ` +
        `the latest row ${Math.max(...anchors.map((point) => point.seq))}.`
    const pruned = found.base.seq === 0
      ? ""
      : ` It starts after row ${found.base.seq}: the rows up to it were deleted by retention.`
    io.stdout(
      `The audit log of ${where} is intact: ${found.rows} row(s); its head is row ${found.head.seq}, digest ` +
        `${found.head.digest}.${pruned}${anchored}\n`
    )
    return ExitCode.ok
  }).pipe(Effect.scoped)

/**
 * Runs `audit`: 2 for bad flags, 1 when the gateway or the database cannot be read, or `verify` finds the chain broken.
 */
export const run = (argv: ReadonlyArray<string>, io: Io): Effect.Effect<number> =>
  runParsed(
    io,
    "audit",
    auditUsage,
    Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fromResult(parse(argv, io, now))),
    (args, secrets) =>
      Effect.gen(function*() {
        if (args._tag === "verify") return yield* verify(args, io, secrets)
        return yield* AdminApi.withAdminAccess(io, args, secrets, (key) => Effect.as(list(args, key, io), ExitCode.ok))
      })
  ).pipe(withEnv(io))
