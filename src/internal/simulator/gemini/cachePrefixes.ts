/**
 * The prefixes of a `generateContent` request that Gemini's implicit caching holds (its context caching guide):
 * the prompt at each content boundary, the system instruction first, once it reaches the documented minimum of 1024
 * tokens, apart per model. Sizes are counted as the request decoder counts the prompt (function responses by their
 * JSON).
 */
import type { CachePrefix } from "../../../simulator/WireFormat.js"
import { PrefixBuilder } from "../promptCache.js"
import { isRecord } from "../requestChecks.js"

/** The fewest prompt tokens implicit caching caches. */
const minimumTokens = 1024

// A content's characters and media parts: text (not thoughts), function calls and responses, inline and file data.
const sizeOf = (content: Readonly<Record<string, unknown>>): readonly [chars: number, media: number] => {
  let chars = 0
  let media = 0
  for (const part of Array.isArray(content.parts) ? content.parts as ReadonlyArray<unknown> : []) {
    if (!isRecord(part)) continue
    if (typeof part.text === "string") {
      if (part.thought !== true) chars += part.text.length
    } else if (isRecord(part.inlineData) || isRecord(part.fileData)) {
      media++
    } else if (isRecord(part.functionCall)) {
      chars += String(part.functionCall.name).length + JSON.stringify(part.functionCall.args ?? {}).length
    } else if (isRecord(part.functionResponse)) {
      chars += String(part.functionResponse.name).length + JSON.stringify(part.functionResponse.response ?? {}).length
    }
  }
  return [chars, media]
}

/** The cached prefixes of a decoded `generateContent` body (the model from the URL's `params`), shortest first. */
export const cachePrefixes = (
  body: unknown,
  params?: Readonly<Record<string, string | undefined>>
): ReadonlyArray<CachePrefix> => {
  if (!isRecord(body) || !Array.isArray(body.contents)) return []
  const prefixes = new PrefixBuilder<readonly [role: string, parts: unknown]>(
    params?.model ?? "",
    ([role, parts]) => `${role}:${JSON.stringify(parts)}`
  )
  const add = (role: string, content: Readonly<Record<string, unknown>>) => {
    const [chars, media] = sizeOf(content)
    prefixes.add([role, content.parts], chars, media)
    if (prefixes.tokens >= minimumTokens) prefixes.mark("5m")
  }
  if (isRecord(body.systemInstruction)) add("system", body.systemInstruction)
  for (const content of body.contents as ReadonlyArray<unknown>) {
    if (isRecord(content)) add(String(content.role), content)
  }
  return prefixes.prefixes
}
