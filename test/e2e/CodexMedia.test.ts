/**
 * Codex's images through `serve` (`codex exec --image`, headless, over the Responses API), with its model behind a
 * deployment of each backend API: Codex sends the image in the prompt's user message as an `input_image` data URL;
 * `serve` sends it on in the backend's shape, its bytes intact; the simulated model counts it in the prompt's tokens
 * (by its dimensions under its API's rule), as the backend's usage tells `serve`: the call with the image costs at
 * least its tokens more than the same prompt without it. Codex sends no PDF (its binary writes no `input_file`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { agentAgainstServe } from "../utils/agentAgainstServe.js"
import { chart, expectDelivered, type Medium, userTurnShapes } from "../utils/agentMedia.js"
import { codexEnv } from "../utils/agentRuns.js"
import { backends } from "../utils/agentSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { providerLines } from "../utils/codexConfig.js"
import { codexBin } from "../utils/pinnedCli.js"

const agentKey = "gw-codex-media-agent-0001"
const model = "gpt-4o-mini"

const image: Medium = {
  ...chart,
  title: "codex exec --image sends a PNG, whose bytes reach the backend and count in the prompt",
  shape: userTurnShapes.image
}

/** The `input_image` URLs of the user messages of a Responses request Codex sent. */
function inputImages(body: string): ReadonlyArray<string> {
  const request = JSON.parse(body) as {
    readonly input: ReadonlyArray<{
      readonly role?: string
      readonly content?: ReadonlyArray<{ readonly type: string; readonly image_url?: string }>
    }>
  }
  return request.input.filter((item) => item.role === "user")
    .flatMap((item) => item.content ?? [])
    .flatMap((part) => part.type === "input_image" && part.image_url !== undefined ? [part.image_url] : [])
}

describe.concurrent("Codex's images through serve, over each backend", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: ${image.title}`,
      () =>
        Effect.gen(function*() {
          const { home, models, serving, upstream, work } = yield* agentAgainstServe({
            label: "codex-media",
            backend,
            model,
            agentKey,
            modelRoutes: "/v1/responses",
            scenario: { turns: [{ when: { contains: "What is in" }, text: "Seen." }] }
          })
          fs.writeFileSync(
            path.join(home, "config.toml"),
            [`model = "${model}"`, ...providerLines({ baseUrl: `${models.url}/v1`, envKey: "GATEWAY_KEY" }), ""]
              .join("\n")
          )
          const file = path.join(work, chart.name)
          fs.writeFileSync(file, chart.bytes)
          const ask = (args: ReadonlyArray<string>) =>
            spawnProcess(process.execPath, [codexBin, "exec", "--skip-git-repo-check", ...args], {
              cwd: work,
              env: codexEnv(home, agentKey),
              timeoutMs: 150_000
            })
          // The same question without the image, then with it.
          const plain = yield* ask(["What is in the picture?"])
          const run = yield* ask(["What is in the picture?", "--image", file])
          const failure = `codex's stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nserve:\n${serving.stderr()}`
          expect([plain.code, run.code], failure).toEqual([0, 0])
          expect(run.stdout.trim(), failure).toBe("Seen.")

          // Codex sent the file as it is, in the prompt's message.
          const sent = models.bodies.flatMap(inputImages)
          expect(sent, failure).toEqual([`data:${chart.mediaType};base64,${chart.bytes.toString("base64")}`])
          const base64 = chart.bytes.toString("base64")
          // Its bytes reached the backend whole, where the backend's API carries them, and were counted in the
          // prompt's tokens of the call that sent them, as the backend reported them to serve.
          yield* expectDelivered({
            upstream: upstream.bodies,
            serving,
            backend,
            medium: image,
            base64,
            before: 1,
            calls: 2,
            failure
          })
        }).pipe(Effect.scoped),
      400_000
    )
  }
})
