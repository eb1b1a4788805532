/**
 * Our chunk stream as `effect/ai`'s stream parts. One state object per stream, fed each batch of chunks through the
 * stream's pull: no Effect per chunk.
 *
 * A router's `Restart` chunk means "discard what came before", which `effect/ai`'s parts cannot say: a restart before
 * any part went out is followed silently; after, the stream fails with `InternalProviderError` rather than join two
 * replies into one. A `Continue` chunk adds no part (the text goes on in the block it was in), nor does a `Start`
 * chunk: the response's metadata goes out at the `Finish` chunk, with the model that finished.
 */
import { AiError, type Response } from "effect/ai"
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import type * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type * as ChatChunk from "../../../ChatChunk.js"
import type { Usage } from "../../../ChatResponse.js"
import { emptyUsage } from "../../../ChatResponse.js"
import type { LlmError } from "../../../LlmError.js"
import type { ProviderMetadata } from "../../../Message.js"
import { failWith } from "./aiError.js"
import { carry, closingParts, once, toolCallPart } from "./response.js"

interface PendingCall {
  id: string
  name: string
  arguments: string
  providerMetadata?: ProviderMetadata
}

type Part = Response.StreamPartEncoded

/** The state of one stream: which blocks are open, the calls so far, the last usage. */
class Parts {
  private open: { text: string | undefined; reasoning: string | undefined } = { text: undefined, reasoning: undefined }
  private blocks = 0
  private calls: Array<PendingCall | undefined> = []
  private usage: Usage = emptyUsage
  private emitted = false

  constructor(private readonly onFinish: (finish: ChatChunk.Finish, usage: Usage) => void) {}

  /** The parts of one batch of chunks, or the `AiError` that ends the stream. */
  add(batch: ReadonlyArray<ChatChunk.ChatChunk>): Result.Result<Array<Part>, AiError.AiError> {
    const out: Array<Part> = []
    for (const chunk of batch) {
      switch (chunk._tag) {
        case "TextDelta":
          if (chunk.text !== "") this.delta("text", chunk.text, out)
          break
        case "ReasoningDelta":
          if (chunk.text !== "") this.delta("reasoning", chunk.text, out)
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
          const reply = once(chunk.providerMetadata)
          this.end("text", out, reply)
          this.end("reasoning", out, reply)
          for (const call of this.calls) {
            if (call === undefined) continue
            const part = toolCallPart(call, reply(), "chatStream")
            if (Result.isFailure(part)) return Result.fail(part.failure)
            out.push({ type: "tool-params-end", id: call.id }, part.success)
          }
          this.calls = []
          out.push(...closingParts(chunk, this.usage))
          this.onFinish(chunk, this.usage)
          break
        }
        case "Restart":
          if (this.emitted || out.length > 0) {
            return Result.fail(AiError.make({
              module: "Llm",
              method: "chatStream",
              reason: new AiError.InternalProviderError({
                description:
                  `the stream of deployment ${chunk.deployment} broke after its first chunk (${chunk.error}); ` +
                  "the parts already streamed cannot be taken back, so this stream ends here (generateText restarts " +
                  "whole)"
              })
            }))
          }
          this.calls = []
          this.usage = emptyUsage
          break
      }
    }
    if (out.length > 0) this.emitted = true
    return Result.succeed(out)
  }

  /** A text or reasoning delta, in its kind's block (opened here if none is); the other kind's block ends. */
  private delta(kind: "text" | "reasoning", text: string, out: Array<Part>) {
    this.end(kind === "text" ? "reasoning" : "text", out, undefined)
    let id = this.open[kind]
    if (id === undefined) {
      id = `${kind}-${this.blocks++}`
      this.open[kind] = id
      out.push({ type: `${kind}-start`, id })
    }
    out.push({ type: `${kind}-delta`, id, delta: text })
  }

  /** Ends the open block of `kind`, if any, with the reply's metadata when `reply` still holds it. */
  private end(kind: "text" | "reasoning", out: Array<Part>, reply: (() => ProviderMetadata | undefined) | undefined) {
    const id = this.open[kind]
    if (id === undefined) return
    const metadata = reply?.()
    out.push({ type: `${kind}-end`, id, ...(metadata !== undefined ? { metadata: carry({ reply: metadata }) } : {}) })
    this.open[kind] = undefined
  }
}

/** `chunks` as stream parts, our errors as `AiError`s; `onFinish` sees the `Finish` chunk and the usage. */
export const partsOf = <R>(
  chunks: Stream.Stream<ChatChunk.ChatChunk, LlmError, R>,
  onFinish: (finish: ChatChunk.Finish, usage: Usage) => void
): Stream.Stream<Part, AiError.AiError, R> =>
  Stream.transformPull(
    Stream.catch(chunks, (error) => Stream.fromEffect(failWith("chatStream")(error))),
    (pull) =>
      Effect.sync(() => {
        const parts = new Parts(onFinish)
        // A batch of chunks that makes no part (only usage, say) is not given out: the next one is pulled.
        const next: Pull.Pull<Arr.NonEmptyReadonlyArray<Part>, AiError.AiError> = Effect.flatMap(pull, (batch) => {
          const added = parts.add(batch)
          if (Result.isFailure(added)) return Effect.fail(added.failure)
          const out = added.success
          return Arr.isArrayNonEmpty(out) ? Effect.succeed(out) : next
        })
        return next
      })
  )
