/**
 * Spellings of a media part's URL and the wire parts that carry one, for the suites of what a budget reserves for a
 * part by URL: a host of a video site or not, in any case, under any subdomain, with a trailing dot, a port, userinfo,
 * a percent-encoded letter or its full-width (IDN) form; a path that looks like a page, an image, a video or a PDF; and
 * a declared type, which a client claims and no provider reads for a URL it fetches.
 */
import * as fc from "fast-check"

/** One URL's spelling, each of its parts drawn apart. */
export interface Spelling {
  readonly scheme: string
  readonly userinfo: string
  readonly subdomain: string
  readonly host: string
  /** Which of the host's letters are upper case, by index. */
  readonly upper: ReadonlyArray<boolean>
  readonly trailingDot: boolean
  readonly port: string
  /** The index of a host letter written as `%xx`, if one is. */
  readonly encoded: number | undefined
  /** The host in full-width letters, which URL parsing maps back to ASCII. */
  readonly fullWidth: boolean
  readonly path: string
}

/** Hosts of video sites as Gemini reads them, and hosts of anything else (an IDN one in Unicode and in Punycode). */
export const hosts = [
  "youtube.com",
  "youtu.be",
  "youtube-nocookie.com",
  "googlevideo.com",
  "example.com",
  "cdn.example.test",
  "storage.googleapis.com",
  "vidéo.example",
  "xn--vido-bpa.example"
] as const

/** Paths of a page, an image, a video, audio, a PDF, a file of no extension. */
export const paths = [
  "/watch?v=9hE5-98ZeCg",
  "/embed/9hE5-98ZeCg",
  "/video",
  "/cat.png",
  "/WATCH.PNG?v=9hE5-98ZeCg",
  "/clip.mp4",
  "/talk.mp3",
  "/report.pdf",
  "/"
] as const

/** Types a client may declare for a part by URL (a Gemini `fileData`'s `mimeType`), none among them. */
export const declaredTypes = fc.option(
  fc.constantFrom(
    "image/png",
    "IMAGE/PNG",
    "image/*",
    "video/mp4",
    "audio/wav",
    "application/pdf",
    "text/plain",
    "application/octet-stream"
  ),
  { nil: undefined }
)

export const spelling: fc.Arbitrary<Spelling> = fc.record({
  scheme: fc.constantFrom("https", "http", "HTTPS", "Https"),
  userinfo: fc.constantFrom("", "user@", "user:secret@", "%75ser@"),
  subdomain: fc.constantFrom("", "www.", "m.", "music.", "WWW.", "a.b."),
  host: fc.constantFrom(...hosts),
  upper: fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }),
  trailingDot: fc.boolean(),
  port: fc.constantFrom("", ":443", ":80", ":8443"),
  encoded: fc.option(fc.nat({ max: 31 }), { nil: undefined }),
  fullWidth: fc.boolean(),
  path: fc.constantFrom(...paths)
})

// A letter as its full-width form (U+FF01 to U+FF5E), which IDNA maps back to the ASCII one.
const fullWidthOf = (char: string): string =>
  /[!-~]/.test(char) ? String.fromCodePoint(char.codePointAt(0)! - 0x21 + 0xff01) : char

/** A spelling written out: `https://user@WWW.YouTube.com.:443/watch?v=...`. */
export function urlOf(spelled: Spelling): string {
  const name = `${spelled.subdomain}${spelled.host}`
  const host = [...name].map((char, i) => {
    if (char === ".") return char
    if (spelled.encoded === i) return `%${char.charCodeAt(0).toString(16)}`
    const cased = spelled.upper[i] === true ? char.toUpperCase() : char
    return spelled.fullWidth ? fullWidthOf(cased) : cased
  }).join("")
  const dot = spelled.trailingDot ? "." : ""
  return `${spelled.scheme}://${spelled.userinfo}${host}${dot}${spelled.port}${spelled.path}`
}

/** A URL of any spelling. */
export const spelledUrl: fc.Arbitrary<string> = spelling.map(urlOf)

/**
 * Named spellings of a video by URL, each as a Gemini `fileData` carries it: YouTube's own hosts, its cookie-less and
 * music hosts, a trailing dot, the canonical URL declared an image, and a web URL of no type.
 */
export const namedForms: ReadonlyArray<{ readonly fileUri: string; readonly mimeType?: string }> = [
  { fileUri: "https://www.youtube.com/watch?v=9hE5-98ZeCg" },
  { fileUri: "https://youtu.be/9hE5-98ZeCg" },
  { fileUri: "https://www.youtube-nocookie.com/embed/9hE5-98ZeCg" },
  { fileUri: "https://music.youtube.com/watch?v=9hE5-98ZeCg" },
  { fileUri: "https://www.youtube.com./watch?v=9hE5-98ZeCg" },
  { fileUri: "https://www.youtube.com/watch?v=9hE5-98ZeCg", mimeType: "image/png" },
  { fileUri: "https://example.com/video" }
]
