/**
 * The gateway's request log: a row per call, made when the request ends from the same record as the log line
 * (`observe/record.ts`), kept in its store (`requestLogStore.ts`: the database, else this process's memory). A request
 * only puts its row on a bounded queue, never waiting; one fiber gives the rows their ids and writes them in batches
 * (the rows within `linger` of the first), so neither a slow database nor one gone delays or fails a call, and SQLite's
 * costly transaction is paid once a batch (docs/performance.md). A row with no room, or refused by the store, is
 * dropped, counted and warned of. The same fiber sweeps the store and gives the space back, so the log, a database's
 * file included, stays bounded. On shutdown the queue is written out before the store closes, so a clean stop loses
 * nothing.
 *
 * A row holds no prompt and no reply unless payloads are logged (`Gateway.Options.logPayloads`), with every key the
 * gateway knows masked. Only calls get a row: not the gateway's own paths, a WebSocket's handshake (its requests get
 * theirs), or requests refused before they are authenticated (`serving/requests.ts` counts them).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as SecureRandom from "effect/crypto/SecureRandom"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { StoreUnavailableError } from "../../../Store.js"
import { scrub } from "../../llmError/errorInfo.js"
import * as Sql from "../../persistence/sql.js"
import * as Auth from "../access/authentication.js"
import * as Intake from "../intake.js"
import type { RequestRecord } from "./record.js"
import { RequestLogStore } from "./requestLogStore.js"
import * as Requests from "./requestTable.js"

/** How long rows are kept unless told otherwise. */
export const defaultRetention = Duration.days(30)
/** How many rows are kept at most unless told otherwise: the oldest beyond go. */
export const defaultMaxRows = 100_000
/** How many bytes of rows (`Requests.bytesOf`) are kept at most unless told otherwise: the oldest beyond go. */
export const defaultMaxBytes = 256 * 1024 * 1024

/** Rows waiting to be written at most by default; more are dropped. */
const defaultCapacity = 10_000
/** Rows written in one statement at most. */
const batchSize = 200
/** How long a batch waits for more rows after its first, unless it fills first or the log closes. */
export const linger = Duration.millis(100)
/** How often rows past the retention are deleted. */
const sweepInterval = Duration.hours(1)
/** The share of the row or byte bound whose writing brings the next sweep forward, so the bounds are kept closely. */
const sweepShare = 0.1

export interface RequestLogOptions {
  /** Whether a row holds the request's body and the reply's text (keys masked). */
  readonly logPayloads: boolean
  /** How long rows are kept. Default `defaultRetention`. */
  readonly retention?: Duration.Input | undefined
  /** How many rows are kept at most (the oldest beyond are deleted). Default `defaultMaxRows`. */
  readonly maxRows?: number | undefined
  /** How many bytes of rows (`Requests.bytesOf`) are kept at most (the oldest beyond go). Default `defaultMaxBytes`. */
  readonly maxBytes?: number | undefined
  /** The keys masked in a payload (besides the request's own key): the configuration's served now. */
  readonly secrets: () => ReadonlyArray<Redacted.Redacted<string>>
  /** Counts rows dropped (the metric). */
  readonly dropped: (count: number) => void
  /** Rows waiting to be written at most; more are dropped. Default 10,000. */
  readonly capacity?: number | undefined
}

/** Where each request's row goes when it ends. */
export interface RequestLog {
  /** Whether rows hold payloads: the requests' contexts then gather the request's body and the reply's text. */
  readonly logPayloads: boolean
  /** Queues the row of `record`'s request; never waits. */
  readonly record: (record: RequestRecord) => void
}

/**
 * Whether a request is a call, which gets a row: not a health check, a scrape or an admin path, nor a WebSocket's
 * handshake (each request the socket carries is a call of its own).
 */
const isCall = (record: RequestRecord): boolean => !Auth.open.has(record.path) && !record.socket

// A failure in a line: the store's reason, or a defect's message (its stack would swamp the log).
const why = (cause: Cause.Cause<StoreUnavailableError>): string => {
  const error = Cause.squash(cause)
  return Predicate.isTagged(error, "StoreUnavailableError")
    ? (error as StoreUnavailableError).reason
    : error instanceof Error
    ? error.message
    : String(error)
}

/** A call's row waiting for its id. */
type Queued = Omit<Requests.Row, "id">

const rowOf = (record: RequestRecord, payload: string | null): Queued => ({
  request_id: record.id,
  at: record.start,
  key_id: record.caller?.id ?? null,
  key_name: record.caller?.name ?? null,
  team_id: record.caller?.team ?? null,
  route: Intake.logged(record.path),
  model: record.model ?? null,
  deployment: record.deployment ?? null,
  status: record.status,
  input_tokens: record.usage?.promptTokens ?? null,
  output_tokens: record.usage?.completionTokens ?? null,
  cached_tokens: record.usage?.cachedPromptTokens ?? null,
  cache_write_tokens: record.usage?.cacheWriteTokens ?? null,
  cache_write_1h_tokens: record.usage?.cacheWrite1hTokens ?? null,
  cost: record.cost ?? null,
  cache_savings: record.cacheSavings ?? null,
  latency_ms: record.latency,
  first_token_ms: record.firstToken ?? null,
  error: record.error ?? null,
  payload,
  mcp_server: record.toolCall?.server ?? null,
  mcp_tool: record.toolCall?.tool ?? null,
  arguments_digest: record.toolCall?.argumentsDigest ?? null
})

/** The request log over the `RequestLogStore` provided, its writer running for the scope and flushed when it closes. */
export const make = (options: RequestLogOptions): Effect.Effect<RequestLog, never, RequestLogStore | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* RequestLogStore
    const clock = yield* Clock.Clock
    const retention = Duration.toMillis(Duration.fromInputUnsafe(options.retention ?? defaultRetention))
    const kept: Requests.Bounds = {
      rows: options.maxRows ?? defaultMaxRows,
      bytes: options.maxBytes ?? defaultMaxBytes
    }
    // What was written since the last sweep: a share of either bound brings the next one forward.
    let writtenRows = 0
    let writtenBytes = 0
    const queue = yield* Queue.make<Queued, Cause.Done>({
      capacity: options.capacity ?? defaultCapacity,
      strategy: "dropping"
    })
    // Rows dropped since the last warning, and why the last of them was.
    let unreported = 0
    let reason = "the queue was full"
    const drop = (count: number, because: string) => {
      unreported += count
      reason = because
      options.dropped(count)
    }
    const report = () => {
      if (unreported === 0) return Effect.void
      const count = unreported
      unreported = 0
      return Effect.logWarning("request log rows dropped").pipe(Effect.annotateLogs({ dropped: count, reason }))
    }
    // Each row's id a UUIDv7 (RFC 9562), made in the order the calls were queued: each sorts after the one before, so
    // its entry goes at the end of the table's primary key index, where a random id would land on any page, costing
    // more as the table grows. Made here, a batch at a time, not in the request: the random bytes of each are a call
    // into the system, which costs a request far more than a batch's run of them (docs/performance.md). The id's time
    // is the system's, which nothing reads; the row's are the `Clock`'s.
    const write = (queued: ReadonlyArray<Queued>) => {
      const rows = queued.map((row) => ({ id: SecureRandom.uuidV7Unsafe(), ...row }))
      return Effect.matchCause(store.write(rows), {
        onSuccess: () => {
          writtenRows += rows.length
          for (const row of rows) writtenBytes += Requests.bytesOf(row)
        },
        onFailure: (cause) => drop(rows.length, `the store refused them: ${why(cause)}`)
      })
    }
    const sweepDue = (now: number, nextSweep: number): boolean =>
      now >= nextSweep || writtenRows >= kept.rows * sweepShare || writtenBytes >= kept.bytes * sweepShare
    const sweep = (now: number) =>
      store.sweep({ now, before: now - retention, bounds: kept }).pipe(
        Effect.andThen(Effect.sync(() => {
          writtenRows = 0
          writtenBytes = 0
        })),
        Effect.catchCause((cause) =>
          Effect.logWarning("request log retention not applied").pipe(Effect.annotateLogs({ reason: why(cause) }))
        )
      )
    const sweepMillis = Duration.toMillis(sweepInterval)
    // Up to `room` more rows for a batch: those that come within the linger (all at once when they fill it, or when the
    // queue closes); none once the queue is closed and empty, or when there is no room.
    const more = (room: number) =>
      Effect.matchEffect(Effect.raceFirst(Queue.takeBetween(queue, room, room), clock.sleep(linger)), {
        onFailure: () => Effect.succeed([]),
        // The linger passed (the sleep won): what has come (a take of none would give none even with rows queued).
        onSuccess: (rows) =>
          rows !== undefined || Queue.sizeUnsafe(queue) === 0
            ? Effect.succeed(rows ?? [])
            : Queue.takeBetween(queue, 1, room)
      })
    // Batches as they come, and a sweep each interval (the first at start); ends once the queue is closed and empty.
    const writer = Effect.gen(function*() {
      let nextSweep = 0
      while (true) {
        const now = clock.currentTimeMillisUnsafe()
        if (sweepDue(now, nextSweep)) {
          yield* sweep(now)
          nextSweep = now + sweepMillis
        }
        // The rows, or none once the next sweep is due (the sleep won).
        const taken = yield* Effect.raceFirst(
          Queue.takeBetween(queue, 1, batchSize),
          Effect.sleep(Math.max(1, nextSweep - now))
        )
        if (taken !== undefined) yield* write([...taken, ...yield* more(batchSize - taken.length)])
        yield* report()
      }
    }).pipe(Effect.catchCause(report))
    const fiber = yield* Effect.forkDetach(writer)
    yield* Effect.addFinalizer(() =>
      Queue.end(queue).pipe(
        Effect.andThen(Fiber.join(fiber)),
        Effect.timeout(Sql.closeTimeout),
        Effect.catchCause(() => {
          drop(Queue.sizeUnsafe(queue), "the store did not take them before shutdown")
          return report()
        }),
        Effect.ensuring(Fiber.interrupt(fiber))
      )
    )

    const payloadOf = (record: RequestRecord): string | null => {
      const payload = record.payload
      if (payload === undefined) return null
      const text = JSON.stringify({ request: payload.request ?? null, reply: payload.reply })
      const secrets = options.secrets()
      return scrub(text, payload.key === undefined ? secrets : [...secrets, payload.key])
    }

    return {
      logPayloads: options.logPayloads,
      record: (record) => {
        if (isCall(record) && !Queue.offerUnsafe(queue, rowOf(record, payloadOf(record)))) drop(1, "the queue was full")
      }
    }
  })
