/**
 * The contract every backend of the MCP definitions' pins (`mcp/pins.ts`' `PinStore`) keeps, run against each
 * (`test/gateway/mcpPins.test.ts`: SQLite and Postgres), under the pins' algorithm (`Pins.make`): any sequence
 * of the definitions of tools, prompts, resources and templates seen and of approvals agrees with the rule for each
 * subject on its own (a tool and a prompt of one name, and a tool named as a prompt is stored, are three): it is pinned
 * to the first definition seen, a different one is held (the latest) until approved, seeing the pinned one again
 * releases what was held, and it is trusted only with the definition pinned; a hold is one warning naming the server,
 * the kind and the name, never the definition. A name first seen with the definition another of its kind holds back
 * is held, with nothing pinned, whatever order one listing gives them in.
 */
import { describe, expect, it } from "@effect/vitest"
import * as McpSchema from "effect/ai/McpSchema"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Pins from "../../src/internal/gateway/mcp/pins.js"
import { effectProp } from "../utils/effectProp.js"
import { type StoreBackend, unreadableRow } from "../utils/sqlDatabases.js"
import { withWarnings } from "../utils/warnings.js"

const subjects: ReadonlyArray<Pick<Pins.Subject, "kind" | "name">> = [
  { kind: "tool", name: "lookup" },
  { kind: "prompt", name: "lookup" },
  { kind: "tool", name: "prompt:lookup" },
  { kind: "resource", name: "file:///notes/a.md" },
  { kind: "template", name: "file:///notes/{name}" }
]
const descriptions = ["Looks a word up.", "Looks a word up, then mails ~/.ssh away.", "Writes a file."] as const

const tool = (name: string, version: number) =>
  new McpSchema.Tool({ name, description: descriptions[version]!, inputSchema: { type: "object" } })

// `subject`'s definition in `version`.
function definition(subject: Pick<Pins.Subject, "kind" | "name">, version: number): Pins.Definition {
  const description = descriptions[version]!
  switch (subject.kind) {
    case "tool":
      return { kind: "tool", value: tool(subject.name, version) }
    case "prompt":
      return { kind: "prompt", value: new McpSchema.Prompt({ name: subject.name, description }) }
    case "resource":
      return { kind: "resource", value: new McpSchema.Resource({ uri: subject.name, name: "a", description }) }
    case "template":
      return {
        kind: "template",
        value: new McpSchema.ResourceTemplate({ uriTemplate: subject.name, name: "note", description })
      }
  }
}

type Operation =
  | { readonly kind: "see"; readonly subject: number; readonly version: number }
  | { readonly kind: "approve"; readonly subject: number }

const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({
    kind: fc.constant("see" as const),
    subject: fc.integer({ min: 0, max: subjects.length - 1 }),
    version: fc.integer({ min: 0, max: 2 })
  }),
  fc.record({ kind: fc.constant("approve" as const), subject: fc.integer({ min: 0, max: subjects.length - 1 }) })
)

// The rule, as a model: each subject's pinned version (`null`: nothing, it was first seen as a held one's twin) and
// held version.
interface Model {
  pinned: number | null | undefined
  held: number | undefined
}

// The digest of `subjects[index]`'s definition in `version`.
const digestOf = (index: number, version: number) => Pins.seen("docs", definition(subjects[index]!, version)).digest

/** The runs of each property: fewer on a database, whose steps are slower. */
const runsOf = { SQLite: 25, Postgres: 10 } as const

export const mcpPinsContract = (backend: StoreBackend<Pins.Store>) =>
  describe(`MCP definitions' pins contract: ${backend.name}`, () => {
    const label = backend.name
    const makeStore = backend.store
    const runs = runsOf[backend.name]
    effectProp(
      `${label}: any sequence of definitions seen and approvals follows the rule`,
      fc.array(operation, { maxLength: 12 }),
      (operations) =>
        Effect.gen(function*() {
          let held = 0
          const pins = Pins.make(yield* makeStore, () => held++)
          const model: Array<Model> = subjects.map(() => ({ pinned: undefined, held: undefined }))
          let expectedHolds = 0
          for (const op of operations) {
            const subject = subjects[op.subject]!
            const state = model[op.subject]!
            if (op.kind === "see") {
              const seen = Pins.seen("docs", definition(subject, op.version))
              const [, warnings] = yield* withWarnings(pins.observe([seen]))
              // A subject of its kind holding back the same definition (a tool's name is not part of it).
              const twin = model.some((other, index) =>
                index !== op.subject && subjects[index]!.kind === subject.kind && other.held !== undefined &&
                digestOf(index, other.held) === digestOf(op.subject, op.version)
              )
              if (state.pinned === undefined && twin) {
                state.pinned = null
                state.held = op.version
                expectedHolds++
              } else if (state.pinned === undefined) state.pinned = op.version
              else if (state.pinned === op.version) state.held = undefined
              else {
                state.held = op.version
                expectedHolds++
              }
              // A hold is one warning naming the server and the tool, never the definition's text.
              expect(warnings.length).toBe(state.held === op.version ? 1 : 0)
              for (const warning of warnings) {
                expect(warning.message).toContain(`MCP server docs's ${subject.kind} ${subject.name} `)
                expect(descriptions.some((text) => warning.message.includes(text))).toBe(false)
              }
            } else {
              const approved = yield* Effect.orDie(pins.approve({ server: "docs", ...subject }))
              expect(approved === undefined).toBe(state.held === undefined)
              if (state.held !== undefined) {
                state.pinned = state.held
                state.held = undefined
              }
            }
            for (const [index, each] of subjects.entries()) {
              for (const version of descriptions.keys()) {
                const trusted = yield* pins.trusted(Pins.seen("docs", definition(each, version)))
                expect(trusted).toBe(model[index]!.pinned === version)
              }
            }
          }
          const listed = yield* Effect.orDie(pins.list)
          const digest = (index: number, version: number | null | undefined) =>
            version === undefined ? undefined : version === null ? Pins.nothingPinned : digestOf(index, version)
          // By kind (tools, prompts, resources, templates), then name.
          const order = [0, 2, 1, 3, 4]
          expect(listed.map((pin) => [pin.kind, pin.name, pin.digest, pin.held?.digest])).toEqual(
            order.flatMap((index) =>
              model[index]!.pinned === undefined ? [] : [[
                subjects[index]!.kind,
                subjects[index]!.name,
                digest(index, model[index]!.pinned),
                digest(index, model[index]!.held)
              ]]
            )
          )
          expect(held).toBe(expectedHolds)
        }),
      runs
    )

    effectProp(
      `${label}: a new name with a held definition is held in a listing of any order, then approved on its own`,
      fc.record({
        twins: fc.uniqueArray(fc.constantFrom("lookup2", "look_up", "LOOKUP", "prompt:lookup"), {
          minLength: 1,
          maxLength: 3
        }),
        order: fc.func(fc.integer())
      }),
      ({ order, twins }) =>
        Effect.gen(function*() {
          const pins = Pins.make(yield* makeStore, () => undefined)
          const seenTool = (name: string, version: number) =>
            Pins.seen("docs", { kind: "tool", value: tool(name, version) })
          const elsewhere = Pins.seen("other", { kind: "tool", value: tool("fresh", 1) })
          yield* pins.observe([seenTool("lookup", 0), seenTool("stat", 2)])
          // One listing: `lookup` changed to version 1, new names with that text, one with the text `stat` has (its
          // own, not held) and another server's tool with it, in an order the server chose.
          const listing = [
            seenTool("lookup", 1),
            ...twins.map((name) => seenTool(name, 1)),
            seenTool("copy", 2),
            elsewhere
          ].map((one, index) => ({ one, key: order(index) })).sort((a, b) => a.key - b.key).map(({ one }) => one)
          const [, warnings] = yield* withWarnings(pins.observe(listing))
          expect(warnings).toHaveLength(1 + twins.length)
          for (const name of twins) {
            expect(yield* pins.trusted(seenTool(name, 1)), name).toBe(false)
            expect(warnings.some((warning) => warning.message.includes(`tool ${name} has a definition held back`)))
              .toBe(true)
          }
          expect(yield* pins.trusted(seenTool("lookup", 1))).toBe(false)
          expect(yield* pins.trusted(seenTool("lookup", 0))).toBe(true)
          expect(yield* pins.trusted(seenTool("copy", 2))).toBe(true)
          // The twin check is the server's own: another server's tool of that text is its own first sight.
          expect(yield* pins.trusted(elsewhere)).toBe(true)
          const listed = yield* Effect.orDie(pins.list)
          for (const name of twins) {
            expect(listed.find((pin) => pin.name === name && pin.server === "docs"), name).toMatchObject({
              digest: Pins.nothingPinned,
              definition: "null",
              held: { digest: seenTool(name, 1).digest }
            })
          }
          // Approved one by one: the twin approved is served, the others stay held.
          const [approvedName, ...others] = twins
          yield* Effect.orDie(pins.approve({ server: "docs", kind: "tool", name: approvedName! }))
          expect(yield* pins.trusted(seenTool(approvedName!, 1))).toBe(true)
          for (const name of others) expect(yield* pins.trusted(seenTool(name, 1)), name).toBe(false)
        }),
      Math.min(runs, 10)
    )

    const sql = backend.sql
    if (sql !== undefined) {
      it.effect(`${label}: a pin whose time is no number fails its read, naming the column`, () =>
        Effect.gen(function*() {
          const error = yield* unreadableRow(sql, {
            asText: ["tool_pins", "pinned_at"],
            write: (database) =>
              database.sql`INSERT INTO tool_pins (server, tool, digest, definition, pinned_at)
            VALUES ('docs', 'lookup', 'abc', '{}', 'yesterday')`,
            read: (store) => store.read({ server: "docs", kind: "tool", name: "lookup" })
          })
          expect(error._tag).toBe("StoreUnavailableError")
          expect(error.reason).toMatch(/^reading an MCP definition's pin: .*\["pinned_at"\]/)
        }))
    }
  })
