/**
 * A provider key belongs to its endpoint: two entries of one provider on two servers (an internal one and a vendor's,
 * each a simulator that takes only its own key and answers 401 to any other), served by the gateway over loopback
 * with the official `openai` client. Each server receives only its own entry's keys, a vendor's 401 disables the key
 * for the vendor's entry alone, and entries that name one server (spelled two ways) still share one state: in memory,
 * and across two gateways sharing a real redis-server.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import OpenAI from "openai"
import { createClient } from "redis"
import * as Gateway from "../../src/Gateway.js"
import { maskKey } from "../../src/LlmError.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Vertex from "../../src/providers/Vertex.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { scopedDirectory, scopedEnv } from "../utils/env.js"
import { eventually } from "../utils/eventually.js"
import { redisServer } from "../utils/redisServer.js"

const internalKey = "sk-endpoint-internal-0001"
const vendorKey = "sk-endpoint-vendor-0002"
// Listed under the internal entry and the vendor's: the vendor does not take it.
const sharedKey = "sk-endpoint-shared-0003"

const models = [...Simulator.defaultModels, "internal-model", "vendor-model", "vendor-other"]

const entry = (model: string, baseUrl: string, keys: ReadonlyArray<string>) => ({
  model_name: model,
  base_url: baseUrl,
  api_keys: keys,
  max_retries: 1
})

/** A gateway on loopback over `json` (a provider.json's content), for the current scope. */
const serving = (json: Record<string, unknown>) =>
  Effect.flatMap(
    ProviderConfig.fromJson(json),
    (config) => Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
  )

/** `model`'s answer through `gateway`: its HTTP status (200 when it answered). */
const ask = (gateway: Gateway.Service, model: string) =>
  Effect.promise(() =>
    new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 }).chat.completions.create({
      model,
      messages: [{ role: "user", content: "Hello" }]
    }).then(() => 200, (error: { readonly status?: number }) => error.status ?? 0)
  )

const requestsOf = (simulator: Simulator.Simulator) => Effect.map(simulator.stats, (stats) => stats.requests)

/** A deployment's keys as status shows them: masked id and why disabled (`null` while usable). */
const keysOf = (gateway: Gateway.Service, deployment: string) =>
  Effect.map(
    gateway.status,
    (status) => status.details[deployment]!.keys.map((key) => ({ key: key.key, disabled: key.disabled }))
  )

describe("Gateway: a provider key belongs to its endpoint", () => {
  it.live(
    "two entries of one provider on two servers: each server receives only its own keys, and status names each " +
      "deployment's endpoint",
    () =>
      Effect.gen(function*() {
        const internal = yield* Simulator.make({ apiKeys: [internalKey], models })
        const vendor = yield* Simulator.make({ apiKeys: [vendorKey], models })
        const gateway = yield* serving({
          acme: [
            entry("internal-model", `${internal.url}/v1`, [internalKey]),
            entry("vendor-model", `${vendor.url}/v1`, [vendorKey])
          ]
        })
        for (let i = 0; i < 4; i++) {
          expect(yield* ask(gateway, "internal-model")).toBe(200)
          expect(yield* ask(gateway, "vendor-model")).toBe(200)
        }
        // Not one request with the other's key (each would have been a 401, and a retry).
        expect(yield* requestsOf(internal)).toBe(4)
        expect(yield* requestsOf(vendor)).toBe(4)
        const status = yield* gateway.status
        expect(status.details["acme/internal-model"]).toMatchObject({
          provider: "acme",
          endpoint: `${internal.url}/v1`,
          keys: [{ key: maskKey(internalKey), disabled: null }]
        })
        expect(status.details["acme/vendor-model"]).toMatchObject({
          provider: "acme",
          endpoint: `${vendor.url}/v1`,
          keys: [{ key: maskKey(vendorKey), disabled: null }]
        })
        const capacity = yield* Effect.promise(() =>
          fetch(`${gateway.url}/llm/system-capacity`).then((response) =>
            response.json() as Promise<{ readonly details: Record<string, { readonly endpoint: string }> }>
          )
        )
        expect(capacity.details["acme/vendor-model"]!.endpoint).toBe(`${vendor.url}/v1`)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    30_000
  )

  it.live(
    "a key listed under both: the vendor's 401 disables it for the vendor's entries alone (the internal model still " +
      "answers), and two spellings of the vendor's root share that state",
    () =>
      Effect.gen(function*() {
        const internal = yield* Simulator.make({ apiKeys: [sharedKey], models })
        const vendor = yield* Simulator.make({ apiKeys: [vendorKey], models })
        const gateway = yield* serving({
          acme: [
            entry("internal-model", `${internal.url}/v1`, [sharedKey]),
            entry("vendor-model", `${vendor.url}/v1`, [sharedKey]),
            // The same root spelled otherwise: one endpoint, one state.
            entry("vendor-other", `${vendor.url.replace("http:", "HTTP:")}/v1/`, [sharedKey])
          ]
        })
        expect(yield* ask(gateway, "vendor-model")).not.toBe(200)
        expect(yield* requestsOf(vendor)).toBe(1)
        const disabled = [{ key: maskKey(sharedKey), disabled: expect.any(String) }]
        expect(yield* keysOf(gateway, "acme/vendor-model")).toEqual(disabled)
        // Disabled for the other entry of the vendor's root too: refused without a request.
        expect(yield* keysOf(gateway, "acme/vendor-other")).toEqual(disabled)
        expect(yield* ask(gateway, "vendor-other")).not.toBe(200)
        expect(yield* requestsOf(vendor)).toBe(1)
        // The internal server's entry keeps it.
        expect(yield* ask(gateway, "internal-model")).toBe(200)
        expect(yield* ask(gateway, "internal-model")).toBe(200)
        expect(yield* keysOf(gateway, "acme/internal-model")).toEqual([{ key: maskKey(sharedKey), disabled: null }])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    30_000
  )

  it.live(
    "entries of one endpoint pick among their own keys only: a key listed under vendor-other never answers " +
      "vendor-model, whose own key's 401 leaves it with none; the key both list is one key",
    () =>
      Effect.gen(function*() {
        // The vendor takes the other model's key and the shared one, not vendor-model's own.
        const vendor = yield* Simulator.make({ apiKeys: [sharedKey, vendorKey], models })
        const gateway = yield* serving({
          acme: [
            entry("vendor-model", `${vendor.url}/v1`, [internalKey]),
            entry("vendor-other", `${vendor.url}/v1`, [vendorKey, sharedKey])
          ]
        })
        expect(yield* keysOf(gateway, "acme/vendor-model")).toEqual([{ key: maskKey(internalKey), disabled: null }])
        // Its own key refused, vendor-model has no other: the other entry's keys are not its to try.
        expect(yield* ask(gateway, "vendor-model")).not.toBe(200)
        expect(yield* requestsOf(vendor)).toBe(1)
        expect(yield* ask(gateway, "vendor-model")).not.toBe(200)
        expect(yield* requestsOf(vendor)).toBe(1)
        expect(yield* keysOf(gateway, "acme/vendor-model")).toEqual([
          { key: maskKey(internalKey), disabled: expect.any(String) }
        ])
        for (let i = 0; i < 3; i++) expect(yield* ask(gateway, "vendor-other")).toBe(200)
        expect(yield* keysOf(gateway, "acme/vendor-other")).toEqual([
          { key: maskKey(vendorKey), disabled: null },
          { key: maskKey(sharedKey), disabled: null }
        ])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    30_000
  )

  it.live(
    "a 403 refuses a key for its entry only (the other entry listing it still answers with it); a 401 disables it " +
      "for every entry; in memory and through Redis",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        for (const store of [undefined, { redis: redis.url }]) {
          const vendor = yield* Simulator.make({ apiKeys: [sharedKey, vendorKey], models })
          const refusing = (status: number) => ({ headers: { [Simulator.faultHeader]: `status=${status}` } })
          const gateway = yield* serving({
            acme: [
              // A project key the vendor refuses for vendor-model (403), and a key it does not take at all (401).
              { ...entry("vendor-model", `${vendor.url}/v1`, [sharedKey]), ...refusing(403) },
              entry("vendor-other", `${vendor.url}/v1`, [sharedKey]),
              { ...entry("internal-model", `${vendor.url}/v1`, [vendorKey]), ...refusing(401) },
              entry("gpt-4o-mini", `${vendor.url}/v1`, [vendorKey])
            ],
            // Limits shared through Redis without gateway keys: this test is of provider keys.
            ...(store === undefined ? {} : { store, gateway: { allow_keyless: true } })
          })
          const where = store === undefined ? "memory" : "redis"
          yield* eventually(`vendor-other answering (${where})`, ask(gateway, "vendor-other"), (s) => s === 200)
          expect(yield* ask(gateway, "vendor-model"), where).not.toBe(200)
          expect(yield* keysOf(gateway, "acme/vendor-model"), where).toEqual([
            { key: maskKey(sharedKey), disabled: "forbidden" }
          ])
          // The other entry keeps the key: usable, answering with it.
          expect(yield* keysOf(gateway, "acme/vendor-other"), where).toEqual([
            { key: maskKey(sharedKey), disabled: null }
          ])
          for (let i = 0; i < 3; i++) expect(yield* ask(gateway, "vendor-other"), where).toBe(200)
          // Refused for vendor-model: no request sent with it again.
          const before = yield* requestsOf(vendor)
          expect(yield* ask(gateway, "vendor-model"), where).not.toBe(200)
          expect(yield* requestsOf(vendor), where).toBe(before)
          // A 401 is the key's: disabled for every entry listing it.
          expect(yield* ask(gateway, "internal-model"), where).not.toBe(200)
          yield* eventually(
            `gpt-4o-mini's key disabled (${where})`,
            keysOf(gateway, "acme/gpt-4o-mini"),
            (keys) => keys[0]?.disabled === "invalid_key"
          )
          expect(yield* ask(gateway, "gpt-4o-mini"), where).not.toBe(200)
        }
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a cloud credential's identity is a key of its own: one Vertex project's 403 and one AWS profile's 403 leave " +
      "the other project and profile of the same endpoint answering",
    () =>
      Effect.gen(function*() {
        const alpha = { accessKeyId: "AKIAENDPOINTALPHA000", secretAccessKey: "alpha/endpoint/secret/0000000000000000" }
        const beta = { accessKeyId: "AKIAENDPOINTBETA0000", secretAccessKey: "beta/endpoint/secret/00000000000000000" }
        const home = yield* scopedDirectory("endpoint-profiles-")
        Fs.writeFileSync(
          Path.join(home, "credentials"),
          [alpha, beta].map((pair, i) =>
            `[${i === 0 ? "alpha" : "beta"}]\naws_access_key_id = ${pair.accessKeyId}\n` +
            `aws_secret_access_key = ${pair.secretAccessKey}\n`
          ).join("")
        )
        Fs.writeFileSync(Path.join(home, "config"), "")
        yield* scopedEnv({
          AWS_SHARED_CREDENTIALS_FILE: Path.join(home, "credentials"),
          AWS_CONFIG_FILE: Path.join(home, "config")
        })
        const token = "ya29.endpoint-keys-token-0123456789"
        const claude = "anthropic.claude-3-5-haiku-20241022-v1:0"
        const simulator = yield* Simulator.make({
          apiKeys: [token, alpha.accessKeyId, beta.accessKeyId],
          bedrockCredentials: [alpha, beta],
          models: ["gemini-2.5-flash", "gemini-2.5-pro", claude, "amazon.nova-micro-v1:0"]
        })
        const forbidden = { headers: { [Simulator.faultHeader]: "status=403" } }
        const vertex = (model: string, project: string, extra: Record<string, unknown> = {}) => ({
          model_name: model,
          api: "vertex",
          project,
          location: "us-central1",
          base_url: simulator.url,
          max_retries: 0,
          ...extra
        })
        const bedrock = (model: string, profile: string, extra: Record<string, unknown> = {}) => ({
          model_name: model,
          api: "bedrock",
          region: "us-east-1",
          base_url: simulator.url,
          profile,
          max_retries: 0,
          ...extra
        })
        const gateway = yield* serving({
          gcp: [vertex("gemini-2.5-pro", "refused-proj", forbidden), vertex("gemini-2.5-flash", "good-proj")],
          aws: [bedrock(claude, "alpha", forbidden), bedrock("amazon.nova-micro-v1:0", "beta")]
        }).pipe(
          Effect.provideService(Vertex.Credential, { getAccessToken: () => Promise.resolve({ token }) })
        )
        for (const [refused, other] of [["gemini-2.5-pro", "gemini-2.5-flash"], [claude, "amazon.nova-micro-v1:0"]]) {
          expect(yield* ask(gateway, refused!)).toBe(401)
          const provider = refused!.startsWith("gemini") ? "gcp" : "aws"
          expect((yield* keysOf(gateway, `${provider}/${refused}`))[0]!.disabled).toBe("forbidden")
          // The other project or profile: another key, usable, answering.
          const keys = yield* keysOf(gateway, `${provider}/${other}`)
          expect(keys).toEqual([{ key: expect.any(String), disabled: null }])
          expect(keys[0]!.key).not.toBe((yield* keysOf(gateway, `${provider}/${refused}`))[0]!.key)
          expect(yield* ask(gateway, other!)).toBe(200)
        }
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    30_000
  )

  it.live(
    "two gateways sharing Redis: the vendor's 401 on one disables the key for the vendor's entry on both, never for " +
      "the internal one; the store names pools by a digest of their endpoint",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const internal = yield* Simulator.make({ apiKeys: [sharedKey], models })
        const vendor = yield* Simulator.make({ apiKeys: [vendorKey], models })
        const json = {
          acme: [
            entry("internal-model", `${internal.url}/v1`, [sharedKey]),
            entry("vendor-model", `${vendor.url}/v1`, [sharedKey])
          ],
          store: { redis: redis.url },
          // Instances sharing a store answer requests without a key only when told to.
          gateway: { allow_keyless: true }
        }
        const first = yield* serving(json)
        const second = yield* serving(json)
        // Once each has reached the store (it connects in the background), the internal model answers on both.
        for (const gateway of [first, second]) {
          yield* eventually("the internal model answering", ask(gateway, "internal-model"), (status) => status === 200)
        }
        expect(yield* ask(first, "vendor-model")).not.toBe(200)
        // The other instance sees the vendor's entry's key disabled, at its next read of the store.
        yield* eventually(
          "the vendor's key disabled on the second gateway",
          keysOf(second, "acme/vendor-model"),
          (keys) => keys[0]?.disabled !== null
        )
        expect(yield* ask(second, "vendor-model")).not.toBe(200)
        expect(yield* requestsOf(vendor)).toBe(1)
        for (const gateway of [first, second]) {
          expect(yield* ask(gateway, "internal-model")).toBe(200)
          expect(yield* keysOf(gateway, "acme/internal-model")).toEqual([{ key: maskKey(sharedKey), disabled: null }])
        }

        const names = yield* Effect.acquireUseRelease(
          Effect.promise(() => createClient({ url: redis.url }).connect()),
          (client) => Effect.promise(() => client.keys("*")),
          (client) => Effect.promise(() => client.quit())
        )
        const pools = names.filter((name) => name.includes("pool:"))
        expect(pools.length).toBeGreaterThan(0)
        // Two endpoints, two digests; no root in any name.
        const digests = new Set(pools.map((name) => /pool:acme@([0-9a-f]{16})/.exec(name)?.[1]))
        expect(digests.has(undefined)).toBe(false)
        expect(digests.size).toBe(2)
        expect(names.filter((name) => name.includes("127.0.0.1"))).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
