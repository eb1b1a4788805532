/**
 * UTF-8 network chunks decoded as one text, as a streaming `TextDecoder`
 * decodes them (a character split across chunks comes out whole, a BOM at the
 * very start is dropped), mostly at the cost of a plain decode.
 *
 * Node's `TextDecoder` costs more in streaming mode, on an instance once used
 * that way too (docs/performance.md). A chunk that ends in an ASCII byte,
 * after one that did, leaves no character half-read (an ASCII byte ends any
 * sequence), so an instance never used in streaming mode decodes it in one
 * call; the others go through a streaming instance.
 */

const BOM = 0xfeff

/**
 * The decoder of whole chunks, never used in streaming mode; it keeps no state
 * between calls, so every instance shares it (a stream makes one instance).
 */
const whole = new TextDecoder("utf-8", { ignoreBOM: true })

export class Utf8Decoder {
  /** Made at the first chunk that ends in a non-ASCII byte: most streams have none. */
  private streaming: InstanceType<typeof TextDecoder> | undefined = undefined
  /** The last chunk ended in a non-ASCII byte: `streaming` may hold part of a character. */
  private carrying = false
  /** No text decoded yet: a BOM that starts the first text is not part of it. */
  private atStart = true

  decode(bytes: Uint8Array): string {
    if (bytes.length === 0) return ""
    const asciiEnd = bytes[bytes.length - 1]! < 0x80
    const text = asciiEnd && !this.carrying
      ? whole.decode(bytes)
      : (this.streaming ??= new TextDecoder("utf-8", { ignoreBOM: true })).decode(bytes, { stream: true })
    this.carrying = !asciiEnd
    return this.withoutBom(text)
  }

  /** The end of the text (a character left half-read is U+FFFD); the decoder then starts a new text. */
  end(): string {
    const text = this.carrying ? this.withoutBom(this.streaming!.decode()) : ""
    this.carrying = false
    this.atStart = true
    return text
  }

  private withoutBom(text: string): string {
    if (!this.atStart || text === "") return text
    this.atStart = false
    return text.charCodeAt(0) === BOM ? text.slice(1) : text
  }
}
