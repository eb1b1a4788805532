/**
 * Claude Code's images and PDFs through `serve` (`claude -p`, headless), with its model behind a deployment of each
 * backend API: the scripted model asks Claude Code's Read tool for a PNG, or a PDF, in the workspace; Claude Code
 * answers with the file as an image, or a document, block in its tool result; `serve` sends it on in the backend's
 * shape, its bytes intact; the simulated model counts it in the prompt's tokens (an image by its dimensions under its
 * API's rule, a PDF by its pages), as the backend's usage tells `serve`. Chat Completions' tool messages take text
 * only: there the media follow in a user message.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { agentAgainstServe, claudeCodeEnv } from "../utils/agentAgainstServe.js"
import { chart, expectDelivered, type Medium, report } from "../utils/agentMedia.js"
import { backends } from "../utils/agentSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"

const agentKey = "gw-claude-media-agent-0001"
const model = "claude-sonnet-4-5"

/** Where each backend's API carries a medium of Claude Code's tool result. */
const image: Medium = {
  ...chart,
  title: "claude -p reads a PNG, whose bytes reach the backend and count in the prompt",
  shape: {
    "anthropic": /^messages\.\d+\.content\.\d+\.content\.\d+\.source\.data$/,
    "bedrock": /^messages\.\d+\.content\.\d+\.toolResult\.content\.\d+\.image\.source\.bytes$/,
    "gemini": /^contents\.\d+\.parts\.\d+\.(functionResponse\.parts\.\d+\.)?inlineData\.data$/,
    "responses": /^input\.\d+\.output\.\d+\.image_url$/,
    "chat-completions": /^messages\.\d+\.content\.\d+\.image_url\.url$/
  }
}

const document: Medium = {
  ...report,
  title: "claude -p reads a PDF, whose bytes reach the backend and count in the prompt",
  shape: {
    "anthropic": /^messages\.\d+\.content\.\d+\.content\.\d+\.source\.data$/,
    "bedrock": /^messages\.\d+\.content\.\d+\.toolResult\.content\.\d+\.document\.source\.bytes$/,
    "gemini": /^contents\.\d+\.parts\.\d+\.(functionResponse\.parts\.\d+\.)?inlineData\.data$/,
    "responses": /^input\.\d+\.output\.\d+\.file_data$/,
    "chat-completions": /^messages\.\d+\.content\.\d+\.file\.file_data$/
  }
}

/** The base64 source of the image or document blocks in the tool results of a Messages request Claude Code sent. */
function toolResultMedia(body: string): ReadonlyArray<{ readonly media_type: string; readonly data: string }> {
  const request = JSON.parse(body) as {
    readonly messages: ReadonlyArray<{ readonly content: string | ReadonlyArray<{ readonly content?: unknown }> }>
  }
  return request.messages.flatMap((message) => typeof message.content === "string" ? [] : message.content)
    .flatMap((block) => Array.isArray(block.content) ? block.content : [])
    .flatMap((
      inner: { readonly source?: { readonly type: string; readonly media_type: string; readonly data: string } }
    ) => inner.source?.type === "base64" ? [inner.source] : [])
}

describe.concurrent("Claude Code's images and PDFs through serve, over each backend", () => {
  for (const backend of backends) {
    for (const medium of [image, document]) {
      it.live(
        `${backend}: ${medium.title}`,
        (ctx) =>
          Effect.gen(function*() {
            const claude = yield* claudeCode.pipe(orSkip(ctx))
            const { dir, home, models, serving, upstream, work } = yield* agentAgainstServe({
              label: "claude-media",
              backend,
              model,
              agentKey,
              modelRoutes: "/v1/messages",
              scenario: (work) => ({
                turns: [
                  {
                    when: { contains: `Look at ${medium.name}` },
                    toolCalls: [{ name: "Read", arguments: { file_path: path.join(work, medium.name) } }]
                  },
                  { text: `Seen: ${medium.name}.` }
                ]
              })
            })
            fs.writeFileSync(path.join(work, medium.name), medium.bytes)
            const run = yield* spawnProcess(
              process.execPath,
              [
                claude,
                "-p",
                `Look at ${medium.name} and say what it is.`,
                "--model",
                model,
                "--output-format",
                "json"
              ],
              { cwd: work, env: claudeCodeEnv({ home, dir, url: models.url, agentKey, model }), timeoutMs: 150_000 }
            )
            const failure = `claude's stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nserve:\n${serving.stderr()}`
            expect(run.code, failure).toBe(0)
            expect((JSON.parse(run.stdout) as { readonly result?: string }).result, failure).toBe(
              `Seen: ${medium.name}.`
            )

            // Claude Code sent the file as it is, in its tool result.
            const sent = models.bodies.flatMap(toolResultMedia)
            expect(sent.map(({ data, media_type }) => ({ media_type, data })), failure)
              .toEqual([{ media_type: medium.mediaType, data: medium.bytes.toString("base64") }])
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
        200_000
      )
    }
  }
})
