/**
 * The official SDK clients of the gateway's three front doors, pointed at a gateway over loopback with no retries:
 * what the tests that drive every door at once start from.
 */
import Anthropic from "@anthropic-ai/sdk"
import { GoogleGenAI } from "@google/genai"
import OpenAI from "openai"

/** `openai` on `/v1`, `@anthropic-ai/sdk` on the root, `@google/genai` on `v1beta` (Gemini CLI's version). */
export const gatewayClients = (gatewayUrl: string, apiKey = "unused") => ({
  openai: new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey, maxRetries: 0 }),
  anthropic: new Anthropic({ baseURL: gatewayUrl, apiKey, maxRetries: 0 }),
  // Google's clients add `/v1beta/...` to the host's root.
  google: new GoogleGenAI({
    apiKey,
    apiVersion: "v1beta",
    httpOptions: { baseUrl: new URL(gatewayUrl).origin, retryOptions: { attempts: 1 } }
  })
})
