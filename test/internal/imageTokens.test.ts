/**
 * An image's tokens (`internal/tokens/images.ts`): its dimensions read from a PNG's, GIF's, JPEG's and WebP's header,
 * and each API's documented rule over them, checked at the figures the APIs' guides give and, as properties, over any
 * dimensions (a rule's bounds; Gemini's tiles never fewer for a larger image).
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Images from "../../src/internal/tokens/images.js"
import { png } from "../utils/media.js"

const gif = (width: number, height: number): Uint8Array => {
  const bytes = Buffer.alloc(13)
  bytes.write("GIF89a", 0, "latin1")
  bytes.writeUInt16LE(width, 6)
  bytes.writeUInt16LE(height, 8)
  return bytes
}

// A JPEG with an APP0 segment before its baseline frame header (SOF0), as cameras write them.
const jpeg = (width: number, height: number): Uint8Array => {
  const app0 = [0xff, 0xe0, 0x00, 0x10, ...Buffer.from("JFIF\0"), 1, 1, 0, 0, 1, 0, 1, 0, 0]
  const sof0 = [0xff, 0xc0, 0x00, 0x11, 8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3]
  return Uint8Array.from([0xff, 0xd8, ...app0, ...sof0, ...Array(9).fill(0)])
}

const webp = (chunk: "VP8 " | "VP8L" | "VP8X", width: number, height: number): Uint8Array => {
  const bytes = Buffer.alloc(40)
  bytes.write("RIFF", 0, "latin1")
  bytes.write("WEBP", 8, "latin1")
  bytes.write(chunk, 12, "latin1")
  if (chunk === "VP8 ") {
    bytes.writeUInt16LE(width, 26)
    bytes.writeUInt16LE(height, 28)
  } else if (chunk === "VP8L") {
    bytes[20] = 0x2f
    bytes.writeUInt32LE(((width - 1) | ((height - 1) << 14)) >>> 0, 21)
  } else {
    bytes.writeUIntLE(width - 1, 24, 3)
    bytes.writeUIntLE(height - 1, 27, 3)
  }
  return bytes
}

const side = fc.integer({ min: 1, max: 16_383 })

describe("imageSize: the dimensions each format's header gives", () => {
  it("PNG, GIF, JPEG and the three WebPs, of any dimensions", () => {
    fc.assert(fc.property(side, side, (width, height) => {
      const size = { width, height }
      expect(Images.imageSize(png(width, height))).toEqual(size)
      expect(Images.imageSize(gif(width, height))).toEqual(size)
      expect(Images.imageSize(jpeg(width, height))).toEqual(size)
      expect(Images.imageSize(webp("VP8 ", width, height))).toEqual(size)
      expect(Images.imageSize(webp("VP8L", width, height))).toEqual(size)
      expect(Images.imageSize(webp("VP8X", width, height))).toEqual(size)
    }))
  })

  it("none for another format, a cut header or a zero side", () => {
    expect(Images.imageSize(Buffer.from("%PDF-1.4"))).toBeUndefined()
    expect(Images.imageSize(png(640, 480).subarray(0, 20))).toBeUndefined()
    expect(Images.imageSize(jpeg(640, 480).subarray(0, 12))).toBeUndefined()
    expect(Images.imageSize(png(0, 480))).toBeUndefined()
  })
})

describe("each API's rule", () => {
  it("OpenAI's tiles: the guide's examples", () => {
    // "Images and vision": 1024 x 1024 high detail is 765; 2048 x 4096 is 1105; any image at low detail 85.
    expect(Images.openAi({ width: 1024, height: 1024 }, "high")).toBe(765)
    expect(Images.openAi({ width: 2048, height: 4096 }, "high")).toBe(1105)
    expect(Images.openAi({ width: 4096, height: 8192 }, "low")).toBe(85)
    expect(Images.openAi(undefined, "auto")).toBe(765)
  })

  it("Anthropic's area: the guide's examples, and its most", () => {
    // "Vision": a 1092 x 1092 image is about 1,590 tokens; 200 x 200 about 54.
    expect(Images.anthropic({ width: 1092, height: 1092 }, undefined)).toBe(1590)
    expect(Images.anthropic({ width: 200, height: 200 }, undefined)).toBe(54)
    expect(Images.anthropic({ width: 1600, height: 900 }, undefined)).toBe(1599)
    expect(Images.anthropic(undefined, undefined)).toBe(1600)
  })

  it("Gemini's tiles: one for a small image, 258 a 768-pixel tile past 384", () => {
    expect(Images.gemini({ width: 384, height: 384 }, undefined)).toBe(258)
    expect(Images.gemini({ width: 385, height: 100 }, undefined)).toBe(258)
    expect(Images.gemini({ width: 1600, height: 900 }, undefined)).toBe(258 * 6)
    expect(Images.gemini(undefined, undefined)).toBe(258)
  })

  it("any image within each rule's bounds; Gemini's never less for a larger one", () => {
    fc.assert(fc.property(side, side, side, side, (width, height, more, taller) => {
      const small = { width, height }
      expect(Images.gemini({ width: width + more, height: height + taller }, "high")).toBeGreaterThanOrEqual(
        Images.gemini(small, "high")
      )
      expect(Images.anthropic(small, undefined)).toBeGreaterThanOrEqual(1)
      expect(Images.anthropic(small, undefined)).toBeLessThanOrEqual(1600)
      // The fitted image is at most 2048 x 768: from one tile to 4 x 2.
      expect(Images.openAi(small, "high")).toBeGreaterThanOrEqual(85 + 170)
      expect(Images.openAi(small, "high")).toBeLessThanOrEqual(85 + 170 * 8)
    }))
  })
})
