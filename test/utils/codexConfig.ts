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

/**
 * A `model_catalog_json` file's content (Codex's `ModelsResponse`) describing `model`, which Codex's bundled catalog
 * lacks, with its context window. Without it Codex takes its fallback metadata for such a model, whose window of
 * 272,000 tokens is also the most `model_context_window` may raise it to, and compacts past 90% of that. The fields
 * are those its parser requires.
 */
export const modelCatalog = (model: string, contextWindow: number) => ({
  models: [{
    slug: model,
    display_name: model,
    context_window: contextWindow,
    max_context_window: contextWindow,
    base_instructions: "You are Codex, a coding agent in the user's workspace.",
    supported_reasoning_levels: [],
    shell_type: "default",
    visibility: "list",
    supported_in_api: true,
    priority: 1,
    support_verbosity: false,
    truncation_policy: { mode: "bytes", limit: 10_000 },
    experimental_supported_tools: []
  }]
})
