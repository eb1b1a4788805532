/**
 * The service tier a request asks for (`ChatRequest.serviceTier`), as each API takes it: one table, which each
 * dialect's decoder reads to put a client's tier in the library's spelling (OpenAI's) and each encoder to send it in
 * its target's. A tier a target has no value for is not sent, so the target's default applies: the request stays one
 * the target takes, never dearer than asked.
 *
 * | asked | Chat Completions, Responses | Anthropic | Bedrock Converse | Gemini, Ollama |
 * | --- | --- | --- | --- | --- |
 * | `auto` | `auto` | `auto` | not sent | not sent |
 * | `default` | `default` | `standard_only` | `{type: "default"}` | not sent |
 * | `flex` | `flex` | `standard_only` | `{type: "flex"}` | not sent |
 * | `priority`, `fast` | as asked | `auto` | `{type: "priority"}` | not sent |
 * | `scale` | `scale` | `auto` | not sent | not sent |
 * | `reserved` | as asked | not sent | `{type: "reserved"}` | not sent |
 * | any other | as asked | not sent | not sent | not sent |
 *
 * OpenAI's Chat Completions and Responses references take `auto`, `default`, `flex`, `scale`, `priority` and `fast`
 * (Priority processing's other name; and an OpenAI-compatible server its own names, so the OpenAI wires carry any tier
 * as asked; a Chat Completions client sends none to a `Presets` server or Azure, `OpenAiChat.Options.sendServiceTier`).
 * Anthropic's Messages reference takes `auto` (Priority Tier when the organization has its capacity, else standard) and
 * `standard_only`, which an Anthropic client's request is read as (`default`). Bedrock's `ServiceTier` reference takes
 * `priority`, `default`, `flex` and `reserved`. Gemini's and Ollama's requests have no tier the encoders send.
 */

/** Anthropic's `service_tier` for each tier it has one for. */
const anthropicTiers: Readonly<Record<string, string>> = {
  auto: "auto",
  default: "standard_only",
  flex: "standard_only",
  priority: "auto",
  fast: "auto",
  scale: "auto"
}

/** Bedrock's `serviceTier.type` for each tier it has one for. */
const bedrockTiers: Readonly<Record<string, string>> = {
  default: "default",
  flex: "flex",
  priority: "priority",
  fast: "priority",
  reserved: "reserved"
}

/** An Anthropic request's `service_tier` in the library's spelling: `standard_only` is `default`. */
export function fromAnthropic(tier: string): string {
  return tier === "standard_only" ? "default" : tier
}

/** The `service_tier` an Anthropic request is sent for `tier`; undefined where it has none. */
export function toAnthropic(tier: string | undefined): string | undefined {
  return tier === undefined || !Object.hasOwn(anthropicTiers, tier) ? undefined : anthropicTiers[tier]
}

/** The `serviceTier` a Converse request is sent for `tier`; undefined where it has none. */
export function toBedrock(tier: string | undefined): { readonly type: string } | undefined {
  return tier === undefined || !Object.hasOwn(bedrockTiers, tier) ? undefined : { type: bedrockTiers[tier]! }
}
