import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { ChatRequest } from "../../src/ChatRequest.js"
import { EmbeddingRequest } from "../../src/Embedding.js"
import * as Validate from "../../src/internal/llm/validateRequest.js"

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

/** A valid request with one value somewhere inside it broken (or a key dropped, or a field the schema knows set). */
const broken = (valid: fc.Arbitrary<unknown>, fieldNames: ReadonlyArray<string>) =>
  valid.chain((request) => {
    const paths = pathsOf(request)
    return fc.oneof(
      fc.tuple(fc.constantFrom(...paths), bad, fc.boolean()).map(([path, next, remove]) =>
        replaced(request, path, next, remove)
      ),
      fc.tuple(fc.constantFrom(...fieldNames), bad).map(([name, next]) => ({ ...(request as object), [name]: next })),
      fc.tuple(
        fc.constantFrom(...paths.filter((path) => path.length > 0)),
        fc.constantFrom("role", "type", "content", "name"),
        bad
      )
        .map(([path, name, next]) => replaced(request, path, { [name]: next }, false))
    )
  })

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
  it("the compiled check accepts every valid request the schema accepts", () => {
    fc.assert(
      fc.property(validChat, (request) => {
        expect(schemaIsChat(request)).toBe(true)
        expect(Validate.isChatRequest(request)).toBe(true)
        expect(Validate.invalidChat(request, "p", undefined)).toBeUndefined()
      }),
      { numRuns: 500 }
    )
    fc.assert(
      fc.property(validEmbedding, (request) => {
        expect(schemaIsEmbedding(request)).toBe(true)
        expect(Validate.isEmbeddingRequest(request)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("the compiled check and the schema agree with any one value of a full request replaced or removed", () => {
    expect(Validate.isChatRequest(fullChat)).toBe(true)
    expect(Validate.isEmbeddingRequest(fullEmbedding)).toBe(true)
    let refused = 0
    for (
      const [full, schemaIs, compiled] of [
        [fullChat, schemaIsChat, Validate.isChatRequest],
        [fullEmbedding, schemaIsEmbedding, Validate.isEmbeddingRequest]
      ] as const
    ) {
      for (const path of pathsOf(full)) {
        for (
          const [next, remove] of [...badValues.map((value) => [value, false] as const), [undefined, true] as const]
        ) {
          const request = replaced(full, path, next, remove)
          expect([path, next, remove, compiled(request)]).toEqual([path, next, remove, schemaIs(request)])
          if (!schemaIs(request)) refused++
        }
      }
    }
    expect(refused).toBeGreaterThan(1000)
  })

  it("the compiled check and the schema agree on broken requests and on anything at all", () => {
    let refused = 0
    fc.assert(
      fc.property(fc.oneof(broken(validChat, chatFields), fc.anything()), (request) => {
        const expected = schemaIsChat(request)
        expect(Validate.isChatRequest(request)).toBe(expected)
        const invalid = Validate.invalidChat(request, "p", undefined)
        expect(invalid === undefined).toBe(expected)
        if (!expected) refused++
      }),
      { numRuns: 2000 }
    )
    // The broken requests are mostly broken: the property saw refusals, not only passes.
    expect(refused).toBeGreaterThan(1000)
    fc.assert(
      fc.property(fc.oneof(broken(validEmbedding, embeddingFields), fc.anything()), (request) => {
        expect(Validate.isEmbeddingRequest(request)).toBe(schemaIsEmbedding(request))
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
