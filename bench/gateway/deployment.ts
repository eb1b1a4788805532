/**
 * The one deployment every side of the gateway bench that runs this library serves: `gpt-4o-mini` at the simulator,
 * as a provider.json writes it.
 */

/** The key every side sends upstream (the simulator takes any). */
export const upstreamKey = "sk-bench-gateway-0123456789ab"

/** The provider.json section of the deployment at `upstream` (the simulator's base URL, with `/v1`). */
export function providerJson(upstream: string) {
  return { sim: [{ model_name: "gpt-4o-mini", base_url: upstream, api_keys: [upstreamKey] }] }
}
