/**
 * Thinking bound to the conversation's prefix, as Claude 5.1 and the models after it check it (`bindsThinking`): a
 * thinking block's signature holds a digest of the prompt it was made after (the system, the tools but the deferred
 * ones, which tool search loads later, and the earlier messages), and a block sent back after another prefix is
 * refused, unless the request asks for such blocks dropped
 * (`thinking.block_binding.prefix_mismatch_behavior: "drop_block"`, which the API takes only with its beta header).
 * The digest reads the prompt's content, not its cache breakpoints, which a client moves every turn, nor the form it
 * is written in (a string or a text block).
 */
import type { ApiError } from "../../../simulator/WireFormat.js"
import { canonicalJson } from "../../json.js"
import { type AnyBody, bindingBeta } from "../../wire/anthropic/request.js"
import { fnv1aHex } from "../prng.js"
import { invalid, valueAt } from "../requestChecks.js"

// A system prompt's or a message's content as blocks: a string is one text block.
const blocks = (content: unknown): unknown => typeof content === "string" ? [{ type: "text", text: content }] : content

/** The digest of `wire`'s prompt before its message `end` (the whole prompt at `messages.length`). */
export function prefixDigest(wire: AnyBody, end: number): string {
  const tools = (wire.tools ?? []).filter((tool) => tool.defer_loading !== true)
  const messages = wire.messages.slice(0, end).map(({ content, role }) => ({ role, content: blocks(content) }))
  return fnv1aHex(canonicalJson({ system: blocks(wire.system ?? []), tools, messages }, "cache_control"))
}

/**
 * Whether `body` asks for thinking blocks of another prefix dropped, or the API's error for asking without the beta
 * header (a field it does not know then).
 */
export function dropsMismatched(body: unknown, betas: ReadonlyArray<string>): boolean | ApiError {
  const type = valueAt(body, ["thinking", "type"])
  const binding = valueAt(body, ["thinking", "block_binding"])
  if (binding === undefined || binding === null) return false
  if (!betas.includes(bindingBeta)) {
    return invalid(`thinking.${String(type)}.block_binding: Extra inputs are not permitted`, "thinking.block_binding")
  }
  return valueAt(binding, ["prefix_mismatch_behavior"]) === "drop_block"
}

/** The API's error for the thinking block at `path` sent back after another prefix than the one it was made after. */
export function prefixMismatch(path: string): ApiError {
  return invalid(
    `${path}: this thinking block was produced after a different prefix of the conversation (system, tools or ` +
      "earlier messages) and cannot be used with this one; send the conversation as it was, or set " +
      "`thinking.block_binding.prefix_mismatch_behavior` to `drop_block`",
    `${path}.signature`
  )
}
