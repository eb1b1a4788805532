/**
 * The media classifier (`internal/tokens/media.ts`): a part is what its type says, whatever field it came in; a WAV's
 * and an MP4's seconds read from their headers, a PDF's pages from its page objects (plain and in a compressed object
 * stream), any other audio or video bounded from its size; a part by URL whose size cannot be known before the call
 * reserved at the most the call can bill, however its URL is spelled and whatever type it is declared. Plus
 * properties over the whole domain of types, sizes and URL spellings.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import { RequestError } from "../../src/internal/codecError.js"
import * as Media from "../../src/internal/tokens/media.js"
import * as Anthropic from "../../src/internal/wire/anthropic/request.js"
import * as Bedrock from "../../src/internal/wire/bedrock/codec.js"
import * as Gemini from "../../src/internal/wire/gemini/codec.js"
import * as Ollama from "../../src/internal/wire/ollama/codec.js"
import * as OpenAiChat from "../../src/internal/wire/openAiChat/codec.js"
import * as OpenAiResponses from "../../src/internal/wire/openAiResponses/codec.js"
import type { ContentPart, ImagePart, Message } from "../../src/Message.js"
import * as Pricing from "../../src/Pricing.js"
import { dataUrl, mp4, pdf, wav } from "../utils/media.js"
import { budgetInMemory } from "../utils/memoryStores.js"

describe("kindOf: a part is what its type says, not the field it came in", () => {
  it("reads the part's own type, then its data URL's, then its extension, then its host", () => {
    expect(Media.kindOf({ url: "https://example.com/x", mediaType: "video/mp4" })).toBe("video")
    expect(Media.kindOf({ url: "data:audio/wav;base64,AAAA" })).toBe("audio")
    expect(Media.kindOf({ url: "data:application/pdf;base64,AAAA" })).toBe("pdf")
    expect(Media.kindOf({ url: "data:text/plain,hello" })).toBe("document")
    expect(Media.kindOf({ url: "https://example.com/talk.MP3?x=1" })).toBe("audio")
    expect(Media.kindOf({ url: "https://example.com/report.pdf#page=2" })).toBe("pdf")
    expect(Media.kindOf({ url: "https://www.youtube.com/watch?v=9hE5-98ZeCg" })).toBe("video")
    expect(Media.kindOf({ url: "https://youtu.be/9hE5-98ZeCg" })).toBe("video")
    expect(Media.kindOf({ url: "https://example.com/cat.png" })).toBe("image")
    // No type to tell: an image, as the APIs that take parts by URL read one; a Files API URI could be anything.
    expect(Media.kindOf({ url: "https://example.com/photo?id=3" })).toBe("image")
    expect(Media.kindOf({ url: "https://generativelanguage.googleapis.com/v1beta/files/abc" })).toBe("unknown")
  })

  it("every media type is classified by its top-level type alone, in any case", () => {
    const top = fc.constantFrom("image", "audio", "video", "application", "text", "IMAGE", "Audio", "VIDEO")
    const sub = fc.stringMatching(/^[a-z0-9.+-]{1,12}$/)
    fc.assert(fc.property(top, sub, fc.boolean(), (t, s, inline) => {
      const type = `${t}/${s}`
      const part = inline ? { url: `data:${type};base64,AAAA` } : { url: "https://example.com/x", mediaType: type }
      const lower = t.toLowerCase()
      const expected = lower === "image" || lower === "audio" || lower === "video"
        ? lower
        : type.toLowerCase() === "application/pdf"
        ? "pdf"
        : "document"
      expect(Media.kindOf(part)).toBe(expected)
    }))
  })
})

describe("kindOf over URIs: the stated type first, then the path's extension; no type on a non-web URI is unknown", () => {
  const known = ["pdf", "PDF", "mp3", "Mp4", "wav", "png", "JPG", "webm", "txt", "mov"]
  const segment = fc.stringMatching(/^[a-z0-9_-]{1,8}$/)
  const uri = fc.record({
    scheme: fc.constantFrom("gs", "GS", "https", "http", "s3"),
    bucket: fc.stringMatching(/^[a-z0-9][a-z0-9-]{2,10}$/),
    // Directories may hold dots: only the last segment's extension counts.
    dirs: fc.array(fc.oneof(segment, segment.map((name) => `${name}.v2`)), { maxLength: 3 }),
    name: segment,
    extension: fc.option(fc.oneof(fc.constantFrom(...known), fc.constantFrom("bin", "dat", "x")), { nil: undefined }),
    // A query or fragment that looks like another extension changes nothing.
    query: fc.option(fc.constantFrom("?alt=media", "?name=a.mp3", "?v=1&f=b.png"), { nil: undefined }),
    fragment: fc.option(fc.constantFrom("#page=2", "#x.wav"), { nil: undefined })
  })
  const declared = fc.option(
    fc.constantFrom("application/pdf", "audio/ogg", "video/mp4", "image/webp", "text/csv", "APPLICATION/PDF"),
    { nil: undefined }
  )
  const rates: Media.Rates = {
    imageTokens: 1,
    audioTokensPerSecond: 32,
    videoTokensPerSecond: 263,
    pdfPageTokens: 258,
    urls: "typed"
  }

  it("a declared type wins; else a known extension; else a web URL is an image and any other URI unknown", () => {
    fc.assert(fc.property(uri, declared, (u, mediaType) => {
      const path = [...u.dirs, u.extension === undefined ? u.name : `${u.name}.${u.extension}`].join("/")
      const url = `${u.scheme}://${u.bucket}.example/${path}${u.query ?? ""}${u.fragment ?? ""}`
      const part = mediaType === undefined ? { url } : { url, mediaType }
      const kind = Media.kindOf(part)
      const fromExtension = u.extension === undefined ? undefined : Media.typeOfExtension(u.extension)
      const web = u.scheme.toLowerCase().startsWith("http")
      const expected = mediaType !== undefined
        ? Media.kindOfType(mediaType)
        : fromExtension !== undefined
        ? Media.kindOfType(fromExtension)
        : web
        ? "image"
        : "unknown"
      expect(kind).toBe(expected)
      // By URL only an image or a PDF an API reads as typed has a size; where URLs are fetched, none has.
      const media = Media.classify(part)
      expect(Media.mostPartTokens(media, rates) === undefined).toBe(kind !== "image" && kind !== "pdf")
      expect(Media.mostPartTokens(media, { ...rates, urls: "fetched" })).toBeUndefined()
    }))
  })

  it("a gs:// object is what its fileData's mimeType says, whatever its name", () => {
    expect(Media.kindOf({ url: "gs://bucket/scans/0001" })).toBe("unknown")
    expect(Media.kindOf({ url: "gs://bucket/scans/0001", mediaType: "application/pdf" })).toBe("pdf")
    expect(Media.kindOf({ url: "gs://bucket/scans/0001.png", mediaType: "video/mp4" })).toBe("video")
    expect(Media.kindOf({ url: "gs://bucket/scans/0001.PNG" })).toBe("image")
  })
})

describe("classify: lengths read where the format tells them", () => {
  it("a WAV's seconds come from its header", () => {
    const media = Media.classify({ url: dataUrl("audio/wav", wav(2.5)) })
    expect(media.kind).toBe("audio")
    expect(media.seconds).toBeCloseTo(2.5, 6)
  })

  it("an MP4's seconds come from its movie header, in either version", () => {
    expect(Media.classify({ url: dataUrl("video/mp4", mp4(12.5)) }).seconds).toBeCloseTo(12.5, 6)
    const v1 = mp4(0)
    v1[16 + 8 + 8] = 1 // version 1: 64-bit times, the scale at +24 and the duration at +28 of the box's type
    const at = v1.indexOf("mvhd", 0, "latin1")
    const long = Buffer.concat([v1, Buffer.alloc(16)])
    long.writeUInt32BE(600, at + 24)
    long.writeBigUInt64BE(600n * 90n, at + 28)
    expect(Media.movieSeconds(long)).toBe(90)
  })

  it("a PDF's pages are its page objects, those in a compressed object stream counted too", () => {
    expect(Media.classify({ url: dataUrl("application/pdf", pdf(3)) }).pages).toBe(3)
    expect(Media.classify({ url: dataUrl("application/pdf", pdf(2, 5)) }).pages).toBe(7)
    // Not a PDF it can read: the most pages Gemini reads.
    expect(Media.classify({ url: dataUrl("application/pdf", Buffer.from("garbage")) }).pages).toBe(Media.mostPdfPages)
  })

  it("audio or video without a header it reads is bounded from its size at the lowest bit rate", () => {
    const bytes = Buffer.alloc(75_000, 7)
    expect(Media.classify({ url: dataUrl("audio/mp3", bytes) }).seconds).toBe(100)
    expect(Media.classify({ url: dataUrl("video/webm", bytes) }).seconds).toBe(100)
  })

  it("a medium by URL has no length", () => {
    const media = Media.classify({ url: "https://www.youtube.com/watch?v=9hE5-98ZeCg" })
    expect(media).toStrictEqual({ kind: "video", mediaType: "video/*", inline: false })
  })

  it("every PDF's pages are counted, open or compressed; every MP4's seconds read, at any time scale", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }), (open, hidden) => {
        expect(Media.pdfPages(pdf(open, hidden))).toBe(open + hidden === 0 ? undefined : open + hidden)
      }),
      { numRuns: 60 }
    )
    fc.assert(fc.property(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 3_600 }), (scale, s) => {
      expect(Media.movieSeconds(mp4(s, scale))).toBeCloseTo(s, 6)
    }))
  })

  it("a WAV's header never claims more than the bytes it holds", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 4 }).chain((seconds) =>
        fc.tuple(fc.constant(seconds), fc.integer({ min: 0, max: 99 }))
      ),
      fc.constantFrom(8_000, 16_000, 44_100),
      fc.constantFrom(1, 2),
      ([seconds, cut], rate, channels) => {
        const whole = wav(seconds, rate, channels)
        const kept = whole.subarray(0, 44 + Math.floor((whole.length - 44) * cut / 100))
        const read = Media.wavSeconds(kept)!
        expect(read).toBeLessThanOrEqual(seconds + 1e-9)
        expect(read).toBeCloseTo((kept.length - 44) / (rate * channels * 2), 9)
      }
    ))
  })
})

describe("Pricing.estimate counts each part by what it is", () => {
  // An API that reads a part by URL only as the image or PDF its field says.
  const price: Pricing.Price = { ...Pricing.fromPerMtok({ input_per_mtok: 1, output_per_mtok: 1 }), mediaUrls: "typed" }
  const base = Pricing.estimate(price, { messages: [{ role: "user", content: [{ type: "text", text: "" }] }] })
  const reserved = (url: string, mediaType?: string, at: Pricing.Price = price) =>
    Math.round(
      (Pricing.estimate(at, {
        messages: [{
          role: "user",
          content: [{ type: "text", text: "" }, { type: "image", url, ...(mediaType ? { mediaType } : {}) }]
        }]
      }) - base) * 1_000_000
    )

  it("an image at imageTokens, audio and video by their seconds, a PDF by its pages", () => {
    expect(reserved("https://example.com/cat.png")).toBe(Pricing.defaultImageTokens)
    expect(reserved(dataUrl("audio/wav", wav(10)))).toBe(10 * 32)
    expect(reserved(dataUrl("video/mp4", mp4(30)))).toBe(30 * 263)
    expect(reserved(dataUrl("application/pdf", pdf(4)))).toBe(4 * 258)
    expect(reserved("https://example.com/paper.pdf")).toBe(Media.mostPdfPages * 258)
    expect(reserved("data:text/plain,hello%20world")).toBe(11)
  })

  it("a part by URL whose size cannot be known has no bound, unless the price gives a context window", () => {
    const youtube = "https://www.youtube.com/watch?v=9hE5-98ZeCg"
    expect(reserved(youtube)).toBe(Infinity)
    expect(Pricing.unboundedPart(price, {
      messages: [{ role: "user", content: [{ type: "text", text: "" }, { type: "image", url: youtube }] }]
    })).toStrictEqual({ at: "messages[0].content[1]", what: "a video by URL" })
    // The prompt is then the context window, whatever else it holds.
    const windowed: Pricing.Price = { ...price, contextWindow: 200_000 }
    expect(reserved(youtube, undefined, windowed)).toBe(200_000 - base * 1_000_000)
    expect(reserved("https://example.com/talk.mp3", undefined, windowed)).toBe(200_000 - base * 1_000_000)
    // Where URLs are fetched, an image or a PDF by URL has no size either: a price that does not say is such.
    const fetched: Pricing.Price = { ...windowed, mediaUrls: "fetched" }
    expect(reserved("https://example.com/cat.png", undefined, fetched)).toBe(200_000 - base * 1_000_000)
    expect(reserved(youtube, "image/png", fetched)).toBe(200_000 - base * 1_000_000)
    expect(
      reserved("https://example.com/cat.png", undefined, Pricing.fromPerMtok({ input_per_mtok: 1, output_per_mtok: 1 }))
    )
      .toBe(Infinity)
  })

  it.effect("a library budget refuses a medium of no bound, whatever its limit, and keeps nothing for it", () =>
    Effect.gen(function*() {
      const budget = yield* budgetInMemory({ limits: [{ scope: "overall", limit: 1_000, period: "1 hour" }] })
      const request = {
        messages: [{
          role: "user" as const,
          content: [{ type: "image" as const, url: "https://youtu.be/9hE5-98ZeCg" }]
        }]
      }
      const error = yield* Effect.flip(budget.check({ estimate: Pricing.estimate(price, request) }))
      expect(error._tag).toBe("BudgetExceededError")
      const [status] = yield* budget.status
      expect([status?.spent, status?.reserved]).toStrictEqual([0, 0])
    }))

  it("a tool result's parts are reserved as a user message's, by what they are, and their breakpoints priced", () => {
    const parts: ReadonlyArray<ContentPart> = [
      { type: "text", text: "The report:" },
      { type: "image", url: dataUrl("application/pdf", pdf(7)) },
      { type: "image", url: "https://example.com/chart.png" }
    ]
    const asUser = Pricing.estimate(price, { messages: [{ role: "user", content: parts }] })
    const asTool = Pricing.estimate(price, { messages: [{ role: "tool", toolCallId: "t1", content: parts }] })
    const asText = Pricing.estimate(price, { messages: [{ role: "tool", toolCallId: "t1", content: "The report:" }] })
    expect(Math.round((asTool - asText) * 1_000_000)).toBe(7 * 258 + Pricing.defaultImageTokens)
    expect(Math.abs(asTool - asUser)).toBeLessThan(0.00001)
    const youtube: ContentPart = { type: "image", url: "https://youtu.be/9hE5-98ZeCg" }
    expect(Pricing.unboundedPart(price, { messages: [{ role: "tool", toolCallId: "t1", content: [youtube] }] }))
      .toStrictEqual({ at: "messages[0].content[0]", what: "a video by URL" })
    const cached = Pricing.fromPerMtok({ input_per_mtok: 1, output_per_mtok: 1, cache_write_1h_per_mtok: 2 })
    const breakpoint: ContentPart = { type: "text", text: "x", cache: { ttl: "1h" } }
    expect(Pricing.estimate(cached, { messages: [{ role: "tool", toolCallId: "t1", content: [breakpoint] }] }))
      .toBeGreaterThan(Pricing.estimate(cached, { messages: [{ role: "tool", toolCallId: "t1", content: "x" }] }) * 1.5)
  })

  it("any inline audio is reserved at no less than its length at its rate", () => {
    fc.assert(
      fc.property(fc.double({ min: 0.1, max: 30, noNaN: true }), (seconds) => {
        const tokens = reserved(dataUrl("audio/wav", wav(seconds)))
        expect(tokens).toBeGreaterThanOrEqual(Math.floor(seconds * 32))
      }),
      { numRuns: 50 }
    )
  })
})

// A Chat Completions body's options, for the writers' tables.
const chatOptions: OpenAiChat.BodyOptions = {
  model: "m",
  stream: false,
  includeUsage: true,
  maxTokensField: "max_tokens",
  promptCacheKey: false,
  serviceTier: false,
  prefill: false
}

describe("a deployment that reads images only refuses any other medium by its path", () => {
  const request = (part: ImagePart) => ({
    messages: [{ role: "user" as const, content: [{ type: "text" as const, text: "What is this?" }, part] }]
  })
  const writers: ReadonlyArray<readonly [string, (part: ImagePart) => unknown, string?]> = [
    ["the Chat Completions API", (part) => OpenAiChat.requestBody(request(part), chatOptions), "images and PDFs"],
    [
      "the Responses API",
      (part) => OpenAiResponses.requestBody(request(part), { model: "m", stream: false, store: false }),
      "images and PDFs"
    ],
    [
      "the Messages API",
      (part) =>
        Anthropic.requestBody(request(part), { model: "m", stream: false, maxTokens: 16, systemInPlace: false }),
      "images and PDFs"
    ],
    [
      "Ollama's chat API",
      (part) =>
        Ollama.requestBody(request(part), { model: "m", stream: false, keepAlive: undefined, numCtx: undefined })
    ]
  ]

  it("audio, video, a PDF (but by the Messages API), a document or a file of no type is refused; an image is written", () => {
    const refused: ReadonlyArray<readonly [ImagePart, string]> = [
      [{ type: "image", url: dataUrl("audio/wav", wav(1)) }, "is audio (audio/wav)"],
      [{ type: "image", url: "https://www.youtube.com/watch?v=9hE5-98ZeCg" }, "is a video:"],
      [{ type: "image", url: dataUrl("application/pdf", pdf(1)) }, "is a pdf (application/pdf)"],
      [{ type: "image", url: "data:text/plain,hi" }, "is a document (text/plain)"],
      [
        { type: "image", url: "https://generativelanguage.googleapis.com/v1beta/files/abc" },
        "is a file of no stated type"
      ]
    ]
    for (const [api, write, reads = "images"] of writers) {
      for (const [part, what] of refused) {
        if (reads.includes("PDFs") && what.includes("pdf")) {
          expect(() => write(part)).not.toThrow()
          continue
        }
        let thrown: unknown
        try {
          write(part)
        } catch (error) {
          thrown = error
        }
        expect(thrown).toBeInstanceOf(RequestError)
        expect((thrown as RequestError).param).toBe("messages[0].content[1]")
        expect((thrown as RequestError).detail).toContain(`messages[0].content[1] ${what}`)
        expect((thrown as RequestError).detail).toContain(`${api} takes ${reads} only`)
      }
      expect(() => write({ type: "image", url: "data:image/png;base64,iVBORw0KGgo=" })).not.toThrow()
    }
  })
})

describe("a tool result's media part is carried where its API takes it there, else refused by its path", () => {
  const request = (part: ContentPart): { messages: ReadonlyArray<Message> } => ({
    messages: [
      { role: "user", content: "Fetch it." },
      { role: "assistant", content: "", toolCalls: [{ id: "t1", name: "fetch", arguments: "{}" }] },
      { role: "tool", toolCallId: "t1", name: "fetch", content: [{ type: "text", text: "Here:" }, part] }
    ]
  })
  const png: ContentPart = { type: "image", url: "data:image/png;base64,iVBORw0KGgo=" }
  const document: ContentPart = { type: "image", url: dataUrl("application/pdf", pdf(1)) }
  // Each writer, and the media it writes in a tool result (the others refused).
  const writers: ReadonlyArray<readonly [string, (part: ContentPart) => unknown, ReadonlyArray<ContentPart>]> = [
    [
      "the Messages API",
      (part) =>
        Anthropic.requestBody(request(part), { model: "m", stream: false, maxTokens: 16, systemInPlace: false }),
      [
        png,
        document
      ]
    ],
    [
      "the Responses API",
      (part) => OpenAiResponses.requestBody(request(part), { model: "m", stream: false, store: false }),
      [
        png,
        document
      ]
    ],
    ["Bedrock's Converse API", (part) => Bedrock.requestBody(request(part)), [png, document]],
    // In the user message after the tool message, which takes text only.
    ["the Chat Completions API", (part) => OpenAiChat.requestBody(request(part), chatOptions), [png, document]],
    ["Gemini's functionResponse", (part) => Gemini.requestBody(request(part)), [png, document]],
    [
      "Ollama's API",
      (part) =>
        Ollama.requestBody(request(part), { model: "m", stream: false, keepAlive: undefined, numCtx: undefined }),
      []
    ]
  ]

  it("an image and a PDF: written by the APIs that take them in a tool result, refused by the others", () => {
    for (const [api, write, takes] of writers) {
      for (const part of [png, document]) {
        let thrown: unknown
        let body: unknown
        try {
          body = write(part)
        } catch (error) {
          thrown = error
        }
        if (takes.includes(part)) {
          expect(thrown, api).toBeUndefined()
          // The part's bytes are in the body, not dropped.
          expect(JSON.stringify(body), api).toContain(part.type === "image" ? part.url.split(",")[1]! : "")
          continue
        }
        expect(thrown, api).toBeInstanceOf(RequestError)
        expect((thrown as RequestError).param, api).toMatch(/^messages\[2\]\.content\[1\]/)
        expect((thrown as RequestError).detail, api).toContain("messages[2].content[1]")
      }
    }
  })

  it("a text-only API names itself and what the part is", () => {
    for (const [api, write, takes] of writers) {
      if (takes.length > 0) continue
      let thrown: unknown
      try {
        write(document)
      } catch (error) {
        thrown = error
      }
      expect((thrown as RequestError).detail).toBe(
        `messages[2].content[1] is a pdf (application/pdf): ${api} takes only text in a tool result; send it to a ` +
          "deployment that reads media there (an Anthropic one)"
      )
    }
  })
})
