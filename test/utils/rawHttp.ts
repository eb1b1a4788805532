/**
 * A plain fetch client for the suites that check the simulator's wire formats independently of the
 * library's adapters.
 */
import * as Effect from "effect/Effect"

/** A reply: its status, headers and body text. */
export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

// POSTs `body` (as JSON, unless it is already a string) to `url` with a JSON content-type and `headers`.
function post(url: string, body: unknown, headers: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body)
  })
}

/** POSTs `body` (as JSON, unless it is already a string) to `url` with a JSON content-type and `headers`. */
export const postJson = (url: string, body: unknown, headers: Record<string, string> = {}): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await post(url, body, headers)
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

/** A streamed reply as it arrived: its status, content type, and the text of each read apart. */
export interface Reads {
  readonly status: number
  readonly contentType: string | null
  readonly texts: ReadonlyArray<string>
}

/** POSTs `body` as `postJson` does, and reads the reply's body read by read. */
export const postJsonReads = (url: string, body: unknown, headers: Record<string, string> = {}): Effect.Effect<Reads> =>
  Effect.promise(async () => {
    const response = await post(url, body, headers)
    const texts: Array<string> = []
    const decoder = new TextDecoder()
    const reader = response.body!.getReader()
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      texts.push(decoder.decode(read.value, { stream: true }))
    }
    return { status: response.status, contentType: response.headers.get("content-type"), texts }
  })
