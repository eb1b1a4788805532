/**
 * Claude Code's structured output through `serve` (`claude -p --json-schema`, headless, `--output-format json`), with
 * its model behind a deployment of each backend API: Claude Code offers its model a `StructuredOutput` tool whose input
 * schema is the one given; the scripted model calls it with an answer that fits, and Claude Code prints that answer as
 * the result's `structured_output`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { agentAgainstServe, claudeCodeEnv } from "../utils/agentAgainstServe.js"
import { backends } from "../utils/agentSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"

const agentKey = "gw-claude-structured-agent-0001"
const model = "claude-sonnet-4-5"

const jsonSchema = {
  type: "object",
  properties: { city: { type: "string" }, population: { type: "integer" } },
  required: ["city", "population"],
  additionalProperties: false
}
const answer = { city: "Lyon", population: 522250 }

describe.concurrent("Claude Code's structured output through serve, over each backend", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: claude -p --json-schema prints the answer its model gave its StructuredOutput tool`,
      (ctx) =>
        Effect.gen(function*() {
          const claude = yield* claudeCode.pipe(orSkip(ctx))
          const { dir, home, models, work } = yield* agentAgainstServe({
            label: "claude-structured",
            backend,
            model,
            agentKey,
            modelRoutes: "/v1/messages",
            scenario: {
              turns: [
                { when: { contains: "Name a city" }, toolCalls: [{ name: "StructuredOutput", arguments: answer }] },
                { text: "Done." }
              ]
            }
          })
          const run = yield* spawnProcess(
            process.execPath,
            [
              claude,
              "-p",
              "Name a city and its population.",
              "--model",
              model,
              "--output-format",
              "json",
              "--json-schema",
              JSON.stringify(jsonSchema)
            ],
            {
              cwd: work,
              env: claudeCodeEnv({ home, dir, url: models.url, agentKey, model }),
              timeoutMs: 150_000
            }
          )
          expect(run.code, `claude's stdout:\n${run.stdout}\nstderr:\n${run.stderr}`).toBe(0)
          const result = JSON.parse(run.stdout) as { readonly structured_output?: unknown; readonly is_error?: boolean }
          expect(result.is_error, run.stdout).toBe(false)
          expect(result.structured_output, run.stdout).toEqual(answer)
          // The tool Claude Code offered its model takes the schema given.
          const offered = JSON.parse(models.bodies[0]!) as {
            readonly tools: ReadonlyArray<{ readonly name: string; readonly input_schema: unknown }>
          }
          expect(offered.tools.find((tool) => tool.name === "StructuredOutput")?.input_schema)
            .toMatchObject({ properties: jsonSchema.properties, required: jsonSchema.required })
        }).pipe(Effect.scoped),
      200_000
    )
  }
})
