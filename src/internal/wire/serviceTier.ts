/**
 * The service tier a request asks for (`ChatRequest.serviceTier`), as each API takes it: one table, which each
 * dialect's decoder reads to put a client's tier in the library's spelling (OpenAI's) and each encoder to send it in
 * its target's. A tier a target has no value for is not sent, so the target's default applies: the request stays one
 * the target takes, never dearer than asked.
 *
 * The OpenAI wires carry any tier as asked, as an OpenAI-compatible server has its own names (a Chat Completions client
 * sends none to a `Presets` server or Azure, `OpenAiChat.Options.sendServiceTier`). Anthropic's Messages reference
 * takes `auto` (Priority Tier when the organization has its capacity, else standard) and `standard_only`, read as
 * `default`. Bedrock's `ServiceTier` reference takes `priority`, `default`, `flex` and `reserved`. Gemini's and
 * Ollama's requests have no tier.
 */
import { ownValue } from "../ownValue.js"

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
  return tier === undefined ? undefined : ownValue(anthropicTiers, tier)
}

/** The `serviceTier` a Converse request is sent for `tier`; undefined where it has none. */
export function toBedrock(tier: string | undefined): { readonly type: string } | undefined {
  const type = tier === undefined ? undefined : ownValue(bedrockTiers, tier)
  return type === undefined ? undefined : { type }
}
