/**
 * The simulator's OpenAI Responses wire format (`POST /v1/responses`, its `/input_tokens` and `/compact`), per
 * OpenAI's Responses API reference: request decoding, the response object, the named-event stream and errors. What it
 * holds of the API (the fields it refuses, reasoning items, encrypted content, `store`, compaction, its faults' form)
 * is in docs/simulator.md, its opening section and "Each wire's own rules". The implementation is in
 * `internal/simulator/openAiResponses/`.
 *
 * @since 0.1.0
 */
import { formatOf } from "../internal/simulator/openAiResponses/format.js"
import { organization } from "../internal/simulator/openAiResponses/organization.js"
import type { WireFormat } from "./WireFormat.js"

/**
 * What rendering needs beyond the reply.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Extra {
  /** `store` as sent (the API's default is `true`). */
  readonly store: boolean
  /** `include` names `reasoning.encrypted_content`. */
  readonly encryptedReasoning: boolean
  /** `reasoning.summary` was set: reasoning items carry their summary text. */
  readonly summary: boolean
  /** `reasoning.effort` as sent, echoed in the response object. */
  readonly effort: string | undefined
  /** `previous_response_id` as sent, echoed in the response object. */
  readonly previous?: string | undefined
  /**
   * The hosted tools the reply calls, one item each, in order: the request's hosted tools (`web_search`...) in turn,
   * `max_tool_calls` calls in all (one when it does not say). Default: none.
   *
   * @since 0.3.0
   */
  readonly hostedCalls?: ReadonlyArray<string> | undefined
  /**
   * The input ended with `compaction_trigger`: the reply is a response whose one output item is a `compaction` item
   * holding the summary, opaque, which a later request's input gives back. Default: no.
   *
   * @since 0.3.0
   */
  readonly compaction?: boolean | undefined
  /**
   * The request's tools whose calls are not plain function calls by the name the model was offered (a namespace's
   * function, a custom tool, the client's tool search), by that name: the reply's calls of them are written as the
   * request named them. Default: none.
   *
   * @since 0.3.0
   */
  readonly calledAs?: ReadonlyMap<string, CalledAs> | undefined
}

/**
 * How the request named a tool the model was offered as a function: its `name` (and `namespace`, a namespace's), and
 * its `kind` when its calls are not function calls (`custom_tool_call`, `tool_search_call`).
 *
 * @since 0.3.0
 * @category Models
 */
export interface CalledAs {
  readonly name: string
  readonly namespace?: string
  readonly kind?: "custom" | "tool_search"
}

/**
 * The Responses wire format, of an organisation named `simulator`: each running simulator serves the format of an
 * organisation of its own, so what one encrypts another refuses (docs/simulator.md, "Each wire's own rules").
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const format: WireFormat<Extra> = formatOf(organization("simulator"))
