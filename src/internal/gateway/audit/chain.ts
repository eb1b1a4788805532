/**
 * The admin audit log's chain (docs/identity.md, "Audit log"): each row's `digest` is the SHA-256 of the previous row's
 * digest and this row's canonical JSON (`content`), so a row edited, deleted or moved breaks every digest from it on.
 * The head (last `seq` and digest) is kept beside the rows, so that rows deleted from the end are found, and written
 * outside the database (`anchor.ts`), so that a chain rewritten whole is found against it. Retention deletes rows from
 * the start (`retention.ts`), the chain then starting after its base, the last row deleted, which is anchored first,
 * marked a base, so that a chain starting anywhere else is found.
 */
import { hash } from "node:crypto"

/** What an admin action's outcome was: answered, refused (4xx), or failed (5xx). */
export type Outcome = "ok" | "refused" | "failed"

/** An admin action as it is recorded: who, what, on what, its values before and after, when, from where, how. */
export interface Entry {
  /** Epoch milliseconds, from the gateway's `Clock`. */
  readonly at: number
  /** Who (`actor.ts`): an admin key's name, `admin-token`, or for a refusal `unknown` or the key's digest prefix. */
  readonly actor: string
  /** The method and route pattern: `POST /admin/keys`, `PATCH /admin/keys/:id`. */
  readonly action: string
  /** The object's id (a key's, a team's, `server/tool`), or null when the action names none. */
  readonly object: string | null
  /** The object's values before, as canonical JSON text (secrets never), or null. */
  readonly before: string | null
  /** The object's values after, as canonical JSON text (secrets never), or null. */
  readonly after: string | null
  readonly outcome: Outcome
  /** The answer's HTTP status. */
  readonly status: number
  /** A refusal's or failure's code (`admin_key_required`), or null. */
  readonly code: string | null
  /** The address the request came from, or null when the connection gave none. */
  readonly from: string | null
}

/** A recorded row: its entry, its place in the chain and its digest. */
export interface Row extends Entry {
  /** 1 for the first row, each next one more by one. */
  readonly seq: number
  readonly digest: string
}

/** The chain's head: its last row's `seq` and digest (`0` and `genesis` before the first). */
export interface Head {
  readonly seq: number
  readonly digest: string
}

/**
 * A point of the chain written outside the database (`anchor.ts`), when (`at`, epoch milliseconds): a head the chain
 * passed through, which it must still hold; or a base retention cut it at (`retention.ts`), the only kind of point the
 * chain may start after.
 */
export type Anchored = AnchoredHead | AnchoredBase

/** A head the chain passed through. */
export interface AnchoredHead extends Head {
  readonly kind: "head"
  readonly at: number
}

/** A base retention cut the chain at: its last row deleted, written at `rowAt`, past `retention` at `at`. */
export interface AnchoredBase extends Head {
  readonly kind: "base"
  readonly at: number
  readonly rowAt: number
  /** The retention the rows were deleted by, in milliseconds. */
  readonly retention: number
}

/** Whether `base`'s row was past its retention when it was cut: whether it is a base retention would make. */
export function pastRetention(base: AnchoredBase): boolean {
  return base.rowAt < base.at - base.retention
}

/** The digest the first row follows. */
export const genesis = "0".repeat(64)

export const emptyHead: Head = { seq: 0, digest: genesis }

/** The text a row's digest covers: its fields in one fixed order. */
function content(seq: number, entry: Entry): string {
  return JSON.stringify([
    seq,
    entry.at,
    entry.actor,
    entry.action,
    entry.object,
    entry.before,
    entry.after,
    entry.outcome,
    entry.status,
    entry.code,
    entry.from
  ])
}

/** The digest of `entry` as row `seq` after a row whose digest is `previous`. */
export function digestOf(previous: string, seq: number, entry: Entry): string {
  return hash("sha256", `${previous}\n${content(seq, entry)}`, "hex")
}

/** `entry` chained after `head`: the next row. */
export function next(head: Head, entry: Entry): Row {
  const seq = head.seq + 1
  return { ...entry, seq, digest: digestOf(head.digest, seq, entry) }
}

/** Where a chain is broken: the first row that does not follow, and why. */
export interface Break {
  /** The row found broken (for rows deleted from the end, the head's `seq`). */
  readonly seq: number
  readonly reason: string
}

// Why the chain may not start after `base`, by `anchors`: only a base retention cut it at, past the retention, may.
function startBreak(anchors: ReadonlyArray<Anchored>, base: Head): Break | undefined {
  if (base.seq === 0) return undefined
  const there = anchors.filter((point) => point.seq === base.seq && point.digest === base.digest)
  const cuts = there.filter((point): point is AnchoredBase => point.kind === "base")
  if (cuts.some(pastRetention)) return undefined
  const starts = `the chain starts after row ${base.seq} (the rows up to it deleted by retention), but the anchor holds`
  const young = cuts[0]
  return {
    seq: base.seq,
    reason: young !== undefined
      ? `${starts} it as a base cut at ${new Date(young.at).toISOString()} whose row was written at ` +
        `${new Date(young.rowAt).toISOString()}, within its retention (${young.retention} ms): no retention base`
      : there.length > 0
      ? `${starts} row ${base.seq} only as a head the chain passed through, not as a retention base: rows were ` +
        "deleted from its start (or all of them) up to an anchored head, and its base written to agree"
      : `${starts} no retention base there: rows were deleted from its start, and its base written to agree`
  }
}

/** A walk along the chain, fed the rows in `seq` order a batch at a time. */
export interface Walk {
  /** The rows next in `seq` order; the first break found, once found. */
  readonly feed: (rows: ReadonlyArray<Row>) => Break | undefined
  /** Once every row is fed: the break between the last row and the head, if any, and how many rows were read. */
  readonly end: (head: Head) => { readonly broken: Break | undefined; readonly rows: number }
}

/**
 * A walk from the chain's start, after its `base` (the last row retention deleted); with `anchors` (`anchor.ts`) it
 * also finds a chain that does not hold each of them from its base on (rewritten from that row or before, or cut
 * short), and one that starts after anything but a base retention cut it at (rows deleted from its start, the base
 * written to agree).
 */
export function walk(anchors: ReadonlyArray<Anchored> = [], base: Head = emptyHead): Walk {
  let last: Head = base
  let rows = 0
  let broken: Break | undefined = anchors.length > 0 ? startBreak(anchors, base) : undefined
  const anchored = new Map<number, Array<string>>()
  for (const head of anchors) anchored.set(head.seq, [...(anchored.get(head.seq) ?? []), head.digest])
  const lastAnchored = anchors.reduce((highest, head) => Math.max(highest, head.seq), 0)
  return {
    feed: (batch) => {
      for (const row of batch) {
        if (broken !== undefined) return broken
        rows++
        if (row.seq !== last.seq + 1) {
          broken = row.seq > last.seq + 1
            ? {
              seq: row.seq,
              reason: `row ${row.seq} follows row ${last.seq}: ${
                row.seq - last.seq === 2 ? `row ${last.seq + 1} was` : `rows ${last.seq + 1} to ${row.seq - 1} were`
              } deleted`
            }
            : { seq: row.seq, reason: `row ${row.seq} is out of order (after row ${last.seq})` }
        } else if (digestOf(last.digest, row.seq, row) !== row.digest) {
          broken = {
            seq: row.seq,
            reason: `row ${row.seq} does not match its digest: it was edited, or rows were moved or deleted before it`
          }
        } else if (anchored.get(row.seq)?.some((digest) => digest !== row.digest) === true) {
          broken = {
            seq: row.seq,
            reason: `row ${row.seq} is not the row the anchor holds (its digest was ${
              anchored.get(row.seq)!.find((digest) => digest !== row.digest)
            }): the chain was rewritten from this row or before it`
          }
        }
        last = { seq: row.seq, digest: row.digest }
      }
      return broken
    },
    end: (head) => {
      if (broken === undefined && head.seq !== last.seq) {
        broken = head.seq > last.seq
          ? {
            seq: head.seq,
            reason: `the chain's head is row ${head.seq}, but the last row is ${last.seq}: ${
              head.seq - last.seq === 1 ? `row ${head.seq} was` : `rows ${last.seq + 1} to ${head.seq} were`
            } deleted`
          }
          : { seq: last.seq, reason: `row ${last.seq} is past the chain's head (row ${head.seq})` }
      } else if (broken === undefined && head.digest !== last.digest) {
        broken = { seq: head.seq, reason: `the chain's head does not match row ${head.seq}'s digest` }
      } else if (broken === undefined && lastAnchored > last.seq) {
        broken = {
          seq: lastAnchored,
          reason:
            `the anchor holds row ${lastAnchored}, but the chain ends at row ${last.seq}: rows were deleted from ` +
            "its end, and its head written back to agree"
        }
      }
      return { broken, rows }
    }
  }
}
