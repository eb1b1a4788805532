/**
 * Gemini CLI's images and PDFs through `serve` (`gemini -p` headless, a file named with `@` in the prompt), with its
 * model behind a deployment of each backend API: Gemini CLI reads the file and sends it in the prompt's user turn as an
 * `inlineData` part; `serve` sends it on in the backend's shape, its bytes intact; the simulated model counts it in the
 * prompt's tokens (an image by its dimensions under its API's rule, a PDF by its pages), as the backend's usage tells
 * `serve`: the call with the file costs at least its tokens more than the same prompt without it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { agentAgainstServe, geminiCliEnv } from "../utils/agentAgainstServe.js"
import { chart, expectDelivered, type Medium, report, userTurnShapes } from "../utils/agentMedia.js"
import { backends } from "../utils/agentSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"

const agentKey = "gw-gemini-cli-media-agent-0001"
const model = "gemini-2.5-flash"

const image: Medium = {
  ...chart,
  title: "gemini -p sends a PNG named with @, whose bytes reach the backend and count in the prompt",
  shape: userTurnShapes.image
}

const document: Medium = {
  ...report,
  title: "gemini -p sends a PDF named with @, whose bytes reach the backend and count in the prompt",
  shape: userTurnShapes.pdf
}

/** The `inlineData` parts of the user turns of a `generateContent` request Gemini CLI sent. */
function inlineData(body: string): ReadonlyArray<{ readonly mimeType: string; readonly data: string }> {
  const request = JSON.parse(body) as {
    readonly contents: ReadonlyArray<{
      readonly role: string
      readonly parts: ReadonlyArray<{ readonly inlineData?: { readonly mimeType: string; readonly data: string } }>
    }>
  }
  return request.contents.filter((content) => content.role === "user")
    .flatMap((content) => content.parts.flatMap((part) => part.inlineData === undefined ? [] : [part.inlineData]))
}

describe.concurrent("Gemini CLI's images and PDFs through serve, over each backend", () => {
  for (const backend of backends) {
    for (const medium of [image, document]) {
      it.live(
        `${backend}: ${medium.title}`,
        (ctx) =>
          Effect.gen(function*() {
            const gemini = yield* geminiCli.pipe(orSkip(ctx))
            const { dir, home, models, serving, upstream, work } = yield* agentAgainstServe({
              label: "gemini-cli-media",
              backend,
              model,
              agentKey,
              modelRoutes: "/v1beta/models/",
              scenario: { turns: [{ when: { contains: "What is in" }, text: `Seen.` }] }
            })
            writeGeminiSettings(home, { name: model })
            fs.writeFileSync(path.join(work, medium.name), medium.bytes)
            const ask = (prompt: string) =>
              spawnProcess(process.execPath, [gemini, "--skip-trust", "-p", prompt], {
                cwd: work,
                env: geminiCliEnv({ home, dir, url: models.url, agentKey }),
                timeoutMs: 150_000
              })
            // The same question without the file, then with it.
            const plain = yield* ask("What is in it?")
            const run = yield* ask(`What is in @${medium.name}?`)
            const failure = `gemini's stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nserve:\n${serving.stderr()}`
            expect([plain.code, run.code], failure).toEqual([0, 0])
            expect(run.stdout.trim(), failure).toBe("Seen.")

            // Gemini CLI sent the file as it is, in the prompt's turn (of its countTokens call too).
            const sent = models.bodies.flatMap(inlineData)
            expect(new Set(sent.map(({ data, mimeType }) => `${mimeType} ${data}`)), failure)
              .toEqual(new Set([`${medium.mediaType} ${medium.bytes.toString("base64")}`]))
            const base64 = sent[0]!.data
            // Its bytes reached the backend whole, where the backend's API carries them, and were counted in the
            // prompt's tokens of the call that sent them, as the backend reported them to serve.
            yield* expectDelivered({
              upstream: upstream.bodies,
              serving,
              backend,
              medium,
              base64,
              before: 1,
              calls: 2,
              failure
            })
          }).pipe(Effect.scoped),
        400_000
      )
    }
  }
})
