/**
 * Gemini's embedding bodies over the gateway's embeddings path (the Gemini API's embeddings reference):
 * `:embedContent` (`{content: {parts: [{text}]}, outputDimensionality?}` -> `{embedding: {values}}`) and
 * `:batchEmbedContents` (`{requests: [...]}` -> `{embeddings: [{values}, ...]}`, in request order). A content's text
 * parts are embedded as one text. `taskType` and `title` are Gemini's own and not carried; the requests of a batch
 * share one `outputDimensionality`.
 */
import * as Schema from "effect/Schema"
import type { EmbeddingResponse, Input as EmbeddingInput } from "../../../Embedding.js"
import { checker, maybe, Problem } from "../../schemaCheck.js"
import { decodeBody } from "../openai/wire.js"

const WireEmbedContent = Schema.Struct({
  content: Schema.Struct({ parts: Schema.Array(Schema.Struct({ text: maybe(Schema.String) })) }),
  outputDimensionality: maybe(Schema.Number)
})

const WireBatchEmbed = Schema.Struct({ requests: Schema.Array(WireEmbedContent) })

type Embed = typeof WireEmbedContent.Type

const textOf = (embed: Embed): string => embed.content.parts.map((part) => part.text ?? "").join("")

const checkOne = checker(WireEmbedContent, { errors: "first" })
const checkBatch = checker(WireBatchEmbed, { errors: "first" })

/** An embedding body (its text; `batch` for `:batchEmbedContents`) as the engine's request, or what is wrong. */
export const request = (text: string, batch: boolean): EmbeddingInput | Problem => {
  const embeds = batch ? decodeBody(text, checkBatch) : decodeBody(text, checkOne)
  if (embeds instanceof Problem) return embeds
  const requests = "requests" in embeds ? embeds.requests : [embeds]
  const dimensions = requests[0]?.outputDimensionality ?? undefined
  if (requests.some((embed) => (embed.outputDimensionality ?? undefined) !== dimensions)) {
    return new Problem(
      "requests",
      "requests: every request of a batch must ask for the same outputDimensionality on this gateway"
    )
  }
  const input = requests.map(textOf)
  return dimensions === undefined ? { input } : { input, dimensions }
}

/** The embeddings of `response` as `:embedContent`'s (`batch` false) or `:batchEmbedContents`' reply. */
export const reply = (response: EmbeddingResponse, batch: boolean): string =>
  batch
    ? JSON.stringify({ embeddings: response.embeddings.map((values) => ({ values })) })
    : JSON.stringify({ embedding: { values: response.embeddings[0] ?? [] } })
