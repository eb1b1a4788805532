/**
 * The replies the simulator keeps, as OpenAI's Responses API keeps a response made with `store` (its default): a later
 * request naming one (`previous_response_id`, `Decoded.continues`) is answered as if its prompt and reply came before
 * the request's own input, and one naming an id not kept is 404, as OpenAI answers an unknown or expired response. At
 * most `maxReplies` are kept, the oldest forgotten first.
 */
import * as Result from "effect/Result"
import type * as Reply from "../../simulator/Reply.js"
import type { ApiError, Decoded } from "../../simulator/WireFormat.js"

// What a continuing request needs of a kept reply: its prompt's and its own size, and the user text it answered.
interface Kept {
  readonly promptTokens: number
  readonly completionTokens: number
  readonly lastUserText: string
  /** The assistant's turns before the kept reply's, and the reply itself. */
  readonly assistantTurns: number
}

/** OpenAI's answer to a `previous_response_id` it does not know. */
export const notFound = (id: string): ApiError => ({
  _tag: "InvalidRequest",
  status: 404,
  message: `Previous response with id '${id}' not found.`,
  param: "previous_response_id",
  code: "previous_response_not_found"
})

export class StoredReplies {
  // In insertion order: the first entry is the oldest.
  private readonly replies = new Map<string, Kept>()
  constructor(private readonly maxReplies: number) {}

  /**
   * `decoded` after the kept reply it continues (its tokens and its assistant turns counted, its user text the seed
   * when it has none).
   */
  continued<X>(decoded: Decoded<X>): Result.Result<Decoded<X>, ApiError> {
    const id = decoded.continues
    if (id === undefined) return Result.succeed(decoded)
    const kept = this.replies.get(id)
    if (kept === undefined) return Result.fail(notFound(id))
    const held = kept.promptTokens + kept.completionTokens
    const { prompt } = decoded
    return Result.succeed({
      ...decoded,
      prompt: {
        ...prompt,
        promptTokens: prompt.promptTokens + held,
        lastUserText: prompt.lastUserText === "" ? kept.lastUserText : prompt.lastUserText,
        assistantTurns: (prompt.assistantTurns ?? 0) + kept.assistantTurns
      },
      requestedTokens: decoded.requestedTokens + held
    })
  }

  keep(id: string, prompt: Reply.Prompt, reply: Reply.Reply): void {
    this.replies.set(id, {
      promptTokens: prompt.promptTokens,
      completionTokens: reply.usage.completionTokens,
      lastUserText: prompt.lastUserText,
      assistantTurns: (prompt.assistantTurns ?? 0) + 1
    })
    if (this.replies.size > this.maxReplies) this.replies.delete(this.replies.keys().next().value!)
  }
}
