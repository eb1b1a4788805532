/**
 * Our chunk stream as `effect/ai`'s stream parts: text and reasoning as
 * start / delta / end blocks, a tool call's arguments as they come
 * (`tool-params-*`) and then whole (`tool-call`), and at the `Finish` chunk
 * the response's metadata and its finish. One state object per stream, fed
 * each batch of chunks through the stream's pull: no Effect per chunk.
 *
 * A router's `Restart` chunk means "discard what came before", which
 * `effect/ai`'s parts cannot say: parts already given out stay given out. A
 * restart before any part went out is followed silently; after, the stream
 * fails with `InternalProviderError` rather than join two replies into one.
 */
import { AiError, type Response } from "effect/ai"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../../ChatChunk.js"
import type { Usage } from "../../ChatResponse.js"
import { emptyUsage } from "../../ChatResponse.js"
import type { LlmError } from "../../LlmError.js"
import type { ProviderMetadata } from "../../Message.js"
import { failWith } from "./aiError.js"
import type { CarriedMetadata } from "./request.js"
import { carry, closingParts, paramsOf } from "./response.js"

interface PendingCall {
  id: string
  name: string
  arguments: string
  providerMetadata?: ProviderMetadata
}

type Part = Response.StreamPartEncoded

/** The state of one stream: which blocks are open, the calls so far, the last usage. */
class Parts {
  private textId: string | undefined
  private reasoningId: string | undefined
  private blocks = 0
  private calls: Array<PendingCall | undefined> = []
  private usage: Usage = emptyUsage
  private emitted = false

  /** The parts of one batch of chunks, or the `AiError` that ends the stream. */
  add(batch: ReadonlyArray<ChatChunk>): Array<Part> | AiError.AiError {
    const out: Array<Part> = []
    for (const chunk of batch) {
      switch (chunk._tag) {
        case "TextDelta":
          if (chunk.text === "") break
          this.endReasoning(out, undefined)
          if (this.textId === undefined) {
            this.textId = `text-${this.blocks++}`
            out.push({ type: "text-start", id: this.textId })
          }
          out.push({ type: "text-delta", id: this.textId, delta: chunk.text })
          break
        case "ReasoningDelta":
          if (chunk.text === "") break
          this.endText(out, undefined)
          if (this.reasoningId === undefined) {
            this.reasoningId = `reasoning-${this.blocks++}`
            out.push({ type: "reasoning-start", id: this.reasoningId })
          }
          out.push({ type: "reasoning-delta", id: this.reasoningId, delta: chunk.text })
          break
        case "ToolCallDelta": {
          let call = this.calls[chunk.index]
          if (call === undefined) {
            call = { id: chunk.id ?? `call_${chunk.index}`, name: chunk.name ?? "", arguments: "" }
            this.calls[chunk.index] = call
            out.push({ type: "tool-params-start", id: call.id, name: call.name })
          } else {
            if (chunk.id !== undefined) call.id = chunk.id
            if (chunk.name !== undefined) call.name = chunk.name
          }
          if (chunk.providerMetadata !== undefined) call.providerMetadata = chunk.providerMetadata
          if (chunk.arguments !== "") {
            call.arguments += chunk.arguments
            out.push({ type: "tool-params-delta", id: call.id, delta: chunk.arguments })
          }
          break
        }
        case "Usage":
          this.usage = chunk.usage
          break
        case "Finish": {
          let reply = chunk.providerMetadata
          const take = () => {
            const taken = reply
            reply = undefined
            return taken
          }
          this.endText(out, take())
          this.endReasoning(out, reply === undefined ? undefined : take())
          for (const call of this.calls) {
            if (call === undefined) continue
            const params = paramsOf(call, "chatStream")
            if (AiError.isAiError(params)) return params
            const what: CarriedMetadata = {
              ...(reply !== undefined ? { reply: take()! } : {}),
              ...(call.providerMetadata !== undefined ? { toolCall: call.providerMetadata } : {})
            }
            out.push({ type: "tool-params-end", id: call.id })
            out.push({
              type: "tool-call",
              id: call.id,
              name: call.name,
              params,
              ...(what.reply !== undefined || what.toolCall !== undefined ? { metadata: carry(what) } : {})
            })
          }
          this.calls = []
          out.push(...closingParts(chunk, this.usage))
          break
        }
        case "Restart":
          if (this.emitted || out.length > 0) {
            return AiError.make({
              module: "Llm",
              method: "chatStream",
              reason: new AiError.InternalProviderError({
                description: `the stream of deployment ${chunk.deployment} broke after its first chunk (${chunk.error}); ` +
                  "the parts already streamed cannot be taken back, so this stream ends here (generateText restarts whole)"
              })
            })
          }
          this.calls = []
          this.usage = emptyUsage
          break
      }
    }
    if (out.length > 0) this.emitted = true
    return out
  }

  private endText(out: Array<Part>, reply: ProviderMetadata | undefined) {
    if (this.textId === undefined) return
    out.push({ type: "text-end", id: this.textId, ...(reply !== undefined ? { metadata: carry({ reply }) } : {}) })
    this.textId = undefined
  }

  private endReasoning(out: Array<Part>, reply: ProviderMetadata | undefined) {
    if (this.reasoningId === undefined) return
    out.push({ type: "reasoning-end", id: this.reasoningId, ...(reply !== undefined ? { metadata: carry({ reply }) } : {}) })
    this.reasoningId = undefined
  }
}

/** `chunks` as stream parts, our errors as `AiError`s. */
export const partsOf = <R>(chunks: Stream.Stream<ChatChunk, LlmError, R>): Stream.Stream<Part, AiError.AiError, R> =>
  Stream.transformPull(
    Stream.catch(chunks, (error) => Stream.fromEffect(failWith("chatStream")(error))),
    (pull) =>
      Effect.sync(() => {
        const parts = new Parts()
        const next: Effect.Effect<readonly [Part, ...Array<Part>], unknown> = Effect.flatMap(pull, (batch) => {
          const out = parts.add(batch)
          if (AiError.isAiError(out)) return Effect.fail(out)
          return out.length === 0 ? next : Effect.succeed(out as unknown as readonly [Part, ...Array<Part>])
        })
        return next
      })
  ) as Stream.Stream<Part, AiError.AiError, R>
