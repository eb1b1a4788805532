import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import type OpenAI from "openai"
import { decodeEmbedding } from "../../src/internal/simulator/openAiChat/embedding.js"
import {
  base64Floats,
  embeddingList,
  EmbeddingsBody,
  maxInputs,
  readReply,
  requestBody,
  toRequest
} from "../../src/internal/wire/openAiChat/embeddings.js"
import type { Written } from "../utils/sdkTypes.js"

const isBody = Schema.is(EmbeddingsBody)

// A batch is texts or token ids, never both.
const inputs = fc.oneof(
  fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 }),
  fc.array(fc.array(fc.nat({ max: 100_000 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 })
)

describe("internal/wire/openAiChat/embeddings", () => {
  it("a request written by the client reads back as the same inputs and dimensions", () => {
    fc.assert(fc.property(
      inputs,
      fc.option(fc.integer({ min: 1, max: 4096 }), { nil: undefined }),
      fc.constantFrom("float" as const, "base64" as const),
      (inputs, dimensions, encoding) => {
        const body = requestBody("text-embedding-3-small", inputs, dimensions, encoding)
        expect(isBody(body)).toBe(true)
        if (!isBody(body)) return
        expect(body.encoding_format).toBe(encoding)
        expect(toRequest(body)).toEqual(dimensions === undefined ? { input: inputs } : { input: inputs, dimensions })
      }
    ))
  })

  it("an embeddings list, floats or base64, reads back as its vectors (float32s) in order", () => {
    const float32 = fc.float({ noNaN: true, noDefaultInfinity: true })
    fc.assert(fc.property(
      fc.array(fc.array(float32, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 }),
      fc.nat({ max: 10_000 }),
      fc.boolean(),
      (vectors, tokens, base64) => {
        const body = JSON.parse(embeddingList(vectors, "m", { promptTokens: tokens, totalTokens: tokens }, base64))
        // JSON writes -0 as 0; base64 keeps it.
        const written = base64 ? vectors : vectors.map((vector) => vector.map((value) => value === 0 ? 0 : value))
        expect(readReply(body, vectors.length)).toEqual(Result.succeed({
          embeddings: written,
          model: "m",
          usage: { promptTokens: tokens, totalTokens: tokens, estimated: false }
        }))
      }
    ))
  })

  it("a batch the client writes, up to the most inputs OpenAI takes, is one the simulator's request check takes", () => {
    // A full batch too, as the client splits a longer list.
    const batch = fc.oneof(
      inputs,
      fc.integer({ min: 1, max: maxInputs }).map((length) => Array.from({ length }, (_, i) => `text ${i}`))
    )
    fc.assert(fc.property(
      batch,
      fc.option(fc.integer({ min: 1, max: 3072 }), { nil: undefined }),
      fc.constantFrom("float" as const, "base64" as const),
      (inputs, dimensions, encoding) => {
        const decoded = decodeEmbedding(requestBody("text-embedding-3-small", inputs, dimensions, encoding))
        expect(decoded).toEqual(Result.succeed({
          model: "text-embedding-3-small",
          inputs,
          dimensions,
          base64: encoding === "base64",
          single: false
        }))
      }
    ))
  })
})

// The embeddings body as the client writes it: the schema's type with no `null` or `undefined` and mutable arrays.
// Fails to compile when a body the schema reads is not one the SDK's own parameter type takes.
export const asSdkParams = (body: Written<typeof EmbeddingsBody.Type>): OpenAI.EmbeddingCreateParams => body

describe("internal/wire/openAiChat/embeddings: the official SDK's types", () => {
  it("a list typed as the SDK's reads as its vectors, floats or base64, in the order of its indexes, and its usage", () => {
    const list: OpenAI.CreateEmbeddingResponse = {
      object: "list",
      model: "text-embedding-3-small",
      data: [
        { object: "embedding", index: 1, embedding: [0.5, -1] },
        // The SDK's type says numbers; its client asks for base64 and decodes it, which is what the wire carries.
        { object: "embedding", index: 0, embedding: base64Floats([0.25, 2]) as unknown as Array<number> }
      ],
      usage: { prompt_tokens: 7, total_tokens: 7 }
    }
    expect(readReply(JSON.parse(JSON.stringify(list)), 2)).toEqual(Result.succeed({
      embeddings: [[0.25, 2], [0.5, -1]],
      model: "text-embedding-3-small",
      usage: { promptTokens: 7, totalTokens: 7, estimated: false }
    }))
  })
})
