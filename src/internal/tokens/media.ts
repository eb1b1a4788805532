/**
 * What a media part of a request is, and how long, before any call. A part is classified by its media type (its
 * `mediaType`, else its `data:` URL's, else its URL's extension or host), not by the wire field it came in, and
 * measured where its provider bills by length (the Gemini API's "Understand and count tokens" guide: audio and video by
 * the second, a PDF by the page).
 *
 * A part's size is known before the call only when its bytes are in the request, or when it goes by URL to an API that
 * reads a URL only as the kind of its field (`UrlReading` `"typed"`). Any other part by URL is `unsized` whatever its
 * declared type (Gemini bills a YouTube URL declared `image/png` as the video): a budget reserves it at the most the
 * call can bill (docs/cost.md, "Media").
 */
import { inflateSync } from "node:zlib"
import type * as ChatRequest from "../../ChatRequest.js"
import type { ImagePart } from "../../Message.js"
import { ownValue } from "../ownValue.js"
import * as Images from "./images.js"

/** What a part is: an image, audio, a video, a PDF, another document (text), or by URL of no type one can tell. */
export type Kind = "image" | "audio" | "video" | "pdf" | "document" | "unknown"

/** A media part's kind and type, and, when it can be told, its length. */
export interface Media {
  readonly kind: Kind
  /** Its media type, when one is known. */
  readonly mediaType: string | undefined
  /** Whether its bytes are in the request (a `data:` URL). */
  readonly inline: boolean
  /** Audio's and video's seconds, read from a header or bounded from the size; none by URL. */
  readonly seconds?: number | undefined
  /** A PDF's pages; none by URL. */
  readonly pages?: number | undefined
  /** The size of an inline part's bytes. */
  readonly bytes?: number | undefined
  /** An inline image's dimensions, when its header tells them. */
  readonly size?: Images.Size | undefined
}

/**
 * The lowest bit rate of the audio formats Gemini reads (Opus in Ogg), as bytes a second: an audio or video part whose
 * header does not tell its length lasts at most its size over this.
 */
export const leastBytesPerSecond = 750

/** The most pages of a PDF Gemini reads (its document understanding guide): a PDF by URL is reserved as this many. */
export const mostPdfPages = 1_000

const extensionTypes: Readonly<Record<string, string>> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif",
  heic: "image/heic",
  heif: "image/heif",
  pdf: "application/pdf",
  wav: "audio/wav",
  mp3: "audio/mp3",
  aiff: "audio/aiff",
  aac: "audio/aac",
  ogg: "audio/ogg",
  flac: "audio/flac",
  m4a: "audio/mp4",
  opus: "audio/ogg",
  mp4: "video/mp4",
  mpeg: "video/mpeg",
  mpg: "video/mpeg",
  mov: "video/mov",
  avi: "video/avi",
  flv: "video/x-flv",
  webm: "video/webm",
  wmv: "video/wmv",
  "3gp": "video/3gpp",
  txt: "text/plain",
  csv: "text/csv",
  html: "text/html",
  md: "text/md"
}

// Hosts whose page URLs are videos (Gemini reads YouTube URLs as videos). A part's kind, which an API that takes images
// only refuses a video by; never what makes a part by URL cheap (`isSized`), so other spellings need no entry.
const videoHosts: ReadonlySet<string> = new Set(["youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be"])

/** The media type a file extension stands for (`pdf`: `application/pdf`), if one this module knows. */
export function typeOfExtension(extension: string): string | undefined {
  return ownValue(extensionTypes, extension.toLowerCase())
}

/** A `data:` URL's media type, its payload and whether it is base64; none for another URL. */
function dataUrl(
  url: string
): { readonly type: string | undefined; readonly payload: string; readonly base64: boolean } | undefined {
  if (!url.startsWith("data:")) return undefined
  const comma = url.indexOf(",")
  if (comma < 0) return { type: undefined, payload: "", base64: false }
  const meta = url.slice(5, comma).split(";")
  const type = meta[0] === undefined || meta[0] === "" ? undefined : meta[0].trim().toLowerCase()
  return { type, payload: url.slice(comma + 1), base64: meta.includes("base64") }
}

/** A URL's file extension's type, or `video/*` for a video host's page; none when neither tells. */
function typeOfUrl(url: string): string | undefined {
  if (!URL.canParse(url)) return undefined
  const parsed = new URL(url)
  if (videoHosts.has(parsed.hostname.toLowerCase())) return "video/*"
  const path = parsed.pathname
  const dot = path.lastIndexOf(".")
  return dot < 0 || dot < path.lastIndexOf("/") ? undefined : typeOfExtension(path.slice(dot + 1))
}

/**
 * Whether a URL of no type one can tell is read as an image, as the APIs that take images by web URL read one; a Gemini
 * Files API URI or a `gs://` object may hold anything.
 */
function readsAsImage(url: string): boolean {
  if (url.startsWith("data:")) return true
  if (!URL.canParse(url)) return false
  const parsed = new URL(url)
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return false
  return !(parsed.hostname.endsWith("googleapis.com") && /\/files\/[^/]+$/.test(parsed.pathname))
}

/** The kind of a media type. */
export function kindOfType(mediaType: string): Kind {
  const type = mediaType.toLowerCase()
  if (type.startsWith("image/")) return "image"
  if (type.startsWith("audio/")) return "audio"
  if (type.startsWith("video/")) return "video"
  if (type === "application/pdf") return "pdf"
  return "document"
}

/**
 * Whether some dialect carries a part of `mediaType`: images, audio, video, PDFs and text documents (which Gemini
 * reads); any other type (an archive, a spreadsheet) none does.
 */
export function isCarried(mediaType: string): boolean {
  return kindOfType(mediaType) !== "document" || mediaType.toLowerCase().startsWith("text/")
}

/** A part's media type (its own, its `data:` URL's, its URL's extension's or host's), if one can be told. */
export function mediaTypeOf(part: Pick<ImagePart, "url" | "mediaType">): string | undefined {
  if (part.mediaType !== undefined && part.mediaType !== "") return part.mediaType.toLowerCase()
  const data = dataUrl(part.url)
  return data !== undefined ? data.type : typeOfUrl(part.url)
}

/**
 * A part's kind, from its media type alone: a part of no type one can tell is an image when it is a web URL, `unknown`
 * otherwise. What an API is sent it as; by URL, never what its cost is known by (`isSized`).
 */
export function kindOf(part: Pick<ImagePart, "url" | "mediaType">): Kind {
  const type = mediaTypeOf(part)
  if (type !== undefined) return kindOfType(type)
  return readsAsImage(part.url) ? "image" : "unknown"
}

/** An inline part's bytes (a payload that is not valid percent-encoding as it is: no fewer bytes than it holds). */
function bytesOf(data: { readonly payload: string; readonly base64: boolean }): Buffer {
  if (data.base64) return Buffer.from(data.payload, "base64")
  try {
    return Buffer.from(decodeURIComponent(data.payload), "utf8")
  } catch {
    return Buffer.from(data.payload, "latin1")
  }
}

/**
 * A WAV's seconds from its `fmt ` and `data` chunks (the data's bytes no more than the file holds); none without both.
 */
export function wavSeconds(bytes: Uint8Array): number | undefined {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buffer.length < 12 || buffer.toString("latin1", 0, 4) !== "RIFF" || buffer.toString("latin1", 8, 12) !== "WAVE") {
    return undefined
  }
  let perSecond: number | undefined
  for (let at = 12; at + 8 <= buffer.length;) {
    const id = buffer.toString("latin1", at, at + 4)
    const size = buffer.readUInt32LE(at + 4)
    const start = at + 8
    if (id === "fmt " && start + 16 <= buffer.length) {
      const channels = buffer.readUInt16LE(start + 2)
      const rate = buffer.readUInt32LE(start + 4)
      const bits = buffer.readUInt16LE(start + 14)
      perSecond = rate * channels * Math.ceil(bits / 8)
    } else if (id === "data") {
      if (perSecond === undefined || perSecond === 0) return undefined
      return Math.min(size, buffer.length - start) / perSecond
    }
    at = start + size + (size % 2)
  }
  return undefined
}

/** An MP4's or QuickTime movie's seconds from its movie header (`mvhd`); none when it has none that reads. */
export function movieSeconds(bytes: Uint8Array): number | undefined {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const at = buffer.indexOf("mvhd", 0, "latin1")
  if (at < 4) return undefined
  const version = buffer[at + 4]
  if (version === 0 && at + 24 <= buffer.length) {
    const scale = buffer.readUInt32BE(at + 16)
    return scale === 0 ? undefined : buffer.readUInt32BE(at + 20) / scale
  }
  if (version === 1 && at + 36 <= buffer.length) {
    const scale = buffer.readUInt32BE(at + 24)
    return scale === 0 ? undefined : Number(buffer.readBigUInt64BE(at + 28)) / scale
  }
  return undefined
}

const pageObject = /\/Type\s*\/Page(?![A-Za-z])/g
const objectStream = /\/Type\s*\/ObjStm\b/

/** A PDF's pages: its `/Type /Page` objects, in the file and its compressed object streams; none when it has none. */
export function pdfPages(bytes: Uint8Array): number | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")
  if (!text.startsWith("%PDF")) return undefined
  let pages = text.match(pageObject)?.length ?? 0
  for (let at = text.indexOf("stream"); at >= 0; at = text.indexOf("stream", at + 6)) {
    if (text.startsWith("endstream", at - 3)) continue
    const dictionary = text.lastIndexOf("<<", at)
    if (dictionary < 0 || !objectStream.test(text.slice(dictionary, at))) continue
    const start = at + 6 + (text[at + 6] === "\r" ? 2 : 1)
    const end = text.indexOf("endstream", start)
    if (end < 0) break
    try {
      pages +=
        inflateSync(Buffer.from(text.slice(start, end), "latin1")).toString("latin1").match(pageObject)?.length ??
          0
    } catch {
      // Not Flate, or damaged: its pages, if any, are not counted, so the PDF may read as having none.
    }
  }
  return pages === 0 ? undefined : pages
}

// An inline part's bytes are decoded once, however many times a request is measured (a gateway's refusal check and
// its reservation both measure it).
const measured = new WeakMap<Pick<ImagePart, "url" | "mediaType">, Media>()

/** A part classified and, where its provider bills by length, measured (the module doc). */
export function classify(part: Pick<ImagePart, "url" | "mediaType">): Media {
  let media = measured.get(part)
  if (media === undefined) measured.set(part, media = measure(part))
  return media
}

function measure(part: Pick<ImagePart, "url" | "mediaType">): Media {
  const kind = kindOf(part)
  const mediaType = mediaTypeOf(part)
  const data = dataUrl(part.url)
  if (data === undefined) return { kind, mediaType, inline: false }
  const bytes = bytesOf(data)
  const inline = { kind, mediaType, inline: true, bytes: bytes.length }
  switch (kind) {
    case "audio":
    case "video": {
      const read = kind === "audio" ? wavSeconds(bytes) : movieSeconds(bytes)
      return { ...inline, seconds: read ?? bytes.length / leastBytesPerSecond }
    }
    case "pdf":
      return { ...inline, pages: pdfPages(bytes) ?? mostPdfPages }
    case "image":
      return { ...inline, size: Images.imageSize(bytes) }
    default:
      return inline
  }
}

/** Each media part of a request's user messages and tool results, with where it is (`messages[1].content[2]`). */
export function mediaParts(
  request: ChatRequest.Input
): ReadonlyArray<{ readonly at: string; readonly part: ImagePart }> {
  const out: Array<{ readonly at: string; readonly part: ImagePart }> = []
  request.messages.forEach((message, i) => {
    if ((message.role !== "user" && message.role !== "tool") || typeof message.content === "string") return
    message.content.forEach((part, j) => {
      if (part.type === "image") out.push({ at: `messages[${i}].content[${j}]`, part })
    })
  })
  return out
}

/**
 * How an API reads a media part by URL: `"typed"`, only as the kind of its field (OpenAI's `image_url` and
 * `input_image`, Anthropic's `image` and `document` URL sources: anything else fails the call); `"fetched"`, as
 * whatever the URL holds, whatever its declared type (Gemini's `fileData`).
 */
export type UrlReading = "typed" | "fetched"

/** The token rates of `Price` a part's tokens are counted at, with their defaults applied, and how URLs are read. */
export interface Rates {
  readonly imageTokens: number
  readonly audioTokensPerSecond: number
  readonly videoTokensPerSecond: number
  readonly pdfPageTokens: number
  readonly urls: UrlReading
}

/** A part whose size cannot be known before the call: where it is, and what it is, in words. */
export interface Unsized {
  readonly at: string
  readonly what: string
}

/** What a part is, in words, for a refusal: `audio (audio/wav)`, `an image`, `a file of no stated type`. */
export function describe(kind: Kind, mediaType: string | undefined): string {
  if (kind === "unknown") return "a file of no stated type"
  const type = mediaType === undefined || mediaType.endsWith("/*") ? "" : ` (${mediaType})`
  return `${kind === "audio" ? "audio" : kind === "image" ? "an image" : `a ${kind}`}${type}`
}

/** Whether a part's size is known before the call (the module doc). */
function isSized(media: Media, urls: UrlReading): boolean {
  return media.inline || (urls === "typed" && (media.kind === "image" || media.kind === "pdf"))
}

/**
 * The most prompt tokens one part can cost at `rates` (a PDF by URL at `mostPdfPages`, another document a token a
 * byte); `undefined` for a part whose size cannot be known before the call.
 */
export function mostPartTokens(media: Media, rates: Rates): number | undefined {
  if (!isSized(media, rates.urls)) return undefined
  switch (media.kind) {
    case "image":
      return rates.imageTokens
    case "audio":
      return Math.ceil(media.seconds ?? 0) * rates.audioTokensPerSecond
    case "video":
      return Math.ceil(media.seconds ?? 0) * rates.videoTokensPerSecond
    case "pdf":
      return (media.pages ?? mostPdfPages) * rates.pdfPageTokens
    case "document":
    case "unknown":
      return media.bytes ?? 0
  }
}

/**
 * The prompt tokens one part costs where an API counts images by `images` (`images.ts`) and any other medium as
 * `mostPartTokens`; an unsized part, `images`' fixed figure.
 */
export function partTokens(
  part: Pick<ImagePart, "url" | "mediaType" | "detail">,
  images: Images.Rule,
  rates: Rates
): number {
  const media = classify(part)
  if (media.kind === "image") return images(media.size, part.detail)
  return mostPartTokens(media, rates) ?? images(undefined, part.detail)
}

/**
 * The most prompt tokens a request's sized media parts can cost, its first unsized part, and whether a part may be
 * billed as audio (audio, a video's sound, a file of no stated type, or any unsized part).
 */
export function mostMediaTokens(
  request: ChatRequest.Input,
  rates: Rates
): { readonly tokens: number; readonly unsized: Unsized | undefined; readonly audible: boolean } {
  let tokens = 0
  let unsized: Unsized | undefined
  let audible = false
  for (const { at, part } of mediaParts(request)) {
    const media = classify(part)
    const most = mostPartTokens(media, rates)
    if (most !== undefined) tokens += most
    else unsized ??= { at, what: `${describe(media.kind, media.mediaType)} by URL` }
    audible ||= most === undefined || media.kind === "audio" || media.kind === "video" || media.kind === "unknown"
  }
  return { tokens, unsized, audible }
}
