/**
 * Media files built in memory for the tests of what a part is and how long: a PCM WAV, an MP4's opening boxes with its
 * movie header, a PDF with page objects in the open and in a compressed object stream, a PNG's header.
 */
import { deflateSync } from "node:zlib"

/** A PCM WAV of `seconds` at `rate` Hz, `channels` channels, 16 bits a sample. */
export function wav(seconds: number, rate = 8_000, channels = 1): Buffer {
  const data = Math.round(seconds * rate * channels * 2)
  const header = Buffer.alloc(44)
  header.write("RIFF", 0, "latin1")
  header.writeUInt32LE(36 + data, 4)
  header.write("WAVE", 8, "latin1")
  header.write("fmt ", 12, "latin1")
  header.writeUInt32LE(16, 16)
  header.writeUInt16LE(1, 20)
  header.writeUInt16LE(channels, 22)
  header.writeUInt32LE(rate, 24)
  header.writeUInt32LE(rate * channels * 2, 28)
  header.writeUInt16LE(channels * 2, 32)
  header.writeUInt16LE(16, 34)
  header.write("data", 36, "latin1")
  header.writeUInt32LE(data, 40)
  return Buffer.concat([header, Buffer.alloc(data)])
}

/** An MP4's opening boxes: `ftyp`, then a `moov` holding a version-0 `mvhd` of `seconds` at `scale` units a second. */
export function mp4(seconds: number, scale = 1_000): Buffer {
  const ftyp = Buffer.alloc(16)
  ftyp.writeUInt32BE(16, 0)
  ftyp.write("ftypisom", 4, "latin1")
  const mvhd = Buffer.alloc(108)
  mvhd.writeUInt32BE(108, 0)
  mvhd.write("mvhd", 4, "latin1")
  mvhd.writeUInt32BE(scale, 20)
  mvhd.writeUInt32BE(Math.round(seconds * scale), 24)
  const moov = Buffer.alloc(8)
  moov.writeUInt32BE(8 + mvhd.length, 0)
  moov.write("moov", 4, "latin1")
  return Buffer.concat([ftyp, moov, mvhd])
}

/** A PDF of `pages` page objects, `hidden` more of them in a Flate-compressed object stream. */
export function pdf(pages: number, hidden = 0): Buffer {
  const objects = Array.from({ length: pages }, (_, i) => `${i + 3} 0 obj\n<< /Type /Page /Parent 2 0 R >>\nendobj\n`)
  const head = `%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Count ${
    pages + hidden
  } >>\nendobj\n${objects.join("")}`
  if (hidden === 0) return Buffer.from(`${head}%%EOF\n`, "latin1")
  const packed = deflateSync(Buffer.from(Array.from({ length: hidden }, () => "<</Type/Page/Parent 2 0 R>>").join(" ")))
  return Buffer.concat([
    Buffer.from(`${head}99 0 obj\n<< /Type /ObjStm /N ${hidden} /Filter /FlateDecode >>\nstream\n`, "latin1"),
    packed,
    Buffer.from("\nendstream\nendobj\n%%EOF\n", "latin1")
  ])
}

/** A PNG's signature and header chunk (`IHDR`): what an image's dimensions, `width` x `height`, are read from. */
export function png(width: number, height: number): Buffer {
  const bytes = Buffer.alloc(33)
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes, 0)
  bytes.writeUInt32BE(13, 8)
  bytes.write("IHDR", 12, "latin1")
  bytes.writeUInt32BE(width, 16)
  bytes.writeUInt32BE(height, 20)
  bytes.set([8, 6, 0, 0, 0], 24)
  return bytes
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

/** The CRC-32 a PNG chunk ends with (over its type and data). */
function crc32(bytes: Buffer): number {
  let c = 0xffffffff
  for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** A PNG chunk: its length, type, data and CRC. */
function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, "latin1"), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/**
 * A whole PNG any decoder reads: `width` x `height` opaque RGB pixels of one colour, `seed`'s (so two seeds give
 * different bytes), small once compressed: as a client that decodes an image before sending it needs one.
 */
export function wholePng(width: number, height: number, seed = 0): Buffer {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.set([8, 2, 0, 0, 0], 8)
  const rows = Buffer.alloc(height * (1 + width * 3))
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rows.set([seed & 0xff, 0x80, 0x40], y * (1 + width * 3) + 1 + x * 3)
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(rows)),
    chunk("IEND", Buffer.alloc(0))
  ])
}

/** `bytes` as a base64 `data:` URL of `type`. */
export const dataUrl = (type: string, bytes: Buffer): string => `data:${type};base64,${bytes.toString("base64")}`
