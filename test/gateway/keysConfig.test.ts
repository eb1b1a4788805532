import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import { withWarnings } from "../utils/warnings.js"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

const models = { openai: [{ model_name: "gpt-4o-mini", api_keys: ["sk-provider-000000000001"] }] }

describe("provider.json's gateway section", () => {
  it.effect("decodes keys (env: and literal) as Redacted, with models, rate limit and budget; admin keys", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson({
        ...models,
        gateway: {
          keys: [
            {
              name: "team-a",
              key: "env:TEAM_A_KEY",
              models: ["gpt-4o-mini"],
              rate_limit_capacity: 10,
              rate_limit_refill_rate: 2,
              budget: { limit: 5 }
            },
            { name: "team-b", key: "gw-literal-key-0002", budget: { limit: 1, period: 3600, default_max_tokens: 512 } },
            { name: "team-c", key: "gw-literal-key-0003", budget: { limit: 1, period: "1 day" } }
          ],
          admin_keys: [{ name: "ops", key: "env:OPS_KEY" }]
        }
      })
      const gateway = config.gateway!
      expect(gateway.keys.map((key) => [key.name, Redacted.value(key.key)])).toEqual([
        ["team-a", "gw-from-env-0001"],
        ["team-b", "gw-literal-key-0002"],
        ["team-c", "gw-literal-key-0003"]
      ])
      expect(gateway.keys[0]).toMatchObject({
        models: ["gpt-4o-mini"],
        rateLimit: { capacity: 10, refillRate: 2 },
        budget: { limit: 5, period: "month" }
      })
      expect(gateway.keys[1]!.budget).toEqual({ limit: 1, period: 3_600_000, defaultMaxTokens: 512 })
      expect(gateway.keys[2]!.budget).toEqual({ limit: 1, period: 86_400_000 })
      expect(gateway.adminKeys.map((key) => [key.name, Redacted.value(key.key)])).toEqual([["ops", "gw-ops-0003"]])
      expect(JSON.stringify(config)).not.toContain("gw-from-env")
      const none = yield* ProviderConfig.fromJson(models)
      expect(none.gateway).toBeUndefined()
    }).pipe(withEnv({ TEAM_A_KEY: "gw-from-env-0001", OPS_KEY: "gw-ops-0003" })))

  it.effect("every bad path is named, and no key is shown", () =>
    Effect.gen(function*() {
      const shapes = yield* Effect.flip(ProviderConfig.fromJson({
        ...models,
        gateway: {
          keys: [
            // A budget of one second's period is a rate limit: a period is a minute at least.
            { name: "", key: "gw-literal-key-0001", rate_limit_capacity: 0, budget: { limit: 1, period: 1 } },
            {
              key: "gw-literal-key-0002",
              models: "gpt-4o-mini",
              budget: { limit: -1, period: "fortnight", default_max_tokens: 0.5 }
            }
          ],
          admin_keys: [{ name: "ops" }]
        }
      }, "provider.json"))
      const resolved = yield* Effect.flip(ProviderConfig.fromJson({
        ...models,
        gateway: {
          keys: [
            { name: "a", key: "env:MISSING_GATEWAY_KEY" },
            { name: "b", key: "gw-literal-key-0001", rate_limit_capacity: 5 },
            { name: "b", key: "gw-literal-key-0001" }
          ],
          admin_keys: [{ name: "ops", key: "gw-literal-key-0001" }]
        }
      }, "provider.json"))
      // The shapes first; the keys are read, and checked against each other, only once every shape is right.
      const issues = [...shapes.issues, ...resolved.issues]
      const keys = "gateway.keys"
      expect(issues.map((issue) => issue.path)).toEqual([
        `${keys}[0].name`,
        `${keys}[0].rate_limit_capacity`,
        `${keys}[0].budget.period`,
        `${keys}[1].name`,
        `${keys}[1].models`,
        `${keys}[1].budget.limit`,
        `${keys}[1].budget.period`,
        `${keys}[1].budget.default_max_tokens`,
        "gateway.admin_keys[0].key",
        `${keys}[0].key`,
        `${keys}[2].name`,
        `${keys}[2].key`,
        "gateway.admin_keys[0].key",
        `${keys}[1].rate_limit_refill_rate`
      ])
      expect(issues.map((issue) => issue.message)).toEqual([
        "expected a non-empty string",
        "expected a positive number",
        "expected seconds, a duration such as \"1 day\" (from 1 minute to 366 days), or \"month\"",
        "is missing",
        "Expected array",
        "expected a positive number",
        "expected seconds, a duration such as \"1 day\" (from 1 minute to 366 days), or \"month\"",
        "expected a positive whole number",
        "is missing",
        "the environment variable MISSING_GATEWAY_KEY is not set",
        "b is listed twice",
        "the same key as gateway.keys[1].key",
        "the same key as gateway.keys[1].key",
        "is missing (a key's rate limit takes both rate_limit_capacity and rate_limit_refill_rate)"
      ])
      for (const error of [shapes, resolved]) expect(error.message).not.toContain("gw-literal-key")
    }).pipe(withEnv({})))

  it.effect("an unknown field, and a key written in the file, are warnings naming their path, never a key", () =>
    Effect.gen(function*() {
      const [config, warnings] = yield* withWarnings(ProviderConfig.fromJson({
        ...models,
        gateway: { keys: [{ name: "a", key: "gw-literal-key-0001", modles: ["gpt-4o-mini"] }], admin_kyes: [] }
      }, "provider.json"))
      expect(config.gateway!.keys).toHaveLength(1)
      expect(warnings.map((warning) => warning.message)).toEqual([
        "provider.json: gateway.admin_kyes: unknown field, ignored (did you mean admin_keys?)",
        "provider.json: gateway.keys[0].modles: unknown field, ignored (did you mean models?)",
        "provider.json: gateway.keys[0].key: a gateway key written in the file; prefer env:NAME, so the file holds " +
        "no secret"
      ])
      for (const warning of warnings) expect(warning.message).not.toContain("gw-literal-key")
    }))
})

describe("provider.json's gateway.allow_keyless", () => {
  it.effect("is read as Keys.allowKeyless; absent or false, it is not set; another value is named", () =>
    Effect.gen(function*() {
      const allowed = yield* ProviderConfig.fromJson({ ...models, gateway: { allow_keyless: true } })
      expect(ProviderConfig.gatewayConfig(allowed).keys?.allowKeyless).toBe(true)
      for (const gateway of [{ allow_keyless: false }, {}]) {
        const config = yield* ProviderConfig.fromJson({ ...models, gateway })
        expect(ProviderConfig.gatewayConfig(config).keys?.allowKeyless).toBeUndefined()
      }
      const refused = yield* Effect.flip(
        ProviderConfig.fromJson({ ...models, gateway: { allow_keyless: "yes" } }, "provider.json")
      )
      expect(refused.issues.map((issue) => issue.path)).toEqual(["gateway.allow_keyless"])
    }))
})

describe("provider.json's request log settings", () => {
  it.effect("log_payloads and request_log_retention (days) are read; bad values are named", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson({
        ...models,
        gateway: { log_payloads: true, request_log_retention: 7 }
      })
      expect(config.gateway).toMatchObject({ logPayloads: true, requestLogRetention: Duration.days(7) })
      expect(ProviderConfig.gatewayConfig(config).providerKeys!.map(Redacted.value)).toEqual([
        "sk-provider-000000000001"
      ])
      const bad = yield* Effect.flip(ProviderConfig.fromJson({
        ...models,
        gateway: { log_payloads: "yes", request_log_retention: 0 }
      }))
      expect(bad.issues.map((issue) => issue.path).sort()).toEqual([
        "gateway.log_payloads",
        "gateway.request_log_retention"
      ])
    }))
})
