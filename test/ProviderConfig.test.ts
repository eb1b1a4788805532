import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { LlmError, Message } from "effect-llm-router"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as Gateway from "../src/Gateway.js"
import { itemsPerStep } from "../src/internal/steps.js"
import * as Llm from "../src/Llm.js"
import * as Pricing from "../src/Pricing.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as ProviderConfig from "../src/ProviderConfig.js"
import type * as Router from "../src/Router.js"
import * as Simulator from "../src/simulator/Simulator.js"
import { fileProblems as configProblems, someFileProblems, withProblems } from "./utils/configProblems.js"
import { fakeHttpClient } from "./utils/fakeHttpClient.js"
import { buildError, expectOptionsError } from "./utils/optionsError.js"
import { withWarnings } from "./utils/warnings.js"

// Set before any test reads the environment, which the environment's provider may read once.
process.env["PC_MCP_CLIENT_SECRET"] = "client-secret-5d2e"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

const file = (baseUrl = "https://api.openai.com/v1") => ({
  openai: [
    {
      model_name: "gpt-4o",
      api_keys: ["env:OPENAI_API_KEY", { key: "sk-literal-key-000000000001", weight: 2 }],
      base_url: baseUrl,
      max_retries: 5,
      retry_delay: 1.0,
      rate_limit_capacity: 20,
      rate_limit_refill_rate: 3.0,
      max_concurrency: 100,
      context_window: 128000,
      pricing: { input_per_mtok: 2.5, output_per_mtok: 10 }
    },
    { model_name: "gpt-4o-mini", api_keys: ["sk-literal-key-000000000002"], base_url: baseUrl }
  ],
  deepseek: [{
    model_name: "deepseek-chat",
    api_keys: ["sk-deepseek-key-0000003"],
    base_url: "https://api.deepseek.com/v1"
  }]
})

describe("ProviderConfig.fromJson", () => {
  it.effect("decodes the documented format, reading env: keys as Redacted", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson(file())
      expect(Object.keys(config.providers)).toEqual(["openai", "deepseek"])
      expect(config.routers).toEqual({})
      const gpt4o = config.providers.openai!["gpt-4o"]!
      expect(gpt4o.keys.length).toBe(2)
      expect(Redacted.value(gpt4o.keys[0]!.key as Redacted.Redacted<string>)).toBe("sk-from-env-0000000000000")
      expect(gpt4o.keys[1]!.weight).toBe(2)
      expect(gpt4o.entry.rate_limit_refill_rate).toBe(3)
      expect(JSON.stringify(config)).not.toContain("sk-from-env")
    }).pipe(withEnv({ OPENAI_API_KEY: "sk-from-env-0000000000000" })))

  it.effect("names every bad path and why", () =>
    Effect.gen(function*() {
      const bad = {
        openai: [
          { model_name: "", api_keys: [], base_url: "not a url", rate_limit_capacity: -1, max_retries: 1.5 },
          { model_name: "ok", api_keys: [{ key: "k", weight: 0 }], base_url: "https://x/v1", api: "soap" },
          { model_name: "priced", api_keys: ["k"], pricing: { input_per_mtok: -1, cached_input_per_mtok: "x" } }
        ],
        broken: "nope"
      }
      const error = yield* Effect.flip(ProviderConfig.fromJson(bad, "provider.json"))
      expect(error._tag).toBe("ProviderConfigError")
      const byPath = Object.fromEntries(error.issues.map((issue) => [issue.path, issue.message]))
      expect(byPath["openai[0].model_name"]).toBe("expected a non-empty string")
      expect(byPath["openai[0].api_keys"]).toBe("expected at least one key")
      expect(byPath["openai[0].base_url"]).toContain("expected an absolute http:// or https:// URL")
      expect(byPath["openai[0].rate_limit_capacity"]).toBe("expected a positive number")
      expect(byPath["openai[0].max_retries"]).toBe("expected a whole number, 0 or more")
      expect(byPath["openai[1].api_keys[0].weight"]).toBe("expected a positive number")
      expect(byPath["openai[1].api"]).toContain("chat-completions")
      expect(byPath["openai[2].pricing.input_per_mtok"]).toBe("expected a price, 0 or more")
      expect(byPath["openai[2].pricing.cached_input_per_mtok"]).toContain("number")
      expect(byPath["openai[2].pricing.output_per_mtok"]).toContain("is missing")
      expect(Object.keys(byPath)).toContain("broken")
      expect(error.message).toContain(`provider.json has ${error.issues.length} problems:`)
      expect(error.message).toContain("openai[0].rate_limit_capacity: expected a positive number")
    }))

  it.effect(
    "base_url is an http(s) URL, a header's name a token and its value one line: every such problem named at once, " +
      "no header value shown",
    () =>
      Effect.gen(function*() {
        const secret = "Bearer sk-header-secret-fedcba9876543210"
        const bad = {
          p: [
            { model_name: "a", api_keys: ["k"], base_url: "file:///etc/passwd" },
            { model_name: "b", api_keys: ["k"], base_url: "data:text/plain,x" },
            {
              model_name: "c",
              api_keys: ["k"],
              base_url: "https://x/v1",
              headers: {
                authorization: `${secret}\r\nx-injected: 1`,
                "x-nul": "a\u0000b",
                "x-lf": "a\nb",
                "bad name": "v",
                "x:colon": "v",
                "": "v",
                "x-fine": "tab\tand latin-1 \u00e9"
              }
            }
          ]
        }
        const error = yield* Effect.flip(ProviderConfig.fromJson(bad, "provider.json"))
        const byPath = Object.fromEntries(error.issues.map((issue) => [issue.path, issue.message]))
        expect(byPath["p[0].base_url"]).toContain("expected an absolute http:// or https:// URL")
        expect(byPath["p[1].base_url"]).toContain("expected an absolute http:// or https:// URL")
        for (const header of ["authorization", "x-nul", "x-lf"]) {
          expect(byPath[`p[2].headers.${header}`]).toBe(
            "expected a header value without line breaks or control characters"
          )
        }
        for (const header of ["bad name", "x:colon", ""]) {
          expect(byPath[`p[2].headers.${header}`]).toBe(
            "expected a header name: letters, digits and !#$%&'*+-.^_`|~, no spaces or colons"
          )
        }
        expect(Object.keys(byPath).some((path) => path.includes("x-fine"))).toBe(false)
        expect(`${error.message} ${JSON.stringify(error)}`).not.toContain(secret.slice(7))
        // Fine values pass: http and https roots, tokens of every allowed character, tab and Latin-1 in values.
        yield* ProviderConfig.fromJson({
          p: [{
            model_name: "a",
            api_keys: ["k"],
            base_url: "http://127.0.0.1:8080/v1",
            headers: { "x-!#$%&'*+-.^_`|~09AZaz": "v\tw \u00e9" }
          }]
        })
      })
  )

  it.effect("priceOf: the pricing entry, else the built-in price of the model name", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson(file())
      // A Chat Completions adapter sends a part by URL only as an image: its provider reads it as one.
      expect(ProviderConfig.priceOf(config.providers.openai!["gpt-4o"]!))
        .toStrictEqual({ input: 2.5, output: 10, mediaUrls: "typed", contextWindow: 128_000 })
      expect(ProviderConfig.priceOf(config.providers.openai!["gpt-4o-mini"]!)).toStrictEqual(
        Pricing.builtIn["gpt-4o-mini"]
      )
      const local = yield* ProviderConfig.fromJson({ local: [{ model_name: "llama3.2", api: "ollama" }] })
      expect(ProviderConfig.priceOf(local.providers.local!["llama3.2"]!)).toBeUndefined()
      const pricing = { input_per_mtok: 3, cache_write_per_mtok: 3.75, cache_write_1h_per_mtok: 6, output_per_mtok: 15 }
      const claude = yield* ProviderConfig.fromJson({ c: [{ model_name: "house", api_keys: ["k"], pricing }] })
      expect(ProviderConfig.priceOf(claude.providers.c!["house"]!))
        .toStrictEqual({ input: 3, cacheWrite: 3.75, cacheWrite1h: 6, output: 15, mediaUrls: "typed" })
    }).pipe(withEnv({ OPENAI_API_KEY: "sk-from-env-0000000000000" })))

  it.effect("priceOf: a part by URL is read as its adapter sends it, and bounded by the model's context window", () =>
    Effect.gen(function*() {
      const pricing = { input_per_mtok: 1, output_per_mtok: 2 }
      const config = yield* ProviderConfig.fromJson({
        g: [
          { model_name: "gemini-2.5-flash", api: "gemini", api_keys: ["k"] },
          { model_name: "house-gemini", api: "gemini", api_keys: ["k"], pricing, context_window: 32_000 },
          { model_name: "gemini-2.5-flash-lite", api: "gemini", api_keys: ["k"], media_by_url: "refuse" },
          { model_name: "gemini-2.5-pro", api_keys: ["k"], pricing },
          { model_name: "gemini-house", api: "vertex", project: "p", location: "us-central1", pricing },
          {
            model_name: "claude-house",
            api: "vertex",
            project: "p",
            location: "us-central1",
            publisher: "anthropic",
            pricing
          }
        ]
      })
      const price = (name: string) => ProviderConfig.priceOf(config.providers.g![name]!)
      expect(price("gemini-2.5-flash")).toStrictEqual(Pricing.builtIn["gemini-2.5-flash"])
      expect(price("house-gemini")).toStrictEqual({ input: 1, output: 2, mediaUrls: "fetched", contextWindow: 32_000 })
      // A Gemini model behind an OpenAI-compatible endpoint keeps its built-in reading and window.
      expect(price("gemini-2.5-pro")).toStrictEqual({
        input: 1,
        output: 2,
        mediaUrls: "fetched",
        contextWindow: 1_048_576
      })
      // A deployment that refuses a part whose size cannot be known gives no window to reserve one at.
      const { contextWindow: _, ...lite } = Pricing.builtIn["gemini-2.5-flash-lite"]!
      expect(price("gemini-2.5-flash-lite")).toStrictEqual(lite)
      expect(price("gemini-house")?.mediaUrls).toBe("fetched")
      expect(price("claude-house")?.mediaUrls).toBe("typed")
    }))

  it.effect("priceOf: a pricing entry takes the media rates it leaves unset from its model's built-in price", () =>
    Effect.gen(function*() {
      const pricing = { input_per_mtok: 1, output_per_mtok: 2 }
      const config = yield* ProviderConfig.fromJson({
        c: [
          { model_name: "claude-sonnet-4-5", api: "anthropic", api_keys: ["k"], pricing },
          {
            model_name: "us.anthropic.claude-opus-4-1-v1:0",
            api_keys: ["k"],
            pricing: { ...pricing, pdf_page_tokens: 9 }
          },
          { model_name: "house", api_keys: ["k"], pricing }
        ]
      })
      const claudePage = Pricing.lookup("claude-sonnet-4-5")!.pdfPageTokens
      expect(claudePage).toBeGreaterThan(Pricing.defaultPdfPageTokens)
      expect(ProviderConfig.priceOf(config.providers.c!["claude-sonnet-4-5"]!))
        .toStrictEqual({ input: 1, output: 2, pdfPageTokens: claudePage, mediaUrls: "typed" })
      expect(ProviderConfig.priceOf(config.providers.c!["us.anthropic.claude-opus-4-1-v1:0"]!))
        .toStrictEqual({ input: 1, output: 2, pdfPageTokens: 9, mediaUrls: "typed" })
      expect(ProviderConfig.priceOf(config.providers.c!["house"]!))
        .toStrictEqual({ input: 1, output: 2, mediaUrls: "typed" })
    }))

  it.effect("a missing env: variable is named, and nothing of any key is shown", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderConfig.fromJson(file()))
      expect(error.issues).toEqual([
        { path: "openai[0].api_keys[0]", message: "the environment variable OPENAI_API_KEY is not set" }
      ])
      expect(error.message).not.toContain("sk-literal")
    }).pipe(withEnv({})))

  it.effect("a file with a bad number and unset env: variables lists every problem, each with its path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderConfig.fromJson({
        openai: [
          { model_name: "gpt-4o", api_keys: ["env:OPENAI_API_KEY"], rate_limit_capacity: -3 },
          { model_name: "gpt-4o-mini", api_keys: [{ key: "env:SECOND_KEY", weight: 2 }, "env:SET_KEY"] }
        ],
        gateway: { keys: [{ name: "team", key: "env:TEAM_KEY" }] }
      }))
      expect(error.issues.map((issue) => issue.path)).toEqual([
        "openai[0].rate_limit_capacity",
        "openai[0].api_keys[0]",
        "openai[1].api_keys[0]",
        "gateway.keys[0].key"
      ])
      expect(error.issues[0]!.message).toMatch(/positive|greater than/)
      expect(error.issues.slice(1).map((issue) => issue.message)).toEqual([
        "the environment variable OPENAI_API_KEY is not set",
        "the environment variable SECOND_KEY is not set",
        "the environment variable TEAM_KEY is not set"
      ])
    }).pipe(withEnv({ SET_KEY: "sk-set-key-000000000001" })))

  it.effect(
    "a file with any set of independent problems (fields, cross-references, rules, unset variables) names exactly " +
      "those, all at once",
    () =>
      Effect.gen(function*() {
        const good = withProblems("http://127.0.0.1:1/v1", "sk-config-problems-0001", [])
        yield* ProviderConfig.fromJson(good.file)
        const check = (chosen: ReadonlyArray<(typeof configProblems)[number]>) =>
          Effect.gen(function*() {
            const { file, paths } = withProblems("http://127.0.0.1:1/v1", "sk-config-problems-0001", chosen)
            const error = yield* Effect.flip(ProviderConfig.fromJson(file))
            expect(error.issues.map((issue) => issue.path).sort()).toEqual(paths)
          })
        // Every problem together, each alone, and any set of them.
        yield* check(configProblems)
        for (const problem of configProblems) yield* check([problem])
        for (const chosen of fc.sample(someFileProblems, { numRuns: 200, seed: 75 })) yield* check(chosen)
      }).pipe(withEnv({}))
  )

  it.effect("a key never shows in a ProviderConfigError, whatever is wrong around it", () =>
    Effect.gen(function*() {
      const key = "sk-proj-config-secret-0123456789abcdef"
      const header = "Bearer sk-header-secret-fedcba9876543210"
      const cases = [
        { openai: [{ model_name: "m", api_keys: key }] },
        { openai: [{ model_name: "m", api_keys: [{ key, weight: "2" }] }] },
        { openai: [{ model_name: "m", api_keys: [[key]], headers: { authorization: header, "x-n": 5 } }] },
        // A key pasted where a deployment's name goes.
        {
          openai: [{ model_name: "m", api_keys: [key], headers: { authorization: header } }],
          router: { main: { deployments: [key, header] } }
        }
      ]
      for (const json of cases) {
        const error = yield* Effect.flip(ProviderConfig.fromJson(json))
        const text = `${error.message} ${JSON.stringify(error)} ${String(error)}`
        for (const secret of [key, header.slice(7)]) {
          expect(text).not.toContain(secret)
          expect(text).not.toContain(secret.slice(0, 16))
        }
      }
      const named = yield* Effect.flip(ProviderConfig.fromJson(cases[3]!))
      expect(named.issues[0]).toEqual({
        path: "router.main.deployments[0]",
        message: `no deployment ${LlmError.maskKey(key)}; known: openai/m`
      })
    }))

  it.effect(
    "a long key list (decoded a chunk at a time) reads whole, in order, and names a bad key or an unknown field at its " +
      "place in the list",
    () =>
      Effect.gen(function*() {
        const keys: Array<unknown> = Array.from(
          { length: 5_001 },
          (_, i) => `sk-long-list-${String(i).padStart(6, "0")}`
        )
        const good = { openai: [{ model_name: "many", api_keys: keys }] }
        const config = yield* ProviderConfig.fromJson(good, "provider.json")
        const read = config.providers.openai!["many"]!.keys.map((key) => Redacted.value(key.key as Redacted.Redacted))
        expect(read).toEqual(keys)
        // A bad key past the first chunk, one in the last, an empty one among plain keys (a chunk of plain keys is
        // taken without its decode: not an empty one), and an unknown field: each at its index.
        keys[1_500] = ""
        keys[4_500] = { key: "", weight: 1 }
        keys[5_000] = 7
        keys[2_345] = { key: "sk-long-list-typo", wieght: 2 }
        const [error, warnings] = yield* withWarnings(Effect.flip(ProviderConfig.fromJson(good, "provider.json")))
        expect(error.issues.map((issue) => issue.path).sort()).toEqual([
          "openai[0].api_keys[1500]",
          "openai[0].api_keys[4500].key",
          "openai[0].api_keys[5000]"
        ])
        expect(warnings.map((warning) => warning.message)).toEqual([
          "provider.json: openai[0].api_keys[2345].wieght: unknown field, ignored (did you mean weight?)"
        ])
      })
  )

  it(
    "a key list decoded in chunks gives the keys lists of one chunk's length give, in order, whatever their forms",
    () =>
      fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: 3 * itemsPerStep + 3 }),
          fc.array(fc.constantFrom("string", "weight", "cap", "both"), { minLength: 1, maxLength: 7 }),
          (length, forms) =>
            Effect.runPromise(Effect.gen(function*() {
              // Key i takes form i mod the forms' count: a string, or an object with a weight, a cap or both.
              const keys = Array.from({ length: length + 1 }, (_, i) => {
                const key = `sk-chunked-${String(i).padStart(6, "0")}`
                switch (forms[i % forms.length]) {
                  case "weight":
                    return { key, weight: 1 + (i % 5) }
                  case "cap":
                    return { key, max_concurrency: 1 + (i % 3) }
                  case "both":
                    return { key, weight: 0.5 + (i % 4), max_concurrency: 2 }
                  default:
                    return key
                }
              })
              const decoded = (list: ReadonlyArray<unknown>) =>
                Effect.map(
                  ProviderConfig.fromJson({ openai: [{ model_name: "many", api_keys: list }] }, "provider.json"),
                  (config) =>
                    config.providers.openai!["many"]!.keys.map((key) => ({
                      ...key,
                      key: Redacted.value(key.key as Redacted.Redacted)
                    }))
                )
              // The whole list, more than a chunk when long, against its chunks each decoded as a list of its own.
              const whole = yield* decoded(keys)
              const parts: Array<unknown> = []
              for (let from = 0; from < keys.length; from += itemsPerStep) {
                parts.push(...yield* decoded(keys.slice(from, from + itemsPerStep)))
              }
              expect(whole).toEqual(parts)
              expect(whole.map((key) => key.key)).toEqual(keys.map((key) => typeof key === "string" ? key : key.key))
            }))
        ),
        { numRuns: 12 }
      ),
    120_000
  )

  it.effect("an unknown field is a warning naming its path, with the known name it is close to, not a failure", () =>
    Effect.gen(function*() {
      const json = {
        openai: [{
          model_name: "gpt-4o",
          api_keys: [{ key: "sk-literal-key-000000000001", weigth: 2 }],
          base_url: "https://api.openai.com/v1",
          max_retires: 3,
          colour: "blue",
          pricing: { input_per_mtok: 1, output_per_mtok: 2, ouput_per_mtok: 3 }
        }],
        router: { main: { deployments: ["gpt-4o"], stratgy: "priority", cooldown: { failures: 2, perod: 5 } } }
      }
      const [config, warnings] = yield* withWarnings(ProviderConfig.fromJson(json, "provider.json"))
      expect(config.providers.openai!["gpt-4o"]!.entry.max_retries).toBeUndefined()
      expect(warnings.map((warning) => warning.message)).toEqual([
        "provider.json: openai[0].max_retires: unknown field, ignored (did you mean max_retries?)",
        "provider.json: openai[0].colour: unknown field, ignored",
        "provider.json: openai[0].api_keys[0].weigth: unknown field, ignored (did you mean weight?)",
        "provider.json: openai[0].pricing.ouput_per_mtok: unknown field, ignored (did you mean output_per_mtok?)",
        "provider.json: router.main.stratgy: unknown field, ignored (did you mean strategy?)",
        "provider.json: router.main.cooldown.perod: unknown field, ignored (did you mean period?)"
      ])
      expect(warnings[0]!.annotations).toMatchObject({ source: "provider.json", path: "openai[0].max_retires" })
      // A file with only known fields warns about nothing.
      const [, none] = yield* withWarnings(ProviderConfig.fromJson(file()))
      expect(none).toEqual([])
    }).pipe(withEnv({ OPENAI_API_KEY: "sk-from-env-0000000000000" })))

  it.effect(
    "a store section decodes into Store options; a bad one is named by path, an unknown field warned " +
      "about",
    () =>
      Effect.gen(function*() {
        const store = {
          redis: "redis://127.0.0.1:6379",
          on_unavailable: "fail-open",
          instances: 3,
          command_timeout: 0.25,
          lease_ttl: 5,
          publish_period: 0.2,
          publish_ttl: 2
        }
        const config = yield* ProviderConfig.fromJson({ ...file(), store })
        expect(Redacted.isRedacted(config.store!.redis)).toBe(true)
        expect({ ...config.store, redis: Redacted.value(config.store!.redis as Redacted.Redacted<string>) }).toEqual({
          redis: "redis://127.0.0.1:6379",
          onUnavailable: "fail-open",
          instances: 3,
          commandTimeout: 250,
          leaseTtl: 5000,
          publishPeriod: 200,
          publishTtl: 2000
        })
        expect(Object.keys(config.providers)).toEqual(["openai", "deepseek"])
        expect((yield* ProviderConfig.fromJson(file())).store).toBeUndefined()

        const bad = { redis: "http://127.0.0.1:6379", on_unavailable: "fail-sometimes", instances: 0 }
        const error = yield* Effect.flip(ProviderConfig.fromJson({ ...file(), store: bad }, "provider.json"))
        expect(error.issues).toEqual([
          { path: "store.redis", message: "expected a redis:// or rediss:// URL, or env:NAME naming one" },
          { path: "store.on_unavailable", message: "expected one of fail-open, fail-closed" },
          { path: "store.instances", message: "expected a positive whole number" }
        ])
        const [, warnings] = yield* withWarnings(
          ProviderConfig.fromJson({ ...file(), store: { redis: "redis://h:1", instaces: 2 } }, "provider.json")
        )
        expect(warnings.map((warning) => warning.message)).toEqual([
          "provider.json: store.instaces: unknown field, ignored (did you mean instances?)"
        ])
      }).pipe(withEnv({ OPENAI_API_KEY: "sk-from-env-0000000000000" }))
  )

  it.effect("a store's `sql` names the gateway's Postgres, written or from the environment, never printed", () =>
    Effect.gen(function*() {
      const url = "postgres://gateway:pg-secret-1@db.internal:5432/gateway"
      const written = yield* ProviderConfig.fromJson({ ...file(), store: { sql: url } })
      expect(written.store).toBeUndefined()
      expect(written.database !== undefined && "postgres" in written.database).toBe(true)
      const database = written.database as { readonly postgres: Redacted.Redacted<string> }
      expect(Redacted.value(database.postgres)).toBe(url)
      expect(String(database.postgres)).not.toContain("pg-secret-1")
      const fromEnv = yield* ProviderConfig.fromJson({ ...file(), store: { redis: "redis://h:1", sql: "env:DB_URL" } })
      expect(Redacted.value(fromEnv.store!.redis as Redacted.Redacted<string>)).toBe("redis://h:1")
      expect(Redacted.value((fromEnv.database as typeof database).postgres)).toBe("postgresql://from-env/db")
      expect(ProviderConfig.gatewayConfig(fromEnv).database).toBe(fromEnv.database)

      const issues = (store: unknown) =>
        Effect.map(Effect.flip(ProviderConfig.fromJson({ ...file(), store }, "provider.json")), (e) => e.issues)
      expect(yield* issues({ sql: "mysql://db/x" })).toEqual([
        { path: "store.sql", message: "expected a postgres:// or postgresql:// URL, or env:NAME naming one" }
      ])
      expect(yield* issues({})).toEqual([
        {
          path: "store",
          message: "expected `redis` (where instances share their limits), `sql` (the gateway's database) or both"
        }
      ])
      expect(yield* issues({ sql: "env:NO_SUCH_DB_URL" })).toEqual([
        { path: "store.sql", message: "the environment variable NO_SUCH_DB_URL is not set" }
      ])
    }).pipe(withEnv({ OPENAI_API_KEY: "sk-from-env-0000000000000", DB_URL: "postgresql://from-env/db" })))

  it.effect("store.redis takes env:NAME as keys do, read as Redacted; an unset or non-redis variable named by path", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson({ ...file(), store: { redis: "env:REDIS_URL", instances: 2 } })
      const redis = config.store!.redis as Redacted.Redacted<string>
      expect(Redacted.isRedacted(redis)).toBe(true)
      expect(Redacted.value(redis)).toBe("redis://:redis-secret-9@127.0.0.1:6379")
      expect(String(redis)).not.toContain("redis-secret-9")
      expect(JSON.stringify(config.store)).not.toContain("redis-secret-9")
      expect(config.store!.instances).toBe(2)
      const issues = (store: unknown) =>
        Effect.map(Effect.flip(ProviderConfig.fromJson({ ...file(), store }, "provider.json")), (e) => e.issues)
      expect(yield* issues({ redis: "env:NO_SUCH_REDIS_URL" })).toEqual([
        { path: "store.redis", message: "the environment variable NO_SUCH_REDIS_URL is not set" }
      ])
      const notRedis = yield* Effect.flip(ProviderConfig.fromJson({ ...file(), store: { redis: "env:PG_URL" } }))
      expect(notRedis.issues).toEqual([
        { path: "store.redis", message: "the environment variable PG_URL holds no redis:// or rediss:// URL" }
      ])
      expect(notRedis.message).not.toContain("pg-secret")
    }).pipe(withEnv({
      OPENAI_API_KEY: "sk-from-env-0000000000000",
      REDIS_URL: "redis://:redis-secret-9@127.0.0.1:6379",
      PG_URL: "postgres://u:pg-secret@db/x"
    })))

  it.effect(
    "a __proto__ name (a provider, a router, a header, a model_name) is refused naming its path and why; " +
      "a model or provider named constructor is served",
    () =>
      Effect.gen(function*() {
        const model = { model_name: "m", api_keys: ["sk-proto-key-0000000001"] }
        const refused = (text: string) =>
          Effect.map(Effect.flip(ProviderConfig.fromJson(JSON.parse(text), "provider.json")), (error) => error.issues)
        const why = expect.stringContaining("__proto__ cannot be a name here: a JavaScript object takes it")
        expect(yield* refused(`{"__proto__": [${JSON.stringify(model)}], "openai": [${JSON.stringify(model)}]}`))
          .toEqual([{ path: "__proto__", message: why }])
        expect(
          yield* refused(
            `{"openai": [${JSON.stringify(model)}], "router": {"__proto__": {"deployments": ["m"]}}}`
          )
        ).toEqual([{ path: "router.__proto__", message: why }])
        expect(
          yield* refused(`{"openai": [{"model_name": "m", "api_keys": ["k"], "headers": {"__proto__": "x"}}]}`)
        ).toEqual([{ path: "openai[0].headers.__proto__", message: why }])
        expect(yield* refused(`{"openai": [{"model_name": "__proto__", "api_keys": ["k"]}]}`)).toEqual([
          { path: "openai[0].model_name", message: why }
        ])

        // Names an object already has (`constructor`, `toString`) are ordinary names.
        const config = yield* ProviderConfig.fromJson({
          constructor: [{ ...model, model_name: "toString" }],
          openai: [{ ...model, model_name: "constructor" }]
        })
        expect(Object.keys(config.providers)).toEqual(["constructor", "openai"])
        expect((yield* ProviderConfig.model(config, "openai", "constructor")).entry.model_name).toBe("constructor")
        expect((yield* ProviderConfig.model(config, "constructor", "toString")).provider).toBe("constructor")
        const absent = yield* Effect.flip(ProviderConfig.model(config, "openai", "hasOwnProperty"))
        expect(absent.issues[0]!.message).toBe("no such model; known: constructor")
        const noRouter = yield* Effect.flip(ProviderConfig.namedRouterOptions(config, "toString"))
        expect(noRouter.issues[0]!.message).toBe("no such router; known: none")
      })
  )

  it.effect("a file nested deeper than 64 levels is refused naming where, without overflowing the stack", () =>
    Effect.gen(function*() {
      const deep = "[".repeat(100_000) + "]".repeat(100_000)
      const json = JSON.parse(`{"openai": [{"model_name": "m", "api_keys": ["k"], "headers": {"x": ${deep}}}]}`)
      const error = yield* Effect.flip(ProviderConfig.fromJson(json, "provider.json"))
      expect(error.issues).toEqual([{
        path: "openai[0].headers",
        message: "nested more than 64 levels deep (below this); a provider.json is a few levels deep"
      }])
      // A whole provider nested so: the same.
      const nested = yield* Effect.flip(ProviderConfig.fromJson(JSON.parse(`{"openai": ${deep}}`)))
      expect(nested.issues[0]!.message).toContain("nested more than 64 levels deep")
    }))

  it.effect("reports a model listed twice", () =>
    Effect.gen(function*() {
      const twice = {
        p: [{ model_name: "m", api_keys: ["k"], base_url: "http://x/v1" }, {
          model_name: "m",
          api_keys: ["k"],
          base_url: "http://x/v1"
        }]
      }
      const error = yield* Effect.flip(ProviderConfig.fromJson(twice))
      expect(error.issues[0]).toEqual({ path: "p[1].model_name", message: "m is listed twice" })
    }))

  it.effect("a router section decodes into named routers over the file's models", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson({
        ...file(),
        router: {
          main: {
            deployments: ["openai/gpt-4o-mini", "deepseek-chat"],
            strategy: "priority",
            fallbacks: {
              "gpt-4o-mini": [{ to: "deepseek/deepseek-chat", on: ["ProviderUnavailableError", "TimeoutError"] }]
            },
            retry_on: ["RateLimitError"],
            deadline: 30,
            max_retry_wait: "250 millis",
            cooldown: { failures: 2, window: "1 minute", period: 10, on: ["TimeoutError"] },
            hedge: { after: "2 seconds" },
            mid_stream: "fail",
            learned_limits: { quantile: 0.95, floor: 3, min_samples: 10 },
            model: "gpt-4o-mini",
            affinity: { ttl: "10 minutes", max_sessions: 500 }
          },
          unlearned: { deployments: ["gpt-4o"], learned_limits: false },
          bare: { deployments: ["gpt-4o"] },
          unpinned: { deployments: ["gpt-4o"], affinity: false }
        }
      }).pipe(withEnv({ OPENAI_API_KEY: "sk-from-env-0000000000000" }))
      expect(Object.keys(config.providers)).toEqual(["openai", "deepseek"])
      const main = config.routers["main"]!
      expect(main.deployments).toEqual(["openai/gpt-4o-mini", "deepseek/deepseek-chat"])
      expect(main.options.strategy).toBe("priority")
      expect(main.options.fallbacks).toEqual({
        "gpt-4o-mini": [{ to: "deepseek/deepseek-chat", on: ["ProviderUnavailableError", "TimeoutError"] }]
      })
      expect(main.options.retryOn).toEqual(["RateLimitError"])
      expect(Duration.toMillis(main.options.deadline!)).toBe(30_000)
      expect(Duration.toMillis(Duration.fromInputUnsafe(main.options.maxRetryWait!))).toBe(250)
      expect(main.options.cooldown?.failures).toBe(2)
      expect(Duration.toMillis(main.options.cooldown!.window!)).toBe(60_000)
      expect(Duration.toMillis(main.options.cooldown!.period!)).toBe(10_000)
      expect(main.options.cooldown?.on).toEqual(["TimeoutError"])
      expect(Duration.toMillis(main.options.hedge!.after)).toBe(2_000)
      expect(main.options.midStream).toBe("fail")
      const learned = main.options.learnedLimits as Router.LearnedLimitsOptions
      expect([learned.quantile, Duration.toMillis(learned.floor as Duration.Duration), learned.minSamples]).toEqual([
        0.95,
        3_000,
        10
      ])
      expect(config.routers["unlearned"]!.options.learnedLimits).toBe(false)
      expect(main.options.model).toBe("gpt-4o-mini")
      const affinity = main.options.affinity as Router.AffinityOptions
      expect(Duration.toMillis(Duration.fromInputUnsafe(affinity.ttl!))).toBe(600_000)
      expect(affinity.maxSessions).toBe(500)
      expect(config.routers["bare"]).toEqual({ deployments: ["openai/gpt-4o"], options: {} })
      expect(config.routers["unpinned"]!.options.affinity).toBe(false)

      expect((yield* ProviderConfig.named(config, "deepseek-chat")).provider).toBe("deepseek")
      expect((yield* ProviderConfig.named(config, "openai/gpt-4o")).entry.model_name).toBe("gpt-4o")
      const noModel = yield* Effect.flip(ProviderConfig.named(config, "gpt-5"))
      expect(noModel.issues).toEqual([
        {
          path: "gpt-5",
          message: "no deployment gpt-5; known: openai/gpt-4o, openai/gpt-4o-mini, deepseek/deepseek-chat"
        }
      ])

      const options = yield* ProviderConfig.namedRouterOptions(config, "main")
      expect(options.deployments.map((d) => d.name)).toEqual(["openai/gpt-4o-mini", "deepseek/deepseek-chat"])
      expect(options.strategy).toBe("priority")
      const unknown = yield* Effect.flip(ProviderConfig.namedRouterOptions(config, "backup"))
      expect(unknown.issues).toEqual([
        { path: "router.backup", message: "no such router; known: main, unlearned, bare, unpinned" }
      ])
    }))

  it.effect("each kind of bad router entry is named with its path", () =>
    Effect.gen(function*() {
      const twin = {
        model_name: "gpt-4o",
        api_keys: ["sk-twin-key-0000000001"],
        base_url: "https://x/v1",
        groups: ["smart"]
      }
      const error = yield* Effect.flip(
        ProviderConfig.fromJson({
          ...file(),
          azure: [twin],
          router: {
            bad: {
              deployments: ["openai/gpt-5", "gpt-4o", "gpt-4o-mini", "openai/gpt-4o-mini"],
              strategy: "fastest",
              fallbacks: {
                "gpt-4o-mini": [{ to: "nowhere", on: ["ProviderUnavailableError"] }, {
                  to: "gpt-4o-mini",
                  on: ["OopsError"]
                }],
                ghost: [{ to: "gpt-4o-mini", on: [] }]
              },
              retry_on: ["TimeoutError", "Nope"],
              deadline: -1,
              max_retry_wait: "a while",
              cooldown: { window: "soon", failures: 0 },
              hedge: { after: "2 fortnights" },
              mid_stream: "resume",
              learned_limits: { quantile: 2 },
              model: "smart"
            },
            empty: { deployments: [] },
            none: {}
          }
        }, "provider.json").pipe(withEnv({ OPENAI_API_KEY: "sk-from-env-0000000000000" }))
      )
      const byPath = Object.fromEntries(error.issues.map((issue) => [issue.path, issue.message]))
      const duration = "expected seconds (a positive number) or a duration such as \"30 seconds\""
      expect(byPath).toEqual({
        "router.bad.strategy": "expected one of weighted, least-busy, lowest-latency, lowest-cost, priority",
        "router.bad.fallbacks.gpt-4o-mini[1].on[0]": expect.stringContaining(
          "expected one of RateLimitError, AuthError"
        ),
        "router.bad.fallbacks.ghost[0].on": "expected at least one error tag",
        "router.bad.retry_on[1]": expect.stringContaining("ProviderUnavailableError"),
        "router.bad.deadline": duration,
        "router.bad.max_retry_wait": duration,
        "router.bad.cooldown.window": duration,
        "router.bad.cooldown.failures": "expected a positive whole number",
        "router.bad.hedge.after": duration,
        "router.bad.mid_stream": "expected one of restart, continue, fail",
        "router.bad.learned_limits.quantile": "expected a number in (0, 1]",
        "router.empty.deployments": "expected at least one deployment",
        "router.none.deployments": "is missing"
      })
      expect(error.message).toContain("provider.json has 13 problems:")

      // Names are checked once the entries decode: unknown, ambiguous and repeated deployments, and addresses.
      const names = yield* Effect.flip(
        ProviderConfig.fromJson({
          ...file(),
          azure: [twin],
          router: {
            bad: {
              deployments: ["openai/gpt-5", "gpt-4o", "gpt-4o-mini", "openai/gpt-4o-mini", "azure/gpt-4o"],
              fallbacks: {
                "gpt-4o-mini": [{ to: "nowhere", on: ["ProviderUnavailableError"] }],
                ghost: [{ to: "smart", on: ["TimeoutError"] }]
              },
              model: "deepseek-chat"
            }
          }
        }, "provider.json").pipe(withEnv({ OPENAI_API_KEY: "sk-from-env-0000000000000" }))
      )
      const known = "openai/gpt-4o-mini, gpt-4o-mini, azure/gpt-4o, gpt-4o, smart"
      expect(names.issues).toEqual([
        {
          path: "router.bad.deployments[0]",
          message:
            "no deployment openai/gpt-5; known: openai/gpt-4o, openai/gpt-4o-mini, deepseek/deepseek-chat, azure/gpt-4o"
        },
        { path: "router.bad.deployments[1]", message: "gpt-4o is served by openai/gpt-4o and azure/gpt-4o; name one" },
        { path: "router.bad.deployments[3]", message: "openai/gpt-4o-mini is listed twice" },
        {
          path: "router.bad.fallbacks.gpt-4o-mini[0].to",
          message: `nowhere names no deployment, model or group of this router; known: ${known}`
        },
        {
          path: "router.bad.fallbacks.ghost",
          message: `ghost names no deployment, model or group of this router; known: ${known}`
        },
        {
          path: "router.bad.model",
          message: `deepseek-chat names no deployment, model or group of this router; known: ${known}`
        }
      ])
    }))

  it.effect("ProviderConfig.model names what exists when asked for what does not", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson(file()).pipe(withEnv({ OPENAI_API_KEY: "sk-x-0000000000000" }))
      const noProvider = yield* Effect.flip(ProviderConfig.model(config, "anthropic", "claude"))
      expect(noProvider.message).toContain("known: openai, deepseek")
      const noModel = yield* Effect.flip(ProviderConfig.model(config, "openai", "gpt-5"))
      expect(noModel.message).toContain("known: gpt-4o, gpt-4o-mini")
    }))
})

describe("ProviderConfig over loopback", () => {
  it.live("load(path) + layers(config): models.openai[\"gpt-4o\"] chats through the simulator", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({
        apiKeys: ["sk-from-env-0000000000000", "sk-literal-key-000000000001", "sk-literal-key-000000000002"]
      })
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "provider-config-"))
      const filePath = path.join(dir, "provider.json")
      fs.writeFileSync(filePath, JSON.stringify(file(`${simulator.url}/v1`)))
      const config = yield* ProviderConfig.load(filePath).pipe(
        withEnv({ OPENAI_API_KEY: "sk-from-env-0000000000000" }),
        Effect.provide(NodeFileSystem.layer)
      )
      const models = yield* ProviderConfig.layers(config)
      const ask = Llm.chat({ messages: [Message.user("Hello")] })
      const big = yield* ask.pipe(Effect.provide(models.openai!["gpt-4o"]!), Effect.provide(NodeHttpClient.layerUndici))
      const small = yield* ask.pipe(
        Effect.provide(models.openai!["gpt-4o-mini"]!),
        Effect.provide(NodeHttpClient.layerUndici)
      )
      expect(big.model).toBe("gpt-4o")
      expect(big.provider).toBe("openai")
      expect(big.text.length).toBeGreaterThan(0)
      expect(small.model).toBe("gpt-4o-mini")
      const single = yield* ask.pipe(
        Effect.provide(
          ProviderConfig.layer(config, "openai", "gpt-4o-mini").pipe(Layer.provide(NodeHttpClient.layerUndici))
        )
      )
      expect(single.model).toBe("gpt-4o-mini")
    }).pipe(Effect.scoped))

  it.live("load(path) refuses a file too large or too deep with a ProviderConfigError naming the file", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "provider-config-"))
      const filePath = path.join(dir, "provider.json")
      fs.writeFileSync(filePath, `{"openai": ${"[".repeat(100_000)}${"]".repeat(100_000)}}`)
      const deep = yield* Effect.flip(ProviderConfig.load(filePath))
      expect(deep).toMatchObject({ _tag: "ProviderConfigError", source: filePath })
      expect(deep.message).toContain("nested more than 64 levels deep")
      fs.writeFileSync(filePath, JSON.stringify({ openai: [], padding: " ".repeat(5 * 1024 * 1024) }))
      const large = yield* Effect.flip(ProviderConfig.load(filePath))
      expect(large.issues).toEqual([{
        path: "",
        message: `${fs.statSync(filePath).size} bytes, more than the 4194304 a provider.json may have`
      }])
      fs.rmSync(dir, { recursive: true, force: true })
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.live("load(path) fails naming the file when it is missing or not JSON", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(ProviderConfig.load("/nonexistent/provider.json"))
      expect(missing._tag).toBe("ProviderConfigError")
      expect(missing.source).toBe("/nonexistent/provider.json")
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "provider-config-"))
      const filePath = path.join(dir, "provider.json")
      fs.writeFileSync(filePath, "{ nope")
      const notJson = yield* Effect.flip(ProviderConfig.load(filePath))
      expect(notJson.issues[0]!.message).toContain("not valid JSON")
      // A syntax error next to a key: the message says where, never what is around it.
      const key = "sk-proj-syntax-secret-0123456789abcdef"
      for (
        const [text, where] of [
          [`{"openai": [{"model_name": "m",\n "api_keys": ["${key}", ]}]}`, "line 2"],
          [`{"openai": [{"model_name": "m", "api_keys": [${key}]}]}`, "line 1"]
        ] as const
      ) {
        fs.writeFileSync(filePath, text)
        const broken = yield* Effect.flip(ProviderConfig.load(filePath))
        expect(broken.issues[0]!.message).toMatch(new RegExp(`^not valid JSON: .* near ${where} column \\d+$`))
        expect(broken.message).not.toContain(key.slice(0, 12))
        expect(broken.message).not.toContain(key.slice(-8))
      }
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})

describe("ProviderConfig: api and preset", () => {
  const key = "sk-api-test-key-000000000001"

  it.effect(
    "a preset with another api, a vllm preset without base_url and a keyed model without api_keys are " +
      "reported",
    () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(ProviderConfig.fromJson({
          a: [{ model_name: "m", api_keys: [key], api: "anthropic", preset: "deepseek" }],
          b: [{ model_name: "m", api_keys: [key], preset: "vllm" }],
          c: [{ model_name: "m", preset: "groq" }],
          d: [{ model_name: "m", api_keys: [key], preset: "nope", api: "soap" }]
        }))
        const byPath = Object.fromEntries(error.issues.map((issue) => [issue.path, issue.message]))
        expect(byPath["d[0].preset"]).toContain("deepseek")
        expect(byPath["d[0].api"]).toContain("gemini")
        const second = yield* Effect.flip(ProviderConfig.fromJson({
          a: [{ model_name: "m", api_keys: [key], api: "anthropic", preset: "deepseek" }],
          b: [{ model_name: "m", api_keys: [key], preset: "vllm" }],
          c: [{ model_name: "m", preset: "groq" }]
        }))
        expect(second.issues).toEqual([
          { path: "a[0].preset", message: "presets are for the chat-completions api, not anthropic" },
          { path: "b[0].base_url", message: "the vllm preset needs base_url (the server's root, /v1 included)" },
          { path: "c[0].api_keys", message: "expected at least one key" }
        ])
      })
  )

  it.effect(
    "prefill: a boolean or a chat-completions style; any other value, and a style on another api, are named by path",
    () =>
      Effect.gen(function*() {
        const config = yield* ProviderConfig.fromJson({
          vllm: [{ model_name: "m", api_keys: [key], prefill: "continue_final_message" }],
          deepseek: [{ model_name: "m", api_keys: [key], preset: "deepseek", prefill: "prefix" }],
          claude: [{ model_name: "m", api_keys: [key], api: "anthropic", prefill: false }]
        })
        expect(config.providers.deepseek!["m"]!.entry.prefill).toBe("prefix")
        const error = yield* Effect.flip(ProviderConfig.fromJson({
          a: [{ model_name: "m", api_keys: [key], prefill: "vllm" }]
        }))
        expect(error._tag).toBe("ProviderConfigError")
        expect(error.issues).toEqual([
          { path: "a[0].prefill", message: "expected true, false or one of continue_final_message, prefix" }
        ])
        const onAnthropic = yield* Effect.flip(ProviderConfig.fromJson({
          b: [{ model_name: "m", api_keys: [key], api: "anthropic", prefill: "prefix" }]
        }))
        expect(onAnthropic.issues).toEqual([{
          path: "b[0].prefill",
          message: "\"prefix\" asks a chat-completions server to go on; for the anthropic api, expected true or false"
        }])
      })
  )

  it.effect("store: a boolean for the responses api only; on another api, or not a boolean, named by path", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson({
        up: [{ model_name: "m", api_keys: [key], api: "responses", store: true }]
      })
      expect(config.providers.up!["m"]!.entry.store).toBe(true)
      const error = yield* Effect.flip(ProviderConfig.fromJson({
        a: [{ model_name: "m", api_keys: [key], store: true }],
        b: [{ model_name: "m", api_keys: [key], api: "anthropic", store: false }]
      }))
      expect(error.issues).toEqual([
        { path: "a[0].store", message: "is for the responses api, not chat-completions" },
        { path: "b[0].store", message: "is for the responses api, not anthropic" }
      ])
      const notBoolean = yield* Effect.flip(ProviderConfig.fromJson({
        c: [{ model_name: "m", api_keys: [key], api: "responses", store: "yes" }]
      }))
      expect(notBoolean.issues.map((issue) => issue.path)).toEqual(["c[0].store"])
    }))

  it.effect("cache_conversations: a boolean for a Claude model's api only; on another, or not a boolean, named by path", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson({
        up: [
          { model_name: "a", api_keys: [key], api: "anthropic", cache_conversations: true },
          { model_name: "b", api: "bedrock", region: "us-east-1", cache_conversations: false },
          { model_name: "claude-c", api: "vertex", project: "p", location: "global", cache_conversations: true },
          {
            model_name: "d",
            api: "vertex",
            project: "p",
            location: "global",
            publisher: "anthropic",
            cache_conversations: true
          }
        ]
      })
      expect(Object.values(config.providers.up!).map(({ entry }) => entry.cache_conversations))
        .toEqual([true, false, true, true])
      const error = yield* Effect.flip(ProviderConfig.fromJson({
        a: [{ model_name: "m", api_keys: [key], cache_conversations: true }],
        b: [{ model_name: "gemini-x", api: "vertex", project: "p", location: "global", cache_conversations: true }],
        c: [{ model_name: "m", api_keys: [key], api: "gemini", cache_conversations: false }]
      }))
      const claudeOnly = "is for Claude (the anthropic or bedrock api, or vertex with publisher anthropic), not"
      expect(error.issues).toEqual([
        { path: "a[0].cache_conversations", message: `${claudeOnly} chat-completions` },
        { path: "b[0].cache_conversations", message: `${claudeOnly} vertex with publisher google` },
        { path: "c[0].cache_conversations", message: `${claudeOnly} gemini` }
      ])
      const notBoolean = yield* Effect.flip(ProviderConfig.fromJson({
        d: [{ model_name: "m", api_keys: [key], api: "anthropic", cache_conversations: "yes" }]
      }))
      expect(notBoolean.issues.map((issue) => issue.path)).toEqual(["d[0].cache_conversations"])
    }))

  it.effect("gateway.responses_ttl: seconds or a duration, as Gateway.Keys.responsesTtl; a bad one named", () =>
    Effect.gen(function*() {
      const model = { m: [{ model_name: "m", api_keys: [key] }] }
      for (const [written, millis] of [[90, 90_000], ["2 hours", 7_200_000]] as const) {
        const config = yield* ProviderConfig.fromJson({ ...model, gateway: { responses_ttl: written } })
        expect(Duration.toMillis(Duration.fromInputUnsafe(config.gateway!.responsesTtl!))).toBe(millis)
        expect(ProviderConfig.gatewayConfig(config).keys?.responsesTtl).toBe(config.gateway!.responsesTtl)
      }
      for (const bad of [-1, 0, "soon"]) {
        const error = yield* Effect.flip(ProviderConfig.fromJson({ ...model, gateway: { responses_ttl: bad } }))
        expect(error._tag).toBe("ProviderConfigError")
        expect(error.issues).toEqual([{
          path: "gateway.responses_ttl",
          message: "expected seconds (a positive number) or a duration such as \"30 seconds\""
        }])
      }
    }))

  it.effect("gateway.hosted_tools: omit or refuse, as Gateway.Keys.hostedTools; another value named", () =>
    Effect.gen(function*() {
      const model = { m: [{ model_name: "m", api_keys: [key] }] }
      for (const written of ["omit", "refuse"] as const) {
        const config = yield* ProviderConfig.fromJson({ ...model, gateway: { hosted_tools: written } })
        expect(ProviderConfig.gatewayConfig(config).keys?.hostedTools).toBe(written)
      }
      const unset = yield* ProviderConfig.fromJson({ ...model, gateway: {} })
      expect(ProviderConfig.gatewayConfig(unset).keys?.hostedTools).toBeUndefined()
      const error = yield* Effect.flip(ProviderConfig.fromJson({ ...model, gateway: { hosted_tools: "drop" } }))
      expect(error.issues).toEqual([{ path: "gateway.hosted_tools", message: "expected one of omit, refuse" }])
    }))

  it.effect("mcp_servers: http (url, headers) and stdio (command, args, env) servers, env: values Redacted", () =>
    Effect.gen(function*() {
      process.env["PC_MCP_FILES_TOKEN"] = "Bearer files-token-3e9a1c"
      process.env["PC_MCP_CALC_MODE"] = "exact"
      const config = yield* ProviderConfig.fromJson({
        m: [{ model_name: "m", api_keys: [key] }],
        mcp_servers: {
          files: { url: "http://127.0.0.1:9001/mcp", headers: { authorization: "env:PC_MCP_FILES_TOKEN" } },
          "calc-2": {
            command: "node",
            args: ["calc.mjs"],
            env: { CALC_MODE: "env:PC_MCP_CALC_MODE", X: "1" },
            tools: ["add", "m*"]
          }
        },
        gateway: { keys: [{ name: "reader", key: "gw-reader-key-0001", tools: ["files__read", "calc-2__*"] }] }
      })
      const servers = ProviderConfig.gatewayConfig(config).mcpServers!
      const files = servers["files"] as { readonly url: string; readonly headers: Record<string, Redacted.Redacted> }
      expect(files.url).toBe("http://127.0.0.1:9001/mcp")
      expect(Redacted.value(files.headers["authorization"]!)).toBe("Bearer files-token-3e9a1c")
      expect(String(files.headers["authorization"])).not.toContain("files-token")
      const calc = servers["calc-2"] as {
        readonly command: string
        readonly args: ReadonlyArray<string>
        readonly env: Record<string, Redacted.Redacted>
        readonly tools: ReadonlyArray<string>
      }
      expect([calc.command, calc.args, calc.tools]).toEqual(["node", ["calc.mjs"], ["add", "m*"]])
      expect(Redacted.value(calc.env["CALC_MODE"]!)).toBe("exact")
      expect(Redacted.value(calc.env["X"]!)).toBe("1")
      expect(config.gateway!.keys[0]!.tools).toEqual(["files__read", "calc-2__*"])
    }))

  it.effect("mcp_servers: every bad server named by path; a field of no use to its kind, an unset variable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderConfig.fromJson({
        m: [{ model_name: "m", api_keys: [key] }],
        mcp_servers: {
          "a__b": { url: "http://x/mcp" },
          both: { url: "http://x/mcp", command: "node" },
          neither: { tools: ["a"] },
          ftp: { url: "ftp://x/mcp" },
          cmd: { command: "node", headers: { a: "b" }, tools: [] },
          web: { url: "http://x/mcp", args: ["x"], headers: { authorization: "env:PC_MCP_UNSET_TOKEN" } }
        }
      }))
      expect(error._tag).toBe("ProviderConfigError")
      expect(error.issues.map((issue) => issue.path)).toEqual(["mcp_servers.ftp.url"])
      const resolved = yield* Effect.flip(ProviderConfig.fromJson({
        m: [{ model_name: "m", api_keys: [key] }],
        mcp_servers: {
          "a__b": { url: "http://x/mcp" },
          both: { url: "http://x/mcp", command: "node" },
          neither: { tools: ["a"] },
          cmd: { command: "node", headers: { a: "b" }, tools: [] },
          web: { url: "http://x/mcp", args: ["x"], headers: { authorization: "env:PC_MCP_UNSET_TOKEN" } }
        }
      }))
      expect(resolved.issues.map((issue) => [issue.path, issue.message])).toEqual([
        [
          "mcp_servers.a__b",
          "a server's name is letters and digits, with single - or _ between them (never __, which joins a " +
          "server's name and its tool's), at most 64 characters"
        ],
        [
          "mcp_servers.both",
          "expected either url (a Streamable HTTP server) or command (a program the gateway runs), not both"
        ],
        [
          "mcp_servers.neither",
          "expected either url (a Streamable HTTP server) or command (a program the gateway runs), not neither"
        ],
        ["mcp_servers.cmd.headers", "is for a Streamable HTTP server (url), not a stdio one (command)"],
        ["mcp_servers.cmd.tools", "expected at least one name (leave tools out to take every tool)"],
        ["mcp_servers.web.args", "is for a stdio server (command), not a Streamable HTTP one (url)"],
        ["mcp_servers.web.headers.authorization", "the environment variable PC_MCP_UNSET_TOKEN is not set"]
      ])
    }))

  it.effect("mcp_servers: a server's price, limits, protocol, bounds and OAuth client credentials are read", () =>
    Effect.gen(function*() {
      const [config, warnings] = yield* withWarnings(ProviderConfig.fromJson({
        m: [{ model_name: "m", api_keys: [key] }],
        mcp_servers: {
          files: {
            url: "http://x/mcp",
            price_per_call: 0.001,
            max_concurrency: 4,
            rate_limit_capacity: 10,
            rate_limit_refill_rate: 2,
            protocol: "2026-07-28",
            max_reply_bytes: 65536,
            call_timeout: "30 seconds",
            ping_interval: "45 seconds",
            token_url: "https://auth.example.com/oauth/token",
            client_id: "gateway",
            client_secret: "env:PC_MCP_CLIENT_SECRET",
            scope: "tools"
          },
          calc: { command: "node", call_timeout: 5, ping_interval: 0 }
        }
      }, "provider.json"))
      expect(warnings).toEqual([])
      const servers = ProviderConfig.gatewayConfig(config).mcpServers!
      const files = servers["files"] as Gateway.McpHttpServer
      expect(Redacted.value(files.oauth!.clientSecret)).toBe("client-secret-5d2e")
      expect(String(files.oauth!.clientSecret)).not.toContain("client-secret")
      expect({ ...files, oauth: { ...files.oauth, clientSecret: "redacted" } }).toEqual({
        url: "http://x/mcp",
        pricePerCall: 0.001,
        maxConcurrency: 4,
        rateLimit: { capacity: 10, refillRate: 2 },
        protocol: "2026-07-28",
        maxReplyBytes: 65536,
        callTimeout: Duration.seconds(30),
        pingInterval: Duration.seconds(45),
        oauth: {
          tokenUrl: "https://auth.example.com/oauth/token",
          clientId: "gateway",
          clientSecret: "redacted",
          scope: "tools"
        }
      })
      expect(servers["calc"]).toEqual({
        command: "node",
        callTimeout: Duration.seconds(5),
        pingInterval: Duration.zero
      })
    }))

  it.effect("mcp_servers: a bad protocol, bound, timeout or ping interval, and incomplete client credentials are named by path", () =>
    Effect.gen(function*() {
      const decoded = yield* Effect.flip(ProviderConfig.fromJson({
        m: [{ model_name: "m", api_keys: [key] }],
        mcp_servers: {
          a: {
            url: "http://x/mcp",
            protocol: "2024-11-05",
            max_reply_bytes: 0,
            call_timeout: "soon",
            ping_interval: -1
          },
          b: { url: "http://x/mcp", token_url: "ftp://x/token" }
        }
      }))
      expect(decoded.issues.map((issue) => [issue.path, issue.message])).toEqual([
        ["mcp_servers.a.protocol", "expected one of 2025-11-25, 2026-07-28"],
        ["mcp_servers.a.max_reply_bytes", "expected a positive whole number"],
        ["mcp_servers.a.call_timeout", "expected seconds (a positive number) or a duration such as \"30 seconds\""],
        [
          "mcp_servers.a.ping_interval",
          "expected 0 (no pings), seconds (a positive number) or a duration such as \"30 seconds\""
        ],
        [
          "mcp_servers.b.token_url",
          "expected an absolute http:// or https:// URL such as https://api.openai.com/v1"
        ]
      ])
      const resolved = yield* Effect.flip(ProviderConfig.fromJson({
        m: [{ model_name: "m", api_keys: [key] }],
        mcp_servers: {
          half: { url: "http://x/mcp", token_url: "http://x/token", client_id: "c" },
          lone: { url: "http://x/mcp", scope: "tools" },
          unset: { url: "http://x/mcp", token_url: "http://x/token", client_id: "c", client_secret: "env:PC_MCP_NOPE" },
          stdio: { command: "node", client_id: "c" }
        }
      }))
      expect(resolved.issues.map((issue) => [issue.path, issue.message])).toEqual([
        [
          "mcp_servers.half.client_secret",
          "is missing (OAuth client credentials take token_url, client_id and client_secret)"
        ],
        ["mcp_servers.lone.scope", "is for OAuth client credentials (token_url, client_id, client_secret)"],
        ["mcp_servers.unset.client_secret", "the environment variable PC_MCP_NOPE is not set"],
        ["mcp_servers.stdio.client_id", "is for a Streamable HTTP server (url), not a stdio one (command)"]
      ])
    }))

  it.effect("a keyless model (api ollama, the ollama preset) gets the key none", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson({
        local: [{ model_name: "llama3.2", api: "ollama" }, { model_name: "qwen3", preset: "ollama" }]
      })
      for (const model of ["llama3.2", "qwen3"]) {
        expect(config.providers.local![model]!.keys.map((k) => Redacted.value(k.key as Redacted.Redacted<string>)))
          .toEqual(["none"])
      }
    }))

  it.effect(
    "a cloud entry without api_keys gets its credential's identity as its key (project, profile, resource), which " +
      "is no provider key to mask",
    () =>
      Effect.gen(function*() {
        const config = yield* ProviderConfig.fromJson({
          gcp: [
            { model_name: "gemini-2.5-flash", api: "vertex", project: "proj-a", location: "us-central1" },
            { model_name: "gemini-2.5-pro", api: "vertex", project: "proj-b", location: "us-central1" }
          ],
          aws: [
            { model_name: "amazon.nova-micro-v1:0", api: "bedrock", region: "us-east-1", profile: "alpha" },
            { model_name: "amazon.nova-lite-v1:0", api: "bedrock", region: "us-east-1" }
          ],
          azure: [{ model_name: "gpt-4.1", api: "azure", base_url: "https://res.openai.azure.com" }],
          openai: [{ model_name: "gpt-4o", api_keys: ["sk-provider-key-0123456789"] }]
        })
        const keyOf = (provider: string, model: string) =>
          config.providers[provider]![model]!.keys.map((k) => typeof k.key === "string" ? k.key : Redacted.value(k.key))
        expect(keyOf("gcp", "gemini-2.5-flash")).toEqual(["google-credential:project/proj-a"])
        expect(keyOf("gcp", "gemini-2.5-pro")).toEqual(["google-credential:project/proj-b"])
        expect(keyOf("aws", "amazon.nova-micro-v1:0")).toEqual(["aws-credential:profile/alpha"])
        expect(keyOf("aws", "amazon.nova-lite-v1:0")).toEqual(["aws-credential:default-chain"])
        expect(keyOf("azure", "gpt-4.1")).toEqual(["entra-id:https://res.openai.azure.com"])
        expect((ProviderConfig.gatewayConfig(config).providerKeys ?? []).map(Redacted.value)).toEqual([
          "sk-provider-key-0123456789"
        ])
      })
  )

  it.live("each api chats through the simulator over loopback, and a preset with base_url does too", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 5 })
      const root = simulator.url
      const config = yield* ProviderConfig.fromJson({
        "p-chat": [{ model_name: "sim-small", api_keys: [key], base_url: `${root}/v1`, api: "chat-completions" }],
        "p-responses": [{ model_name: "sim-small", api_keys: [key], base_url: `${root}/v1`, api: "responses" }],
        "p-anthropic": [{ model_name: "sim-small", api_keys: [key], base_url: root, api: "anthropic" }],
        "p-gemini": [{ model_name: "sim-small", api_keys: [key], base_url: root, api: "gemini" }],
        "p-ollama": [{ model_name: "sim-small", api_keys: [key], base_url: root, api: "ollama" }],
        "p-deepseek": [{ model_name: "sim-small", api_keys: [key], base_url: `${root}/v1`, preset: "deepseek" }],
        "p-zhipu": [{ model_name: "sim-small", api_keys: [key], base_url: `${root}/v1`, preset: "zhipu" }]
      })
      const models = yield* ProviderConfig.layers(config)
      const ask = Llm.chat({ messages: [Message.user("Hello")] })
      const texts = new Set<string>()
      for (const provider of ["p-chat", "p-responses", "p-anthropic", "p-gemini", "p-ollama", "p-deepseek"]) {
        const reply = yield* ask.pipe(
          Effect.provide(models[provider]!["sim-small"]!),
          Effect.provide(NodeHttpClient.layerUndici)
        )
        expect(reply.provider).toBe(provider)
        expect(reply.usage.completionTokens).toBe(5)
        texts.add(reply.text)
      }
      // The simulator's reply depends on the prompt only: the same text through every format.
      expect(texts.size).toBe(1)
      // A key without a dot goes to Zhipu's endpoint as a plain bearer, which the simulator checks.
      const zhipu = yield* ask.pipe(
        Effect.provide(models["p-zhipu"]!["sim-small"]!),
        Effect.provide(NodeHttpClient.layerUndici)
      )
      expect(zhipu.provider).toBe("p-zhipu")
    }))
})

describe("ProviderConfig.clientLayer", () => {
  it.effect("an entry built by hand with the vllm preset and no base_url fails with OptionsError naming it", () =>
    Effect.gen(function*() {
      const error = yield* buildError(ProviderConfig.clientLayer("local", { model_name: "m", preset: "vllm" }))
      expectOptionsError(error, { module: "Presets (local/m)", option: "baseUrl", value: "undefined" })
    }))

  it.effect("each api's default root, a preset's, base_url over a preset's, and headers on the request", () =>
    Effect.gen(function*() {
      const fake = fakeHttpClient(() =>
        new Response("{}", { status: 500, headers: { "content-type": "application/json" } })
      )
      const urlOf = (entry: ProviderConfig.ModelEntry) =>
        Effect.gen(function*() {
          const client = yield* ProviderClient.ProviderClient.pipe(
            Effect.provide(ProviderConfig.clientLayer("p", entry)),
            Effect.provideService(HttpClient.HttpClient, fake.client)
          )
          yield* Effect.result(
            client.chat({ messages: [Message.user("Hi")] }, ProviderClient.credentials("sk-test-000000000001"))
          )
          return fake.requests[fake.requests.length - 1]!
        })
      const m = { model_name: "m" }
      expect((yield* urlOf(m)).url).toBe("https://api.openai.com/v1/chat/completions")
      expect((yield* urlOf({ ...m, api: "responses" })).url).toBe("https://api.openai.com/v1/responses")
      expect((yield* urlOf({ ...m, api: "anthropic" })).url).toBe("https://api.anthropic.com/v1/messages")
      expect((yield* urlOf({ ...m, api: "gemini" })).url).toBe(
        "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent"
      )
      expect((yield* urlOf({ ...m, api: "ollama" })).url).toBe("http://localhost:11434/api/chat")
      expect((yield* urlOf({ ...m, preset: "groq" })).url).toBe("https://api.groq.com/openai/v1/chat/completions")
      const routed = yield* urlOf({
        ...m,
        preset: "openrouter",
        base_url: "http://127.0.0.1:9/v1",
        headers: { "X-Title": "App" }
      })
      expect(routed.url).toBe("http://127.0.0.1:9/v1/chat/completions")
      expect(routed.headers["x-title"]).toBe("App")
      expect(routed.body).toMatchObject({ model: "m" })
    }))
})
