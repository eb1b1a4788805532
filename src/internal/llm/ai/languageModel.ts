/**
 * The `Llm` in context as `effect/ai`'s `LanguageModel` and `EmbeddingModel`; `effect/ai` does the rest (tool-call
 * resolution, structured output, `Chat` history), each call here one `chat`, `chatStream` or `embed` of the `Llm`.
 *
 * `Llm.ts` loads this module when the layer is built, so a program that never uses `effect/ai` does not load it.
 */
import { EmbeddingModel, LanguageModel } from "effect/ai"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { Input as EmbeddingRequest } from "../../../Embedding.js"
import { Llm } from "../../../Llm.js"
import { failWith } from "./aiError.js"
import { type Defaults, requestOf } from "./request.js"
import { annotate, partsOf } from "./response.js"
import * as AiStream from "./stream.js"

/** The request fields every call of the language model carries. */
export type Options = Defaults

/** The language model over `llm`. */
export const makeLanguageModel = (options: Options): Effect.Effect<LanguageModel.LanguageModel, never, Llm> =>
  Llm.use((llm) => {
    const failChat = failWith("chat")
    return LanguageModel.make({
      generateText: (provider) => {
        const prepared = requestOf(provider, options)
        if (Result.isFailure(prepared)) return Effect.fail(prepared.failure)
        const request = prepared.success
        return llm.chat(request).pipe(
          Effect.catch(failChat),
          Effect.flatMap((response) => {
            annotate(provider.span, request, response, response.usage)
            return Effect.fromResult(partsOf(response))
          })
        )
      },
      streamText: (provider) => {
        const prepared = requestOf(provider, options)
        if (Result.isFailure(prepared)) return Stream.fail(prepared.failure)
        const request = prepared.success
        return AiStream.partsOf(
          llm.chatStream(request),
          (finish, usage) => annotate(provider.span, request, finish, usage)
        )
      }
    })
  })

/** `makeLanguageModel` as a layer. */
export const languageModel = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, Llm> =>
  Layer.effect(LanguageModel.LanguageModel, makeLanguageModel(options))

/** The request fields every call of the embedding model carries. */
export type EmbeddingOptions = Omit<EmbeddingRequest, "input">

/** The embedding model over `llm`: one `embed` per batch `effect/ai` makes, in input order. */
export const makeEmbeddingModel = (
  options: EmbeddingOptions
): Effect.Effect<EmbeddingModel.EmbeddingModel, never, Llm> =>
  Llm.use((llm) => {
    const failEmbed = failWith("embed")
    return EmbeddingModel.make({
      embedMany: ({ inputs }) =>
        llm.embed({ ...options, input: inputs }).pipe(
          Effect.catch(failEmbed),
          Effect.map((response) => ({
            results: response.embeddings as Array<Array<number>>,
            usage: { inputTokens: response.usage.promptTokens }
          }))
        )
    })
  })

/** `makeEmbeddingModel` as a layer. */
export const embeddingModel = (options: EmbeddingOptions): Layer.Layer<EmbeddingModel.EmbeddingModel, never, Llm> =>
  Layer.effect(EmbeddingModel.EmbeddingModel, makeEmbeddingModel(options))
