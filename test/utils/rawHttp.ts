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

/** POSTs `body` (as JSON, unless it is already a string) to `url` with a JSON content-type and `headers`. */
export const postJson = (url: string, body: unknown, headers: Record<string, string> = {}): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })
