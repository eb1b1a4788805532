/**
 * opencode as the tests run it against `serve`: its `opencode.json` (its one provider the gateway's routes at `baseUrl`
 * through an AI SDK provider package, the key from `GATEWAY_KEY`; MCP servers where given) under a scratch `HOME`, and
 * the environment that keeps it there.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { agentEnv } from "./cliHarness.js"

export interface OpencodeSetup {
  readonly home: string
  readonly work: string
  readonly baseUrl: string
  /**
   * The AI SDK provider package opencode speaks to `baseUrl` through. Default `@ai-sdk/openai-compatible`: the
   * gateway's Chat Completions routes.
   */
  readonly npm?: "@ai-sdk/openai-compatible" | "@ai-sdk/anthropic"
  readonly model: string
  /** The model's own settings (its `limit`, its `options` for the provider package). */
  readonly modelSettings?: object
  /** The `mcp` section. Default: none. */
  readonly mcp?: object
  readonly key: string
  /**
   * Through opencode's built-in `openai` provider instead (`@ai-sdk/openai`: the Responses API at `baseUrl`, each call
   * with its session's id as `prompt_cache_key`), the key its stored login so that its own plugin loads; with
   * `webSocket`, that plugin's experimental WebSocket transport on (`OPENCODE_EXPERIMENTAL_WEBSOCKETS`): its streamed
   * calls go over a socket to `/v1/responses`. Default: a provider of the test's.
   */
  readonly openAi?: { readonly webSocket: boolean }
}

/** The provider section of opencode's config: its id, and its settings. */
function providerOf(setup: OpencodeSetup): readonly [string, object] {
  const models = { [setup.model]: setup.modelSettings ?? {} }
  if (setup.openAi !== undefined) {
    return ["openai", { npm: "@ai-sdk/openai", options: { baseURL: setup.baseUrl }, models }]
  }
  return ["gateway", {
    npm: setup.npm ?? "@ai-sdk/openai-compatible",
    options: { baseURL: setup.baseUrl, apiKey: "{env:GATEWAY_KEY}" },
    models
  }]
}

/** Writes the configuration and gives the environment opencode runs with. */
export function opencodeConfigured(setup: OpencodeSetup): Record<string, string> {
  const config = path.join(setup.home, ".config")
  const [id, settings] = providerOf(setup)
  fs.mkdirSync(path.join(config, "opencode"), { recursive: true })
  fs.writeFileSync(
    path.join(config, "opencode", "opencode.json"),
    JSON.stringify({
      $schema: "https://opencode.ai/config.json",
      model: `${id}/${setup.model}`,
      // The session's title asked of its model too: the built-in provider's own small model is one of OpenAI's.
      ...(setup.openAi === undefined ? {} : { small_model: `${id}/${setup.model}` }),
      provider: { [id]: settings },
      ...(setup.mcp === undefined ? {} : { mcp: setup.mcp })
    })
  )
  return {
    ...agentEnv(),
    HOME: setup.home,
    // opencode takes its project's directory from PWD, which a spawned process inherits unchanged.
    PWD: setup.work,
    XDG_CONFIG_HOME: config,
    XDG_DATA_HOME: path.join(setup.home, ".local", "share"),
    XDG_CACHE_HOME: path.join(setup.home, ".cache"),
    XDG_STATE_HOME: path.join(setup.home, ".local", "state"),
    GATEWAY_KEY: setup.key,
    // The model is the provider's, as configured: no catalogue to fetch, no update to look for.
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    ...(setup.openAi === undefined ? {} : {
      OPENCODE_AUTH_CONTENT: JSON.stringify({ openai: { type: "api", key: setup.key } }),
      ...(setup.openAi.webSocket ? { OPENCODE_EXPERIMENTAL_WEBSOCKETS: "true" } : {})
    })
  }
}
