/**
 * The audit chain's points written outside the database (docs/identity.md, "Anchoring the head"): whoever can write the
 * database can rewrite the chain with digests made anew, and `verify` alone would find it intact; a head kept elsewhere
 * is a row the rewritten chain no longer holds. The gateway appends its head as a JSON line to the file
 * `gateway.audit.anchor` names at start, every `every` while it moves, and at shutdown; retention appends each base it
 * cuts (`retention.ts`). `audit verify --anchor <file>` checks that the chain holds every point and starts after none
 * but a base.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import { appendFileSync } from "node:fs"
import { messageOf } from "../../errorText.js"
import { parseJson } from "../../json.js"
import type * as Chain from "./chain.js"
import type { AuditLog } from "./store.js"

/** How often the head is written when the configuration does not say. */
export const defaultEvery = Duration.minutes(1)

/** Where and how often the head is written. */
export interface Settings {
  /** The file the heads are appended to, one JSON line each. */
  readonly file: string
  readonly every: Duration.Duration
}

/** `point` as the anchor file's line. */
export function lineOf(point: Chain.Anchored): string {
  const at = new Date(point.at).toISOString()
  return `${
    JSON.stringify(
      point.kind === "head"
        ? { at, kind: point.kind, seq: point.seq, digest: point.digest }
        : {
          at,
          kind: point.kind,
          seq: point.seq,
          digest: point.digest,
          row_at: new Date(point.rowAt).toISOString(),
          retention_ms: point.retention
        }
    )
  }\n`
}

// The field `name` of a line's `value`, if it has one.
function field(value: object, name: string): unknown {
  return name in value ? (value as Readonly<Record<string, unknown>>)[name] : undefined
}

// The epoch milliseconds of an ISO time, or undefined when `value` is none.
function instant(value: unknown): number | undefined {
  const millis = typeof value === "string" ? Date.parse(value) : Number.NaN
  return Number.isFinite(millis) ? millis : undefined
}

// The point one line's `value` is, or what it lacks.
function pointOf(value: unknown): Result.Result<Chain.Anchored, string> {
  if (typeof value !== "object" || value === null) return Result.fail("is not a JSON object")
  const seq = field(value, "seq")
  const digest = field(value, "digest")
  const at = instant(field(value, "at"))
  // Lines written before points had kinds are heads: a base they hold never starts the chain (docs/identity.md).
  const kind = field(value, "kind") ?? "head"
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
    return Result.fail("has no \"seq\" (a whole number, 0 or more)")
  }
  if (typeof digest !== "string" || !/^[0-9a-f]{64}$/.test(digest)) {
    return Result.fail("has no \"digest\" (64 hex digits)")
  }
  if (at === undefined) return Result.fail("has no \"at\" (an ISO time)")
  if (kind === "head") return Result.succeed({ kind, seq, digest, at })
  if (kind !== "base") return Result.fail("has a \"kind\" that is neither \"head\" nor \"base\"")
  const rowAt = instant(field(value, "row_at"))
  const retention = field(value, "retention_ms")
  if (rowAt === undefined) return Result.fail("is a base with no \"row_at\" (an ISO time)")
  if (typeof retention !== "number" || !Number.isSafeInteger(retention) || retention < 0) {
    return Result.fail("is a base with no \"retention_ms\" (a whole number, 0 or more)")
  }
  return Result.succeed({ kind, seq, digest, at, rowAt, retention })
}

/** The points an anchor file's `text` holds, or what is wrong with it: the first line that is not one, by number. */
export function parse(text: string): Result.Result<ReadonlyArray<Chain.Anchored>, string> {
  const points: Array<Chain.Anchored> = []
  for (const [index, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue
    const value = parseJson(line)
    if (Option.isNone(value)) return Result.fail(`line ${index + 1} is not JSON`)
    const point = pointOf(value.value)
    if (Result.isFailure(point)) return Result.fail(`line ${index + 1} ${point.failure}`)
    points.push(point.success)
  }
  return points.length === 0 ? Result.fail("it holds no head") : Result.succeed(points)
}

/** `point` appended to the anchor `file` (and logged as an `audit_head` or `audit_base` line), or why not. */
export const append = Effect.fnUntraced(function*(file: string, point: Chain.Anchored) {
  // One short line a minute at most: written at once, so the line is down before the next step (or the shutdown).
  yield* Effect.try({
    try: () => appendFileSync(file, lineOf(point), { mode: 0o600 }),
    catch: (cause) => new Error(`${file}: ${messageOf(cause)}`)
  })
  yield* Effect.logInfo(`audit_${point.kind}`).pipe(
    Effect.annotateLogs(
      point.kind === "head"
        ? { audit_head_seq: point.seq, audit_head_digest: point.digest }
        : {
          audit_base_seq: point.seq,
          audit_base_digest: point.digest,
          audit_base_row_at: new Date(point.rowAt).toISOString(),
          audit_base_retention_ms: point.retention
        }
    )
  )
})

/**
 * The head of `log` written to `settings.file` now, every `settings.every` after while it moves, and once more when
 * the scope closes (the gateway's shutdown). A write that fails is logged as an error and tried again at the next.
 */
export const write = Effect.fnUntraced(function*(log: AuditLog, settings: Settings) {
  let written: Chain.Head | undefined
  const once = Effect.gen(function*() {
    const head = yield* log.head
    if (written !== undefined && written.seq === head.seq && written.digest === head.digest) return
    yield* append(settings.file, { kind: "head", ...head, at: yield* Clock.currentTimeMillis })
    written = head
  }).pipe(
    Effect.catch((error) =>
      Effect.logError("Gateway: the audit log's head could not be written to its anchor").pipe(
        Effect.annotateLogs({ anchor: settings.file, reason: error.message })
      )
    )
  )
  yield* once
  yield* Effect.forkScoped(Effect.repeat(once, Schedule.spaced(settings.every)).pipe(Effect.delay(settings.every)))
  yield* Effect.addFinalizer(() => once)
})
