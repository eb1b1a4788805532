/**
 * A chain of guardrails around an `Llm`: the request's texts checked before the call, a whole reply's reasoning, text
 * and tool calls' arguments after it, and a stream's text and reasoning deltas through the chain's mode (its tool
 * calls and usage held with the text, and released with it, at the end).
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../../ChatChunk.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import { type GuardedService, type Guardrail, GuardrailError } from "../../Guardrail.js"
import { Llm } from "../../Llm.js"
import type { ContentPart, Message, ToolCall } from "../../Message.js"
import { signedReasoning } from "../wire/signedReasoning.js"
import { applyMasks, blocked, type Place, resolve, running, scan, scanAll } from "./chain.js"
import { reasonOf } from "./make.js"
import { type Gate, gate } from "./stream.js"

/** One text through the guardrails of `chain` that run where `place` says: masked, or the first block. */
export function checkText(
  chain: ReadonlyArray<Guardrail>,
  text: string,
  place: Place
): Effect.Effect<string, GuardrailError> {
  return checkOne(chain, text, place, undefined)
}

/**
 * Several texts of one place through the guardrails of `chain` that run there, each guardrail asked once for them all
 * (one webhook post): each masked, or the first text's first block.
 */
export function checkTexts(
  chain: ReadonlyArray<Guardrail>,
  texts: ReadonlyArray<string>,
  place: Place
): Effect.Effect<ReadonlyArray<string>, GuardrailError> {
  const guardrails = running(chain, place.where)
  const asked = texts.filter((text) => text !== "")
  if (guardrails.length === 0 || asked.length === 0) return Effect.succeed(texts)
  return Effect.flatMap(scanAll(guardrails, asked, place), (outcomes) => {
    const block = outcomes.find((outcome) => outcome.blocks.length > 0)?.blocks[0]
    if (block !== undefined) return Effect.fail(blocked(block, place.where))
    let next = 0
    return Effect.succeed(texts.map((text) => text === "" ? text : applyMasks(text, outcomes[next++]!.masks)))
  })
}

/**
 * `checkText`, for a text a mask cannot change when `unmaskable` names it (`messages[3].reasoning`): a mask there
 * fails as a block of the first guardrail that masked, naming where, as the text goes out unchanged or not at all.
 */
function checkOne(
  chain: ReadonlyArray<Guardrail>,
  text: string,
  place: Place,
  unmaskable: string | undefined
): Effect.Effect<string, GuardrailError> {
  const guardrails = running(chain, place.where)
  if (guardrails.length === 0 || text === "") return Effect.succeed(text)
  return Effect.flatMap(scan(guardrails, text, place), (outcome) => {
    const block = outcome.blocks[0]
    if (block !== undefined) return Effect.fail(blocked(block, place.where))
    if (outcome.masks.length === 0) return Effect.succeed(text)
    if (unmaskable === undefined) return Effect.succeed(applyMasks(text, outcome.masks))
    return Effect.fail(
      new GuardrailError({
        guardrail: outcome.maskedBy[0]!,
        where: place.where,
        reason: `${reasonOf(outcome.masks)} in ${unmaskable}, signed by its provider, which a mask would break`
      })
    )
  })
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

function checkParts(
  chain: ReadonlyArray<Guardrail>,
  parts: ReadonlyArray<ContentPart>,
  place: Place
): Effect.Effect<ReadonlyArray<ContentPart>, GuardrailError> {
  return Effect.forEach(parts, (part): Effect.Effect<ContentPart, GuardrailError> =>
    part.type === "text"
      ? Effect.map(checkText(chain, part.text, place), (text) => (text === part.text ? part : { ...part, text }))
      : Effect.succeed(part))
}

function checkToolCalls(
  chain: ReadonlyArray<Guardrail>,
  calls: ReadonlyArray<ToolCall>,
  place: Place
): Effect.Effect<ReadonlyArray<ToolCall>, GuardrailError> {
  return Effect.forEach(calls, (call) =>
    Effect.map(
      checkText(chain, call.arguments, place),
      (args) => (args === call.arguments ? call : { ...call, arguments: args })
    ))
}

/**
 * A message (the request's `index`th) with its texts checked where the request is: tool results, earlier tool calls
 * and earlier reasoning included; reasoning its provider signed (`wire/signedReasoning.ts`) is not masked but refused.
 */
function checkMessage(chain: ReadonlyArray<Guardrail>, message: Message, index: number, place: Place) {
  switch (message.role) {
    case "system":
      return Effect.map(checkText(chain, message.content, place), (content): Message => ({ ...message, content }))
    case "user":
    case "tool":
      return typeof message.content === "string"
        ? Effect.map(checkText(chain, message.content, place), (content): Message => ({ ...message, content }))
        : Effect.map(checkParts(chain, message.content, place), (content): Message => ({ ...message, content }))
    case "assistant":
      return Effect.gen(function*() {
        const content = yield* checkText(chain, message.content, place)
        const toolCalls = message.toolCalls === undefined
          ? undefined
          : yield* checkToolCalls(chain, message.toolCalls, place)
        const signed = signedReasoning(message)
        const reasoning = message.reasoning === undefined
          ? undefined
          : yield* checkOne(chain, message.reasoning, place, signed ? `messages[${index}].reasoning` : undefined)
        return {
          ...message,
          content,
          ...(toolCalls === undefined ? {} : { toolCalls }),
          ...(reasoning === undefined ? {} : { reasoning })
        }
      })
  }
}

/** The request with every message checked, or the first block. */
export function checkRequest(
  chain: ReadonlyArray<Guardrail>,
  request: ChatRequest
): Effect.Effect<ChatRequest, GuardrailError> {
  if (running(chain, "request").length === 0) return Effect.succeed(request)
  const place: Place = { where: "request", model: request.model }
  return Effect.map(
    Effect.forEach(request.messages, (message, index) => checkMessage(chain, message, index, place)),
    (messages) => ({ ...request, messages })
  )
}

/**
 * `reply` with its reasoning `reasoning`: when a mask changed it, without the reply's provider metadata, where a
 * provider's own copy of the reasoning (a signed thinking block, a reasoning item's summary) would go out unmasked.
 */
function withReasoning(reply: ChatResponse, reasoning: string | undefined): ChatResponse {
  if (reasoning === reply.reasoning) return reply
  const { providerMetadata: _, ...rest } = reply
  return { ...rest, ...(reasoning === undefined ? {} : { reasoning }) }
}

/** A whole reply with its reasoning, text and tool calls' arguments checked, or the first block. */
export function checkReply(
  chain: ReadonlyArray<Guardrail>,
  reply: ChatResponse,
  model: string | undefined
): Effect.Effect<ChatResponse, GuardrailError> {
  const place: Place = { where: "reply", model }
  const reasoning = reply.reasoning === undefined
    ? Effect.succeed(undefined)
    : checkText(chain, reply.reasoning, place)
  return Effect.flatMap(
    reasoning,
    (thought) =>
      Effect.flatMap(checkText(chain, reply.text, place), (text) =>
        Effect.map(
          checkToolCalls(chain, reply.toolCalls, place),
          (toolCalls) =>
            withReasoning(
              text === reply.text && toolCalls === reply.toolCalls ? reply : { ...reply, text, toolCalls },
              thought
            )
        ))
  )
}

/** A tool call's pieces held until the end, and what they join to. */
interface HeldCall {
  readonly first: Extract<ChatChunk, { readonly _tag: "ToolCallDelta" }>
  args: string
  providerMetadata: Extract<ChatChunk, { readonly _tag: "ToolCallDelta" }>["providerMetadata"]
}

/** The deltas a stream's gates see: its text and its reasoning, each through a gate of its own. */
type Kind = "TextDelta" | "ReasoningDelta"

/**
 * A stream's chunks through the chain: text and reasoning deltas each through a gate of the mode (in window mode,
 * one gate releases what it holds, checked, when deltas of the other kind come, so the two keep their order);
 * tool calls' pieces gathered and, out of audit mode, held with usage until the end, where their arguments are
 * checked whole and released (one piece a call) with the rest; a `Restart` drops what was held of the attempt before
 * it.
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
       * A delta through its kind's gate; in window mode the other kind's gate, when it held the last delta, first
       * releases what it holds (checked), keeping what it released last as the context of its next check, so a
       * finding cut by deltas of the other kind is still read whole.
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

      /** The reasoning and text still held, the tool calls checked, the usage held, then `last`. */
      const finish = (end: ReadonlyArray<ChatChunk>): Effect.Effect<ReadonlyArray<ChatChunk>, GuardrailError> =>
        Effect.flatMap(Effect.all([gates.ReasoningDelta.end, gates.TextDelta.end]), ([reasoning, text]) =>
          Effect.map(
            Effect.forEach([...calls.values()], (call) =>
              Effect.map(checkText(guardrails, call.args, place), (args): ChatChunk => ({
                ...call.first,
                arguments: args,
                ...(call.providerMetadata === undefined ? {} : { providerMetadata: call.providerMetadata })
              }))),
            (checked) => {
              ended = true
              return [
                ...released("ReasoningDelta", reasoning),
                ...released("TextDelta", text),
                ...(holds ? checked : []),
                ...held,
                ...end
              ]
            }
          ))

      function step(chunk: ChatChunk): Effect.Effect<ReadonlyArray<ChatChunk>, GuardrailError> {
        switch (chunk._tag) {
          case "TextDelta":
          case "ReasoningDelta":
            return delta(chunk._tag, chunk.text)
          case "ToolCallDelta": {
            const call = calls.get(chunk.index)
            if (call === undefined) {
              calls.set(chunk.index, { first: chunk, args: chunk.arguments, providerMetadata: chunk.providerMetadata })
            } else {
              call.args += chunk.arguments
              if (chunk.providerMetadata !== undefined) call.providerMetadata = chunk.providerMetadata
            }
            return Effect.succeed(holds ? [] : [chunk])
          }
          case "Usage":
            if (!holds) return Effect.succeed([chunk])
            held.push(chunk)
            return Effect.succeed([])
          case "Finish":
            return finish([chunk])
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
        Stream.concat(Stream.fromEffect(Effect.suspend(() => (ended ? Effect.succeed([]) : finish([]))))),
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
