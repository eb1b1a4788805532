/**
 * The Chat Completions adapter (`OpenAiChat`): its table, which Azure OpenAI's (`AzureOpenAi`) fills in with its own
 * paths and key header, and its stream's parser, which holds no Effect so that the hot path is a loop over events.
 */
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Result from "effect/Result"
import type { ChatChunk, ToolCallDelta } from "../../../ChatChunk.js"
import type { Usage } from "../../../ChatResponse.js"
import {
  fromHttpFailure,
  type LlmError,
  OutputDecodeError,
  StreamTruncatedError,
  TransportError
} from "../../../LlmError.js"
import type { OptionsError } from "../../../OptionsError.js"
import type * as Sse from "../../../Sse.js"
import { RequestError } from "../../codecError.js"
import type { JsonObject } from "../../json.js"
import * as Adapter from "../../providers/adapter.js"
import { type ErrorFields, errorFieldsOf, JsonSseParser } from "../../sse/streamParser.js"
import { causeText } from "../../transport/providerHttp.js"
import * as Batch from "./batch.js"
import * as Wire from "./codec.js"
import { type ChunkToolCallRead, excerpt, finishReason, readChunk } from "./codec.js"
import * as Embeddings from "./embeddings.js"
import type { Options } from "./options.js"

export function requestIdOf(response: HttpClientResponse.HttpClientResponse) {
  return response.headers["x-request-id"]
}

/** The Chat Completions table of `options`; `adapter` names the options' owner in an `OptionsError`. */
export function definition(options: Options, adapter = "OpenAiChat"): Result.Result<Adapter.Definition, OptionsError> {
  const provider = options.provider ?? "openai"
  const bodyOptions = {
    includeUsage: options.includeUsage ?? true,
    maxTokensField: options.maxTokensField ?? "max_completion_tokens",
    promptCacheKey: options.sendPromptCacheKey ?? true,
    serviceTier: options.sendServiceTier ?? true,
    prefill: options.prefill ?? false
  }
  const maxEventSize = options.maxEventSize
  const invalid = Adapter.checkPositive(adapter, "maxEventSize", maxEventSize) ??
    Adapter.checkPositive(adapter, "maxResponseBytes", options.maxResponseBytes, true)
  if (invalid !== undefined) return Result.fail(invalid)
  return Result.succeed({
    provider,
    model: options.model,
    baseUrl: options.baseUrl,
    headers: Wire.headers(options),
    // A custom `auth` takes the time the request is sent (Zhipu signs a JWT with it).
    auth: options.auth === undefined ? Adapter.bearer : () => undefined,
    timedAuth: options.auth,
    requestId: requestIdOf,
    maxRawExcerpt: Wire.maxRaw,
    ...Adapter.limitsOf(options),
    path: () => "/chat/completions",
    body: (request, model, stream) => {
      try {
        return Wire.requestBody(request, { ...bodyOptions, model, stream })
      } catch (error) {
        if (error instanceof RequestError) throw error
        throw new RequestError(
          `the request body cannot be written as JSON (${causeText(error)}); check providerOptions`
        )
      }
    },
    failureOf: (body) => Wire.isErrorPayload(body) ? body : undefined,
    failureHeaders: "response",
    reply: (body) => Result.succeed(Wire.reply(body)),
    stream: (context) => new ChatStreamParser({ ...context, maxEventSize }),
    embeddings: Embeddings.wire(options.embeddingEncoding ?? "base64"),
    prefill: bodyOptions.prefill !== false,
    ...((options.batches ?? provider === "openai") ? { batch: Batch.clientWire } : {})
  })
}

/** What a stream needs to know about its call. */
export interface StreamContext extends Adapter.StreamContext {
  readonly maxEventSize: number | undefined
}

interface ToolCallState {
  /** Dense, in opening order: the index the domain's `ToolCallDelta` promises. */
  readonly index: number
  id: string | undefined
  name: string | undefined
  /** Arguments that came before the name, as some compatible servers send them. */
  pending: string
  announced: boolean
}

/** One stream's state (`StreamParser`). */
export class ChatStreamParser extends JsonSseParser {
  private id = ""
  private model: string
  private reason: string | undefined
  private refusal: string | undefined
  private usage: Usage | undefined
  private readonly calls: Array<ToolCallState> = []
  private readonly byIndex = new Map<number, ToolCallState>()
  private last: ToolCallState | undefined

  constructor(private readonly context: StreamContext) {
    super(context)
    this.model = context.model
  }

  protected ended(out: Array<ChatChunk>): LlmError | undefined {
    // Some servers close right after the finish chunk; the reply is whole, only `[DONE]` is missing.
    if (this.reason !== undefined) {
      this.finish(out)
      return undefined
    }
    return new StreamTruncatedError({
      ...this.errorFields(),
      detail: "the stream ended without [DONE] and without a finish reason"
    })
  }

  /** The body failed to arrive (a reset mid-stream). */
  transportError(detail: string): TransportError {
    return new TransportError({ ...this.errorFields(), detail, responseStarted: true })
  }

  protected errorFields(): ErrorFields {
    return errorFieldsOf(this.context, this.model)
  }

  protected decodeError(detail: string, raw: string): LlmError {
    return new OutputDecodeError({ ...this.errorFields(), detail, raw: excerpt(raw) })
  }

  private providerError(body: unknown): LlmError {
    const requestId = this.context.requestId()
    return fromHttpFailure({
      provider: this.context.provider,
      model: this.model,
      headers: requestId === undefined ? undefined : { "x-request-id": requestId },
      body,
      nowMillis: this.context.now(),
      secrets: [this.context.secret]
    })
  }

  protected events(events: Array<Sse.Event>, out: Array<ChatChunk>): LlmError | undefined {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!
      const data = event.data
      if (event.event !== "message") {
        if (event.event === "error") return this.providerError(data)
        continue
      }
      if (data.startsWith("[DONE]")) {
        this.finish(out)
        return undefined
      }
      const failure = this.jsonEvent(data, out)
      if (failure !== undefined) return failure
    }
    return undefined
  }

  /** One chunk object. */
  protected readEvent(value: JsonObject, out: Array<ChatChunk>): LlmError | undefined {
    const chunk = readChunk(value)
    if (chunk.failure !== undefined) return this.providerError(chunk.failure)
    if (this.id === "") this.id = chunk.id
    this.model = chunk.model ?? this.model
    this.usage = chunk.usage ?? this.usage
    if (chunk.reasoning !== undefined && chunk.reasoning !== "") {
      out.push({ _tag: "ReasoningDelta", text: chunk.reasoning })
    }
    if (chunk.text !== undefined && chunk.text !== "") out.push({ _tag: "TextDelta", text: chunk.text })
    if (chunk.refusal !== undefined) this.refusal = (this.refusal ?? "") + chunk.refusal
    for (let i = 0; i < chunk.toolCalls.length; i++) this.toolCall(chunk.toolCalls[i]!, out)
    if (chunk.finishReason !== undefined) this.reason = chunk.finishReason
    return undefined
  }

  private open(wireIndex: number | undefined): ToolCallState {
    const call: ToolCallState = {
      index: this.calls.length,
      id: undefined,
      name: undefined,
      pending: "",
      announced: false
    }
    this.calls.push(call)
    if (wireIndex !== undefined) this.byIndex.set(wireIndex, call)
    this.last = call
    return call
  }

  /** Assembles a fragment: by `index` (a new `id` at a known one opens a call), else by `id`, `name` or order. */
  private toolCall(fragment: ChunkToolCallRead, out: Array<ChatChunk>): void {
    const { id, index: wireIndex, name } = fragment
    const args = fragment.arguments
    let call: ToolCallState
    if (wireIndex !== undefined) {
      const known = this.byIndex.get(wireIndex)
      // A different id at a known index is another call from a server that reuses indexes.
      call = known === undefined || (id !== undefined && known.id !== undefined && known.id !== id)
        ? this.open(wireIndex)
        : known
    } else if (id !== undefined) {
      call = this.last !== undefined && this.last.id === id ? this.last : this.open(undefined)
    } else if (name !== undefined) {
      call = this.open(undefined)
    } else {
      call = this.last ?? this.open(undefined)
    }
    const newId = id !== undefined && id !== call.id
    const newName = name !== undefined && name !== call.name
    if (newId) call.id = id
    if (newName) call.name = name
    if (!call.announced) {
      if (call.name === undefined) {
        call.pending += args
        return
      }
      out.push(this.delta(call.index, call.pending + args, call.id, call.name))
      call.pending = ""
      call.announced = true
      return
    }
    if (args === "" && !newId && !newName) return
    out.push(this.delta(call.index, args, newId ? id : undefined, newName ? name : undefined))
  }

  private delta(index: number, args: string, id: string | undefined, name: string | undefined): ToolCallDelta {
    const delta: { -readonly [K in keyof ToolCallDelta]: ToolCallDelta[K] } = {
      _tag: "ToolCallDelta",
      index,
      arguments: args
    }
    if (id !== undefined) delta.id = id
    if (name !== undefined) delta.name = name
    return delta
  }

  private finish(out: Array<ChatChunk>): void {
    this.done = true
    // A call whose name never came is still reported, so its arguments are not lost.
    for (const call of this.calls) {
      if (!call.announced) out.push(this.delta(call.index, call.pending, call.id, call.name))
    }
    Adapter.finishInto(out, this.context, this.usage, {
      finishReason: finishReason(this.reason),
      id: this.id,
      model: this.model,
      refusal: this.refusal
    })
  }
}
