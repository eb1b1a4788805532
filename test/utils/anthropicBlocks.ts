/**
 * An Anthropic reply's blocks as a client sends them back in the next turn (Claude Code does): the fields it got, as
 * parameters, its thinking with its signature.
 */
import type Anthropic from "@anthropic-ai/sdk"

export const sentBack = (content: ReadonlyArray<Anthropic.ContentBlock>): Array<Anthropic.ContentBlockParam> =>
  content.flatMap((block): Array<Anthropic.ContentBlockParam> => {
    switch (block.type) {
      case "text":
        return [{ type: "text", text: block.text }]
      case "thinking":
        return [{ type: "thinking", thinking: block.thinking, signature: block.signature }]
      case "tool_use":
        return [{ type: "tool_use", id: block.id, name: block.name, input: block.input }]
      default:
        return []
    }
  })
