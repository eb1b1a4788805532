import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { ChatRequest } from "../../src/ChatRequest.js"
import { EmbeddingRequest } from "../../src/Embedding.js"
import * as Validate from "../../src/internal/llm/service.js"

const schemaIsChat = Schema.is(ChatRequest)
const schemaIsEmbedding = Schema.is(EmbeddingRequest)

/** An optional field: absent, `undefined`, or a value. */
const optional = <A>(value: fc.Arbitrary<A>) =>
  fc.option(fc.option(value, { nil: undefined }), { nil: "absent" as const })

/** A record of optional fields, the absent ones left out. */
const fields = <T extends Record<string, fc.Arbitrary<unknown>>>(arbitraries: T) =>
  fc.record(Object.fromEntries(Object.entries(arbitraries).map(([key, value]) => [key, optional(value)]))).map((
    drawn
  ) => Object.fromEntries(Object.entries(drawn).filter(([, value]) => value !== "absent")))

const record = fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 })
const duration = fc.nat({ max: 100_000 }).map(Duration.millis)
const toolName = fc.stringMatching(/^[a-zA-Z0-9_-]{1,64}$/)

const part = fc.oneof(
  fc.record({ type: fc.constant("text"), text: fc.string() }),
  fc.tuple(
    fc.record({ type: fc.constant("image"), url: fc.string() }),
    fields({ detail: fc.constantFrom("auto", "low", "high") })
  )
    .map(([required, rest]) => ({ ...required, ...rest }))
)

const toolCall = fc.tuple(
  fc.record({ id: fc.string(), name: fc.string(), arguments: fc.string() }),
  fields({ providerMetadata: record })
).map(([required, rest]) => ({ ...required, ...rest }))

const message = fc.oneof(
  fc.record({ role: fc.constant("system"), content: fc.string() }),
  fc.record({ role: fc.constant("user"), content: fc.oneof(fc.string(), fc.array(part, { maxLength: 3 })) }),
  fc.tuple(
    fc.record({ role: fc.constant("assistant"), content: fc.string() }),
    fields({ toolCalls: fc.array(toolCall, { maxLength: 2 }), reasoning: fc.string(), providerMetadata: record })
  ).map(([required, rest]) => ({ ...required, ...rest })),
  fc.tuple(
    fc.record({ role: fc.constant("tool"), toolCallId: fc.string(), content: fc.string() }),
    fields({ name: fc.string() })
  )
    .map(([required, rest]) => ({ ...required, ...rest }))
)

const tool = fc.tuple(
  fc.record({ name: toolName, parameters: record }),
  fields({ description: fc.string(), strict: fc.boolean() })
).map(([required, rest]) => ({ ...required, ...rest }))

const responseFormat = fc.oneof(
  fc.record({ type: fc.constantFrom("text", "json_object") }),
  fc.tuple(
    fc.record({ type: fc.constant("json_schema"), name: fc.string(), schema: record }),
    fields({ description: fc.string(), strict: fc.boolean() })
  ).map(([required, rest]) => ({ ...required, ...rest }))
)

const validChat = fc.tuple(
  fc.array(message, { minLength: 1, maxLength: 4 }),
  fields({
    model: fc.string(),
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    topP: fc.double({ min: 0, max: 1, noNaN: true }),
    maxTokens: fc.integer({ min: 1 }),
    stop: fc.array(fc.string(), { maxLength: 3 }),
    tools: fc.array(tool, { maxLength: 2 }),
    toolChoice: fc.oneof(fc.constantFrom("auto", "none", "required"), fc.record({ tool: fc.string() })),
    responseFormat,
    reasoningEffort: fc.constantFrom("none", "minimal", "low", "medium", "high", "xhigh", "max"),
    seed: fc.nat(),
    user: fc.string(),
    timeout: duration,
    providerOptions: record
  })
).map(([messages, rest]) => ({ messages, ...rest }))

const validEmbedding = fc.tuple(
  fc.record({ input: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 4 })) }),
  fields({ model: fc.string(), dimensions: fc.integer({ min: 1 }), timeout: duration })
).map(([required, rest]) => ({ ...required, ...rest }))

/** Values that break some field or other: wrong types, just out of range, not finite, not integers, bad names. */
const badValues: ReadonlyArray<unknown> = [
  undefined,
  null,
  NaN,
  Infinity,
  -Infinity,
  -1,
  -0.0001,
  0,
  -0,
  0.5,
  1,
  1.0000001,
  1.5,
  2,
  2.0000001,
  3,
  42,
  2 ** 60,
  "",
  "bad name!",
  "x".repeat(65),
  "auto",
  "low",
  "text",
  "image",
  "user",
  "tool",
  "json_schema",
  "1 second",
  [],
  {},
  true,
  [[]],
  [{}],
  [42],
  Duration.seconds(1),
  new Date(0),
  () => 1
]
const bad = fc.oneof(fc.constantFrom(...badValues), fc.anything({ maxDepth: 2 }))

/** Every path to a value inside `value`, the root included. */
const pathsOf = (value: unknown, at: ReadonlyArray<string | number> = []): Array<ReadonlyArray<string | number>> => {
  const paths = [at]
  if (Array.isArray(value)) value.forEach((item, i) => paths.push(...pathsOf(item, [...at, i])))
  else if (typeof value === "object" && value !== null && !Duration.isDuration(value)) {
    for (const [key, item] of Object.entries(value)) paths.push(...pathsOf(item, [...at, key]))
  }
  return paths
}

/** `value` with the thing at `path` replaced (or, for `remove`, deleted); copies along the way. */
const replaced = (value: unknown, path: ReadonlyArray<string | number>, next: unknown, remove: boolean): unknown => {
  if (path.length === 0) return next
  const [head, ...rest] = path
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string | number, unknown>
  if (rest.length === 0 && remove) delete copy[head!]
  else copy[head!] = replaced(copy[head!], rest, next, remove)
  return copy
}

/**
 * A valid request with one value somewhere inside it broken (or a key dropped, or a field the schema knows set), and
 * the path of what was broken.
 */
const broken = (valid: fc.Arbitrary<unknown>, fieldNames: ReadonlyArray<string>) =>
  valid.chain((request) => {
    const paths = pathsOf(request)
    return fc.oneof(
      fc.tuple(fc.constantFrom(...paths), bad, fc.boolean()).map(([path, next, remove]) =>
        [replaced(request, path, next, remove), path] as const
      ),
      fc.tuple(fc.constantFrom(...fieldNames), bad).map(([name, next]) =>
        [{ ...(request as object), [name]: next }, [name]] as const
      ),
      fc.tuple(
        fc.constantFrom(...paths.filter((path) => path.length > 0)),
        fc.constantFrom("role", "type", "content", "name"),
        bad
      )
        .map(([path, name, next]) => [replaced(request, path, { [name]: next }, false), path] as const)
    )
  })

/** A path as the errors write it: `messages[2].content`. */
const written = (path: ReadonlyArray<string | number>): string =>
  path.reduce<string>((out, key) => typeof key === "number" ? `${out}[${key}]` : out === "" ? key : `${out}.${key}`, "")

const holds = (outer: string, inner: string): boolean =>
  outer === "" || inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`)

/**
 * Whether an error's `param` (none: the request itself) names the place at `path`, a place inside it (a key the new
 * value lacks) or one holding it (a union that refuses the whole); a changed `role` or `type` may make another field
 * of its object the one that is wrong (a `tool` message lacks its `toolCallId`).
 */
const names = (param: string | undefined, path: ReadonlyArray<string | number>): boolean => {
  const at = written(path)
  const tag = path.at(-1) === "role" || path.at(-1) === "type"
  return param === undefined || holds(param, at) || holds(at, param) ||
    (tag && holds(written(path.slice(0, -1)), param))
}

const chatFields = Object.keys(ChatRequest.fields)
const embeddingFields = Object.keys(EmbeddingRequest.fields)

// Every field and every kind of message, part, tool and format, once.
const fullChat = {
  messages: [
    { role: "system", content: "s" },
    { role: "user", content: [{ type: "text", text: "t" }, { type: "image", url: "https://x/y.png", detail: "low" }] },
    {
      role: "assistant",
      content: "a",
      toolCalls: [{ id: "c1", name: "f", arguments: "{}", providerMetadata: { gemini: 1 } }],
      reasoning: "r",
      providerMetadata: { anthropic: "sig" }
    },
    { role: "tool", toolCallId: "c1", name: "f", content: "42" }
  ],
  model: "m",
  temperature: 1,
  topP: 0.5,
  maxTokens: 10,
  stop: ["\n"],
  tools: [{ name: "f", description: "d", parameters: { type: "object" }, strict: true }],
  toolChoice: { tool: "f" },
  responseFormat: { type: "json_schema", name: "n", description: "d", schema: { type: "object" }, strict: false },
  reasoningEffort: "low",
  seed: 1,
  user: "u",
  timeout: Duration.seconds(5),
  providerOptions: { logprobs: true }
}
const fullEmbedding = { input: ["a", "b"], model: "e", dimensions: 8, timeout: Duration.seconds(5) }

describe("request validation", () => {
  it("the check accepts every valid request", () => {
    fc.assert(
      fc.property(validChat, (request) => {
        expect(schemaIsChat(request)).toBe(true)
        expect(Validate.invalidChat(request, "p", undefined)).toBeUndefined()
      }),
      { numRuns: 500 }
    )
    fc.assert(
      fc.property(validEmbedding, (request) => {
        expect(schemaIsEmbedding(request)).toBe(true)
        expect(Validate.invalidEmbedding(request, "p", undefined)).toBeUndefined()
      }),
      { numRuns: 300 }
    )
  })

  it("refuses a full request with any one value replaced or removed as the schema does, naming its place", () => {
    expect(Validate.invalidChat(fullChat, "p", undefined)).toBeUndefined()
    expect(Validate.invalidEmbedding(fullEmbedding, "p", undefined)).toBeUndefined()
    let refused = 0
    for (
      const [full, schemaIs, invalid] of [
        [fullChat, schemaIsChat, Validate.invalidChat],
        [fullEmbedding, schemaIsEmbedding, Validate.invalidEmbedding]
      ] as const
    ) {
      for (const path of pathsOf(full)) {
        for (
          const [next, remove] of [...badValues.map((value) => [value, false] as const), [undefined, true] as const]
        ) {
          const request = replaced(full, path, next, remove)
          const error = invalid(request, "p", undefined)
          expect([path, next, remove, error === undefined]).toEqual([path, next, remove, schemaIs(request)])
          if (error === undefined) continue
          refused++
          expect([path, next, remove, error.param, names(error.param, path)]).toEqual([
            path,
            next,
            remove,
            error.param,
            true
          ])
        }
      }
    }
    expect(refused).toBeGreaterThan(1000)
  })

  it("names the broken place of a broken request, and says what is wrong with anything at all", () => {
    let refused = 0
    fc.assert(
      fc.property(broken(validChat, chatFields), ([request, path]) => {
        const error = Validate.invalidChat(request, "p", undefined)
        expect(error === undefined).toBe(schemaIsChat(request))
        if (error !== undefined) {
          refused++
          expect(names(error.param, path)).toBe(true)
        }
      }),
      { numRuns: 2000 }
    )
    // The broken requests are mostly broken: the property saw refusals, not only passes.
    expect(refused).toBeGreaterThan(1000)
    fc.assert(
      fc.property(broken(validEmbedding, embeddingFields), ([request, path]) => {
        const error = Validate.invalidEmbedding(request, "p", undefined)
        expect(error === undefined).toBe(schemaIsEmbedding(request))
        if (error !== undefined) expect(names(error.param, path)).toBe(true)
      }),
      { numRuns: 1000 }
    )
    fc.assert(
      fc.property(fc.anything(), (request) => {
        const error = Validate.invalidChat(request, "p", undefined)
        expect(error === undefined).toBe(schemaIsChat(request))
        if (error !== undefined) expect(error.detail).toMatch(/^\S.*: .+ \(nothing was sent\)$/s)
      }),
      { numRuns: 1000 }
    )
  })

  it("a refused request is an InvalidRequestError naming each bad path, the value cut short", () => {
    const error = Validate.invalidChat(
      {
        messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }, { role: "user", content: 42 }]
      },
      "openai",
      "gpt-4o"
    )!
    expect(error).toMatchObject({
      _tag: "InvalidRequestError",
      provider: "openai",
      model: "gpt-4o",
      param: "messages[2].content"
    })
    expect(error.detail).toBe("messages[2].content: expected a string or an array of parts, got 42 (nothing was sent)")

    const several = Validate.invalidChat(
      { model: "m", messages: [], temperature: NaN, maxTokens: 1.5, stop: "x" },
      "p",
      undefined
    )!
    expect(several).toMatchObject({ model: "m", param: "messages" })
    expect(several.detail).toContain("messages: a request needs at least one message")
    expect(several.detail).toContain("temperature: expected a value between 0 and 2, got NaN")
    expect(several.detail).toContain("maxTokens: expected an integer, got 1.5")

    expect(Validate.invalidChat({}, "p", "m")!.detail).toBe("messages: missing (nothing was sent)")
    const none = Validate.invalidChat(null, "p", "m")!
    expect(none.param).toBeUndefined()
    expect(none.detail).toBe("the request: expected object, got null (nothing was sent)")

    const long = Validate.invalidChat({ messages: [{ role: "system", content: ["x".repeat(10_000)] }] }, "p", "m")!
    expect(long.detail!.length).toBeLessThan(300)

    const embedding = Validate.invalidEmbedding({ input: ["a", 7], dimensions: 0 }, "p", "e")!
    expect(embedding).toMatchObject({ _tag: "InvalidRequestError", model: "e", param: "input[1]" })
    // Each form the input may take says why it is not that form: texts, token ids, arrays of token ids.
    expect(embedding.detail).toBe(
      "input[1]: expected string, got 7; input[0]: expected number, got \"a\"; input[0]: expected array, got \"a\"; " +
        "input[1]: expected array, got 7; dimensions: expected a value greater than 0, got 0 (nothing was sent)"
    )
    expect(Validate.invalidEmbedding({ input: 7 }, "p", "e")!.detail).toBe(
      "input: expected a string, an array of strings, an array of token ids or an array of arrays of token ids, got " +
        "7 (nothing was sent)"
    )
    expect(Validate.invalidChat({ messages: [{ role: "bot", content: "x" }] }, "p", "m")!.detail).toBe(
      "messages[0]: expected a message with role system, user, assistant or tool, got " +
        "{\"role\":\"bot\",\"content\":\"x\"} (nothing was sent)"
    )
  })
})
