/**
 * `POST /v1/responses/compact` (OpenAI's "Compact a response", as Codex calls it) over any deployment. A model whose
 * deployments all speak the Responses API (or its Responses deployments, for a body only they take) is sent the
 * conversation to its own `/responses/compact`, its output answered as it came: the `compaction` item is the
 * provider's, which the next turn gives back to it. Any other model, and any model for a caller with a spend limit
 * (`passesThrough`), compacts with a call of its own (`byModel`, `prompt`); the summary comes back in the `compaction`
 * item's `encrypted_content`, sealed in the gateway's envelope (`wire/carried.ts`), which a later turn on any
 * deployment reads back as a message.
 *
 * A `POST /v1/responses` whose input ends with `compaction_trigger` (Codex's built-in provider) compacts alike
 * (`triggeredHere`), answered with a response whose one output item is the `compaction` item, streamed when asked.
 */
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { ChatResponse } from "../../../ChatResponse.js"
import type { Message } from "../../../Message.js"
import { Problem } from "../../schemaCheck.js"
import { summaryEnvelope } from "../../wire/carried.js"
import type { CompactBody, CountBody } from "../../wire/openAiResponses/codec.js"
import {
  compacted,
  compactedItems,
  compactionItem,
  compactOption,
  isTriggered,
  userItems,
  withoutTrigger
} from "../../wire/openAiResponses/compaction.js"
import type { Seal } from "../../wire/openAiResponses/writer.js"
import type { Caller } from "../access/caller.js"
import type { Engine } from "../engine.js"
import * as Errors from "../errorAnswer.js"

/**
 * What the model compacting a conversation is asked, after the conversation: a handoff summary, faithful and complete
 * enough that the next model, which sees only it and the user's messages, goes on without redoing work or asking again.
 */
export const prompt = [
  "Compact the conversation above. The work will go on in a new context that holds only the user's messages and the",
  "summary you write now, read by an assistant that has not seen this conversation. Write that handoff summary.",
  "",
  "Include, as far as the conversation has them:",
  "- the user's goal and every requirement, constraint and preference stated, in their words where wording matters;",
  "- what has been done: decisions and their reasons, files read, created or changed (with their paths), commands",
  "  run and their outcomes, tool results that still matter;",
  "- the current state: what works, what fails, errors still open with their exact messages, and the names, paths,",
  "  identifiers and values needed to go on;",
  "- what remains to do, the next step first, and any question waiting for the user.",
  "",
  "Be faithful: state only what the conversation shows and mark what is uncertain. Leave out nothing the next",
  "assistant would otherwise have to find again. Answer with the summary alone, in plain text; call no tool."
].join("\n")

/** The refusal of a body with no conversation to compact: no input, and no `previous_response_id`. */
export const nothingToCompact = new Problem(
  "input",
  "input: missing: a compaction needs a conversation, its input or the previous_response_id of one"
)

/**
 * The request that compacts with the routed model: `request`'s messages (the body's `instructions` among them), then
 * `prompt`; its function tools kept, as a provider replaying their calls needs them, with a choice of none.
 */
export function byModel(request: ChatRequest): ChatRequest {
  const messages: Array<Message> = [...request.messages, { role: "user", content: prompt }]
  const { maxTokens: _max, responseFormat: _format, toolChoice: _choice, ...rest } = request
  return rest.tools !== undefined && rest.tools.length > 0
    ? { ...rest, messages, toolChoice: "none" }
    : { ...rest, messages }
}

/**
 * Whether a compaction goes to its deployment's own `/responses/compact`: for a model that speaks the Responses API,
 * unless the caller has a spend limit. That endpoint takes no output bound (OpenAI's reference lists no
 * `max_output_tokens` among its fields), so its compaction could bill more than any reservation; a budgeted caller's
 * is made by the model instead (`byModel`), its `max_output_tokens` sent and reserved (docs/cost.md).
 */
export function passesThrough(speaksResponses: boolean, caller: Pick<Caller, "defaultMaxTokens"> | undefined): boolean {
  return speaksResponses && caller?.defaultMaxTokens === undefined
}

/**
 * Whether a `/v1/responses` body asks for a compaction the gateway makes by the model: its input ends with
 * `compaction_trigger`, and its model's deployments do not all speak the Responses API (those run it themselves).
 */
export function triggeredHere(engine: Pick<Engine, "resolve">, body: CountBody & { readonly model: string }): boolean {
  return isTriggered(body) && engine.resolve(body.model)?.speaksResponses !== true
}

/** A checked body (`triggeredHere`) without its trigger: the conversation the model is asked to compact. */
export function untriggered<C extends { readonly body: CountBody }>(checked: C): C {
  return { ...checked, body: withoutTrigger(checked.body) }
}

/** How a summary the model wrote is sealed in a compaction item: the gateway's envelope, read on any deployment. */
export const seal: Seal = summaryEnvelope

/** `request` sent to a Responses deployment's own `/responses/compact` (`wire/openAiResponses/compaction.ts`). */
export function passedThrough(request: ChatRequest): ChatRequest {
  return { ...request, providerOptions: { ...request.providerOptions, [compactOption]: true } }
}

/**
 * The answer to a compaction by the model whose reply has no summary (no text: a model that answered with a tool call
 * regardless, or with nothing): a compaction item of nothing would lose the conversation, so the client is told, and
 * keeps its history. The call is charged: the model was called.
 */
export const noSummary: Errors.ErrorAnswer = Errors.answer(
  502,
  "The model wrote no summary of the conversation, so there is nothing to compact it into. Retry, or compact with " +
    "another model.",
  "server_error",
  null,
  "empty_summary"
)

/** The refusal of a reply that cannot be answered as a compaction: one made by the model without a summary. */
export function refusal(reply: ChatResponse): Errors.ErrorAnswer | undefined {
  return compactedItems(reply.providerMetadata) === undefined && reply.text.trim() === "" ? noSummary : undefined
}

/** What names a compacted response: its `resp_…` id, and its creation in Unix seconds. */
export interface Named {
  readonly id: string
  readonly hex: string
  readonly createdAt: number
}

/**
 * The compacted response to `body` of a reply: a Responses deployment's compacted output as it came, else the
 * input's user messages and a compaction item sealing the reply's text, the summary.
 */
export function answer(body: CompactBody, named: Named, reply: ChatResponse): string {
  const output = compactedItems(reply.providerMetadata) ??
    [...userItems(body.input), compactionItem(`cmp_${named.hex}`, summaryEnvelope(reply.text))]
  return compacted({ id: named.id, createdAt: named.createdAt, output, usage: reply.usage })
}
