/**
 * What the agents' media tests share: the files an agent sends its model (a PNG and a PDF), where each backend's API
 * carries such bytes in a request `serve` sent it (found by their base64, raw or in a data URL), the tokens the
 * simulator counts for them under the backend's image rule, and the prompt tokens of each call in `serve`'s log.
 */
import { expect } from "@effect/vitest"
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

/** A file an agent's test sends, its title (after the backend's name), and where each backend's API carries it. */
export interface Medium extends MediaFile {
  readonly title: string
  readonly shape: Record<Backend, RegExp>
}

/**
 * Where each backend's API carries an image, and a PDF, of a user's turn (in Gemini's and Bedrock's token counts too,
 * to which `serve` passes a client's count).
 */
export const userTurnShapes: Record<"image" | "pdf", Record<Backend, RegExp>> = {
  image: {
    "anthropic": /^messages\.\d+\.content\.\d+\.source\.data$/,
    "bedrock": /^(input\.converse\.)?messages\.\d+\.content\.\d+\.image\.source\.bytes$/,
    "gemini": /^(generateContentRequest\.)?contents\.\d+\.parts\.\d+\.inlineData\.data$/,
    "responses": /^input\.\d+\.content\.\d+\.image_url$/,
    "chat-completions": /^messages\.\d+\.content\.\d+\.image_url\.url$/
  },
  pdf: {
    "anthropic": /^messages\.\d+\.content\.\d+\.source\.data$/,
    "bedrock": /^(input\.converse\.)?messages\.\d+\.content\.\d+\.document\.source\.bytes$/,
    "gemini": /^(generateContentRequest\.)?contents\.\d+\.parts\.\d+\.inlineData\.data$/,
    "responses": /^input\.\d+\.content\.\d+\.file_data$/,
    "chat-completions": /^messages\.\d+\.content\.\d+\.file\.file_data$/
  }
}

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

/** The paths, in the request bodies `bodies` (JSON), of the strings that hold `base64`. */
export const carriedAt = (bodies: ReadonlyArray<string>, base64: string): ReadonlyArray<string> =>
  bodies.flatMap((body) => pathsHolding(JSON.parse(body), base64))

/** Asserts `bodies` hold `base64` whole, each time at a path `shape` matches (`failure` says what happened). */
export function expectCarried(bodies: ReadonlyArray<string>, base64: string, shape: RegExp, failure: string): void {
  const carried = carriedAt(bodies, base64)
  expect(carried.length, failure).toBeGreaterThan(0)
  for (const at of carried) expect(at, failure).toMatch(shape)
}

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

/**
 * Asserts the largest prompt of the model calls after the first `before` (of `calls` that `serving` logs) is larger
 * than the largest of those first ones by at least the tokens of `base64` bytes of `mediaType` on `backend`: the
 * backend counted the medium those later calls sent.
 */
const expectCounted = Effect.fn("expectCounted")(function*(options: {
  readonly serving: Running
  readonly before: number
  readonly calls: number
  readonly backend: Backend
  readonly mediaType: string
  readonly base64: string
  readonly failure: string
}) {
  const prompts = yield* promptTokensLogged(options.serving, options.calls)
  expect(Math.max(...prompts.slice(options.before)) - Math.max(...prompts.slice(0, options.before)), options.failure)
    .toBeGreaterThanOrEqual(mediaTokensOn(options.backend, options.mediaType, options.base64))
})

/**
 * Asserts `medium` (its bytes `base64`, as the agent sent them) reached `backend` whole where its API carries it, in
 * the request bodies `upstream`, and was counted in the prompts of the model calls after the first `before` of `calls`.
 */
export const expectDelivered = Effect.fn("expectDelivered")(function*(options: {
  readonly upstream: ReadonlyArray<string>
  readonly serving: Running
  readonly backend: Backend
  readonly medium: Medium
  readonly base64: string
  readonly before: number
  readonly calls: number
  readonly failure: string
}) {
  const { backend, base64, failure, medium } = options
  expectCarried(options.upstream, base64, medium.shape[backend], failure)
  yield* expectCounted({ ...options, mediaType: medium.mediaType })
})
