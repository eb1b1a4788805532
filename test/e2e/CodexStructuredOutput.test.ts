/**
 * Structured output through `serve` as Codex asks for it headless (`codex exec --output-schema`: a JSON schema its
 * final answer must fit, sent as the Responses API's `text.format` beside its tools), with its model behind a
 * deployment of each backend API, which takes a schema beside tools: Chat Completions and Responses (`response_format`,
 * `text.format`), Anthropic (`output_config.format`), Bedrock (`outputConfig.textFormat`), each to a Claude model that
 * takes it, and Gemini (`responseJsonSchema`). The answer Codex prints is JSON that fits the schema.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { agentAgainstServe } from "../utils/agentAgainstServe.js"
import { codexEnv } from "../utils/agentRuns.js"
import { type Backend, backends } from "../utils/agentSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { providerLines } from "../utils/codexConfig.js"
import { codexBin } from "../utils/pinnedCli.js"

const agentKey = "gw-structured-agent-0001"

// The answer's shape: a city and its population, nothing else.
const jsonSchema = {
  type: "object",
  properties: { city: { type: "string" }, population: { type: "integer" } },
  required: ["city", "population"],
  additionalProperties: false
}
const Answer = Schema.Struct({ city: Schema.String, population: Schema.Int })

// Anthropic's and Bedrock's structured outputs are a Claude model's (Opus 4.1, the 4.5 models and later).
const models: Record<Backend, string> = {
  "chat-completions": "gpt-4o-mini",
  "responses": "gpt-4o-mini",
  "anthropic": "claude-sonnet-4-5",
  "gemini": "gpt-4o-mini",
  "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
}

describe.concurrent("Codex's structured output through serve, over each backend", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: codex exec --output-schema prints an answer that fits the schema`,
      () =>
        Effect.gen(function*() {
          const model = models[backend]
          const { dir, home, url, work } = yield* agentAgainstServe({
            label: "codex-structured",
            backend,
            model,
            agentKey,
            modelRoutes: "/v1/responses"
          })
          fs.writeFileSync(
            path.join(home, "config.toml"),
            [`model = "${model}"`, ...providerLines({ baseUrl: `${url}/v1`, envKey: "GATEWAY_KEY" }), ""].join("\n")
          )
          const schemaFile = path.join(dir, "schema.json")
          fs.writeFileSync(schemaFile, JSON.stringify(jsonSchema))
          const codex = yield* spawnProcess(
            process.execPath,
            [
              codexBin,
              "exec",
              "--skip-git-repo-check",
              "--output-schema",
              schemaFile,
              "Name a city and its population."
            ],
            {
              cwd: work,
              env: codexEnv(home, agentKey),
              timeoutMs: 150_000
            }
          )
          expect(codex.code, `codex exec's stderr:\n${codex.stderr}`).toBe(0)
          const answer = JSON.parse(codex.stdout.trim())
          expect(Schema.is(Answer)(answer), codex.stdout).toBe(true)
          expect(Object.keys(answer).sort()).toEqual(["city", "population"])
        }).pipe(Effect.scoped),
      200_000
    )
  }
})
