/**
 * Structured output, both ends: a request for JSON following an Effect Schema's JSON Schema, and the reply decoded with
 * it.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import { type Input as ChatRequest, jsonSchemaFormat } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import type { GenerateObjectOptions as Options } from "../../Llm.js"
import { ContentFilterError, OutputDecodeError } from "../../LlmError.js"
import { messageOf } from "../errorText.js"
import { definedFields } from "../json.js"

/** `request` asking for JSON that follows `schema` (any `responseFormat` it had is replaced). */
export const requestFor = <A, I>(request: ChatRequest, schema: Schema.Codec<A, I>, options?: Options): ChatRequest => {
  // A schema's AST is its decoded side (a class's declaration included), where its annotations are.
  const name = options?.name ?? SchemaAST.resolveIdentifier(schema.ast) ?? SchemaAST.resolveTitle(schema.ast) ??
    "output"
  const description = options?.description ?? SchemaAST.resolveDescription(schema.ast)
  return {
    ...request,
    responseFormat: jsonSchemaFormat(name, schema, definedFields({ description, strict: options?.strict }))
  }
}

/**
 * The reply's text decoded through the schema's JSON form (`Schema.toCodecJson`), which the request's JSON Schema
 * describes. A refusal or a reply cut by a safety system is a `ContentFilterError` (the model did not try); text that
 * is not JSON or fails the schema, an `OutputDecodeError` with the whole text in `raw`.
 */
export const decode = <A, I>(
  response: ChatResponse,
  schema: Schema.Codec<A, I>
): Effect.Effect<A, OutputDecodeError | ContentFilterError> => {
  const where = { provider: response.provider, model: response.model }
  if (response.refusal !== undefined || response.finishReason === "content_filter") {
    return Effect.fail(
      new ContentFilterError({
        ...where,
        detail: response.refusal !== undefined
          ? `the model refused to give the structured output: ${response.refusal}`
          : "the structured output was cut off by a safety system"
      })
    )
  }
  const cut = response.finishReason === "length" ? " (the reply was cut off at the token limit)" : ""
  const failed = (detail: string) => new OutputDecodeError({ ...where, detail: `${detail}${cut}`, raw: response.text })
  let json: unknown
  try {
    json = JSON.parse(response.text)
  } catch (error) {
    return Effect.fail(
      failed(`the structured output is not JSON (${messageOf(error)})`)
    )
  }
  return Effect.mapError(
    Schema.decodeUnknownEffect(Schema.toCodecJson(schema))(json, { errors: "all", onExcessProperty: "ignore" }),
    (error) => failed(`the structured output does not match its schema: ${error.message}`)
  )
}
