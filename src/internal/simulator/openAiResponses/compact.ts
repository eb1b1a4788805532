/**
 * The simulator's `POST /v1/responses/compact` (OpenAI's Responses API reference, "Compact a response"), answered whole
 * as OpenAI answers it: the input's user messages, then one `compaction` item whose `encrypted_content` is the
 * generated reply as a stand-in summary, sealed by the simulator's organisation (`organization.ts`), so that a later
 * `/v1/responses` request replaying the item takes it as OpenAI's API does. No tool is called.
 */
import * as Result from "effect/Result"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type * as OpenAiResponses from "../../../simulator/OpenAiResponses.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { ApiError, Decoded, ReplyMeta, WireFormat } from "../../../simulator/WireFormat.js"
import type { JsonObject } from "../../json.js"
import * as Images from "../../tokens/images.js"
import { checkCompactBody, type CompactBody, inputMessages } from "../../wire/openAiResponses/codec.js"
import { compacted, compactionItem, userItems } from "../../wire/openAiResponses/compaction.js"
import { responseOf } from "../chunks.js"
import { requestPrompt } from "../decoded.js"
import { invalid } from "../requestChecks.js"
import { sealedSummary } from "./compactionContent.js"
import { formatOf } from "./format.js"
import type { Organization } from "./organization.js"
import { refusalError } from "./request.js"

/** What a compaction's answer needs beside the reply: the user messages of the input, kept as they came. */
export interface Extra extends OpenAiResponses.Extra {
  readonly users: ReadonlyArray<JsonObject>
}

// The conversation a compact body names, as the engine's request; no tools, since a compaction calls none.
function requestOf(wire: CompactBody): Result.Result<ChatRequest, ApiError> {
  const conversation = inputMessages(wire)
  if (Result.isFailure(conversation)) return Result.fail(invalid(conversation.failure.message, "input"))
  const instructions = wire.instructions
  const messages = instructions === null || instructions === undefined
    ? conversation.success
    : [{ role: "system" as const, content: instructions }, ...conversation.success]
  const previous = wire.previous_response_id
  if (messages.length === 0 && (previous === null || previous === undefined)) {
    return Result.fail(invalid("Either 'input' or 'previous_response_id' must be provided.", "input"))
  }
  return Result.succeed({ messages })
}

function decode(body: unknown, organization: Organization): Result.Result<Decoded<Extra>, ApiError> {
  const checked = checkCompactBody(body)
  if (Result.isFailure(checked)) return Result.fail(refusalError(body, checked.failure))
  const wire = checked.success
  const foreign = organization.refusal(wire.input)
  if (foreign !== undefined) return Result.fail(foreign)
  const request = requestOf(wire)
  if (Result.isFailure(request)) return Result.fail(request.failure)
  const previous = wire.previous_response_id ?? undefined
  const decoded = requestPrompt(request.success, {
    model: wire.model,
    stream: false,
    extra: {
      store: false,
      encryptedReasoning: false,
      summary: false,
      effort: undefined,
      previous,
      users: userItems(wire.input)
    },
    parallelToolCalls: false,
    reasoning: false,
    unknownTool: () => invalid("A compaction takes no tool choice.", "tool_choice"),
    images: Images.openAi
  })
  return Result.map(decoded, (decoded) => ({ ...decoded, ...(previous !== undefined ? { continues: previous } : {}) }))
}

// The compacted response, its compaction item the summary sealed by the organisation (`organization.ts`).
function renderReply(seal: Organization["seal"], reply: Reply.Reply, meta: ReplyMeta, extra: Extra): string {
  const whole = responseOf(reply, meta)
  const suffix = meta.id.startsWith("resp_") ? meta.id.slice(5) : meta.id
  return compacted({
    id: meta.id,
    createdAt: meta.created,
    output: [...extra.users, compactionItem(`cmp_${suffix}`, sealedSummary(seal, whole.text))],
    usage: whole.usage
  })
}

/**
 * The compaction endpoint's format of `organization`: the Responses wire's key, errors and prompt cache, as a
 * compaction reads the conversation as a response does.
 */
export function compactFormatOf(organization: Organization): WireFormat<Extra> {
  return {
    ...formatOf(organization),
    decode: (body) => decode(body, organization),
    renderReply: (reply, meta, extra) => renderReply(organization.seal, reply, meta, extra)
  }
}
