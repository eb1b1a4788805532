/**
 * The texts a target refuses as empty. A Chat Completions or Responses client may send an empty message, an empty text
 * part, or an assistant turn of tool calls with `""` beside them; Anthropic refuses an empty or white-space text block
 * and a message without content (but the final assistant turn), Bedrock's Converse a blank text block and a message
 * without content, Gemini a part with an empty text. Each encoder leaves such a text out, and a message left with
 * nothing, rather than send what its API refuses (docs/adapters.md, "Empty content").
 */
/** Whether a text is blank: empty or white space only, as Anthropic's and Bedrock's APIs refuse a text block. */
export const isBlank = (text: string): boolean => text.trim() === ""

/** Whether a text is empty, as Gemini refuses a part's text. */
export const isEmpty = (text: string): boolean => text === ""
