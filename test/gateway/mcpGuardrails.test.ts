/**
 * An MCP tool call's arguments and result through its guardrails (`mcp/guardrails.ts`), over any JSON: a mask keeps
 * the value's shape (every field, every array's length, every string not found untouched) and leaves nothing found (a
 * key it would change refuses the value, as a masked key would break it); a block fails naming the guardrail and
 * where; only text content is checked; a chain with nothing to run there passes the value as it is. Any other MCP message (a definition, a prompt, a resource's contents, a server's request, a
 * notification) the same: a forbidden word in any one of its texts, a key or a value, plain or disguised, is found.
 */
import { describe, expect, it } from "@effect/vitest"
import * as McpSchema from "effect/ai/McpSchema"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Guardrail from "../../src/Guardrail.js"
import {
  checkArguments,
  checkDefinition,
  checkError,
  checkMessage,
  checkResult
} from "../../src/internal/gateway/mcp/guardrails.js"
import { type Disguise, disguise, disguises } from "../fixtures/guardrails/labelled.js"

const make = (options: Omit<Guardrail.Options, "name"> & { readonly name?: string }) =>
  Effect.runSync(Guardrail.make({ name: "test", ...options }))

const maskArguments = make({ checks: [Guardrail.email], action: "mask", on: ["toolArguments"] })
const maskResults = make({ checks: [Guardrail.email], action: "mask", on: ["toolResult"] })
const blockCards = make({ name: "no-cards", checks: [Guardrail.card], on: ["toolArguments", "toolResult"] })

const email = "ada@example.com"

// Any JSON value whose strings hold no email address (no `@`) and whose numbers are small.
const clean: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.string().map((text) => text.replaceAll("@", "")),
    fc.integer({ min: -1000, max: 1000 }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string(), tie("value"), { maxKeys: 4 })
  )
})).value

// `value` with `email` put inside every string of it; the same value with the mask in its place.
function planted(value: unknown): readonly [unknown, unknown] {
  if (typeof value === "string") return [`${value} ${email} ${value}`, `${value} [REDACTED:email] ${value}`]
  if (Array.isArray(value)) {
    const pairs = value.map(planted)
    return [pairs.map(([given]) => given), pairs.map(([, masked]) => masked)]
  }
  if (value !== null && typeof value === "object") {
    const pairs = Object.entries(value).map(([name, field]) => [name, planted(field)] as const)
    return [
      Object.fromEntries(pairs.map(([name, [given]]) => [name, given])),
      Object.fromEntries(pairs.map(([name, [, masked]]) => [name, masked]))
    ]
  }
  return [value, value]
}

// Every key of `value`, at any depth.
function keysOf(value: unknown): ReadonlyArray<string> {
  if (Array.isArray(value)) return value.flatMap(keysOf)
  if (value === null || typeof value !== "object") return []
  return Object.entries(value).flatMap(([name, field]) => [name, ...keysOf(field)])
}

describe("an MCP tool call's guardrails", () => {
  it.effect("a mask of the arguments keeps any JSON's shape and masks each string in place; a key it finds refuses", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.dictionary(fc.string(), clean, { maxKeys: 5 }), async (payload) => {
          const [given, masked] = planted(payload)
          // A key a mask would change (fast-check's strings can spell an email address) refuses the arguments: a key
          // masked would break the JSON's shape.
          const keyFound = keysOf(payload).some((key) =>
            Effect.runSync(Guardrail.checkText([maskArguments], key, { where: "toolArguments" })) !== key
          )
          const check = (value: unknown) =>
            Effect.runPromise(Effect.result(checkArguments([maskArguments], value as Record<string, unknown>)))
          for (const [value, expected] of [[given, masked], [payload, payload]] as const) {
            const checked = await check(value)
            if (keyFound) {
              expect(Result.isFailure(checked) && checked.failure.message).toMatch(/in a key of arguments/)
            } else {
              expect(checked).toEqual(Result.succeed(expected))
            }
          }
          // A chain that runs on results only leaves the arguments as they were.
          expect(await Effect.runPromise(checkArguments([maskResults], given as Record<string, unknown>))).toBe(given)
        }),
        // A key spelling an email address, as a run once drew; and one deeper down.
        { examples: [[{ "0@0.AA": null }], [{ to: { [`to ${email}`]: "plain" } }]] }
      )
    ))

  it.effect("a card number in the arguments, as a string or a number, is a block naming the guardrail", () =>
    Effect.gen(function*() {
      for (const card of ["4111 1111 1111 1111", 4111111111111111]) {
        const error = yield* Effect.flip(checkArguments([blockCards], { pay: { with: [card] } }))
        expect(error._tag).toBe("GuardrailError")
        expect(error.guardrail).toBe("no-cards")
        expect(error.where).toBe("toolArguments")
        expect(error.message).toBe("Guardrail \"no-cards\" blocked the tool's arguments: found payment card number.")
      }
    }))

  it.effect("a result's text blocks, embedded text and structured content are masked; images pass", () =>
    Effect.gen(function*() {
      const image = { type: "image" as const, data: new Uint8Array([1, 2, 3]), mimeType: "image/png" }
      const result = new McpSchema.CallToolResult({
        content: [
          { type: "text", text: `mail ${email}` },
          image,
          { type: "resource", resource: { uri: "file:///a.txt", text: `to ${email}` } }
        ],
        structuredContent: { to: [email], count: 1 },
        isError: false
      })
      const checked = yield* checkResult([maskResults], result)
      expect(checked.content).toEqual([
        { type: "text", text: "mail [REDACTED:email]" },
        image,
        { type: "resource", resource: { uri: "file:///a.txt", text: "to [REDACTED:email]" } }
      ])
      expect(checked.structuredContent).toEqual({ to: ["[REDACTED:email]"], count: 1 })
      expect(checked.isError).toBe(false)
      expect(yield* checkResult([maskArguments], result)).toBe(result)

      const blocked = yield* Effect.flip(checkResult(
        [blockCards],
        new McpSchema.CallToolResult({
          content: [{ type: "text", text: "the card 4111 1111 1111 1111" }]
        })
      ))
      expect([blocked.guardrail, blocked.where]).toEqual(["no-cards", "toolResult"])
    }))

  it.effect("every key is read: a finding in one refuses the call, naming where, as a mask would break it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(checkArguments([maskArguments], { to: { [email]: "yes" } }))
      expect(error.message).toBe(
        "Guardrail \"test\" blocked the tool's arguments: found email address in a key of arguments, which a mask " +
          "would break."
      )
      expect(error.message).not.toContain(email)
      const blocked = yield* Effect.flip(checkResult(
        [blockCards],
        new McpSchema.CallToolResult({ content: [], structuredContent: { "4111 1111 1111 1111": true } })
      ))
      expect([blocked.guardrail, blocked.where]).toEqual(["no-cards", "toolResult"])
    }))

  it.effect("a result's _meta and every field of its content blocks are read; its block's type is its shape", () =>
    Effect.gen(function*() {
      const result = new McpSchema.CallToolResult({
        content: [{ type: "resource_link", uri: `mailto:${email}`, name: "contact" }],
        _meta: { owner: email, nested: [{ by: email }] }
      })
      const checked = yield* checkResult([maskResults], result)
      expect(checked._meta).toEqual({ owner: "[REDACTED:email]", nested: [{ by: "[REDACTED:email]" }] })
      expect(checked.content).toEqual([{ type: "resource_link", uri: "mailto:[REDACTED:email]", name: "contact" }])
      const carded = new McpSchema.CallToolResult({ content: [], _meta: { paidWith: 4111111111111111 } })
      expect((yield* Effect.flip(checkResult([blockCards], carded))).where).toBe("toolResult")
    }))

  it.effect("an error its server answered is read as its result is: masked, or blocked", () =>
    Effect.gen(function*() {
      const upstream = new McpSchema.InternalError({ message: `no such user ${email}`, data: { who: email } })
      const masked = yield* checkError([maskResults], upstream)
      expect(masked.message).toBe("no such user [REDACTED:email]")
      expect(masked.data).toEqual({ who: "[REDACTED:email]" })
      expect(yield* checkError([maskArguments], upstream)).toBe(upstream)
      const carded = new McpSchema.InternalError({ message: "card 4111 1111 1111 1111 declined" })
      const error = yield* Effect.flip(checkError([blockCards], carded))
      expect([error.guardrail, error.where, error.reason]).toEqual([
        "no-cards",
        "toolResult",
        "found payment card number"
      ])
    }))

  it.effect("a forbidden word in any one text of any MCP message, a key or a value, plain or disguised, is found", () =>
    Effect.promise(() => {
      const word = "quokka"
      const blockWord = make({ name: "no-animals", checks: [Guardrail.words("animals", [word])] })
      const maskWord = make({ name: "mask-animals", checks: [Guardrail.words("animals", [word])], action: "mask" })
      // Any JSON value whose texts are words of other letters (so that none holds the word), with at least one text.
      const text = fc.stringMatching(/^[a-j ]{1,12}$/)
      const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
        value: fc.oneof(
          { depthSize: "small" },
          text,
          fc.integer({ min: -1000, max: 1000 }),
          fc.boolean(),
          fc.constant(null),
          fc.array(tie("value"), { maxLength: 4 }),
          fc.dictionary(text, tie("value"), { minKeys: 1, maxKeys: 4 })
        )
      })).value
      const message = fc.dictionary(text, value, { minKeys: 1, maxKeys: 5 })
      // `json` with `marker` put into its `index`th text (keys and strings, in order; counted in `seen`).
      const plant = (json: unknown, marker: string, index: number, seen = { count: 0 }): unknown => {
        const hit = () => seen.count++ === index
        if (typeof json === "string") return hit() ? `${json} ${marker} ${json}` : json
        if (Array.isArray(json)) return json.map((item) => plant(item, marker, index, seen))
        if (json === null || typeof json !== "object") return json
        return Object.fromEntries(
          Object.entries(json).map((
            [name, item]
          ) => [hit() ? `${name} ${marker}` : name, plant(item, marker, index, seen)])
        )
      }
      const texts = (json: unknown): number =>
        typeof json === "string"
          ? 1
          : Array.isArray(json)
          ? json.reduce((sum: number, item) => sum + texts(item), 0)
          : json !== null && typeof json === "object"
          ? Object.entries(json).reduce((sum, [, item]) => sum + 1 + texts(item), 0)
          : 0
      return fc.assert(
        fc.asyncProperty(
          message,
          fc.nat(),
          fc.constantFrom<Disguise | "plain">("plain", ...disguises),
          fc.constantFrom("toolArguments" as const, "toolResult" as const),
          async (clean, at, how, way) => {
            const marker = how === "plain" ? word : disguise(word, how)
            const planted = plant(clean, marker, at % texts(clean)) as Record<string, unknown>
            const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.flip(effect))
            // Blocked both ways, and in a definition.
            const blocked = await run(checkMessage([blockWord], way, planted, "params"))
            expect([blocked.guardrail, blocked.where]).toEqual(["no-animals", way])
            expect(blocked.message).not.toContain(marker)
            expect((await run(checkDefinition([blockWord], planted, "tools/list"))).guardrail).toBe("no-animals")
            // A mask's finding withholds a definition, whatever text it is in.
            const withheld = await run(checkDefinition([maskWord], planted, "tools/list"))
            expect(withheld.reason).toContain("a definition, served as its server gave it or not at all")
            // The clean message passes as it is.
            expect(await Effect.runPromise(checkMessage([blockWord], way, clean, "params"))).toBe(clean)
            await Effect.runPromise(checkDefinition([blockWord, maskWord], clean, "tools/list"))
          }
        ),
        { numRuns: 300 }
      )
    }))
})
