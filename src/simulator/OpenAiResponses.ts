/**
 * The simulator's OpenAI Responses wire format (`POST /v1/responses`), per OpenAI's Responses API reference: request
 * decoding, the response object, the named-event stream and errors (Chat Completions' error body and statuses).
 *
 * Requests are read with the Responses codec, what is wrong worded as OpenAI does. Chat Completions fields (`messages`,
 * `response_format`, `max_tokens`, `reasoning_effort`, `stop`, `seed`...) are refused as unknown parameters, and
 * Chat-style nested tools and `text` parts as missing fields, so an adapter mixing the two formats fails loudly here.
 *
 * Prompt tokens count `instructions`, the messages, replayed function calls and their outputs, replayed reasoning (its
 * summary, its `encrypted_content`), the function tools and each image by OpenAI's rule; a file part is refused (the
 * codec reads none), hosted tools and their calls are not counted. `POST /v1/responses/input_tokens` answers the count.
 *
 * Reasoning (`reasoning.effort` other than `none`) adds a reasoning item first, whose summary is filled only when
 * `reasoning.summary` is set and whose `encrypted_content` only when `include` names it, as OpenAI does.
 *
 * Rules of the real API the simulator enforces, simplified:
 * - with reasoning on, a replayed `function_call` item that carries its `id` must follow a `reasoning` item of the same
 *   turn (a turn ends at a user, system or developer message, or a `function_call_output`);
 * - a replayed `reasoning` item carries its `encrypted_content`, or an `id` that can only be found with `store` (the
 *   simulator accepts the id then);
 * - encrypted content (a reasoning item's, a compaction item's) is read back only by the organisation that made it:
 *   each simulator stands for one of its own, and refuses the rest 400 `invalid_encrypted_content`, as OpenAI does;
 * - an input ending with `compaction_trigger` asks for a compaction: the reply calls no tool and is one `compaction`
 *   item whose `encrypted_content` is the summary, sealed; a later input giving that item back is read as the summary;
 * - a response made with `store` (the default) is kept for `previous_response_id`; an id not kept (unknown, made with
 *   `store: false`, or forgotten past a bound) is 404 `previous_response_not_found`, as OpenAI answers an expired one.
 *
 * Stream faults: `stream-error` with `shape=openai` sends the `error` event; `vllm` and `openrouter`, which have no
 * Responses counterpart, send `response.failed`. A non-streamed request gets the failed response object with HTTP 200.
 * A chunk is one SSE event. Structured output (`text.format`) is checked for shape only.
 *
 * A namespace's functions, custom tools, the client's tool search (`execution: "client"`) and an `additional_tools`
 * item's tools are offered to the model as functions (as the gateway offers them to another API), and its calls of them
 * written as OpenAI writes them: a `function_call` naming the `namespace`, a `custom_tool_call`, a `tool_search_call`.
 * The implementation is in `internal/simulator/openAiResponses/`.
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
 * organisation of its own, so what one encrypts another refuses (see the module docs).
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export const format: WireFormat<Extra> = formatOf(organization("simulator"))
