/**
 * What the agents' media tests share: the files an agent sends its model (a PNG and a PDF), where each backend's API
 * carries such bytes in a request `serve` sent it (found by their base64, raw or in a data URL), the tokens the
 * simulator counts for them under the backend's image rule, and the prompt tokens of each call in `serve`'s log.
 */
import * as Effect from "effect/Effect"
import { mediaTokens } from "../../src/internal/simulator/decoded.js"
import * as Images from "../../src/internal/tokens/images.js"
import type { Backend } from "./agentSession.js"
import type { Running } from "./cliHarness.js"
import { eventually } from "./eventually.js"
import { pdf, wholePng } from "./media.js"

/** A file an agent sends its model. */
export interface MediaFile {
  readonly name: string
  readonly mediaType: string
  readonly bytes: Buffer
}

/** An image whose tokens, under every backend's rule, outweigh the text a tool result or a prompt adds around it. */
export const chart: MediaFile = { name: "chart.png", mediaType: "image/png", bytes: wholePng(1200, 900, 7) }

/** A PDF of three pages, 258 tokens each. */
export const report: MediaFile = { name: "report.pdf", mediaType: "application/pdf", bytes: pdf(3) }

const imageRule: Record<Backend, Images.Rule> = {
  "anthropic": Images.anthropic,
  "bedrock": Images.anthropic,
  "gemini": Images.gemini,
  "responses": Images.openAi,
  "chat-completions": Images.openAi
}

/** The prompt tokens the simulator counts for `base64` bytes of `mediaType` on `backend`. */
export const mediaTokensOn = (backend: Backend, mediaType: string, base64: string): number =>
  mediaTokens({ url: `data:${mediaType};base64,${base64}` }, imageRule[backend])

/** The paths (dot-joined) of the strings in `value` that hold `base64`, raw or in a data URL. */
export function pathsHolding(value: unknown, base64: string, at = ""): ReadonlyArray<string> {
  if (typeof value === "string") return value.includes(base64) ? [at] : []
  if (value === null || typeof value !== "object") return []
  return Object.entries(value).flatMap(([key, inner]) => pathsHolding(inner, base64, at === "" ? key : `${at}.${key}`))
}

/** The paths, in the request bodies `bodies` serve sent the backend, of the strings that hold `base64`. */
export const carriedAt = (bodies: ReadonlyArray<string>, base64: string): ReadonlyArray<string> =>
  bodies.flatMap((body) => pathsHolding(JSON.parse(body), base64))

/** The prompt tokens of each model call `serve` answered, in order, once its log has `calls` of them. */
export const promptTokensLogged = (serving: Running, calls: number) =>
  eventually(
    `serve's log lines of ${calls} calls`,
    Effect.sync(() =>
      serving.stderr().split("\n").filter((line) => line.startsWith("{"))
        .map((line) => (JSON.parse(line) as { readonly annotations: Record<string, unknown> }).annotations)
        .flatMap((line) =>
          line["status"] === 200 && typeof line["prompt_tokens"] === "number" ? [line["prompt_tokens"]] : []
        )
    ),
    (logged) => logged.length >= calls
  )
