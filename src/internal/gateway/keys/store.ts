/**
 * The keys and teams made at run time (the admin API, `admin/keys.ts`): the service `KeyStore`, over the gateway's
 * database (`layerSql`), which every instance on it shares, under one contract (`test/contract/keyStore.ts`).
 * Requests are authenticated against a copy in memory, without a query.
 *
 * The copy is read again whenever a cheap fingerprint of the tables moved (a database's row counts and the sum of their
 * `updated_at`, which every change moves forward, a team's deletion detaching its revoked keys included). Then only the
 * keys' ids and `updated_at` are scanned, and only the rows the copy lacks or holds at another `updated_at` are read
 * whole: a key's record unchanged stays the same object, in the same place (oldest first), as does a team's, so that
 * one change among many keys costs a scan, not a read and decode of every row, and those who build on the records
 * (`runtime.ts`) can tell by identity what changed. Every instance reads it every `refreshEvery`, so a key revoked on
 * one is refused by the others within about that time, and at once by the one that revoked it, which reloads before it
 * answers. A key is stored as its SHA-256 digest; a revoked key's row stays (its name taken), so its spend can be read.
 */
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import type * as Budget from "../../../Budget.js"
import { type StoreUnavailableError } from "../../../Store.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Sql from "../../persistence/sql.js"

/** A spend limit as the database keeps it. */
export interface BudgetLimit {
  readonly limit: number
  readonly period: Budget.Period
}

export interface TeamRecord {
  readonly id: string
  readonly name: string
  readonly budget?: BudgetLimit | undefined
  /** The MCP tools its keys may use, besides their own lists allowing them (`access/tools.ts`); none when undefined. */
  readonly tools?: ReadonlyArray<string> | undefined
  /** The names of the guardrails its keys' calls run, besides their own (docs/guardrails.md); none when undefined. */
  readonly guardrails?: ReadonlyArray<string> | undefined
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
  readonly createdAt: number
  readonly updatedAt: number
}

/** A key replaced by a rotation, valid until its grace period ends. */
export interface PreviousKey {
  /** Its SHA-256 digest, as hex. */
  readonly sha256: string
  /** Epoch ms. */
  readonly until: number
}

export interface KeyRecord {
  readonly id: string
  readonly name: string
  /** The key's SHA-256 digest, as hex. */
  readonly sha256: string
  /**
   * After rotations: the replaced keys' digests, each valid until its own grace period ends (`until`, epoch ms), so a
   * rotation keeps the grace an earlier one gave.
   */
  readonly previous: ReadonlyArray<PreviousKey>
  readonly teamId?: string | undefined
  readonly models?: ReadonlyArray<string> | undefined
  /** The MCP tools it may use: qualified names and globs (`access/tools.ts`); none when undefined. */
  readonly tools?: ReadonlyArray<string> | undefined
  /** The names of the guardrails its calls run (docs/guardrails.md); none when undefined. */
  readonly guardrails?: ReadonlyArray<string> | undefined
  readonly budget?: BudgetLimit | undefined
  readonly rateLimit?: { readonly capacity: number; readonly refillRate: number } | undefined
  /** Epoch ms. */
  readonly expiresAt?: number | undefined
  readonly metadata?: Readonly<Record<string, unknown>> | undefined
  readonly createdAt: number
  readonly updatedAt: number
  readonly revokedAt: number | undefined
}

/** What a change of a key writes: the columns given, `undefined` for those left as they are. */
export type KeyChange = Partial<Omit<KeyRecord, "id" | "createdAt" | "updatedAt">>

/** What a change of a team writes. */
export type TeamChange = Partial<Omit<TeamRecord, "id" | "createdAt" | "updatedAt">>

/** The keys' and teams' store. */
export interface Store {
  /** Every key made at run time, revoked ones included, as last read, oldest first. */
  readonly keys: () => ReadonlyArray<KeyRecord>
  /** Every team, as last read, oldest first. */
  readonly teams: () => ReadonlyArray<TeamRecord>
  /** Runs `listener` after each reload that found a change, before the reload is done. */
  readonly onChange: (listener: Effect.Effect<void>) => void
  /** Reads both tables again now, when they changed. */
  readonly reload: Effect.Effect<void, StoreUnavailableError>
  readonly insertKey: (key: KeyRecord) => Effect.Effect<void, StoreUnavailableError | NameTaken>
  readonly updateKey: (id: string, change: KeyChange) => Effect.Effect<void, StoreUnavailableError | NameTaken>
  readonly insertTeam: (team: TeamRecord) => Effect.Effect<void, StoreUnavailableError | NameTaken>
  readonly updateTeam: (id: string, change: TeamChange) => Effect.Effect<void, StoreUnavailableError | NameTaken>
  /** Deletes a team without live keys; its revoked keys are detached from it. */
  readonly deleteTeam: (id: string) => Effect.Effect<void, StoreUnavailableError>
}

/** A name another key or team has. */
export class NameTaken extends Data.TaggedError("NameTaken")<{}> {}

/** How often every instance looks for changes made by the others. */
export const refreshEvery = Duration.millis(500)

// Compared, never computed with: Postgres' exact `bigint`s and digits are kept as they are.
const Version = Schema.Union([Schema.String, Schema.Finite, Schema.BigInt])
const Versions = Schema.Struct({ key_count: Version, key_version: Version, team_count: Version, team_version: Version })

const List = Schema.NullOr(Schema.fromJsonString(Schema.Array(Schema.String)))
const Metadata = Schema.NullOr(Schema.fromJsonString(Schema.Record(Schema.String, Schema.Unknown)))
const BudgetColumns = { budget_limit: Schema.NullOr(Numeric), budget_period: Schema.NullOr(Schema.String) }

const TeamRow = tableRow("teams", {
  id: Schema.String,
  name: Schema.String,
  ...BudgetColumns,
  tools: List,
  guardrails: List,
  metadata: Metadata,
  created_at: Numeric,
  updated_at: Numeric
})

const KeyRow = tableRow("keys", {
  ...TeamRow.fields,
  sha256: Schema.String,
  previous_keys: Schema.NullOr(Schema.fromJsonString(Schema.Array(Schema.Struct({
    sha256: Schema.String,
    until: Schema.Finite
  })))),
  previous_sha256: Schema.NullOr(Schema.String),
  previous_valid_until: Schema.NullOr(Numeric),
  team_id: Schema.NullOr(Schema.String),
  models: List,
  rate_limit_capacity: Schema.NullOr(Numeric),
  rate_limit_refill_rate: Schema.NullOr(Numeric),
  expires_at: Schema.NullOr(Numeric),
  revoked_at: Schema.NullOr(Numeric)
})

/** The columns a reload scans to find the keys that changed. */
const KeyStamp = tableRow("keys", { id: Schema.String, updated_at: Numeric })

/** The most ids one statement reads the rows of (a bound on its parameters, which SQLite and Postgres limit). */
const readChunk = 500

const budgetOf = (row: { readonly budget_limit: number | null; readonly budget_period: string | null }) =>
  row.budget_limit === null || row.budget_period === null
    ? undefined
    : { limit: row.budget_limit, period: row.budget_period as Budget.Period }

// The replaced keys: the list, or the one key a database written before the list was kept holds.
const previousOf = (row: typeof KeyRow.Type): ReadonlyArray<PreviousKey> =>
  row.previous_keys ??
    (row.previous_sha256 === null || row.previous_valid_until === null
      ? []
      : [{ sha256: row.previous_sha256, until: row.previous_valid_until }])

const teamOf = (row: typeof TeamRow.Type): TeamRecord => ({
  id: row.id,
  name: row.name,
  budget: budgetOf(row),
  tools: row.tools ?? undefined,
  guardrails: row.guardrails ?? undefined,
  metadata: row.metadata ?? undefined,
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

// A key's row holds a team's columns, and its own.
const keyOf = (row: typeof KeyRow.Type): KeyRecord => ({
  ...teamOf(row),
  sha256: row.sha256,
  previous: previousOf(row),
  teamId: row.team_id ?? undefined,
  models: row.models ?? undefined,
  rateLimit: row.rate_limit_capacity === null || row.rate_limit_refill_rate === null
    ? undefined
    : { capacity: row.rate_limit_capacity, refillRate: row.rate_limit_refill_rate },
  expiresAt: row.expires_at ?? undefined,
  revokedAt: row.revoked_at ?? undefined
})

const orNull = <A>(value: A | undefined): A | null => value ?? null
const jsonOrNull = (value: unknown): string | null => value === undefined ? null : JSON.stringify(value)

/** A team's columns as written. */
const teamColumns = (change: TeamChange): Record<string, unknown> => {
  const columns: Record<string, unknown> = {}
  if ("name" in change) columns["name"] = change.name
  if ("budget" in change) {
    columns["budget_limit"] = orNull(change.budget?.limit)
    columns["budget_period"] = orNull(change.budget?.period === undefined ? undefined : String(change.budget.period))
  }
  for (const list of ["tools", "guardrails", "metadata"] as const) {
    if (list in change) columns[list] = jsonOrNull(change[list])
  }
  return columns
}

/** A key's columns as written: a team's, and its own. */
const keyColumns = (change: KeyChange): Record<string, unknown> => {
  const columns = teamColumns(change)
  if ("sha256" in change) columns["sha256"] = change.sha256
  if ("previous" in change) {
    // The last replaced also in the columns of one, as a version before the list reads it.
    const last = change.previous?.at(-1)
    columns["previous_keys"] = jsonOrNull(change.previous)
    columns["previous_sha256"] = orNull(last?.sha256)
    columns["previous_valid_until"] = orNull(last?.until)
  }
  if ("teamId" in change) columns["team_id"] = orNull(change.teamId)
  if ("models" in change) columns["models"] = jsonOrNull(change.models)
  if ("rateLimit" in change) {
    columns["rate_limit_capacity"] = orNull(change.rateLimit?.capacity)
    columns["rate_limit_refill_rate"] = orNull(change.rateLimit?.refillRate)
  }
  if ("expiresAt" in change) columns["expires_at"] = orNull(change.expiresAt)
  if ("revokedAt" in change) columns["revoked_at"] = orNull(change.revokedAt)
  return columns
}

export class KeyStore extends Context.Service<KeyStore, Store>()("effect-llm-router/gateway/keys/KeyStore") {}

/**
 * Keys and teams in the gateway's database (tables `keys` and `teams`), which every instance on it shares: read at
 * start (failing when they cannot be), and again whenever they changed (at the store's `reload`, and every
 * `refreshEvery` on a database other instances change), for the scope's life.
 */
export const layerSql: Layer.Layer<KeyStore, StoreUnavailableError, Sql.Database> = Layer.effect(
  KeyStore,
  Effect.gen(function*() {
    const { sql, step, transaction } = yield* Sql.steps
    const { unshared } = yield* Sql.Database
    // A write whose unique name (a key's or a team's) another row has: `NameTaken`.
    const named = <A>(what: string, effect: Effect.Effect<A, SqlError>) =>
      step(
        what,
        Effect.catchIf(
          effect,
          (error) => error.reason._tag === "UniqueViolation",
          () => Effect.fail(new NameTaken())
        )
      )
    // A change's `updated_at`, in the statement: now, or one past the row's last when the clock has not moved on since.
    const stamp = (now: number) => sql`CASE WHEN updated_at >= ${now} THEN updated_at + 1 ELSE ${now} END`
    let keys: ReadonlyArray<KeyRecord> = []
    let teams: ReadonlyArray<TeamRecord> = []
    // A value that changes with every change of either table.
    let fingerprint: string | undefined
    const listeners: Array<Effect.Effect<void>> = []

    // The fingerprint, each value in text: numbers and bigints alike.
    const versions = step(
      "reading the keys",
      Effect.map(
        Sql.rows(
          Versions,
          sql`SELECT
          (SELECT COUNT(*) FROM keys) AS key_count, (SELECT COALESCE(SUM(updated_at), 0) FROM keys) AS key_version,
          (SELECT COUNT(*) FROM teams) AS team_count, (SELECT COALESCE(SUM(updated_at), 0) FROM teams) AS team_version`
        ),
        (rows) => rows.flatMap((row) => Object.values(row).map(String)).join(":")
      )
    )

    // The keys now, oldest first: the copy's record of a key whose `updated_at` is the one it read, else the row read
    // whole. A scan of the ids and stamps stays cheap among many keys, where reading and decoding every row did not.
    const readKeys = Effect.gen(function*() {
      const stamps = yield* step(
        "reading the keys",
        Sql.rows(KeyStamp, sql`SELECT id, updated_at FROM keys ORDER BY created_at, id`)
      )
      const held = new Map(keys.map((key) => [key.id, key]))
      const kept = (stamp: typeof KeyStamp.Type) => {
        const key = held.get(stamp.id)
        return key !== undefined && key.updatedAt === stamp.updated_at ? key : undefined
      }
      const changed = stamps.filter((stamp) => kept(stamp) === undefined).map(({ id }) => id)
      const read = new Map<string, KeyRecord>()
      for (const chunk of Arr.chunksOf(changed, readChunk)) {
        const rows = yield* step(
          "reading the keys",
          Sql.rows(KeyRow, sql`SELECT * FROM keys WHERE ${sql.in("id", chunk)}`)
        )
        for (const row of rows) read.set(row.id, keyOf(row))
      }
      // A row gone between the scan and its read is left out, as the next scan would find it gone.
      return stamps.flatMap((stamp) => {
        const key = kept(stamp) ?? read.get(stamp.id)
        return key === undefined ? [] : [key]
      })
    })

    // The teams, read whole (they are few), the copy's record kept for a team whose `updated_at` has not moved, so
    // those reading them (`runtime.ts`) can tell it unchanged by its identity.
    const readTeams = Effect.map(
      step("reading the teams", Sql.rows(TeamRow, sql`SELECT * FROM teams ORDER BY created_at, id`)),
      (rows) => {
        const held = new Map(teams.map((team) => [team.id, team]))
        return rows.map((row) => {
          const kept = held.get(row.id)
          return kept !== undefined && kept.updatedAt === row.updated_at ? kept : teamOf(row)
        })
      }
    )

    const load = Effect.gen(function*() {
      const seen = yield* versions
      if (seen === fingerprint) return
      const read = yield* Effect.all({ keys: readKeys, teams: readTeams })
      keys = read.keys
      teams = read.teams
      fingerprint = seen
      // The listeners of now: one added while they run waits for the next change.
      yield* Effect.forEach([...listeners], (listener) => listener, { discard: true })
    })

    const store: Store = {
      keys: () => keys,
      teams: () => teams,
      onChange: (listener) => {
        listeners.push(listener)
      },
      reload: load,
      insertKey: (key) =>
        named(
          "making a key",
          sql`INSERT INTO keys ${
            sql.insert({ id: key.id, ...keyColumns(key), created_at: key.createdAt, updated_at: key.updatedAt })
          }`
        ),
      updateKey: (id, change) => {
        const columns = keyColumns(change)
        return Object.keys(columns).length === 0 ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) =>
          named(
            "changing a key",
            sql`UPDATE keys SET ${sql.update(columns)}, updated_at = ${stamp(now)} WHERE id = ${id}`
          ))
      },
      insertTeam: (team) =>
        named(
          "making a team",
          sql`INSERT INTO teams ${
            sql.insert({ id: team.id, ...teamColumns(team), created_at: team.createdAt, updated_at: team.updatedAt })
          }`
        ),
      updateTeam: (id, change) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const columns = teamColumns(change)
          const set = Object.keys(columns).length === 0 ? sql`` : sql`${sql.update(columns)},`
          return named("changing a team", sql`UPDATE teams SET ${set} updated_at = ${stamp(now)} WHERE id = ${id}`)
        }),
      deleteTeam: (id) =>
        transaction(
          "deleting a team",
          Effect.andThen(
            // Stamped as any change: a reload reads again only the keys whose `updated_at` moved.
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              sql`UPDATE keys SET team_id = NULL, updated_at = ${stamp(now)}
                WHERE team_id = ${id} AND revoked_at IS NOT NULL`),
            Effect.asVoid(sql`DELETE FROM teams WHERE id = ${id}`)
          )
        )
    }
    yield* load
    if (unshared !== true) {
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(refreshEvery), Effect.ignore(load))))
    }
    return store
  })
)
