/**
 * Tool pinning (docs/mcp.md): the gateway keeps a digest of each upstream tool's definition (its title, description,
 * input and output schemas and annotations) from the first time it sees the tool, its pin. A definition seen later
 * with another digest is held back: hidden from every key exactly as a denied tool is, logged (server and tool named),
 * counted, and listed under `GET /admin/mcp/pins` until an admin approves it, which pins the new definition. This
 * defends against a server that swaps a tool's description after it was trusted. A tool removed and added again with
 * its pinned definition is not held.
 *
 * The pins live in a store (`PinStore`): the gateway's database, so every instance on it agrees, or memory, for the
 * process's life, on a gateway without one. Definitions are seen when a configuration is built (at start and at each
 * reload, which lists every server's tools again). Each instance keeps the digests it last read; a tool whose digest
 * differs from it is looked up in the store again when asked about, so an approval on one instance is seen by the
 * others at their next request.
 */
import type * as McpSchema from "effect/ai/McpSchema"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import type { StoreUnavailableError } from "../../../Store.js"
import * as Sql from "../../persistence/sql.js"

/** A tool's pin: the definition trusted, and the one held back since it changed, if any. */
export interface Pin {
  readonly server: string
  /** The server's own name of the tool. */
  readonly tool: string
  readonly digest: string
  /** The definition pinned (the fields the digest covers), as JSON. */
  readonly definition: string
  readonly pinnedAt: number
  readonly held: Held | undefined
}

/** A definition held back: its digest, the definition as JSON, and when it was first seen. */
export interface Held {
  readonly digest: string
  readonly definition: string
  readonly seenAt: number
}

/** A tool's definition as seen: its digest and the definition (JSON). */
export interface Seen {
  readonly server: string
  readonly tool: string
  readonly digest: string
  readonly definition: string
}

/** Where the pins are kept; each operation is one atomic step. */
export interface PinStore {
  /**
   * `seen` recorded at `at`: pinned if the tool has no pin, held if it differs from its pin, released if it matches.
   */
  readonly see: (seen: Seen, at: number) => Effect.Effect<Pin, StoreUnavailableError>
  /** The pin of `server`'s `tool`, if it has one. */
  readonly read: (server: string, tool: string) => Effect.Effect<Pin | undefined, StoreUnavailableError>
  /** Every pin, by server then tool. */
  readonly list: Effect.Effect<ReadonlyArray<Pin>, StoreUnavailableError>
  /** The held definition of `server`'s `tool` pinned at `at`; `undefined` when nothing of it is held. */
  readonly approve: (server: string, tool: string, at: number) => Effect.Effect<Pin | undefined, StoreUnavailableError>
}

// A value as JSON with every object's keys in order, so equal definitions have one text whatever their key order.
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    const field = (value as Record<string, unknown>)[key]
    if (field !== undefined) out[key] = canonical(field)
  }
  return out
}

/** What a tool's pin covers: everything a model reads of it (never `_meta`), as canonical JSON, and its digest. */
export function seen(server: string, tool: McpSchema.Tool): Seen {
  const definition = JSON.stringify(canonical({
    title: tool.title,
    description: tool.description,
    inputSchema: tool.inputSchema,
    outputSchema: tool.outputSchema,
    annotations: tool.annotations
  }))
  return {
    server,
    tool: tool.name,
    digest: `sha256:${createHash("sha256").update(definition).digest("hex")}`,
    definition
  }
}

// The pin that `seen` makes of `current` (none yet: a new pin).
function next(current: Pin | undefined, seen: Seen, at: number): Pin {
  if (current === undefined) {
    return { ...seen, pinnedAt: at, held: undefined }
  }
  if (current.digest === seen.digest) return { ...current, held: undefined }
  if (current.held?.digest === seen.digest) return current
  return { ...current, held: { digest: seen.digest, definition: seen.definition, seenAt: at } }
}

// `current` with its held definition pinned at `at`.
function approved(current: Pin, at: number): Pin {
  return current.held === undefined
    ? current
    : { ...current, digest: current.held.digest, definition: current.held.definition, pinnedAt: at, held: undefined }
}

const keyOf = (server: string, tool: string) => `${server}\u0000${tool}`

/** Pins in memory, for the process's life: a gateway without a database. */
export function memoryStore(): PinStore {
  const pins = new Map<string, Pin>()
  function put(pin: Pin) {
    pins.set(keyOf(pin.server, pin.tool), pin)
    return pin
  }
  return {
    see: (seen, at) => Effect.sync(() => put(next(pins.get(keyOf(seen.server, seen.tool)), seen, at))),
    read: (server, tool) => Effect.sync(() => pins.get(keyOf(server, tool))),
    list: Effect.sync(() =>
      [...pins.values()].sort((a, b) => a.server.localeCompare(b.server) || a.tool.localeCompare(b.tool))
    ),
    approve: (server, tool, at) =>
      Effect.sync(() => {
        const current = pins.get(keyOf(server, tool))
        return current?.held === undefined ? undefined : put(approved(current, at))
      })
  }
}

type Row = Readonly<Record<string, unknown>>

function pinOf(row: Row): Pin {
  const heldDigest = row["held_digest"]
  return {
    server: String(row["server"]),
    tool: String(row["tool"]),
    digest: String(row["digest"]),
    definition: String(row["definition"]),
    pinnedAt: Number(row["pinned_at"]),
    held: heldDigest === null || heldDigest === undefined ? undefined : {
      digest: String(heldDigest),
      definition: String(row["held_definition"]),
      seenAt: Number(row["held_at"])
    }
  }
}

/** Pins in the gateway's database (the `tool_pins` table), which every instance on it shares. */
export function sqlStore(database: Sql.Database): PinStore {
  const { bounds, sql } = database
  const select = (server: string, tool: string) =>
    Effect.map(
      sql<Row>`SELECT * FROM tool_pins WHERE server = ${server} AND tool = ${tool}`,
      (rows) => rows[0] === undefined ? undefined : pinOf(rows[0])
    )
  // `pin` written over `current`'s row: its pinned and held columns.
  const write = (pin: Pin) =>
    sql`UPDATE tool_pins SET digest = ${pin.digest}, definition = ${pin.definition}, pinned_at = ${pin.pinnedAt},
      held_digest = ${pin.held?.digest ?? null}, held_definition = ${pin.held?.definition ?? null},
      held_at = ${pin.held?.seenAt ?? null}
      WHERE server = ${pin.server} AND tool = ${pin.tool}`
  return {
    see: (seen, at) =>
      Sql.transaction(
        sql,
        bounds,
        "recording a tool's definition",
        Effect.gen(function*() {
          yield* sql`INSERT INTO tool_pins (server, tool, digest, definition, pinned_at)
            VALUES (${seen.server}, ${seen.tool}, ${seen.digest}, ${seen.definition}, ${at})
            ON CONFLICT (server, tool) DO NOTHING`
          const current = yield* select(seen.server, seen.tool)
          const pin = next(current, seen, at)
          if (current === undefined || pin !== current) yield* write(pin)
          return pin
        })
      ),
    read: (server, tool) => Sql.step(bounds, "reading a tool's pin", select(server, tool)),
    list: Sql.step(
      bounds,
      "listing the tools' pins",
      Effect.map(sql<Row>`SELECT * FROM tool_pins ORDER BY server, tool`, (rows) => rows.map(pinOf))
    ),
    approve: (server, tool, at) =>
      Sql.transaction(
        sql,
        bounds,
        "approving a tool's definition",
        Effect.gen(function*() {
          const current = yield* select(server, tool)
          if (current?.held === undefined) return undefined
          const pin = approved(current, at)
          yield* write(pin)
          return pin
        })
      )
  }
}

/** The pins as the endpoints and the admin routes use them. */
export interface Pins {
  /**
   * `server`'s `tools` seen (a configuration built): each pinned on first sight, or held when it differs from its
   * pin (a warning logged, `held` counted). A store that fails is logged, and the tools it could not pin stay hidden
   * until a reload pins them.
   */
  readonly observe: (server: string, tools: ReadonlyArray<McpSchema.Tool>) => Effect.Effect<void>
  /** Whether `seen`'s definition is the one pinned: false while held, or while the store cannot say. */
  readonly trusted: (seen: Seen) => Effect.Effect<boolean>
  readonly list: Effect.Effect<ReadonlyArray<Pin>, StoreUnavailableError>
  /** The held definition of `server`'s `tool` pinned; `undefined` when nothing of it is held. */
  readonly approve: (server: string, tool: string) => Effect.Effect<Pin | undefined, StoreUnavailableError>
}

/** The pins over `store`, `held` counting each tool held back (by its server). */
export function make(store: PinStore, held: (server: string) => void): Pins {
  // The pinned digest each tool had when this instance last read it.
  const known = new Map<string, string>()
  function remember(pin: Pin) {
    known.set(keyOf(pin.server, pin.tool), pin.digest)
    return pin
  }
  const observeOne = (seen: Seen) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) => store.see(seen, at)).pipe(
      Effect.map(remember),
      Effect.flatMap((pin) =>
        pin.digest === seen.digest ? Effect.void : Effect.andThen(
          Effect.sync(() => held(seen.server)),
          Effect.logWarning(
            `Gateway: the MCP server ${seen.server}'s tool ${seen.tool} has a definition other than the one pinned ` +
              `(${seen.digest}, pinned ${pin.digest}); it is held back, hidden from every key, until an admin ` +
              `approves it (POST /admin/mcp/pins/${seen.server}/${seen.tool}/approve)`
          )
        )
      ),
      Effect.catch((error) =>
        Effect.logWarning(
          `Gateway: the MCP server ${seen.server}'s tool ${seen.tool} could not be checked against its pin ` +
            `(${error.message}); it is hidden until a reload finds the store answering`
        )
      )
    )
  return {
    observe: (server, tools) => Effect.forEach(tools, (tool) => observeOne(seen(server, tool)), { discard: true }),
    trusted: (seen) =>
      known.get(keyOf(seen.server, seen.tool)) === seen.digest
        ? Effect.succeed(true)
        : store.read(seen.server, seen.tool).pipe(
          Effect.map((pin) => pin !== undefined && remember(pin).digest === seen.digest),
          Effect.orElseSucceed(() => false)
        ),
    list: store.list,
    approve: (server, tool) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => store.approve(server, tool, at)).pipe(
        Effect.tap((pin) => pin === undefined ? Effect.void : Effect.sync(() => remember(pin)))
      )
  }
}
