/**
 * Every expansion of a caller's schema is bounded (`SchemaWalk`): Gemini's
 * conversion and the simulator's values. A schema whose `$defs` refer to one
 * another several times over (recursively or not) expands within the node
 * budget or is refused; a schema within it expands as it always did, the same
 * as the schema with every `$ref` written out.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { RequestError } from "../../src/internal/codecError.js"
import {
  makeSchemaWalk,
  schemaDepthLimit,
  SchemaLimitError,
  schemaNodeLimit
} from "../../src/internal/jsonSchemaRef.js"
import * as SchemaValues from "../../src/internal/simulator/schemaValues.js"
import { geminiSchema } from "../../src/internal/wire/gemini/schema.js"

type Json = Record<string, unknown>

/** The objects and arrays of a JSON value, counted. */
const nodes = (value: unknown): number =>
  Array.isArray(value)
    ? 1 + value.reduce((sum: number, item) => sum + nodes(item), 0)
    : typeof value === "object" && value !== null
    ? 1 + Object.values(value).reduce((sum: number, item) => sum + nodes(item), 0)
    : 0

/** What `f` throws, or `undefined`. */
const thrown = (f: () => unknown): unknown => {
  try {
    f()
    return undefined
  } catch (error) {
    return error
  }
}

/** `$defs` `d0`..`d{levels}`, each referring to the next `fanOut` times: no recursion, `fanOut ** levels` copies. */
const layered = (levels: number, fanOut: number, required: boolean): Json => {
  const defs: Json = {}
  for (let level = 0; level < levels; level++) {
    const names = Array.from({ length: fanOut }, (_, i) => `p${i}`)
    defs[`d${level}`] = {
      type: "object",
      properties: Object.fromEntries(names.map((name) => [name, { $ref: `#/$defs/d${level + 1}` }])),
      ...(required ? { required: names } : {})
    }
  }
  defs[`d${levels}`] = { type: "string" }
  return { $defs: defs, $ref: "#/$defs/d0" }
}

/** The schema: one `$defs` entry referring to itself three times. */
const n = { $ref: "#/$defs/n" }
const selfReferring: Json = { $defs: { n: { type: "object", properties: { a: n, b: n, c: n } } }, $ref: "#/$defs/n" }

// A schema without `$ref`: leaves, objects (some properties required), arrays, unions.
const { tree } = fc.letrec<{ tree: Json }>((self) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom<Json>(
      { type: "string", minLength: 4 },
      { type: "integer", minimum: 3 },
      { type: "boolean" },
      { enum: ["a", "b"] },
      { type: ["number", "null"] },
      { const: "fixed" }
    ),
    fc.dictionary(fc.constantFrom("a", "b", "c", "d"), self("tree"), { minKeys: 1, maxKeys: 4 }).chain((properties) =>
      fc.subarray(Object.keys(properties)).map((required): Json => ({ type: "object", properties, required }))
    ),
    fc.record({ items: self("tree"), minItems: fc.integer({ min: 0, max: 3 }) })
      .map((array): Json => ({ type: "array", ...array })),
    fc.tuple(self("tree"), self("tree")).map(([a, b]): Json => ({ anyOf: [a, b, { type: "null" }] }))
  )
}))

/**
 * `schema` with the subschemas `hoist` picks moved to `$defs` and referred to,
 * inner ones first; a union's own branches stay where they are, as both
 * conversions read them as written (a `null` branch is `nullable`).
 */
const hoisted = (schema: Json, hoist: ReadonlyArray<boolean>): Json => {
  const defs: Json = {}
  let next = 0
  const walk = (node: unknown, fixed: boolean): unknown => {
    if (Array.isArray(node)) return node.map((item) => walk(item, true))
    if (typeof node !== "object" || node === null) return node
    const out: Json = {}
    for (const [key, value] of Object.entries(node)) {
      out[key] = key === "properties"
        ? Object.fromEntries(Object.entries(value as Json).map(([name, property]) => [name, walk(property, false)]))
        : key === "items" || key === "anyOf"
        ? walk(value, false)
        : value
    }
    const index = next++
    if (fixed || hoist[index % hoist.length] !== true) return out
    defs[`d${index}`] = out
    return { $ref: `#/$defs/d${index}` }
  }
  return { ...(walk(schema, true) as Json), $defs: defs }
}

// Several `$defs`, each an object whose properties refer to any of them (themselves included), directly or as items.
const recursive = fc.integer({ min: 1, max: 4 }).chain((count) =>
  fc.array(
    fc.array(
      fc.record({ target: fc.nat(count - 1), array: fc.boolean(), required: fc.boolean() }),
      { minLength: 1, maxLength: 5 }
    ),
    { minLength: count, maxLength: count }
  ).map((defs): Json => ({
    $defs: Object.fromEntries(defs.map((properties, i) => [`d${i}`, {
      type: "object",
      properties: Object.fromEntries(properties.map(({ array, target }, j) => {
        const ref = { $ref: `#/$defs/d${target}` }
        return [`p${j}`, array ? { type: "array", items: ref } : ref]
      })),
      required: properties.flatMap(({ required }, j) => (required ? [`p${j}`] : []))
    }])),
    $ref: "#/$defs/d0"
  }))
)

describe("SchemaWalk", () => {
  it("counts every node against the budget, and nesting against the depth bound", () => {
    const walk = makeSchemaWalk({}, { nodes: 3, depth: 2 })
    walk.visit(0)
    walk.visit(1)
    walk.visit(2)
    expect(thrown(() => walk.visit(0))).toEqual(
      new SchemaLimitError("expands to more than 3 schema nodes once its `$ref`s are inlined")
    )
    expect(thrown(() => makeSchemaWalk({}).visit(schemaDepthLimit + 1))).toBeInstanceOf(SchemaLimitError)
  })

  it("tells a ref met inside its own expansion from one met beside it", () => {
    const root = { $defs: { a: { type: "string" }, n: { type: "object" } } }
    const walk = makeSchemaWalk(root)
    const seen = walk.follow({ $ref: "#/$defs/n", description: "x" }, (outer) => [
      outer,
      walk.follow({ $ref: "#/$defs/n" }, (inner) => inner.recursive),
      walk.follow({ $ref: "#/$defs/a" }, (beside) => beside.recursive)
    ])
    expect(seen).toEqual([
      { schema: { type: "object", description: "x" }, ref: "#/$defs/n", recursive: false },
      true,
      false
    ])
    // Once out of it, the same ref is not recursive any more; a dangling one stands for its siblings.
    expect(walk.follow({ $ref: "#/$defs/n" }, (again) => again.recursive)).toBe(false)
    expect(walk.follow({ $ref: "#/$defs/none", minimum: 2 }, (dangling) => dangling.schema)).toEqual({ minimum: 2 })
  })
})

describe("Gemini's conversion, bounded", () => {
  it("refuses a schema that refers to itself, naming it and the ref", () => {
    const error = thrown(() => geminiSchema(selfReferring, "responseFormat.schema"))
    expect(error).toBeInstanceOf(RequestError)
    expect(error).toMatchObject({
      param: "responseFormat.schema",
      detail: "responseFormat.schema refers to itself through `#/$defs/n`; Gemini's schema subset has no `$ref`, " +
        "so it cannot state a recursive schema"
    })
  })

  it("refuses a schema whose refs expand past the budget, recursion or not", () => {
    const error = thrown(() => geminiSchema(layered(16, 3, false), "tools[2].parameters"))
    expect(error).toMatchObject({
      param: "tools[2].parameters",
      detail: `tools[2].parameters expands to more than ${schemaNodeLimit} schema nodes once its \`$ref\`s are inlined`
    })
    // Within the budget, the same layering is inlined whole: 3 ** 6 strings at the bottom.
    const small = geminiSchema(layered(6, 3, false), "responseFormat.schema")
    expect(JSON.stringify(small).match(/"string"/g)).toHaveLength(3 ** 6)
  })

  it("any recursive schema is refused as such, never expanded", () => {
    fc.assert(
      fc.property(recursive, (schema) => {
        expect(thrown(() => geminiSchema(schema, "responseFormat.schema"))).toMatchObject({
          detail: expect.stringMatching(/^responseFormat\.schema refers to itself through `#\/\$defs\/d\d`/)
        })
      })
    )
  })

  it("a schema without recursion converts the same with its subschemas moved to $defs as written out", () => {
    fc.assert(
      fc.property(tree, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (schema, hoist) => {
        const param = "responseFormat.schema"
        expect(geminiSchema(hoisted(schema, hoist), param)).toEqual(geminiSchema(schema, param))
      })
    )
  })
})

describe("the simulator's values, bounded", () => {
  it("a recursive occurrence gets the smallest value it allows: required properties only, no items", () => {
    const node = {
      $defs: {
        Node: {
          type: "object",
          properties: {
            name: { type: "string" },
            note: { type: "string" },
            children: { type: "array", items: { $ref: "#/$defs/Node" } }
          },
          required: ["name", "children"]
        }
      },
      $ref: "#/$defs/Node"
    }
    expect(SchemaValues.synthesize(node)).toEqual({
      name: "sim",
      note: "sim",
      children: [{ name: "sim", children: [] }]
    })
    expect(SchemaValues.synthesize(selfReferring)).toEqual({ a: {}, b: {}, c: {} })
    // A nullable recursion ends at null; a broken value breaks a recursion with a value of another type.
    const list = {
      $defs: {
        L: {
          type: "object",
          properties: { next: { anyOf: [{ $ref: "#/$defs/L" }, { type: "null" }] } },
          required: ["next"]
        }
      },
      $ref: "#/$defs/L"
    }
    expect(SchemaValues.synthesize(list)).toEqual({ next: { next: null } })
    const chain = { $defs: { R: { type: "object", properties: { first: { $ref: "#/$defs/R" } } } }, $ref: "#/$defs/R" }
    expect(SchemaValues.violate(chain)).toEqual({ first: "not what the schema asks for" })
  })

  it("a schema whose every value is past the budget, or that requires itself without end, is refused", () => {
    expect(thrown(() => SchemaValues.synthesize(layered(16, 3, true)))).toBeInstanceOf(SchemaLimitError)
    const endless = {
      $defs: { E: { type: "object", properties: { e: { $ref: "#/$defs/E" } }, required: ["e"] } },
      $ref: "#/$defs/E"
    }
    expect(thrown(() => SchemaValues.synthesize(endless))).toEqual(
      new SchemaLimitError(`nests schemas more than ${schemaDepthLimit} levels deep`)
    )
  })

  it("any recursive schema gives a value within the budget, or is refused", () => {
    fc.assert(
      fc.property(recursive, fc.boolean(), (schema, broken) => {
        let value: unknown
        try {
          value = broken ? SchemaValues.violate(schema) : SchemaValues.synthesize(schema)
        } catch (error) {
          expect(error).toBeInstanceOf(SchemaLimitError)
          return
        }
        expect(nodes(value)).toBeLessThanOrEqual(schemaNodeLimit)
      })
    )
  })

  it("a schema without recursion gives the same values with its subschemas moved to $defs as written out", () => {
    fc.assert(
      fc.property(tree, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (schema, hoist) => {
        const moved = hoisted(schema, hoist)
        expect(SchemaValues.synthesize(moved)).toEqual(SchemaValues.synthesize(schema))
        expect(SchemaValues.violate(moved)).toEqual(SchemaValues.violate(schema))
      })
    )
  })
})
