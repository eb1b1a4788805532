/**
 * An embeddings wire format built on the generation format of the same API, whose key, error and error-body handling it
 * takes.
 */
import type { EmbeddingFormat, WireFormat } from "../../simulator/WireFormat.js"

/** The embeddings format of `format`'s API: its own request decoding and reply, `format`'s key and errors. */
export const embeddingFormatOf = <Extra>(
  format: WireFormat<Extra>,
  decode: EmbeddingFormat["decode"],
  render: EmbeddingFormat["render"]
): EmbeddingFormat => ({
  apiKey: format.apiKey,
  renderError: format.renderError,
  renderBodyError: format.renderBodyError,
  decode,
  render
})
