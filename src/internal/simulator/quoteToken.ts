/**
 * Generated tokens as JSON strings, for the wire formats' renderers, which build responses by string concatenation
 * around the tokens.
 */

const quoted = new Map<string, string>()

/**
 * A token as a JSON string. Tokens come from a small vocabulary, so each is quoted once: `JSON.stringify` per token was
 * a large share of a stream's cost.
 */
export const quoteToken = (token: string): string => {
  let json = quoted.get(token)
  if (json === undefined) {
    json = JSON.stringify(token)
    if (quoted.size >= 4096) quoted.clear()
    quoted.set(token, json)
  }
  return json
}
