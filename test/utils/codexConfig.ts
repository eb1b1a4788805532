/**
 * Codex CLI's `config.toml` as the tests write it: the lines that point Codex at a model provider of its own.
 */

/** How a provider of Codex's own is reached. */
export interface Provider {
  /** `base_url`: the server's OpenAI-compatible root (its `/v1`). */
  readonly baseUrl: string
  /** The variable Codex reads the key from (`env_key`); none: Codex sends no key. */
  readonly envKey?: string
  /** Whether Codex opens the Responses API's WebSocket to it (`supports_websockets`). Default: no, HTTP. */
  readonly websockets?: boolean
}

/** The lines naming `provider` Codex's model provider (`gateway`), which speaks the Responses API. */
export const providerLines = (provider: Provider): ReadonlyArray<string> => [
  `model_provider = "gateway"`,
  ``,
  `[model_providers.gateway]`,
  `name = "gateway"`,
  `base_url = "${provider.baseUrl}"`,
  `wire_api = "responses"`,
  ...(provider.envKey === undefined ? [] : [`env_key = "${provider.envKey}"`]),
  ...(provider.websockets === true ? [`supports_websockets = true`] : [])
]
