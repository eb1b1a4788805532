import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Embedding from "../src/Embedding.js"
import * as Batches from "../src/internal/providers/embeddingBatches.js"
import * as GeminiWire from "../src/internal/wire/gemini/embeddings.js"
import * as OllamaWire from "../src/internal/wire/ollama/codec.js"
import * as OpenAiEmbeddings from "../src/internal/wire/openAiChat/embeddings.js"
import * as Llm from "../src/Llm.js"
import * as LlmError from "../src/LlmError.js"
import * as LlmTest from "../src/LlmTest.js"
import { expectRoundTrip } from "./utils/schemaRoundTrip.js"

/** Little-endian float32 bytes of `values`, base64, as OpenAI sends them. */
const base64Of = (values: ReadonlyArray<number>) => {
  const bytes = Buffer.alloc(values.length * 4)
  values.forEach((value, i) => bytes.writeFloatLE(value, i * 4))
  return bytes.toString("base64")
}

describe("OpenAI embeddings wire", () => {
  it("decodes base64 as little-endian float32s", () => {
    // 1.0, -2.5 and 0.1 as float32, little-endian: 0000803f 000020c0 cdcccc3d.
    expect(OpenAiEmbeddings.decodeBase64Floats("AACAPwAAIMDNzMw9")).toEqual(
      Result.succeed([1, -2.5, Math.fround(0.1)])
    )
    expect(OpenAiEmbeddings.decodeBase64Floats("")).toEqual(Result.succeed([]))
    expect(OpenAiEmbeddings.decodeBase64Floats("AACA")).toEqual(
      Result.fail("a base64 embedding has 3 bytes, not a whole number of float32s")
    )
    expect(OpenAiEmbeddings.decodeBase64Floats("not base64!")).toEqual(Result.fail("an embedding is not valid base64"))
  })

  // @effect/vitest's `prop` takes Effect 4's own `Arbitrary`; fast-check arbitraries run through `fc.assert`.
  it("base64 of any float32s decodes to them", () =>
    fc.assert(fc.property(fc.array(fc.float({ noNaN: true }), { maxLength: 64 }), (values) => {
      expect(OpenAiEmbeddings.decodeBase64Floats(base64Of(values))).toEqual(
        Result.succeed(values.map((v) => (Object.is(v, -0) ? -0 : v)))
      )
    })))

  it("reads a reply in index order, floats or base64, with usage", () => {
    const reply = OpenAiEmbeddings.readReply({
      object: "list",
      data: [
        { object: "embedding", index: 1, embedding: base64Of([0.5, 0.25]) },
        { object: "embedding", index: 0, embedding: [1, 2] }
      ],
      model: "text-embedding-3-small",
      usage: { prompt_tokens: 7, total_tokens: 7 }
    }, 2)
    expect(reply).toEqual(Result.succeed({
      embeddings: [[1, 2], [0.5, 0.25]],
      model: "text-embedding-3-small",
      usage: { promptTokens: 7, totalTokens: 7, estimated: false }
    }))
  })

  it("names what is wrong with a reply", () => {
    expect(OpenAiEmbeddings.readReply({ data: {} }, 1)).toEqual(Result.fail("data is not an array"))
    expect(OpenAiEmbeddings.readReply({ data: [{ index: 0, embedding: [1] }, { index: 0, embedding: [2] }] }, 2))
      .toEqual(Result.fail("data[1].index 0 repeats an earlier one"))
    expect(OpenAiEmbeddings.readReply({ data: [{ index: 0, embedding: "%%" }] }, 1))
      .toEqual(Result.fail("data[0]: an embedding is not valid base64"))
    expect(OpenAiEmbeddings.readReply({ data: [{ index: 0, embedding: {} }] }, 1))
      .toEqual(Result.fail("data[0]: an embedding is neither an array of numbers nor a base64 string"))
    expect(OpenAiEmbeddings.readReply({ data: [{ index: 0, embedding: [1] }] }, 1))
      .toEqual(Result.succeed({ embeddings: [[1]], model: undefined, usage: undefined }))
  })

  it("writes the body with encoding_format and dimensions only when set", () => {
    expect(OpenAiEmbeddings.requestBody("m", ["a"], undefined, "base64")).toEqual({
      model: "m",
      input: ["a"],
      encoding_format: "base64"
    })
    expect(OpenAiEmbeddings.requestBody("m", ["a"], 8, "float")).toEqual({
      model: "m",
      input: ["a"],
      encoding_format: "float",
      dimensions: 8
    })
  })
})

describe("Gemini and Ollama embeddings wire", () => {
  it("Gemini: each request repeats the model; embeddings in request order", () => {
    expect(GeminiWire.embeddingBody("models/text-embedding-004", ["a", "b"], 3)).toEqual({
      requests: [
        { model: "models/text-embedding-004", content: { parts: [{ text: "a" }] }, outputDimensionality: 3 },
        { model: "models/text-embedding-004", content: { parts: [{ text: "b" }] }, outputDimensionality: 3 }
      ]
    })
    expect(GeminiWire.readEmbeddings({ embeddings: [{ values: [1] }, { values: [2] }] })).toEqual(Result.succeed({
      embeddings: [[1], [2]]
    }))
    expect(GeminiWire.readEmbeddings({ embeddings: [{ values: ["x"] }] }))
      .toEqual(Result.fail("embeddings[0].values is not an array of numbers"))
  })

  it("Ollama: usage from prompt_eval_count", () => {
    expect(OllamaWire.embeddingBody("nomic-embed-text", ["a"], undefined, undefined)).toEqual({
      model: "nomic-embed-text",
      input: ["a"]
    })
    expect(OllamaWire.readEmbeddings({ model: "nomic-embed-text", embeddings: [[0.1]], prompt_eval_count: 3 })).toEqual(
      Result.succeed({
        embeddings: [[0.1]],
        model: "nomic-embed-text",
        usage: { promptTokens: 3, totalTokens: 3, estimated: false }
      })
    )
    expect(OllamaWire.readEmbeddings({ embeddings: [[0.1]] }))
      .toEqual(Result.succeed({ embeddings: [[0.1]], model: undefined, usage: undefined }))
    expect(OllamaWire.readEmbeddings({ embeddings: [["x"]] }))
      .toEqual(Result.fail("embeddings[0] is not an array of numbers"))
  })
})

describe("batches", () => {
  it("split keeps every input, in order, in batches of at most the size", () =>
    fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 200 }), fc.integer({ min: 1, max: 50 }), (inputs, size) => {
      const batches = Batches.split(inputs, size)
      expect(batches.flat()).toEqual(inputs)
      expect(batches.every((batch) => batch.length <= size)).toBe(true)
      expect(batches.length).toBe(Math.max(1, Math.ceil(inputs.length / size)))
    })))

  it("combine joins vectors in batch order and sums usage, estimated when any part was", () => {
    const part = (
      vectors: ReadonlyArray<ReadonlyArray<number>>,
      tokens: number,
      estimated: boolean
    ): Embedding.EmbeddingResponse => ({
      embeddings: vectors,
      model: "m",
      provider: "p",
      usage: { promptTokens: tokens, totalTokens: tokens, estimated },
      latency: Duration.millis(5),
      keyId: "k"
    })
    const joined = Batches.combine([part([[1], [2]], 3, false), part([[3]], 4, true)], Duration.millis(9))
    expect(joined).toEqual({
      embeddings: [[1], [2], [3]],
      model: "m",
      provider: "p",
      usage: { promptTokens: 7, totalTokens: 7, estimated: true },
      latency: Duration.millis(9),
      keyId: "k"
    })
    expectRoundTrip(Embedding.EmbeddingResponse, joined)
  })
})

describe("Embedding.decode", () => {
  it.effect("names every bad field", () =>
    Effect.gen(function*() {
      expect(yield* Embedding.decode({ input: ["a"], dimensions: 4 })).toMatchObject({ input: ["a"], dimensions: 4 })
      const bad = yield* Effect.exit(Embedding.decode({ input: 3, dimensions: 0 }, { errors: "all" }))
      expect(Exit.isFailure(bad)).toBe(true)
      expect(String(bad)).toContain("input")
      expect(String(bad)).toContain("dimensions")
    }))
})

describe("LlmTest.embed", () => {
  it.effect("answers embed from the script and records its requests apart from chat's", () =>
    Effect.gen(function*() {
      const first = yield* Llm.embed({ input: ["a", "b"], model: "e" })
      expect(first.embeddings).toEqual([[1, 0], [0, 1]])
      const reply = yield* Llm.chat({ messages: [{ role: "user", content: "hi" }] })
      expect(reply.text).toBe("hi back")
      const failed = yield* Effect.flip(Llm.embed({ input: "c" }))
      expect(failed._tag).toBe("TimeoutError")
      expect(yield* LlmTest.embeddingRequests).toEqual([{ input: ["a", "b"], model: "e" }, { input: "c" }])
      expect(yield* LlmTest.requests).toHaveLength(1)
    }).pipe(
      Effect.provide(LlmTest.layer([
        LlmTest.embedding([[1, 0], [0, 1]]),
        LlmTest.reply("hi back"),
        new LlmError.TimeoutError({ provider: "test", model: "e" })
      ]))
    ))

  it.effect("a chat answer scripted for embed is a defect that says so", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Llm.embed({ input: "a" }))
      expect(String(exit)).toContain("an embed call was answered with a chat reply")
    }).pipe(Effect.provide(LlmTest.layer([LlmTest.reply("nope")]))))
})
