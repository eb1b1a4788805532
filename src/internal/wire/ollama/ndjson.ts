/**
 * An incremental NDJSON line splitter (bytes in, whole lines out) and NDJSON's framing for a stream's writer
 * (`ndjson`), for Ollama's streams. Lines end at `\n` (a trailing `\r` stripped, blank ones skipped); the unterminated
 * last line is flushed by `end`. Bytes are decoded as one text (`Utf8Decoder`), so a UTF-8 character split across
 * network chunks comes out whole; the caller parses the JSON and names a malformed line. Line ends are found with
 * `indexOf` and an unterminated tail grows by concatenation only (V8 ropes), so a long line over many small chunks
 * stays linear.
 */
import { Utf8Decoder } from "../../sse/streamParser.js"
import type { Framing } from "../eventSink.js"

/** NDJSON as a writer's sink frames it: each event a line of its JSON. */
export const ndjson: Framing = { head: () => "", tail: "\n", end: () => "" }

/** The default largest line, in UTF-16 code units: 16 MiB, as for SSE events. */
export const defaultMaxLineSize = 16 * 1024 * 1024

const LF = "\n"
const CR = 13
const SPACE = 32

/** Only a line that starts with whitespace can be blank, so JSON lines (`{…`) skip the trim. */
const isBlank = (line: string): boolean => line.length === 0 || (line.charCodeAt(0) <= SPACE && line.trim() === "")

export class Decoder {
  private readonly utf8 = new Utf8Decoder()
  /** The unterminated tail of the current line. */
  private pending = ""
  /** The last line exceeded `maxLineSize`; everything after is dropped. */
  failed = false

  constructor(readonly maxLineSize: number = defaultMaxLineSize) {}

  /**
   * Appends the lines these bytes complete to `out`. Returns `false` (and stays failed) once a line grows past
   * `maxLineSize`; lines completed before it are already in `out`.
   */
  push(bytes: Uint8Array, out: Array<string>): boolean {
    if (this.failed) return false
    return this.text(this.utf8.decode(bytes), out)
  }

  /** Flushes the decoder and the last line, which needs no `\n`. */
  end(out: Array<string>): boolean {
    if (this.failed) return false
    if (!this.text(this.utf8.end(), out)) return false
    const last = this.pending
    this.pending = ""
    this.line(last, out)
    return true
  }

  private text(text: string, out: Array<string>): boolean {
    let pos = 0
    let lf = text.indexOf(LF)
    while (lf !== -1) {
      if (this.pending === "") {
        if (lf - pos > this.maxLineSize) return this.fail()
        this.line(text.slice(pos, lf), out)
      } else {
        const line = this.pending + text.slice(pos, lf)
        this.pending = ""
        if (line.length > this.maxLineSize) return this.fail()
        this.line(line, out)
      }
      pos = lf + 1
      lf = text.indexOf(LF, pos)
    }
    if (pos < text.length) {
      this.pending = pos === 0 ? this.pending + text : this.pending + text.slice(pos)
      if (this.pending.length > this.maxLineSize) return this.fail()
    }
    return true
  }

  private line(line: string, out: Array<string>): void {
    const end = line.length - 1
    const text = end >= 0 && line.charCodeAt(end) === CR ? line.slice(0, end) : line
    if (!isBlank(text)) out.push(text)
  }

  private fail(): false {
    this.failed = true
    this.pending = ""
    return false
  }
}
