/**
 * The prefixes of a `generateContent` request that Gemini's implicit caching holds (its context caching guide): the
 * prompt at each content boundary, the system instruction first, once it reaches the documented minimum of 1024 tokens,
 * apart per model. Sizes are counted as the request decoder counts the prompt (`partSize`).
 */
import * as Result from "effect/Result"
import type { CachePrefix } from "../../../simulator/WireFormat.js"
import * as Codec from "../../wire/gemini/codec.js"
import { implicitMinimum, PrefixBuilder } from "../promptCache.js"
import { partSize } from "./request.js"

/** The cached prefixes of a `generateContent` body (the model from the URL's `params`), shortest first. */
export function cachePrefixes(
  json: unknown,
  params?: Readonly<Record<string, string | undefined>>
): ReadonlyArray<CachePrefix> {
  const checked = Codec.checkGenerateContent(json)
  if (Result.isFailure(checked)) return []
  const body = checked.success
  const prefixes = new PrefixBuilder<readonly [role: string, parts: unknown]>(
    params?.model ?? "",
    ([role, parts]) => `${role}:${JSON.stringify(parts)}`
  )
  const add = (role: string, parts: ReadonlyArray<typeof Codec.Part.Type>) => {
    let chars = 0
    let media = 0
    for (const part of parts) {
      const size = partSize(part)
      chars += size.chars
      media += size.media
    }
    prefixes.add([role, parts], chars, media)
    prefixes.markPast(implicitMinimum)
  }
  if (body.systemInstruction !== null && body.systemInstruction !== undefined) {
    add("system", body.systemInstruction.parts)
  }
  for (const content of body.contents) add(String(content.role), content.parts)
  return prefixes.prefixes
}
