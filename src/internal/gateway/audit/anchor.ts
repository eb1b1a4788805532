/**
 * The audit chain's head written outside the database (docs/identity.md, "Anchoring the head"): whoever can write the
 * database can rewrite the chain from any row on with digests made anew, and `verify` alone would find it intact; a
 * head kept elsewhere is a row the rewritten chain no longer holds. The gateway appends its head, as one JSON line
 * (`{"at":"<ISO time>","seq":12,"digest":"<hex>"}`), to the file provider.json's `gateway.audit.anchor` names, at
 * start, every `every` (when it moved) and at shutdown, and logs each as an `audit_head` line; `audit verify
 * --anchor <file>` checks the chain holds every head the file holds (`chain.ts`' walk).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import { appendFileSync } from "node:fs"
import { messageOf } from "../../errorText.js"
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

/** `head` as the anchor file's line, written at `at` (epoch milliseconds). */
export function lineOf(head: Chain.Head, at: number): string {
  return `${JSON.stringify({ at: new Date(at).toISOString(), seq: head.seq, digest: head.digest })}\n`
}

/** The heads an anchor file's `text` holds, or what is wrong with it: the first line that is not a head, by number. */
export function parse(text: string): Result.Result<ReadonlyArray<Chain.Head>, string> {
  const heads: Array<Chain.Head> = []
  for (const [index, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      return Result.fail(`line ${index + 1} is not JSON`)
    }
    const seq = typeof value === "object" && value !== null && "seq" in value ? value.seq : undefined
    const digest = typeof value === "object" && value !== null && "digest" in value ? value.digest : undefined
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
      return Result.fail(`line ${index + 1} has no "seq" (a whole number, 0 or more)`)
    }
    if (typeof digest !== "string" || !/^[0-9a-f]{64}$/.test(digest)) {
      return Result.fail(`line ${index + 1} has no "digest" (64 hex digits)`)
    }
    heads.push({ seq, digest })
  }
  return heads.length === 0 ? Result.fail("it holds no head") : Result.succeed(heads)
}

/** `head` appended to the anchor `file` now (and logged as an `audit_head` line), or why it could not be. */
export const append = Effect.fnUntraced(function*(file: string, head: Chain.Head) {
  const at = yield* Clock.currentTimeMillis
  // One short line a minute at most: written at once, so the line is down before the next step (or the shutdown).
  yield* Effect.try({
    try: () => appendFileSync(file, lineOf(head, at), { mode: 0o600 }),
    catch: (cause) => new Error(`${file}: ${messageOf(cause)}`)
  })
  yield* Effect.logInfo("audit_head").pipe(
    Effect.annotateLogs({ audit_head_seq: head.seq, audit_head_digest: head.digest })
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
    yield* append(settings.file, head)
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
