/**
 * JSON string literals that are ASCII whatever they hold, for the fixed text of a wire's events (the model and id
 * they name), which the codecs and the gateway write once per stream and then copy as Latin-1 bytes
 * (`bodyText.ts`).
 */

// Any character outside ASCII.
const nonAsciiAll = /[\u0080-\uffff]/g

/** Text that is its own JSON string literal between quotes: printable ASCII without `"` and `\`. */
export const plain = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

function escape(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`
}

/**
 * `JSON.stringify(value)` with every non-ASCII character escaped (`"é"` is `"\u00e9"`): the same string to a JSON
 * reader, in ASCII.
 */
export function asciiJson(value: string): string {
  return plain.test(value) ? `"${value}"` : JSON.stringify(value).replace(nonAsciiAll, escape)
}
