/**
 * What every dialect's stream writer does with the engine's chunks, whatever events it writes; a dialect gives only its
 * events (`StreamEvents`). A `Restart` (a router that moved a broken stream to another deployment) is invisible while
 * nothing of the answer went out (the new attempt follows as if it were the first), else returned, so that the stream
 * ends with an error event: the gateway buffers nothing to replay.
 */
import type { ChatChunk, Finish, Restart, ToolCallDelta } from "../../ChatChunk.js"
import type { Usage } from "../../ChatResponse.js"

/** A dialect's events for the chunks of a stream. */
export interface StreamEvents {
  /** Writes what opens the stream, from its first batch (an empty one too). Default: nothing. */
  readonly open?: ((first: ReadonlyArray<ChatChunk>) => void) | undefined
  /** Writes a text delta (never an empty one). */
  readonly text: (text: string) => void
  /** Writes a reasoning delta (never an empty one). */
  readonly reasoning: (text: string) => void
  /** Writes a tool call's fragment; whether anything went out (a dialect that writes calls whole at the end: no). */
  readonly toolCall: (chunk: ToolCallDelta) => boolean
  /** Writes the stream's end, with the last usage reported (none: no `Usage` chunk since the answer began). */
  readonly finish: (chunk: Finish, usage: Usage | undefined) => void
  /** Forgets what the broken attempt left, nothing of it having gone out. Default: nothing kept. */
  readonly restart?: (() => void) | undefined
  /**
   * The model that produces what follows, as a `Start`, a `Continue` or an invisible `Restart` names it;
   * `continuedMidway` when a `Continue` comes after part of the answer went out. Default: the model is named once.
   */
  readonly producedBy?: ((model: string, continuedMidway: boolean) => void) | undefined
  /** Writes what the dialect gathered of a batch, at its end or before a `Restart` ends the stream. Default: none. */
  readonly flush?: (() => void) | undefined
}

/** One stream's fold; one per stream (it keeps what went out). */
export interface StreamFold {
  /** Writes the events of `chunks`; a `Restart` after part of the answer went out stops there and is returned. */
  readonly write: (chunks: ReadonlyArray<ChatChunk>) => Restart | undefined
  /** The last usage reported since the answer began. */
  readonly usage: () => Usage | undefined
}

export function foldStream(events: StreamEvents): StreamFold {
  let started = false
  let forwarded = false
  let usage: Usage | undefined

  function write(chunks: ReadonlyArray<ChatChunk>): Restart | undefined {
    if (!started) {
      started = true
      events.open?.(chunks)
    }
    for (const chunk of chunks) {
      switch (chunk._tag) {
        case "TextDelta":
          if (chunk.text === "") break
          forwarded = true
          events.text(chunk.text)
          break
        case "ReasoningDelta":
          if (chunk.text === "") break
          forwarded = true
          events.reasoning(chunk.text)
          break
        case "ToolCallDelta":
          if (events.toolCall(chunk)) forwarded = true
          break
        case "Usage":
          usage = chunk.usage
          break
        case "Finish":
          forwarded = true
          events.finish(chunk, usage)
          break
        case "Restart":
          if (forwarded) {
            events.flush?.()
            return chunk
          }
          usage = undefined
          events.restart?.()
          events.producedBy?.(chunk.model, false)
          break
        case "Start":
          events.producedBy?.(chunk.model, false)
          break
        case "Continue":
          events.producedBy?.(chunk.model, forwarded)
          break
      }
    }
    events.flush?.()
    return undefined
  }

  return { write, usage: () => usage }
}
