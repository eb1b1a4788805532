/**
 * Our reply as `effect/ai`'s response parts. What the provider needs back in the next turn (a tool call's or the
 * reply's `providerMetadata`) rides in the parts' metadata under our key, which `Prompt.fromResponseParts` turns into
 * the next prompt's part options, where `request.ts` finds it again.
 */
import { AiError, type Response, Telemetry, Tool } from "effect/ai"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import type { Span } from "effect/Tracer"
import type * as ChatChunk from "../../../ChatChunk.js"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { ChatResponse, FinishReason, Usage } from "../../../ChatResponse.js"
import type { ProviderMetadata, ToolCall } from "../../../Message.js"
import { messageOf } from "../../errorText.js"
import { definedFields } from "../../json.js"
import { metadataKey } from "./aiError.js"
import type { CarriedMetadata } from "./request.js"

// Our finish reasons as `effect/ai`'s.
const finishReasons: Readonly<Record<FinishReason, Response.FinishReason>> = {
  stop: "stop",
  length: "length",
  tool_calls: "tool-calls",
  content_filter: "content-filter",
  other: "other"
}

/** Our usage as `effect/ai`'s; the cache writes when the provider reported them (Anthropic). */
export const usageOf = (usage: Usage): typeof Response.Usage.Encoded => ({
  inputTokens: {
    total: usage.promptTokens,
    uncached: usage.promptTokens - usage.cachedPromptTokens - (usage.cacheWriteTokens ?? 0),
    cacheRead: usage.cachedPromptTokens,
    ...(usage.cacheWriteTokens === undefined ? {} : { cacheWrite: usage.cacheWriteTokens })
  },
  outputTokens: {
    total: usage.completionTokens,
    text: usage.completionTokens - usage.reasoningTokens,
    reasoning: usage.reasoningTokens
  }
})

/** Our key's entry of a part's metadata, carrying `what` back to us in the next prompt. */
export const carry = (what: CarriedMetadata): Response.ProviderMetadata => ({ [metadataKey]: what as never })

/** A tool call's arguments as its `params`, or the `AiError` of JSON that does not parse. */
export const paramsOf = (
  call: Pick<ToolCall, "name" | "arguments">,
  method: string
): Result.Result<unknown, AiError.AiError> => {
  try {
    return Result.succeed(Tool.unsafeSecureJsonParse(call.arguments === "" ? "{}" : call.arguments))
  } catch (cause) {
    return Result.fail(AiError.make({
      module: "Llm",
      method,
      reason: new AiError.ToolParameterValidationError({
        toolName: call.name,
        description: `the arguments are not JSON (${messageOf(cause)})`
      })
    }))
  }
}

/** The finish of a reply, whole or streamed (`Finish` carries the same fields as a response). */
type Finished = Pick<ChatResponse, "id" | "model" | "provider" | "latency" | "refusal" | "keyId" | "cost"> & {
  readonly finishReason: FinishReason
}

/**
 * The metadata and finish parts; what `effect/ai` has no field for (cost, provider, key id) in the finish's metadata.
 */
export const closingParts = (
  finished: Finished | ChatChunk.Finish,
  usage: Usage
): [Response.ResponseMetadataPartEncoded, Response.FinishPartEncoded] => {
  const ours: Record<string, string | number | boolean> = {
    provider: finished.provider,
    model: finished.model,
    latencyMillis: Duration.toMillis(finished.latency),
    estimatedUsage: usage.estimated
  }
  if (finished.cost !== undefined) ours.cost = finished.cost
  if (finished.keyId !== undefined) ours.keyId = finished.keyId
  if (finished.refusal !== undefined) ours.refusal = finished.refusal
  return [
    { type: "response-metadata", id: finished.id, modelId: finished.model },
    {
      type: "finish",
      reason: finishReasons[finished.finishReason],
      usage: usageOf(usage),
      metadata: { [metadataKey]: ours }
    }
  ]
}

/** The `tool-call` part of `call` (with `reply` on the reply's first part), or the `AiError` of arguments not JSON. */
export const toolCallPart = (
  call: Pick<ToolCall, "id" | "name" | "arguments" | "providerMetadata">,
  reply: ProviderMetadata | undefined,
  method: string
): Result.Result<Response.ToolCallPartEncoded, AiError.AiError> =>
  Result.map(paramsOf(call, method), (params): Response.ToolCallPartEncoded => {
    if (reply === undefined && call.providerMetadata === undefined) {
      return { type: "tool-call", id: call.id, name: call.name, params }
    }
    const what: CarriedMetadata = definedFields({ reply, toolCall: call.providerMetadata })
    return { type: "tool-call", id: call.id, name: call.name, params, metadata: carry(what) }
  })

/** A holder of the reply's metadata that gives it to the first part asking, and `undefined` after. */
export const once = (metadata: ProviderMetadata | undefined): () => ProviderMetadata | undefined => {
  let left = metadata
  return () => {
    const taken = left
    left = undefined
    return taken
  }
}

const withReply = <P extends { readonly type: string }>(part: P, reply: ProviderMetadata | undefined): P =>
  reply === undefined ? part : { ...part, metadata: carry({ reply }) }

/**
 * GenAI attributes on `effect/ai`'s span of the call, as its own providers set them; `Llm`'s spans are its children.
 */
export const annotate = (span: Span, request: ChatRequest, finished: Finished | ChatChunk.Finish, usage: Usage): void =>
  Telemetry.addGenAIAnnotations(span, {
    provider: { name: finished.provider },
    operation: { name: "chat" },
    request: {
      model: request.model,
      temperature: request.temperature,
      topP: request.topP,
      maxTokens: request.maxTokens,
      stopSequences: request.stop
    },
    response: { id: finished.id, model: finished.model, finishReasons: [finishReasons[finished.finishReason]] },
    usage: { inputTokens: usage.promptTokens, outputTokens: usage.completionTokens }
  })

/** The parts of a whole reply, or the `AiError` of a tool call whose arguments are not JSON. */
export const partsOf = (response: ChatResponse): Result.Result<Array<Response.PartEncoded>, AiError.AiError> =>
  Result.gen(function*() {
    const parts: Array<Response.PartEncoded> = []
    // The reply's own metadata goes on its first part, which the next prompt's assistant message keeps.
    const reply = once(response.providerMetadata)
    if (response.reasoning !== undefined) {
      parts.push(withReply({ type: "reasoning", text: response.reasoning }, reply()))
    }
    if (response.text !== "") parts.push(withReply({ type: "text", text: response.text }, reply()))
    for (const call of response.toolCalls) parts.push(yield* toolCallPart(call, reply(), "chat"))
    parts.push(...closingParts(response, response.usage))
    return parts
  })
