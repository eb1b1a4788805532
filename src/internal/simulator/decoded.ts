/**
 * A generation request as a wire format decoded it: the prompt with its tokens
 * counted, and the tokens it asks for, which the engine checks against the
 * model's context window.
 */
import * as Reply from "../../simulator/Reply.js"
import type { Decoded } from "../../simulator/WireFormat.js"

/** What a wire format read from a request: the prompt, and the prompt's size before counting. */
export interface ReadPrompt extends Omit<Reply.Prompt, "promptTokens"> {
  /** Characters of prompt text, counted with `Reply.countTokens`. */
  readonly chars: number
  /** Image, audio and file parts, `Reply.imageTokens` each. */
  readonly media: number
}

/** A decoded request: prompt tokens counted (at least 1), and requested tokens as the prompt's plus `maxTokens`. */
export const decoded = <Extra>(read: ReadPrompt, stream: boolean, extra: Extra): Decoded<Extra> => {
  const promptTokens = Math.max(1, Reply.countTokens(read.chars) + read.media * Reply.imageTokens)
  return {
    prompt: {
      model: read.model,
      promptTokens,
      lastUserText: read.lastUserText,
      lastRole: read.lastRole,
      toolResult: read.toolResult,
      tools: read.tools,
      toolChoice: read.toolChoice,
      parallelToolCalls: read.parallelToolCalls,
      reasoning: read.reasoning,
      maxTokens: read.maxTokens,
      responseSchema: read.responseSchema
    },
    stream,
    requestedTokens: promptTokens + (read.maxTokens ?? 0),
    extra
  }
}
