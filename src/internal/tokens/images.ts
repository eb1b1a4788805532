/**
 * An image's prompt tokens as each API documents them, from its dimensions (read from a PNG's, GIF's, JPEG's or WebP's
 * header), or, where they cannot be known before the call (an image by URL, a format whose header is not read), a
 * fixed figure each rule names:
 *
 * - OpenAI (its "Images and vision" guide, the tile models): `low` detail 85; else the image fitted within 2048 x 2048,
 *   its shortest side brought down to 768, then 85 and 170 a 512-pixel tile. Unknown: 765, a 1024 x 1024 image's.
 * - Anthropic (its "Vision" guide): `width * height / 750`, the image first scaled down to a long edge of at most
 *   1568 pixels and at most 1,600 tokens. Unknown: 1,600, the most one image costs.
 * - Gemini (its "Understand and count tokens" guide): 258 when both sides are at most 384 pixels, else 258 a
 *   768 x 768 tile. Unknown: 258, one tile.
 */
import type { ImagePart } from "../../Message.js"

/** An image's width and height in pixels. */
export interface Size {
  readonly width: number
  readonly height: number
}

/** The tokens of an image of `size` (undefined when it cannot be known) looked at with `detail`. */
export type Rule = (size: Size | undefined, detail: ImagePart["detail"]) => number

const ascii = (bytes: Uint8Array, start: number, end: number): string =>
  String.fromCharCode(...bytes.subarray(start, end))

const u16be = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!
const u16le = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8)
const u24le = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)
const u32be = (b: Uint8Array, at: number) =>
  ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!

const sized = (width: number, height: number): Size | undefined =>
  width > 0 && height > 0 ? { width, height } : undefined

// A JPEG's frame header (SOF0 to SOF15 but DHT, JPG and DAC) holds the height, then the width.
function jpegSize(b: Uint8Array): Size | undefined {
  let at = 2
  while (at + 9 < b.length) {
    if (b[at] !== 0xff) return undefined
    const marker = b[at + 1]!
    if (marker === 0xff) {
      at++
      continue
    }
    const length = u16be(b, at + 2)
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return sized(u16be(b, at + 7), u16be(b, at + 5))
    }
    at += 2 + length
  }
  return undefined
}

// A WebP's first chunk: lossy (`VP8 `), lossless (`VP8L`) or extended (`VP8X`), each with its own layout.
function webpSize(b: Uint8Array): Size | undefined {
  if (b.length < 30) return undefined
  switch (ascii(b, 12, 16)) {
    case "VP8 ":
      return sized(u16le(b, 26) & 0x3fff, u16le(b, 28) & 0x3fff)
    case "VP8L": {
      const bits = b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24)
      return sized((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1)
    }
    case "VP8X":
      return sized(u24le(b, 24) + 1, u24le(b, 27) + 1)
    default:
      return undefined
  }
}

/** The dimensions a PNG's, GIF's, JPEG's or WebP's header gives; none for another format or a damaged header. */
export function imageSize(bytes: Uint8Array): Size | undefined {
  if (bytes.length >= 24 && ascii(bytes, 1, 4) === "PNG" && ascii(bytes, 12, 16) === "IHDR") {
    return sized(u32be(bytes, 16), u32be(bytes, 20))
  }
  if (bytes.length >= 10 && ascii(bytes, 0, 4) === "GIF8") return sized(u16le(bytes, 6), u16le(bytes, 8))
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes)
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "WEBP") return webpSize(bytes)
  return undefined
}

/** `size` scaled by `factor` (at most 1), each side rounded down and at least a pixel. */
const scaled = (size: Size, factor: number): Size =>
  factor >= 1 ? size : {
    width: Math.max(1, Math.floor(size.width * factor)),
    height: Math.max(1, Math.floor(size.height * factor))
  }

/** OpenAI's tile rule (the module doc). */
export const openAi: Rule = (size, detail) => {
  if (detail === "low") return 85
  if (size === undefined) return 765
  const fitted = scaled(size, 2048 / Math.max(size.width, size.height))
  const shortened = scaled(fitted, 768 / Math.min(fitted.width, fitted.height))
  return 85 + 170 * Math.ceil(shortened.width / 512) * Math.ceil(shortened.height / 512)
}

const anthropicMost = 1_600

/** Anthropic's area rule (the module doc). */
export const anthropic: Rule = (size) => {
  if (size === undefined) return anthropicMost
  const edged = scaled(size, 1568 / Math.max(size.width, size.height))
  const fitted = scaled(edged, Math.sqrt(anthropicMost * 750 / (edged.width * edged.height)))
  return Math.min(anthropicMost, Math.ceil(fitted.width * fitted.height / 750))
}

const geminiTile = 258

/** Gemini's tile rule (the module doc). */
export const gemini: Rule = (size) => {
  if (size === undefined || (size.width <= 384 && size.height <= 384)) return geminiTile
  return geminiTile * Math.ceil(size.width / 768) * Math.ceil(size.height / 768)
}
