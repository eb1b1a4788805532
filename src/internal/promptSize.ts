/**
 * The size of what a chat request sends as its prompt, before any call (and, for budgets, of an embedding request's
 * inputs), each text measured by a function of the caller's. Two measures are built on it: a cheap estimate for rate
 * limits, and a bound for budgets (a token is at least one UTF-8 byte in the byte-level tokenizers OpenAI, Anthropic
 * and Gemini use, so a prompt has at most as many tokens as bytes, plus the chat format's markers). Images are not
 * counted: their tokens are their provider's.
 */
import type * as ChatRequest from "../ChatRequest.js"
import type * as Embedding from "../Embedding.js"
import { textOf, type ToolDefinition } from "../Message.js"
import { opaqueReasoning } from "./wire/signedReasoning.js"

/**
 * The texts of the tool definitions a prompt holds; a deferred tool's (tool search) only once a result loads it, so
 * none.
 */
export function toolTexts(tools: ReadonlyArray<ToolDefinition> | undefined): ReadonlyArray<string> {
  const texts: Array<string> = []
  for (const tool of tools ?? []) {
    if (tool.deferLoading !== true) texts.push(tool.name, tool.description ?? "", JSON.stringify(tool.parameters))
  }
  return texts
}

/** The summed `size` of every text `request` sends in its prompt. */
const promptSize = (request: ChatRequest.Input, size: (text: string) => number): number => {
  let total = 0
  for (const message of request.messages) {
    switch (message.role) {
      case "system":
        total += size(message.content)
        break
      case "user":
        total += size(textOf(message.content))
        break
      case "assistant":
        total += size(message.content) + size(message.reasoning ?? "")
        for (const payload of opaqueReasoning(message.providerMetadata)) total += size(payload)
        for (const call of message.toolCalls ?? []) total += size(call.name) + size(call.arguments)
        break
      case "tool":
        total += size(textOf(message.content)) + size(message.name ?? "")
        break
    }
  }
  if (request.tools !== undefined) total += size(JSON.stringify(request.tools))
  if (request.responseFormat?.type === "json_schema") total += size(JSON.stringify(request.responseFormat.schema))
  return total
}

/** Role markers and separators that chat formats add around every message. */
export const perMessageOverhead = 4
/** The tokens OpenAI's chat format primes the reply with. */
export const replyPriming = 3

const length = (text: string) => text.length
const utf8Bytes = (text: string) => Buffer.byteLength(text, "utf8")

/** About the prompt tokens of `request`: one token per four characters, and each message's markers. */
export const estimatedPromptTokens = (request: ChatRequest.Input): number =>
  Math.ceil(promptSize(request, length) / 4) + perMessageOverhead * request.messages.length

/**
 * At least the prompt tokens of `request` for a byte-level tokenizer: its UTF-8 bytes, each message's markers and the
 * reply's priming. Not counted: images, and a prompt a provider adds of its own (as for tool use).
 */
export const mostPromptTokens = (request: ChatRequest.Input): number =>
  promptSize(request, utf8Bytes) + perMessageOverhead * request.messages.length + replyPriming

/**
 * At least the tokens of an embedding request's inputs for a byte-level tokenizer: a text's UTF-8 bytes, the ids of
 * a tokenized input.
 */
export const mostEmbeddingTokens = (request: Embedding.Input): number => {
  const input = request.input
  if (typeof input === "string") return utf8Bytes(input)
  let total = 0
  for (const piece of input) {
    total += typeof piece === "string" ? utf8Bytes(piece) : typeof piece === "number" ? 1 : piece.length
  }
  return total
}
