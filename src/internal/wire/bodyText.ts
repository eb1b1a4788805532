/**
 * The text of one write of a streamed answer, built in pieces and turned into UTF-8 bytes once. It keeps whether all of
 * it is ASCII: an ASCII string's Latin-1 bytes are its UTF-8 bytes, which V8 copies rather than encodes
 * (docs/performance.md). The wire's templates are ASCII (`asciiJson.ts`); what comes from the reply is added with
 * `json` or `text`, which check it.
 */
import { plain } from "./asciiJson.js"

// Any character outside ASCII.
const nonAscii = /[\u0080-\uffff]/

const utf8 = new TextEncoder()

/** UTF-8 bytes of text built in pieces; one per write. */
export class BodyText {
  private value = ""
  private ascii = true

  /** Appends `piece`, which the caller wrote in ASCII: a template of the wire's, with names from `asciiJson`. */
  template(piece: string): void {
    this.value += piece
  }

  /** Appends `piece`, any text (a reply's). */
  text(piece: string): void {
    if (this.ascii && nonAscii.test(piece)) this.ascii = false
    this.value += piece
  }

  /** Appends `value` as a JSON string literal (`JSON.stringify`'s). */
  json(value: string): void {
    if (plain.test(value)) this.value += `"${value}"`
    else this.text(JSON.stringify(value))
  }

  /** What has been appended, as text (the simulator's writes, which its server encodes). */
  string(): string {
    return this.value
  }

  /** What has been appended, as UTF-8 bytes. */
  bytes(): Uint8Array {
    return encode(this.value, this.ascii)
  }

  /** Empties it, for the next write. */
  clear(): void {
    this.value = ""
    this.ascii = true
  }
}

// An ASCII string's Latin-1 bytes are its UTF-8 bytes, and a copy.
function encode(text: string, ascii: boolean): Uint8Array {
  return ascii ? Buffer.from(text, "latin1") : utf8.encode(text)
}

/** `text` as UTF-8 bytes, copied when it is ASCII. */
export function bytesOf(text: string): Uint8Array {
  return encode(text, !nonAscii.test(text))
}
