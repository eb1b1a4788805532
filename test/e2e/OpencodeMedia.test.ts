/**
 * opencode's images and PDFs through `serve` (`opencode run --file`, headless, over the Chat Completions API), with
 * its model behind a deployment of each backend API: opencode attaches the file to the prompt's user message (an
 * `image_url` data URL, a PDF a `file` part: its model declared to take both); `serve` sends it on in the backend's
 * shape, its bytes intact; the simulated model counts it in the prompt's tokens (an image by its dimensions under its
 * API's rule, a PDF by its pages), as the backend's usage tells `serve`: the call with the file costs at least its
 * tokens more than the same prompt without it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { agentAgainstServe } from "../utils/agentAgainstServe.js"
import {
  chart,
  expectCarried,
  expectDelivered,
  type Medium,
  promptTokensLogged,
  report,
  userTurnShapes
} from "../utils/agentMedia.js"
import { backends } from "../utils/agentSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { opencodeConfigured } from "../utils/opencodeConfig.js"
import { opencode, orSkip } from "../utils/pinnedCli.js"

const agentKey = "gw-opencode-media-agent-0001"
const model = "gpt-4o-mini"

/** A file attached to the prompt, and where opencode sends it. */
interface Attached extends Medium {
  readonly sent: RegExp
}

const image: Attached = {
  ...chart,
  title: "opencode run --file sends a PNG, whose bytes reach the backend and count in the prompt",
  sent: userTurnShapes.image["chat-completions"],
  shape: userTurnShapes.image
}

const document: Attached = {
  ...report,
  title: "opencode run --file sends a PDF, whose bytes reach the backend and count in the prompt",
  sent: userTurnShapes.pdf["chat-completions"],
  shape: userTurnShapes.pdf
}

describe.concurrent("opencode's images and PDFs through serve, over each backend", () => {
  for (const backend of backends) {
    for (const medium of [image, document]) {
      it.live(
        `${backend}: ${medium.title}`,
        (ctx) =>
          Effect.gen(function*() {
            const program = yield* opencode.pipe(orSkip(ctx))
            const { home, models, serving, upstream, work } = yield* agentAgainstServe({
              label: "opencode-media",
              backend,
              model,
              agentKey,
              modelRoutes: "/v1/chat/completions",
              scenario: { turns: [{ when: { contains: "What is in" }, text: "Seen." }] }
            })
            const env = opencodeConfigured({
              home,
              work,
              baseUrl: `${models.url}/v1`,
              model,
              key: agentKey,
              modelSettings: { attachment: true, modalities: { input: ["text", "image", "pdf"], output: ["text"] } }
            })
            const file = path.join(work, medium.name)
            fs.writeFileSync(file, medium.bytes)
            const ask = (args: ReadonlyArray<string>) =>
              spawnProcess(program, ["run", ...args], { cwd: work, env, timeoutMs: 150_000 })
            // The same question without the file, then with it; each run may ask for its session's title too (a run
            // that ends first does not), so the calls are counted as they reached serve.
            const plain = yield* ask(["What is in the file?"])
            const before = yield* promptTokensLogged(serving, models.bodies.length)
            const run = yield* ask(["What is in the file?", "--file", file])
            const failure = `opencode's stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nserve:\n${serving.stderr()}`
            expect([plain.code, run.code], failure).toEqual([0, 0])
            expect(run.stdout.trim(), failure).toContain("Seen.")

            // opencode sent the file as it is, in the prompt's message.
            const base64 = medium.bytes.toString("base64")
            expectCarried(models.bodies, base64, medium.sent, failure)
            // Its bytes reached the backend whole, where the backend's API carries them, and were counted in the
            // prompt's tokens of the call that sent them, as the backend reported them to serve.
            yield* expectDelivered({
              upstream: upstream.bodies,
              serving,
              backend,
              medium,
              base64,
              before: before.length,
              calls: models.bodies.length,
              failure
            })
          }).pipe(Effect.scoped),
        400_000
      )
    }
  }
})
