/**
 * A table read by a key from outside (a reply's stop reason or batch status, a request's document format or media
 * type, a file's extension) answers the key that names a member every object inherits (`constructor`, `toString`,
 * `__proto__`, ...) as it answers any unknown key: every such name, each reader.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { ShapeError } from "../../src/internal/codecError.js"
import { typeOfExtension } from "../../src/internal/tokens/media.js"
import { statusOfError } from "../../src/internal/wire/anthropic/errors.js"
import * as Bedrock from "../../src/internal/wire/bedrock/codec.js"
import { readOperation } from "../../src/internal/wire/gemini/batch.js"
import { readBatch } from "../../src/internal/wire/openAiChat/batch.js"
import * as ServiceTier from "../../src/internal/wire/serviceTier.js"

const inherited = Object.getOwnPropertyNames(Object.prototype)

describe("keys naming Object.prototype's members", () => {
  it("are names of no member this test misses", () => {
    expect(inherited).toEqual(expect.arrayContaining(["constructor", "toString", "__proto__", "hasOwnProperty"]))
  })

  it.each(inherited)("%s: an unknown stop reason, extension, error type and service tier", (name) => {
    expect(Bedrock.finishReason(name)).toBe("other")
    expect(typeOfExtension(name)).toBeUndefined()
    expect(statusOfError({ type: "error", error: { type: name, message: "x" } })).toBeUndefined()
    expect(ServiceTier.toAnthropic(name)).toBeUndefined()
    expect(ServiceTier.toBedrock(name)).toBeUndefined()
  })

  it.each(inherited)("%s: an unknown batch status or state, refused as the reply's shape", (name) => {
    expect(() => readBatch({ id: "batch_1", status: name })).toThrow(ShapeError)
    expect(() => readOperation({ name: "batches/1", metadata: { state: name } })).toThrow(ShapeError)
  })

  it.each(inherited)("%s: a Converse document's format, or a media type, refused by its path", (name) => {
    const checked = Bedrock.checkConverse({
      messages: [{ role: "user", content: [{ document: { format: name, name: "notes", source: { bytes: "AAAA" } } }] }]
    })
    expect(Result.isFailure(checked)).toBe(true)
    // A media type that is no image's is sent as a document, whose formats Converse lists.
    const refused = Effect.runSync(Effect.flip(Effect.try({
      try: () =>
        Bedrock.requestBody({
          messages: [{ role: "user", content: [{ type: "image", url: `data:${name};base64,AAAA` }] }]
        }),
      catch: (error) => error
    })))
    expect(refused).toMatchObject({
      param: "messages[0].content[0]",
      detail: expect.stringContaining(`is a document (${name.toLowerCase()}): Bedrock's Converse API takes`)
    })
  })
})
