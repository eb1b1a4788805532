/**
 * The Responses adapter (`OpenAiResponses`): its table, its calls that continue a kept response made again whole when
 * the API has forgotten it, and its stream's parser. A request marked as a compaction goes to `/responses/compact`
 * (`compaction.ts`), whole.
 *
 * Stream events are told apart by their `event:` name before any JSON is parsed: most of them repeat what the deltas
 * already said (`output_text.done`, `content_part.*`...), and skipping their `JSON.parse` is most of the parser's cost
 * saved. The terminal event's response is authoritative: what no delta announced is emitted from its `output`, and its
 * reasoning items and hosted tools' calls become the reply's provider metadata.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../../../ChatChunk.js"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import { type LlmError, StreamTruncatedError } from "../../../LlmError.js"
import type { OptionsError } from "../../../OptionsError.js"
import type { Credentials, Service } from "../../../ProviderClient.js"
import type * as Sse from "../../../Sse.js"
import { ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import * as Adapter from "../../providers/adapter.js"
import { type ErrorFields, errorFieldsOf, JsonSseParser } from "../../sse/streamParser.js"
import { requestIdOf } from "../openAiChat/client.js"
import { argumentsOf, headers } from "../openAiChat/codec.js"
import * as Embeddings from "../openAiChat/embeddings.js"
import * as Wire from "./codec.js"
import { callNameOf, failureOf, finishReason, reasoningSeparator, reply } from "./codec.js"
import * as Compaction from "./compaction.js"
import type { Options } from "./options.js"

/** What a stream needs to know about its call. */
export interface StreamContext extends Adapter.StreamContext {
  /** Whether the request stored the response (which reasoning items are kept, see `keptReasoning`). */
  readonly store: boolean
  readonly maxEventSize: number | undefined
}

/** The events whose payload is read; any other named event is skipped unparsed. */
const read = new Set([
  "response.output_item.added",
  "response.output_text.delta",
  "response.refusal.delta",
  "response.reasoning_summary_text.delta",
  "response.reasoning_text.delta",
  "response.function_call_arguments.delta",
  "response.function_call_arguments.done",
  "response.completed",
  "response.incomplete",
  "response.failed",
  "error",
  // No `event:` line: dispatch on `data.type`.
  "message"
])

interface CallState {
  /** Dense, in opening order: the index the domain's `ToolCallDelta` promises. */
  readonly index: number
  readonly itemId: string | undefined
  callId: string
  name: string
  arguments: string
}

const stringOf = (value: unknown, field: string): string => {
  if (typeof value === "string") return value
  throw new ShapeError(`${field} is not a string`)
}

export class ResponsesStreamParser extends JsonSseParser {
  /** The name of the event being read: an event whose data has no `type` is read by it. */
  private name = ""
  private readonly calls: Array<CallState> = []
  private readonly byItem = new Map<string, CallState>()
  private readonly byOutput = new Map<number, CallState>()
  private textSeen = false
  private reasoningKey: string | undefined
  private refusal: string | undefined

  constructor(private readonly context: StreamContext) {
    super(context)
  }

  protected ended(): LlmError {
    return new StreamTruncatedError({
      ...this.errorFields(),
      detail: "the stream ended without response.completed, response.incomplete, response.failed or an error event"
    })
  }

  protected errorFields(): ErrorFields {
    return errorFieldsOf(this.context, this.context.model)
  }

  protected events(events: Array<Sse.Event>, out: Array<ChatChunk>): LlmError | undefined {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!
      if (!read.has(event.event)) continue
      this.name = event.event
      const failure = this.jsonEvent(event.data, out)
      if (failure !== undefined || this.done) return failure
    }
    return undefined
  }

  /** An error event whose data is not JSON still ends the stream as an error. */
  protected override skip(data: string): LlmError | undefined {
    return this.name === "error" ? this.context.errorOf(data) : super.skip(data)
  }

  protected decodeError(detail: string, raw: string): LlmError {
    return this.context.decodeError(detail, raw)
  }

  protected readEvent(value: JsonObject, out: Array<ChatChunk>): LlmError | undefined {
    const type = typeof value["type"] === "string" ? value["type"] : this.name
    switch (type) {
      case "response.output_text.delta": {
        const delta = stringOf(value["delta"], "output_text.delta")
        if (delta !== "") out.push({ _tag: "TextDelta", text: delta })
        this.textSeen = true
        return undefined
      }
      case "response.function_call_arguments.delta": {
        const delta = stringOf(value["delta"], "function_call_arguments.delta")
        const call = this.find(value["item_id"], value["output_index"]) ?? this.open({}, value, out)
        call.arguments += delta
        if (delta !== "") out.push({ _tag: "ToolCallDelta", index: call.index, arguments: delta })
        return undefined
      }
      case "response.output_item.added": {
        const item = value["item"]
        if (isJsonObject(item) && item["type"] === "function_call") {
          if (this.find(item["id"], value["output_index"]) === undefined) this.open(item, value, out)
        }
        return undefined
      }
      case "response.reasoning_summary_text.delta":
      case "response.reasoning_text.delta": {
        const delta = stringOf(value["delta"], `${type}.delta`)
        const key = `${String(value["item_id"])}/${type}/${String(value["summary_index"] ?? value["content_index"])}`
        // A new summary part starts a new paragraph, as the whole reply joins them.
        if (this.reasoningKey !== undefined && key !== this.reasoningKey) {
          out.push({ _tag: "ReasoningDelta", text: reasoningSeparator })
        }
        this.reasoningKey = key
        if (delta !== "") out.push({ _tag: "ReasoningDelta", text: delta })
        return undefined
      }
      case "response.refusal.delta":
        this.refusal = (this.refusal ?? "") + stringOf(value["delta"], "refusal.delta")
        return undefined
      case "response.function_call_arguments.done": {
        const call = this.find(value["item_id"], value["output_index"])
        if (call !== undefined && value["arguments"] !== undefined) {
          this.settle(call, argumentsOf(value["arguments"]), out)
        }
        return undefined
      }
      case "response.completed":
      case "response.incomplete": {
        const response = value["response"]
        this.finish(isJsonObject(response) ? response : {}, out)
        return undefined
      }
      case "response.failed": {
        const response = value["response"]
        this.done = true
        return this.context.errorOf((isJsonObject(response) ? failureOf(response) : undefined) ?? value)
      }
      case "error":
        this.done = true
        return this.context.errorOf(value)
      default:
        return undefined
    }
  }

  private find(itemId: unknown, outputIndex: unknown): CallState | undefined {
    const byItem = typeof itemId === "string" ? this.byItem.get(itemId) : undefined
    return byItem ?? (typeof outputIndex === "number" ? this.byOutput.get(outputIndex) : undefined)
  }

  /** Opens a call from its `function_call` item and announces it. */
  private open(item: JsonObject, event: JsonObject, out: Array<ChatChunk>): CallState {
    const itemId = typeof item["id"] === "string"
      ? item["id"]
      : typeof event["item_id"] === "string"
      ? event["item_id"]
      : undefined
    const callId = typeof item["call_id"] === "string" ? item["call_id"] : itemId ?? ""
    const name = typeof item["name"] === "string" ? callNameOf(item) : ""
    const args = argumentsOf(item["arguments"])
    const call: CallState = { index: this.calls.length, itemId, callId, name, arguments: args }
    this.calls.push(call)
    if (itemId !== undefined) this.byItem.set(itemId, call)
    const outputIndex = event["output_index"]
    if (typeof outputIndex === "number") this.byOutput.set(outputIndex, call)
    out.push({ _tag: "ToolCallDelta", index: call.index, id: callId, name, arguments: args })
    return call
  }

  /** Brings a call's arguments up to the authoritative full text, when the deltas fell short of it. */
  private settle(call: CallState, full: string, out: Array<ChatChunk>): void {
    if (full.length <= call.arguments.length || !full.startsWith(call.arguments)) return
    const rest = full.slice(call.arguments.length)
    call.arguments = full
    out.push({ _tag: "ToolCallDelta", index: call.index, arguments: rest })
  }

  /** Settles a call against its finished item; a call opened by an arguments delta before its item gets its id here. */
  private complete(call: CallState, item: JsonObject, out: Array<ChatChunk>): void {
    const name = typeof item["name"] === "string" ? callNameOf(item) : undefined
    const callId = item["call_id"]
    if (call.name === "" && name !== undefined && name !== "") {
      call.name = name
      if (typeof callId === "string") call.callId = callId
      out.push({ _tag: "ToolCallDelta", index: call.index, id: call.callId, name, arguments: "" })
    }
    this.settle(call, argumentsOf(item["arguments"]), out)
  }

  // The whole reply, read by the codec's reader (a response of the wrong shape fails the stream); a call no delta
  // announced is announced here, and one the deltas left short is completed.
  private finish(response: JsonObject, out: Array<ChatChunk>): void {
    this.done = true
    const whole = reply(response, this.context.store)
    const output = response["output"] as ReadonlyArray<unknown>
    let hasCalls = this.calls.length > 0
    for (let i = 0; i < output.length; i++) {
      const item = output[i]
      if (!isJsonObject(item) || item["type"] !== "function_call") continue
      hasCalls = true
      const known = this.find(item["id"], i)
      if (known === undefined) this.open(item, { output_index: i }, out)
      else this.complete(known, item, out)
    }
    // A server that sent only the finished response (no deltas) still gives the whole reply.
    if (this.reasoningKey === undefined && whole.reasoning !== undefined) {
      out.push({ _tag: "ReasoningDelta", text: whole.reasoning })
    }
    if (!this.textSeen && whole.text !== "") out.push({ _tag: "TextDelta", text: whole.text })
    Adapter.finishInto(out, this.context, whole.usage, {
      finishReason: finishReason(response, hasCalls),
      id: whole.id,
      model: whole.model ?? this.context.model,
      refusal: this.refusal ?? whole.refusal,
      providerMetadata: whole.providerMetadata
    })
  }
}

function providerOf(options: Options): string {
  return options.provider ?? "openai"
}

/** The Responses table of `options`. */
export function definition(options: Options): Result.Result<Adapter.Definition, OptionsError> {
  const store = options.store ?? false
  const provider = providerOf(options)
  const maxEventSize = options.maxEventSize
  const invalid = Adapter.checkPositive("OpenAiResponses", "maxEventSize", maxEventSize) ??
    Adapter.checkPositive("OpenAiResponses", "maxResponseBytes", options.maxResponseBytes, true)
  if (invalid !== undefined) return Result.fail(invalid)
  return Result.succeed({
    provider,
    model: options.model,
    baseUrl: options.baseUrl,
    headers: headers(options),
    auth: Adapter.bearer,
    requestId: requestIdOf,
    ...Adapter.limitsOf(options),
    // The `/embeddings` wire of Chat Completions, on the same API root.
    embeddings: Embeddings.wire(options.embeddingEncoding ?? "base64"),
    path: (_model, _stream, request) => Compaction.compactPath(request),
    body: (request, model, stream, keyId) => {
      const body = Wire.requestBody(request, {
        model,
        stream,
        store,
        previous: Wire.previousFor(request, { provider, keyId, store })
      })
      return Compaction.isCompaction(request) ? Compaction.compactBody(body) : body
    },
    failureOf: Wire.failureOf,
    failureHeaders: "response",
    countTokens: {
      path: () => "/responses/input_tokens",
      body: (request, model) => Wire.countBody(request, model),
      count: Wire.countOf
    },
    reply: (body, { request }) =>
      Result.succeed(Compaction.isCompaction(request) ? Compaction.compactedReply(body) : Wire.reply(body, store)),
    stream: (context) => new ResponsesStreamParser({ ...context, store, maxEventSize })
  })
}

// The API no longer knows the previous response (expired, or deleted): OpenAI answers 404 naming
// `previous_response_id`, which reads as an `InvalidRequestError` (no model is missing).
function isForgotten(error: LlmError): boolean {
  return error._tag === "InvalidRequestError" && error.status === 404
}

/**
 * `client`, its calls that continue a kept response by id made again with the whole history when the API no longer
 * knows that id, in the same attempt and with the same key: the caller never sees the 404.
 */
export function wholeWhenForgotten(client: Service, options: Options): Service {
  const context = { provider: providerOf(options), store: options.store ?? false }
  function continues(request: ChatRequest, credentials: Credentials) {
    return Wire.previousFor(request, { ...context, keyId: credentials.keyId }) !== undefined
  }
  function whole({ previousResponse: _, ...request }: ChatRequest): ChatRequest {
    return request
  }
  return {
    ...client,
    chat: (request, credentials) =>
      continues(request, credentials)
        ? Effect.catchIf(client.chat(request, credentials), isForgotten, () => client.chat(whole(request), credentials))
        : client.chat(request, credentials),
    chatStream: (request, credentials) =>
      continues(request, credentials)
        ? Stream.catchIf(
          client.chatStream(request, credentials),
          isForgotten,
          () => client.chatStream(whole(request), credentials)
        )
        : client.chatStream(request, credentials)
  }
}
