/**
 * opencode as the tests run it against `serve`: its `opencode.json` (its one provider the gateway's routes at `baseUrl`
 * through an AI SDK provider package, the key from `GATEWAY_KEY`; MCP servers where given) under a scratch `HOME`, and
 * the environment that keeps it there.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { envWithoutKeys } from "./cliHarness.js"

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
}

/** Writes the configuration and gives the environment opencode runs with. */
export function opencodeConfigured(setup: OpencodeSetup): Record<string, string> {
  const config = path.join(setup.home, ".config")
  fs.mkdirSync(path.join(config, "opencode"), { recursive: true })
  fs.writeFileSync(
    path.join(config, "opencode", "opencode.json"),
    JSON.stringify({
      $schema: "https://opencode.ai/config.json",
      model: `gateway/${setup.model}`,
      provider: {
        gateway: {
          npm: setup.npm ?? "@ai-sdk/openai-compatible",
          options: { baseURL: setup.baseUrl, apiKey: "{env:GATEWAY_KEY}" },
          models: { [setup.model]: setup.modelSettings ?? {} }
        }
      },
      ...(setup.mcp === undefined ? {} : { mcp: setup.mcp })
    })
  )
  return {
    ...envWithoutKeys(),
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
    OPENCODE_DISABLE_AUTOUPDATE: "1"
  }
}
