/**
 * A chain of guardrails around an `Llm`: every text of the request checked before the call (`fields.ts`), every text of
 * a whole reply the model wrote after it, and a stream's deltas through the chain's mode (its tool calls and usage held
 * with the text, and checked and released at the end as a whole reply's are).
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../../ChatChunk.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import { type GuardedService, type Guardrail, GuardrailError } from "../../Guardrail.js"
import { Llm, type Service as LlmService } from "../../Llm.js"
import { ContentFilterError } from "../../LlmError.js"
import type { ToolCall } from "../../Message.js"
import { applyMasks, blocked, type Place, resolve, running, scanAll } from "./chain.js"
import * as Fields from "./fields.js"
import { reasonOf } from "./make.js"
import { type Gate, gate } from "./stream.js"

/** One text through the guardrails of `chain` that run where `place` says: masked, or the first block. */
export function checkText(
  chain: ReadonlyArray<Guardrail>,
  text: string,
  place: Place
): Effect.Effect<string, GuardrailError> {
  return checkFields(chain, text, (value, visit) => visit(value, { path: "text" }), place)
}

/** Text deltas through the guardrails of `chain` that run where `place` says, in their strictest mode. */
export function checkStream(chain: ReadonlyArray<Guardrail>, place: Place) {
  const guardrails = running(chain, place.where)
  const mode = resolve(guardrails)
  return <E, R>(deltas: Stream.Stream<string, E, R>): Stream.Stream<string, E | GuardrailError, R> =>
    mode._tag === "None" ? deltas : Stream.suspend(() => {
      const one = gate(guardrails, place, mode)
      return deltas.pipe(
        Stream.mapEffect(one.push),
        Stream.concat(Stream.fromEffect(one.end)),
        Stream.filter((text) => text !== "")
      )
    })
}

/** A walk over the texts of an `A` (`fields.ts`). */
type Walk<A> = (value: A, visit: Fields.Visit) => A

/** Why a mask's finding in a field refuses it, after where it is. */
const unmaskable: Record<Fields.Fixed, string> = {
  shape: "which a mask would break",
  signed: "signed by its provider, which a mask would break",
  provider: "its provider's own data, which a mask would break",
  definition: "a definition, served as its server gave it or not at all"
}

/**
 * `value`'s texts (`walk`) through the guardrails of `chain` that run at `place`, each asked once for each distinct
 * text: `value` masked, or the first block. A mask's finding in a text a mask cannot change (`Fields.Fixed`) fails as a
 * block of the first guardrail that masked.
 */
function checkFields<A>(
  chain: ReadonlyArray<Guardrail>,
  value: A,
  walk: Walk<A>,
  place: Place
): Effect.Effect<A, GuardrailError> {
  const guardrails = running(chain, place.where)
  if (guardrails.length === 0) return Effect.succeed(value)
  const fields: Array<{ readonly text: string; readonly field: Fields.Field }> = []
  walk(value, (text, field) => {
    if (text !== "") fields.push({ text, field })
    return text
  })
  if (fields.length === 0) return Effect.succeed(value)
  // Each distinct text asked about once: a schema repeats its keys (`type`, `description`) in every property.
  const distinct = [...new Set(fields.map(({ text }) => text))]
  return Effect.flatMap(scanAll(guardrails, distinct, place), (outcomes) => {
    const answered = new Map(distinct.map((text, index) => [text, outcomes[index]!]))
    for (const { field, text } of fields) {
      const outcome = answered.get(text)!
      const block = outcome.blocks[0]
      if (block !== undefined) return Effect.fail(blocked(block, place.where))
      if (outcome.masks.length > 0 && field.fixed !== undefined) {
        return Effect.fail(
          new GuardrailError({
            guardrail: outcome.maskedBy[0]!,
            where: place.where,
            reason: `${reasonOf(outcome.masks)} in ${field.key === true ? "a key of " : ""}${field.path}, ${
              unmaskable[field.fixed]
            }`
          })
        )
      }
    }
    return Effect.succeed(walk(value, (text) => text === "" ? text : applyMasks(text, answered.get(text)!.masks)))
  })
}

/** A JSON value's texts (`Fields.json`: each key, string and number) through `chain` where `place` says. */
export function checkJson(
  chain: ReadonlyArray<Guardrail>,
  value: unknown,
  field: Fields.Field,
  place: Place,
  fixedValues?: ReadonlySet<string>
): Effect.Effect<unknown, GuardrailError> {
  return checkFields(chain, value, (json, visit) => Fields.json(json, field, visit, fixedValues), place)
}

/** The request with every text checked (`Fields.request`), or the first block. */
export function checkRequest(
  chain: ReadonlyArray<Guardrail>,
  request: ChatRequest
): Effect.Effect<ChatRequest, GuardrailError> {
  return checkFields(chain, request, Fields.request, { where: "request", model: request.model })
}

/**
 * A whole reply with every text the model wrote checked, or the first block. Reasoning a mask changed goes without its
 * provider metadata, where the provider's own copy of it (a signed thinking block, a reasoning item's summary) would go
 * out unmasked.
 */
export function checkReply(
  chain: ReadonlyArray<Guardrail>,
  reply: ChatResponse,
  model: string | undefined
): Effect.Effect<ChatResponse, GuardrailError> {
  return Effect.map(checkFields(chain, reply, Fields.reply, { where: "reply", model }), (checked) => {
    if (checked.reasoning === reply.reasoning) return checked
    const { providerMetadata: _, ...rest } = checked
    return rest
  })
}

/** A tool call's pieces held until the end, and what they join to. */
interface HeldCall {
  readonly first: Extract<ChatChunk, { readonly _tag: "ToolCallDelta" }>
  id: string | undefined
  name: string | undefined
  args: string
  providerMetadata: Extract<ChatChunk, { readonly _tag: "ToolCallDelta" }>["providerMetadata"]
}

/** The deltas a stream's gates see: its text and its reasoning, each through a gate of its own. */
type Kind = "TextDelta" | "ReasoningDelta"

/**
 * A stream's chunks through the chain: text and reasoning deltas each through a gate of the mode (in window mode, one
 * gate releases what it holds, checked, when deltas of the other kind come, so the two keep their order); out of audit
 * mode, tool calls and usage are held until the end, where the calls and the `Finish` chunk's refusal are checked whole
 * and released with the rest; a `Restart` drops what was held of the attempt before it.
 */
export function guardStream(chain: ReadonlyArray<Guardrail>, model: string | undefined) {
  const guardrails = running(chain, "reply")
  const mode = resolve(guardrails)
  const place: Place = { where: "reply", model }
  const holds = mode._tag === "Buffer" || mode._tag === "Window"
  return <E, R>(chunks: Stream.Stream<ChatChunk, E, R>): Stream.Stream<ChatChunk, E | GuardrailError, R> =>
    mode._tag === "None" ? chunks : Stream.suspend(() => {
      const gates: Record<Kind, Gate> = {
        TextDelta: gate(guardrails, place, mode),
        ReasoningDelta: gate(guardrails, place, mode)
      }
      // The kind of the last delta, whose gate may hold some of it.
      let last: Kind | undefined
      let calls = new Map<number, HeldCall>()
      let held: Array<ChatChunk> = []
      let ended = false

      function released(kind: Kind, text: string): Array<ChatChunk> {
        return text === "" ? [] : [{ _tag: kind, text }]
      }

      /**
       * In window mode the other kind's gate first releases what it holds (checked), keeping what it released last as
       * its next check's context, so a finding cut by deltas of the other kind is still read whole.
       */
      function delta(kind: Kind, text: string): Effect.Effect<ReadonlyArray<ChatChunk>, GuardrailError> {
        const before = last
        last = kind
        if (before === undefined || before === kind || mode._tag !== "Window") {
          return Effect.map(gates[kind].push(text), (now) => released(kind, now))
        }
        return Effect.flatMap(
          gates[before].end,
          (rest) => Effect.map(gates[kind].push(text), (now) => [...released(before, rest), ...released(kind, now)])
        )
      }

      /**
       * The text still held, the tool calls and refusal of `end` checked as a whole reply's, then the usage and `end`.
       */
      const finish = (
        end: Extract<ChatChunk, { readonly _tag: "Finish" }> | undefined
      ): Effect.Effect<ReadonlyArray<ChatChunk>, GuardrailError> =>
        Effect.flatMap(Effect.all([gates.ReasoningDelta.end, gates.TextDelta.end]), ([reasoning, text]) => {
          const pending = [...calls.values()]
          const answer: Fields.Answer = {
            refusal: end?.refusal,
            toolCalls: pending.map((call): ToolCall => ({
              id: call.id ?? "",
              name: call.name ?? "",
              arguments: call.args
            }))
          }
          return Effect.map(checkFields(guardrails, answer, Fields.answer, place), (checked) => {
            ended = true
            const toolCalls = pending.map((call, i): ChatChunk => ({
              ...call.first,
              ...(call.id === undefined ? {} : { id: call.id }),
              ...(call.name === undefined ? {} : { name: call.name }),
              arguments: checked.toolCalls[i]!.arguments,
              ...(call.providerMetadata === undefined ? {} : { providerMetadata: call.providerMetadata })
            }))
            const finished: Array<ChatChunk> = end === undefined
              ? []
              : [checked.refusal === end.refusal ? end : { ...end, refusal: checked.refusal }]
            return [
              ...released("ReasoningDelta", reasoning),
              ...released("TextDelta", text),
              ...(holds ? toolCalls : []),
              ...held,
              ...finished
            ]
          })
        })

      function step(chunk: ChatChunk): Effect.Effect<ReadonlyArray<ChatChunk>, GuardrailError> {
        switch (chunk._tag) {
          case "TextDelta":
          case "ReasoningDelta":
            return delta(chunk._tag, chunk.text)
          case "ToolCallDelta": {
            const call = calls.get(chunk.index)
            if (call === undefined) {
              calls.set(chunk.index, {
                first: chunk,
                id: chunk.id,
                name: chunk.name,
                args: chunk.arguments,
                providerMetadata: chunk.providerMetadata
              })
            } else {
              call.args += chunk.arguments
              if (chunk.id !== undefined) call.id = chunk.id
              if (chunk.name !== undefined) call.name = chunk.name
              if (chunk.providerMetadata !== undefined) call.providerMetadata = chunk.providerMetadata
            }
            return Effect.succeed(holds ? [] : [chunk])
          }
          case "Usage":
            if (!holds) return Effect.succeed([chunk])
            held.push(chunk)
            return Effect.succeed([])
          case "Finish":
            return finish(chunk)
          case "Restart":
            gates.TextDelta = gate(guardrails, place, mode)
            gates.ReasoningDelta = gate(guardrails, place, mode)
            last = undefined
            calls = new Map()
            held = []
            return Effect.succeed([chunk])
          default:
            return Effect.succeed([chunk])
        }
      }

      return chunks.pipe(
        Stream.mapEffect(step),
        Stream.concat(Stream.fromEffect(Effect.suspend(() => (ended ? Effect.succeed([]) : finish(undefined))))),
        Stream.flattenIterable
      )
    })
}

/** The guarded service over the `Llm` in context. */
export function make(chain: ReadonlyArray<Guardrail>): Effect.Effect<GuardedService, never, Llm> {
  return Effect.map(Llm, (llm): GuardedService => ({
    chat: (request) =>
      Effect.flatMap(
        checkRequest(chain, request),
        (checked) =>
          Effect.flatMap(llm.chat(checked), (reply) =>
            running(chain, "reply").length === 0 ? Effect.succeed(reply) : checkReply(chain, reply, request.model))
      ),
    chatStream: (request) =>
      Stream.unwrap(
        Effect.map(checkRequest(chain, request), (checked) =>
          llm.chatStream(checked).pipe(guardStream(chain, request.model)))
      )
  }))
}

/**
 * A block as a `ContentFilterError`, so an `Llm`'s callers see one error family; its detail names the guardrail, where
 * and its reason, never the text.
 */
function refused(model: string | undefined) {
  return <E>(error: E | GuardrailError): E | ContentFilterError =>
    error instanceof GuardrailError
      ? new ContentFilterError({ provider: "guardrail", model: model ?? "", detail: error.message })
      : error
}

/** The `Llm` in context behind `chain`, as an `Llm`: `chat` and `chatStream` guarded, the rest its own. */
export function makeLlm(chain: ReadonlyArray<Guardrail>): Effect.Effect<LlmService, never, Llm> {
  return Effect.gen(function*() {
    const llm = yield* Llm
    const guarded = yield* make(chain)
    return {
      ...llm,
      chat: (request) => Effect.mapError(guarded.chat(request), refused(request.model)),
      chatStream: (request) => Stream.mapError(guarded.chatStream(request), refused(request.model))
    }
  })
}
