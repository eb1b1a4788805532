/**
 * The MCP definitions' pins against their store's contract (`contract/mcpPins.ts`) on each backend the gateway has:
 * SQLite and Postgres (`layerSql`). A definition's digest ignores the order of its keys and
 * changes with its description and schemas.
 */
import { describe, expect } from "@effect/vitest"
import * as McpSchema from "effect/ai/McpSchema"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Pins from "../../src/internal/gateway/mcp/pins.js"
import { mcpPinsContract } from "../contract/mcpPins.js"
import { effectProp } from "../utils/effectProp.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("pins", Pins.PinStore, Pins)) mcpPinsContract(backend)

describe("MCP definitions' digests", () => {
  effectProp(
    "a digest ignores the order of a definition's keys and follows its description and schemas",
    fc.record({
      properties: fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.constantFrom("string", "number"), {
        maxKeys: 5
      }),
      description: fc.string({ maxLength: 10 }),
      other: fc.string({ maxLength: 10 })
    }),
    ({ description, other, properties }) =>
      Effect.sync(() => {
        const schema = (entries: ReadonlyArray<[string, string]>) => ({
          type: "object",
          properties: Object.fromEntries(entries.map(([key, type]) => [key, { type }]))
        })
        const entries = Object.entries(properties)
        const make = (text: string, list: ReadonlyArray<[string, string]>) =>
          Pins.seen("docs", {
            kind: "tool",
            value: new McpSchema.Tool({ name: "t", description: text, inputSchema: schema(list) })
          }).digest
        expect(make(description, entries)).toBe(make(description, [...entries].reverse()))
        expect(make(description, entries) === make(other, entries)).toBe(description === other)
        const widened = [...entries.filter(([key]) => key !== "extra"), ["extra", "boolean"] as [string, string]]
        expect(make(description, entries) === make(description, widened)).toBe(false)
      })
  )
})
