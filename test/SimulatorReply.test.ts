/**
 * The simulator's structured output: JSON generated from a JSON Schema that
 * conforms to it (and, under the `output=nonconforming` fault, JSON that does
 * not), for the schemas the library sends (`Message.jsonSchemaOf`, from
 * Effect's `Schema.toJsonSchemaDocument`), checked by decoding through the
 * schema's JSON form as the library does.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaValues from "../src/internal/simulator/schemaValues.js"
import { geminiSchema } from "../src/internal/wire/gemini/schema.js"
import { jsonSchemaOf } from "../src/Message.js"
import * as Reply from "../src/simulator/Reply.js"
import * as Simulator from "../src/simulator/Simulator.js"

class Point extends Schema.Class<Point>("Point")({ x: Schema.Number, y: Schema.Number }) {}

const schemas: ReadonlyArray<readonly [string, Schema.Codec<unknown, unknown>]> = [
  ["a struct of primitives", Schema.Struct({ s: Schema.String, n: Schema.Number, i: Schema.Int, b: Schema.Boolean })],
  // Code points and `Finite`: what JSON Schema's `minLength` and a bounded `number` mean. Effect 4 writes
  // `isMinLength(n)` (UTF-16 units) as `minLength: ceil(n / 2)`, and a `Number` as also "NaN" or "Infinity".
  [
    "bounds",
    Schema.Struct({
      age: Schema.Int.check(Schema.isBetween({ minimum: 18, maximum: 65 })),
      code: Schema.String.check(Schema.isMinCodePoints(6), Schema.isMaxCodePoints(8)),
      ratio: Schema.Finite.check(Schema.isGreaterThan(2), Schema.isLessThan(3))
    })
  ],
  ["enums and literals", Schema.Struct({ role: Schema.Literals(["admin", "user"]), one: Schema.Literal("only") })],
  [
    "arrays",
    Schema.Struct({
      tags: Schema.Array(Schema.String),
      some: Schema.NonEmptyArray(Schema.Int),
      three: Schema.Array(Schema.String).check(Schema.isMinLength(3))
    })
  ],
  ["classes through $ref", Schema.Struct({ from: Point, to: Point, path: Schema.Array(Point) })],
  [
    "nullable and optional",
    Schema.Struct({ nickname: Schema.NullOr(Schema.String), note: Schema.optional(Schema.String) })
  ],
  [
    "tagged unions",
    Schema.Struct({
      shape: Schema.Union([
        Schema.TaggedStruct("circle", { r: Schema.Number }),
        Schema.TaggedStruct("square", { side: Schema.Number })
      ])
    })
  ],
  ["a tuple", Schema.Struct({ pair: Schema.Tuple([Schema.String, Schema.Int]) })],
  [
    "records and nesting",
    Schema.Struct({
      outer: Schema.Struct({ inner: Schema.Struct({ deep: Schema.Boolean }) }),
      scores: Schema.Record(Schema.String, Schema.Number)
    })
  ]
]

/** Whether a JSON value decodes with the schema's JSON form, as `Message.decodeJson` reads a model's answer. */
const decodes = (schema: Schema.Codec<unknown, unknown>, value: unknown): boolean =>
  Result.isSuccess(Schema.decodeUnknownResult(Schema.toCodecJson(schema))(value))

/** The reply `Reply.generate` gives, failing the test on a refusal. */
const replyOf = (prompt: Reply.Prompt, knobs: Reply.Knobs): Reply.Reply => {
  const reply = Reply.generate(prompt, knobs)
  if (Result.isFailure(reply)) throw new Error(reply.failure.message)
  return reply.success
}

describe("simulator structured output", () => {
  for (const [name, schema] of schemas) {
    it(`${name}: synthesize conforms, violate does not`, () => {
      const json = jsonSchemaOf(schema)
      const good = JSON.parse(JSON.stringify(SchemaValues.synthesize(json)))
      expect(decodes(schema, good), JSON.stringify(good)).toBe(true)
      const bad = JSON.parse(JSON.stringify(SchemaValues.violate(json)))
      expect(decodes(schema, bad), JSON.stringify(bad)).toBe(false)
    })
  }

  it("the Gemini subset of a schema still gives conforming JSON, but for tuples and exclusive bounds", () => {
    for (const [name, schema] of schemas) {
      // Gemini has no tuples, and its bounds are inclusive: `geminiSchema` can only approximate those.
      if (name === "a tuple" || name === "bounds") continue
      const value = SchemaValues.synthesize(geminiSchema(jsonSchemaOf(schema), "responseFormat.schema"))
      expect(decodes(schema, value), `${name}: ${JSON.stringify(value)}`).toBe(true)
    }
  })

  it("a reply for a response schema is its JSON in four-character tokens; output modes change it", () => {
    const schema = jsonSchemaOf(Schema.Struct({ city: Schema.String, people: Schema.Int }))
    const prompt: Reply.Prompt = {
      model: "m",
      promptTokens: 3,
      lastUserText: "hi",
      lastRole: "user",
      tools: [],
      toolChoice: { _tag: "Auto" },
      parallelToolCalls: true,
      reasoning: false,
      responseSchema: schema
    }
    const knobs: Reply.Knobs = { replyTokens: 5, reasoningTokens: 0, toolCalls: 1, cachedTokens: 0 }
    const reply = replyOf(prompt, knobs)
    expect(reply.content.join("")).toBe(`{"city":"sim","people":1}`)
    expect(reply.content.every((piece) => piece.length <= 4)).toBe(true)
    expect(reply.usage.completionTokens).toBe(reply.content.length)
    expect(reply.finishReason).toBe("stop")
    const broken = replyOf(prompt, { ...knobs, output: "nonconforming" })
    expect(JSON.parse(broken.content.join(""))).toEqual({ city: 42, people: 1 })
    expect(replyOf(prompt, { ...knobs, output: "text" }).content).toHaveLength(5)
    // Capped below the JSON's length, the reply is cut and says so.
    expect(replyOf({ ...prompt, maxTokens: 2 }, knobs).finishReason).toBe("length")
  })

  it("JSON mode: one JSON object of words; nonconforming leaves it unclosed, text answers words", () => {
    const prompt: Reply.Prompt = {
      model: "m",
      promptTokens: 3,
      lastUserText: "hi",
      lastRole: "user",
      tools: [],
      toolChoice: { _tag: "Auto" },
      parallelToolCalls: true,
      reasoning: false,
      jsonObject: true
    }
    const knobs: Reply.Knobs = { replyTokens: 5, reasoningTokens: 0, toolCalls: 1, cachedTokens: 0 }
    const reply = replyOf(prompt, knobs)
    expect(JSON.parse(reply.content.join(""))).toEqual({ answer: expect.stringMatching(/^[A-Z]\w+( \w+){4}\.$/) })
    expect(reply.content.every((piece) => piece.length <= 4)).toBe(true)
    expect(() => JSON.parse(replyOf(prompt, { ...knobs, output: "nonconforming" }).content.join(""))).toThrow()
    expect(replyOf(prompt, { ...knobs, output: "text" }).content).toHaveLength(5)
  })

  it("after a tool result: text, unless the tool choice forces a call", () => {
    const tool: Reply.Tool = { name: "look", parameters: { type: "object", properties: { q: { type: "string" } } } }
    const prompt: Reply.Prompt = {
      model: "m",
      promptTokens: 3,
      lastUserText: "hi",
      lastRole: "tool",
      toolResult: "found it",
      tools: [tool],
      toolChoice: { _tag: "Auto" },
      parallelToolCalls: true,
      reasoning: false
    }
    const knobs: Reply.Knobs = { replyTokens: 5, reasoningTokens: 0, toolCalls: 1, cachedTokens: 0 }
    expect(replyOf(prompt, knobs).toolCalls).toEqual([])
    for (const toolChoice of [{ _tag: "Required" }, { _tag: "Named", name: "look" }] as const) {
      // No property is required: the arguments are empty.
      expect(replyOf({ ...prompt, toolChoice }, knobs).toolCalls.map((call) => [call.name, call.arguments])).toEqual([
        ["look", "{}"]
      ])
    }
  })

  it("the refusal knob: the model refuses with its text, no text and no call whatever the tools, its pieces counted", () => {
    const tool: Reply.Tool = { name: "look", parameters: { type: "object" } }
    const prompt: Reply.Prompt = {
      model: "m",
      promptTokens: 3,
      lastUserText: "hi",
      lastRole: "user",
      tools: [tool],
      toolChoice: { _tag: "Required" },
      parallelToolCalls: true,
      reasoning: false
    }
    const knobs: Reply.Knobs = { replyTokens: 5, reasoningTokens: 0, toolCalls: 1, cachedTokens: 0 }
    expect(replyOf(prompt, knobs).refusal).toBeUndefined()
    const refused = replyOf(prompt, { ...knobs, refusal: "I can't help with that." })
    expect(refused).toMatchObject({
      refusal: "I can't help with that.",
      content: [],
      toolCalls: [],
      finishReason: "stop"
    })
    expect(refused.usage.completionTokens).toBe(Reply.replyPieces("I can't help with that.").length)
  })

  it("told not to call tools (system or last user text): text, unless the tool choice forces a call", () => {
    const tool: Reply.Tool = { name: "Bash", parameters: { type: "object" } }
    const prompt: Reply.Prompt = {
      model: "m",
      promptTokens: 3,
      lastUserText: "Summarize the conversation with Bash.",
      lastRole: "user",
      tools: [tool],
      toolChoice: { _tag: "Auto" },
      parallelToolCalls: true,
      reasoning: false
    }
    const knobs: Reply.Knobs = { replyTokens: 5, reasoningTokens: 0, toolCalls: 1, cachedTokens: 0 }
    const calls = (asked: Partial<Reply.Prompt>, output?: Reply.OutputMode) =>
      replyOf({ ...prompt, ...asked }, output === undefined ? knobs : { ...knobs, output }).toolCalls.length
    const told = [
      "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools.",
      "Don't use tools for this.",
      "never invoke a tool here",
      "Respond with plain text only."
    ]
    for (const text of told) {
      expect(calls({ lastUserText: `${text} Summarize with Bash.` }), text).toBe(0)
      expect(calls({ instructions: text }), text).toBe(0)
      expect(calls({ instructions: text }, "loop"), text).toBe(0)
      for (const toolChoice of [{ _tag: "Required" }, { _tag: "Named", name: "Bash" }] as const) {
        expect(calls({ lastUserText: text, toolChoice }), text).toBe(1)
      }
    }
    // Mentions of tools are no instruction: the model calls the one named.
    const untold = [
      "Use the Bash tool.",
      "The tools you may call are listed: Bash.",
      "Do not stop: call Bash.",
      // opencode's system prompt for Claude models: a kind of use ruled out, not every tool call.
      "Never use tools like Bash or code comments as means to communicate with the user during the session.",
      // Codex's system prompt for its GPT-6 models: a purpose ruled out.
      "Do not use tools to send messages to others (e.g. through slack or email) unless explicit authorization. Bash."
    ]
    for (const text of untold) {
      expect(calls({ lastUserText: text, instructions: text }), text).toBe(1)
    }
  })

  it("without a scenario: text unless asked for a tool (a forcing choice, a tool named), or looping", () => {
    const tools: ReadonlyArray<Reply.Tool> = [
      { name: "exec_command", parameters: { type: "object" } },
      { name: "Read", parameters: { type: "object" } }
    ]
    const prompt: Reply.Prompt = {
      model: "m",
      promptTokens: 3,
      lastUserText: "say hi",
      lastRole: "user",
      tools,
      toolChoice: { _tag: "Auto" },
      parallelToolCalls: false,
      reasoning: false
    }
    const knobs: Reply.Knobs = { replyTokens: 5, reasoningTokens: 0, toolCalls: 1, cachedTokens: 0 }
    const called = (asked: Partial<Reply.Prompt>, output?: Reply.OutputMode) =>
      replyOf({ ...prompt, ...asked }, output === undefined ? knobs : { ...knobs, output }).toolCalls.map((call) =>
        call.name
      )
    // An agent offers its tools on every request: a prompt that asks for none is answered in text, and so is the
    // request after a compaction's summary, so a session ends.
    expect(called({})).toEqual([])
    expect(replyOf(prompt, knobs).content.length).toBeGreaterThan(0)
    expect(called({ lastUserText: "Summary so far: the file was fixed. Go on." })).toEqual([])
    // Asked for: the user's text names an offered tool, or the tool choice forces a call.
    expect(called({ lastUserText: "Read the file with Read." })).toEqual(["Read"])
    expect(called({ toolChoice: { _tag: "Required" } })).toEqual(["exec_command"])
    expect(called({ toolChoice: { _tag: "Named", name: "Read" } })).toEqual(["Read"])
    // After a tool result: text, unless forced; a looping model calls on every turn.
    expect(called({ lastRole: "tool", toolResult: "ok" })).toEqual([])
    expect(called({}, "loop")).toEqual(["exec_command"])
    expect(called({ lastRole: "tool", toolResult: "ok" }, "loop")).toEqual(["exec_command"])
  })

  it("the output fault parses, and names what is wrong", () => {
    expect(Simulator.decodeFault("output=nonconforming")).toEqual(
      Result.succeed({ _tag: "Output", mode: "nonconforming" })
    )
    expect(Simulator.decodeFault("output=text")).toEqual(Result.succeed({ _tag: "Output", mode: "text" }))
    expect(Simulator.decodeFault("output=garbled")).toEqual(
      Result.fail(`"output" needs nonconforming or text or loop, got "garbled"`)
    )
  })

  it("the usage fault parses, and names what is wrong", () => {
    expect(Simulator.decodeFault("usage=none")).toEqual(Result.succeed({ _tag: "NoUsage" }))
    expect(Simulator.decodeFault("usage=some")).toEqual(Result.fail(`"usage" needs none, got "some"`))
  })

  it("the chaos fault and retry-after=none parse, and name what is wrong", () => {
    expect(Simulator.decodeFault("chaos=0.05;seed=7")).toEqual(Result.succeed({ _tag: "Chaos", rate: 0.05, seed: 7 }))
    expect(Simulator.decodeFault("chaos=1")).toEqual(Result.succeed({ _tag: "Chaos", rate: 1, seed: 1 }))
    expect(Simulator.decodeFault("chaos=1.5")).toEqual(Result.fail(`"chaos" needs a rate from 0 to 1, got "1.5"`))
    expect(Simulator.decodeFault("chaos=0.1;seed=-3")).toEqual(
      Result.fail(`"chaos" needs an integer seed from 0 to 4294967295, got "-3"`)
    )
    expect(Simulator.decodeFault("chaos=0.1;rate=2")).toEqual(
      Result.fail(`unknown parameter "rate" for "chaos" (expected seed)`)
    )
    expect(Result.getOrThrow(Simulator.decodeFault("status=429;retry-after=none"))).toMatchObject({
      _tag: "Status",
      status: 429,
      retryAfter: "none"
    })
    expect(Simulator.decodeFault("status=429;retry-after=never")).toEqual(
      Result.fail(`retry-after needs seconds (0 or more) or none, got "never"`)
    )
    // Every fault chaos picks from is one the grammar reads.
    for (const fault of Simulator.chaosFaults) expect(Result.isSuccess(Simulator.decodeFault(fault))).toBe(true)
  })

  it("the deprecated parseFault answers as before: the fault, or the reason as a string", () => {
    const values = [...Simulator.chaosFaults, "chaos=1.5", "reset=lots", "status=700", "", "nonsense", "silent=soon"]
    for (const value of values) {
      const decoded = Simulator.decodeFault(value)
      const parsed = Simulator.parseFault(value)
      if (Result.isSuccess(decoded)) expect(parsed).toEqual(decoded.success)
      else expect(parsed).toBe(decoded.failure)
    }
    expect(Simulator.parseFault("reset=lots")).toBe(`"reset" needs a number of chunks (0 or more), got "lots"`)
  })
})

describe("simulator embeddings", () => {
  it("a unit vector of float32s, the same for the same model and text", () => {
    const vector = Reply.embedding("m", "hello", 32)
    expect(vector).toHaveLength(32)
    expect(vector.every((value) => Math.fround(value) === value)).toBe(true)
    expect(Math.hypot(...vector)).toBeCloseTo(1, 5)
    expect(Reply.embedding("m", "hello", 32)).toEqual(vector)
    expect(Reply.embedding("m", "hello!", 32)).not.toEqual(vector)
    expect(Reply.embedding("n", "hello", 32)).not.toEqual(vector)
  })
})
