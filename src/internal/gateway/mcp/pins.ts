/**
 * Pinning (docs/mcp.md): the gateway keeps a digest of each upstream definition (the fields a model or a client reads)
 * from the first time it sees it. A definition later seen with another digest is held back, hidden from every key as a
 * denied one is, logged and listed under `GET /admin/mcp/pins` until an admin approves it: this defends against a
 * server that swaps a tool's description after it was trusted. A definition removed and added again as pinned is not
 * held; a new name whose definition equals one held back of its server and kind is, so that a server cannot serve a
 * held text at once under a new name.
 *
 * The pins live in `PinStore` (the database, so that every instance agrees; one contract,
 * `test/contract/mcpPins.ts`). Each instance keeps the digests it last read and looks a differing one up again, so that
 * an approval on one instance is seen by the others at their next request.
 */
import type * as McpSchema from "effect/ai/McpSchema"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import { createHash } from "node:crypto"
import type { StoreUnavailableError } from "../../../Store.js"
import { canonicalJson } from "../../json.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Sql from "../../persistence/sql.js"

/** What is pinned: a tool, a prompt (each by name), a resource (by URI) or a resource template (by URI template). */
export type Kind = "tool" | "prompt" | "resource" | "template"

/** The kinds, in the order the admin API lists them. */
export const kinds: ReadonlyArray<Kind> = ["tool", "prompt", "resource", "template"]

/** A definition's pin: the definition trusted (as it was seen), and the one held back since it changed, if any. */
export interface Pin extends Seen {
  readonly pinnedAt: number
  readonly held: Held | undefined
}

/** A definition held back: its digest, the definition as JSON, and when it was first seen. */
export interface Held {
  readonly digest: string
  readonly definition: string
  readonly seenAt: number
}

/** A definition as seen: its digest and the definition (JSON). */
export interface Seen {
  readonly server: string
  readonly kind: Kind
  /** The server's own name of the tool or prompt, URI of the resource, URI template of the template. */
  readonly name: string
  readonly digest: string
  /** The definition (the fields the digest covers), as JSON. */
  readonly definition: string
}

/** Where the pins are kept; each operation is one atomic step. */
export interface Store {
  /**
   * `seen` recorded at `at`: pinned if it has no pin (held, with nothing pinned, when its definition is one held back
   * of another of its server's definitions of its kind), held if it differs from its pin, released if it matches.
   */
  readonly see: (seen: Seen, at: number) => Effect.Effect<Pin, StoreUnavailableError>
  readonly read: (subject: Subject) => Effect.Effect<Pin | undefined, StoreUnavailableError>
  /** Every pin, by server, kind then name. */
  readonly list: Effect.Effect<ReadonlyArray<Pin>, StoreUnavailableError>
  /** The held definition of `subject` pinned at `at`; `undefined` when nothing of it is held. */
  readonly approve: (subject: Subject, at: number) => Effect.Effect<Pin | undefined, StoreUnavailableError>
}

/** Which definition: its server, its kind and its name (a URI, for a resource). */
export interface Subject {
  readonly server: string
  readonly kind: Kind
  readonly name: string
}

// What a pin covers of each kind: what a model or a client reads of it, never `_meta`, nor what changes by itself (a
// resource's size, its annotations' `lastModified`).
const coveredFields = {
  tool: ["title", "description", "inputSchema", "outputSchema", "annotations"],
  prompt: ["title", "description", "arguments"],
  resource: ["uri", "title", "description", "mimeType"],
  template: ["uriTemplate", "title", "description", "mimeType"]
} as const

function covered(definition: Definition): Readonly<Record<string, unknown>> {
  const value: Readonly<Record<string, unknown>> = { ...definition.value }
  return Object.fromEntries(coveredFields[definition.kind].map((field) => [field, value[field]]))
}

/** An upstream's definition, of any kind. */
export type Definition =
  | { readonly kind: "tool"; readonly value: McpSchema.Tool }
  | { readonly kind: "prompt"; readonly value: McpSchema.Prompt }
  | { readonly kind: "resource"; readonly value: McpSchema.Resource }
  | { readonly kind: "template"; readonly value: McpSchema.ResourceTemplate }

/** The name a definition is pinned by: a tool's or prompt's name, a resource's URI, a template's URI template. */
export function nameOf(definition: Definition): string {
  switch (definition.kind) {
    case "tool":
    case "prompt":
      return definition.value.name
    case "resource":
      return definition.value.uri
    case "template":
      return definition.value.uriTemplate
  }
}

/** What `definition`'s pin covers, as canonical JSON, and its digest. */
export function seen(server: string, definition: Definition): Seen {
  const json = canonicalJson(covered(definition))
  return {
    server,
    kind: definition.kind,
    name: nameOf(definition),
    digest: `sha256:${createHash("sha256").update(json).digest("hex")}`,
    definition: json
  }
}

/** The digest of a pin with nothing pinned (its definition `null`): one first seen as a held definition's twin. */
export const nothingPinned = ""

// The first pin of `seen`, seen at `at`: its definition pinned, or held with nothing pinned when it is the `twin` of a
// definition held back.
function first(seen: Seen, at: number, twin: boolean): Pin {
  const { definition, digest, kind, name, server } = seen
  return twin
    ? {
      server,
      kind,
      name,
      digest: nothingPinned,
      definition: "null",
      pinnedAt: at,
      held: { digest, definition, seenAt: at }
    }
    : { server, kind, name, digest, definition, pinnedAt: at, held: undefined }
}

// The pin that `seen` makes of `current`.
function next(current: Pin, seen: Seen, at: number): Pin {
  if (current.digest === seen.digest) return { ...current, held: undefined }
  if (current.held?.digest === seen.digest) return current
  return { ...current, held: { digest: seen.digest, definition: seen.definition, seenAt: at } }
}

const keyOf = (subject: Subject) => `${subject.server}\u0000${subject.kind}\u0000${subject.name}`

/**
 * The `tool_pins` table's `tool` column of `subject`: a tool's name as it is (the table began with tools alone),
 * unless it begins as a kind and a colon; any other name after `<kind>:`.
 */
export function column(subject: Pick<Subject, "kind" | "name">): string {
  return subject.kind === "tool" && prefixed(subject.name) === undefined
    ? subject.name
    : `${subject.kind}:${subject.name}`
}

// The kind `value` begins with (and a colon), if any.
function prefixed(value: string): Kind | undefined {
  return kinds.find((kind) => value.startsWith(`${kind}:`))
}

/** The kind and name a `tool` column holds. */
export function fromColumn(value: string): Pick<Subject, "kind" | "name"> {
  const kind = prefixed(value)
  return kind === undefined ? { kind: "tool", name: value } : { kind, name: value.slice(kind.length + 1) }
}

// Pins in the admin API's order: by server, kind, then name.
function byServerKindName(a: Pin, b: Pin): number {
  return a.server.localeCompare(b.server) || kinds.indexOf(a.kind) - kinds.indexOf(b.kind) ||
    a.name.localeCompare(b.name)
}

const PinRow = tableRow("tool_pins", {
  server: Schema.String,
  tool: Schema.String,
  digest: Schema.String,
  definition: Schema.String,
  pinnedAt: Numeric,
  held_digest: Schema.NullOr(Schema.String),
  held_definition: Schema.NullOr(Schema.String),
  held_at: Schema.NullOr(Numeric)
}).pipe(Schema.encodeKeys({ pinnedAt: "pinned_at" }))

function pinOf({ held_at, held_definition, held_digest, tool, ...pinned }: typeof PinRow.Type): Pin {
  const held = held_digest === null || held_definition === null || held_at === null
    ? undefined
    : { digest: held_digest, definition: held_definition, seenAt: held_at }
  return { ...pinned, ...fromColumn(tool), held }
}

// The pins `statement` reads.
const pinsOf = (statement: Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
  Effect.map(Sql.rows(PinRow, statement), (rows) => rows.map(pinOf))

export class PinStore extends Context.Service<PinStore, Store>()("effect-llm-router/gateway/mcp/PinStore") {}

/** Pins in the gateway's database (the `tool_pins` table), which every instance on it shares. */
export const layerSql: Layer.Layer<PinStore, never, Sql.Database> = Layer.effect(
  PinStore,
  Effect.map(Sql.steps, ({ sql, step, transaction }): Store => {
    const select = (subject: Subject) =>
      Effect.map(
        pinsOf(sql`SELECT * FROM tool_pins WHERE server = ${subject.server} AND tool = ${column(subject)}`),
        (pins) => pins[0]
      )
    // `pin` written over `current`'s row: its pinned and held columns.
    const write = (pin: Pin) =>
      sql`UPDATE tool_pins SET digest = ${pin.digest}, definition = ${pin.definition}, pinned_at = ${pin.pinnedAt},
      held_digest = ${pin.held?.digest ?? null}, held_definition = ${pin.held?.definition ?? null},
      held_at = ${pin.held?.seenAt ?? null}
      WHERE server = ${pin.server} AND tool = ${column(pin)}`
    return {
      see: (seen, at) =>
        transaction(
          "recording an MCP definition",
          Effect.gen(function*() {
            if ((yield* select(seen)) === undefined) {
              const holding = yield* pinsOf(sql`SELECT * FROM tool_pins
              WHERE server = ${seen.server} AND held_digest = ${seen.digest}`)
              // A twin: another of its server's definitions of its kind holds back this definition.
              const pin = first(seen, at, holding.some((held) => held.kind === seen.kind && held.name !== seen.name))
              yield* sql`INSERT INTO tool_pins
              (server, tool, digest, definition, pinned_at, held_digest, held_definition, held_at)
              VALUES (${pin.server}, ${column(pin)}, ${pin.digest}, ${pin.definition}, ${pin.pinnedAt},
                ${pin.held?.digest ?? null}, ${pin.held?.definition ?? null}, ${pin.held?.seenAt ?? null})
              ON CONFLICT (server, tool) DO NOTHING`
            }
            // Another instance may have pinned it meanwhile: what the table holds now is what `seen` changes.
            const current = (yield* select(seen))!
            const pin = next(current, seen, at)
            if (pin !== current) yield* write(pin)
            return pin
          })
        ),
      read: (subject) => step("reading an MCP definition's pin", select(subject)),
      list: step(
        "listing the MCP definitions' pins",
        Effect.map(pinsOf(sql`SELECT * FROM tool_pins`), (pins) => pins.sort(byServerKindName))
      ),
      approve: (subject, at) =>
        transaction(
          "approving an MCP definition",
          Effect.gen(function*() {
            const current = yield* select(subject)
            if (current?.held === undefined) return undefined
            const { definition, digest } = current.held
            const pin = { ...current, digest, definition, pinnedAt: at, held: undefined }
            yield* write(pin)
            return pin
          })
        )
    }
  })
)

/** The pins as the endpoints and the admin routes use them. */
export interface Pins {
  /**
   * `seen` (a server listed): each pinned on first sight, or held when it differs from its pin (a warning logged,
   * `held` counted). A store that fails is logged, and what it could not pin stays hidden until a listing pins it.
   */
  readonly observe: (seen: ReadonlyArray<Seen>) => Effect.Effect<void>
  /** Whether `seen`'s definition is the one pinned: false while held, or while the store cannot say. */
  readonly trusted: (seen: Seen) => Effect.Effect<boolean>
  readonly list: Effect.Effect<ReadonlyArray<Pin>, StoreUnavailableError>
  /** The held definition of `subject` pinned; `undefined` when nothing of it is held. */
  readonly approve: (subject: Subject) => Effect.Effect<Pin | undefined, StoreUnavailableError>
}

/** The admin path that approves `subject`'s held definition (a tool's has a short form). */
export function approvePath(subject: Subject): string {
  const name = encodeURIComponent(subject.name)
  return subject.kind === "tool"
    ? `/admin/mcp/pins/${subject.server}/${name}/approve`
    : `/admin/mcp/pins/${subject.server}/${subject.kind}/${name}/approve`
}

/** The pins over `store`, `held` counting each definition held back (by its server). */
export function make(store: Store, held: (server: string) => void): Pins {
  // The pinned digest each definition had when this instance last read it.
  const known = new Map<string, string>()
  function remember(pin: Pin) {
    known.set(keyOf(pin), pin.digest)
    return pin
  }
  const observeOne = (seen: Seen) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) => store.see(seen, at)).pipe(
      Effect.map(remember),
      Effect.flatMap((pin) =>
        pin.digest === seen.digest ? Effect.void : Effect.andThen(
          Effect.sync(() => held(seen.server)),
          Effect.logWarning(
            `Gateway: the MCP server ${seen.server}'s ${seen.kind} ${seen.name} has ${
              pin.digest === nothingPinned
                ? `a definition held back of another of its ${seen.kind}s (${seen.digest})`
                : `a definition other than the one pinned (${seen.digest}, pinned ${pin.digest})`
            }; it is held back, hidden from every key, until an admin approves it (POST ${approvePath(seen)})`
          )
        )
      ),
      Effect.catch((error) =>
        Effect.logWarning(
          `Gateway: the MCP server ${seen.server}'s ${seen.kind} ${seen.name} could not be checked against its pin ` +
            `(${error.message}); it is hidden until a listing finds the store answering`
        )
      )
    )
  // A listing's definitions that have a pin first, so that a new name is checked against what the same listing holds
  // back, whatever the order the server listed them in (a store that cannot be listed: in the order given).
  const observe = (seen: ReadonlyArray<Seen>) =>
    Effect.gen(function*() {
      const pinned = yield* store.list.pipe(
        Effect.map((pins) => new Set(pins.map(keyOf))),
        Effect.orElseSucceed(() => undefined)
      )
      const changes = pinned === undefined ? seen : seen.filter((one) => pinned.has(keyOf(one)))
      yield* Effect.forEach(changes, observeOne, { discard: true })
      if (pinned === undefined) return
      yield* Effect.forEach(seen.filter((one) => !pinned.has(keyOf(one))), observeOne, { discard: true })
    })
  return {
    observe,
    trusted: (seen) =>
      known.get(keyOf(seen)) === seen.digest
        ? Effect.succeed(true)
        : store.read(seen).pipe(
          Effect.map((pin) => pin !== undefined && remember(pin).digest === seen.digest),
          Effect.orElseSucceed(() => false)
        ),
    list: store.list,
    approve: (subject) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => store.approve(subject, at)).pipe(
        Effect.tap((pin) => pin === undefined ? Effect.void : Effect.sync(() => remember(pin)))
      )
  }
}
