/**
 * Which dialect's words the gateway's answers outside a route's own are in (a refusal before the body is read, a
 * guard's, a key's, an admin path's): Anthropic's under `/v1/messages`, Google's on Google's paths, else OpenAI's,
 * the gateway's own. The one place the serving core learns of dialects: a table of paths, not their grammar.
 */
import * as AnthropicErrors from "../wire/anthropic/writer.js"
import type { ErrorWriter } from "../wire/dialect.js"
import { isGeminiRequest } from "../wire/gemini/dialect.js"
import { errors as gemini } from "../wire/gemini/writer.js"
import { errors as openAi } from "../wire/openAiChat/writer.js"

/** The gateway's own error shape (OpenAI's): its admin API's, and every path no other dialect serves. */
export const own: ErrorWriter = openAi

// Anthropic's clients read Anthropic's error shape: every refusal of a path under `/v1/messages` is in it.
function isAnthropicPath(path: string): boolean {
  return path === "/v1/messages" || path.startsWith("/v1/messages/")
}

/** The error words of a request to `path` with `method`. */
export function errorsOf(method: string, path: string): ErrorWriter {
  return isAnthropicPath(path)
    ? AnthropicErrors.errors
    : isGeminiRequest(method, path)
    ? gemini
    : own
}
