/**
 * The tables the end-to-end suites run a case over: every adapter (a
 * provider.json `api`, with the base URL the simulator answers it under) and
 * both kinds of HTTP client.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Layer from "effect/Layer"
import type * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"

/** Every adapter, as provider.json's `api` names it. */
export const apis = ["chat-completions", "responses", "anthropic", "gemini", "ollama"] as const

export type Api = (typeof apis)[number]

/** The `base_url` of `api` on `simulator`: `/v1` for the OpenAI-style APIs, the host root otherwise. */
export const baseUrlOf = (simulator: Simulator.Simulator, api: Api): string =>
  api === "chat-completions" || api === "responses" ? `${simulator.url}/v1` : simulator.url

/**
 * This library's undici client and the platform's: the transport keeps the
 * same phase limits over both, with one watchdog per call.
 */
export const clients = [
  ["UndiciHttpClient", Layer.orDie(UndiciHttpClient.layer())],
  ["NodeHttpClient.layerUndici", NodeHttpClient.layerUndici]
] as const

export type Http = (typeof clients)[number][1]
