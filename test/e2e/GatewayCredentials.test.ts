/**
 * A cloud credential that gives nothing is the gateway's problem, not the caller's: deployments on Vertex AI, on Azure
 * with Microsoft Entra ID and on Bedrock with SigV4, each with a credential that gives no token, beside one with a
 * working key, served over loopback. Every official client (`openai`, `@anthropic-ai/sdk`, `@google/genai`) sees a 503
 * `credential_unavailable` naming the deployment (its server-error class, never `AuthenticationError`), `/ready` and
 * `Gateway.Service.unavailableCredentials` name the deployments without one, and `serve` says so in its start line,
 * in an environment emptied of cloud credentials. A profile whose `credential_process` fails is named, its command
 * line and what it printed in none of `serve`'s output (the built command line, its own stdout and stderr).
 */
import Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import { ApiError } from "@google/genai"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import * as Fs from "node:fs"
import * as Path from "node:path"
import OpenAI from "openai"
import * as Serve from "../../src/cli/serve.js"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { awaitFirstLine, envWithoutKeys, startCli, startInProcess } from "../utils/cliHarness.js"
import { claude, cloudEntries, withCloudCredentials } from "../utils/cloudCredentials.js"
import { scopedDirectory, scopedEnv, withoutCloudCredentials } from "../utils/env.js"
import { eventually } from "../utils/eventually.js"
import { gatewayClients } from "../utils/gatewayClients.js"

const key = "sk-credentials-key-0123456789"

const clouds = (url: string) => cloudEntries(url, { azure: "azure" })
const uncredentialed = ["gcp/gemini-2.5-flash", "azure/gpt-4.1", `aws/${claude}`]

const refusal = <E>(call: () => Promise<unknown>) =>
  Effect.promise(() => call().then(() => undefined, (error: unknown) => error as E))

const readyOf = (url: string) =>
  Effect.promise(() =>
    fetch(`${url}/ready`).then(async (response) => ({
      status: response.status,
      body: await response.json() as Record<string, unknown>
    }))
  )

describe("Gateway: a cloud credential that gives nothing is the server's problem", () => {
  it.effect(
    "/ready does not ask again for 5 seconds a credential that gave nothing; one signed in since is seen after them",
    () =>
      Effect.gen(function*() {
        const asks = { gcp: 0, azure: 0, aws: 0 }
        // Vertex's credential signs in after its second ask.
        const config = yield* ProviderConfig.fromJson(clouds("http://127.0.0.1:9"))
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }).pipe(
          withCloudCredentials({
            vertex: () =>
              ++asks.gcp > 2
                ? Promise.resolve({ token: "ya29.signed-in-since" })
                : Promise.reject(new Error("no Google account is signed in")),
            entra: () => {
              asks.azure++
              return Promise.reject(new Error("no Azure account is signed in"))
            },
            aws: () => {
              asks.aws++
              return Promise.reject(new Error("no AWS credentials here"))
            }
          })
        )
        const probes = (times: number) =>
          Effect.replicateEffect(
            Effect.all([readyOf(gateway.url), gateway.unavailableCredentials, gateway.ready]),
            times
          )
        for (const [ready, details, isReady] of yield* probes(3)) {
          expect(ready.status).toBe(503)
          expect(JSON.stringify(ready.body)).toContain(
            `No working credential (no token): ${uncredentialed.join(", ")}.`
          )
          expect(Object.keys(details)).toEqual(uncredentialed)
          expect(details["azure/gpt-4.1"]).toContain("no Azure account is signed in")
          expect(isReady).toBe(false)
        }
        // Nine probes, each credential asked once.
        expect(asks).toEqual({ gcp: 1, azure: 1, aws: 1 })
        yield* TestClock.adjust("4999 millis")
        yield* probes(2)
        expect(asks).toEqual({ gcp: 1, azure: 1, aws: 1 })
        // Past 5 seconds each is asked again, once, and kept again.
        yield* TestClock.adjust("1 millis")
        yield* probes(3)
        expect(asks).toEqual({ gcp: 2, azure: 2, aws: 2 })
        // Vertex's credential signs in: seen at the next ask after 5 seconds (a working one is asked as a call asks it;
        // Google's client holds its own token).
        yield* TestClock.adjust("5 seconds")
        const [, details] = (yield* probes(1))[0]!
        expect(Object.keys(details)).toEqual(["azure/gpt-4.1", `aws/${claude}`])
        yield* probes(2)
        expect([asks.azure, asks.aws]).toEqual([3, 3])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    30_000
  )

  it.live(
    "each front door's official client sees 503 credential_unavailable naming the deployment; /ready names them",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({
          apiKeys: [key],
          models: [...Simulator.defaultModels, "gemini-2.5-flash", "gpt-4.1", claude]
        })
        const config = yield* ProviderConfig.fromJson({
          ...clouds(simulator.url),
          openai: [{ model_name: "sim-small", base_url: `${simulator.url}/v1`, api_keys: [key], max_retries: 0 }]
        })
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }).pipe(
          withCloudCredentials({
            vertex: () => Promise.reject(new Error("no Google account is signed in")),
            entra: () => Promise.reject(new Error("no Azure account is signed in")),
            aws: () => Promise.reject(new Error("no AWS credentials here"))
          })
        )
        const { anthropic, google, openai } = gatewayClients(gateway.url)
        for (const model of uncredentialed) {
          const error = yield* refusal<InstanceType<typeof OpenAI.APIError>>(() =>
            openai.chat.completions.create({ model, messages: [{ role: "user", content: "Hi" }] })
          )
          expect(error, model).toBeInstanceOf(OpenAI.InternalServerError)
          expect(error, model).not.toBeInstanceOf(OpenAI.AuthenticationError)
          expect(error?.status).toBe(503)
          expect(error?.code).toBe("credential_unavailable")
          expect(error?.message).toContain(`no working credential for the deployment ${model}`)
        }
        const fromAnthropic = yield* refusal<InstanceType<typeof Anthropic.APIError>>(() =>
          anthropic.messages.create({
            model: "gcp/gemini-2.5-flash",
            max_tokens: 16,
            messages: [{ role: "user", content: "Hi" }]
          })
        )
        expect(fromAnthropic).toBeInstanceOf(Anthropic.InternalServerError)
        expect(fromAnthropic).not.toBeInstanceOf(Anthropic.AuthenticationError)
        expect(fromAnthropic?.status).toBe(503)
        const fromGoogle = yield* refusal<ApiError>(() =>
          google.models.generateContent({ model: "azure/gpt-4.1", contents: "Hi" })
        )
        expect(fromGoogle).toBeInstanceOf(ApiError)
        expect(fromGoogle?.status).toBe(503)
        expect(fromGoogle?.message).toContain("no working credential for the deployment azure/gpt-4.1")
        // Nothing reached the simulator without a credential: only the keyed model's call below does.
        expect((yield* simulator.stats).requests).toBe(0)

        // Ready (the keyed model answers), naming the deployments without a credential.
        expect(yield* readyOf(gateway.url)).toEqual({
          status: 200,
          body: { status: "ready", credential_unavailable: uncredentialed }
        })
        expect(yield* gateway.ready).toBe(true)
        const details = yield* gateway.unavailableCredentials
        expect(Object.keys(details)).toEqual(uncredentialed)
        expect(details["gcp/gemini-2.5-flash"]).toContain("no Google account is signed in")
        expect(details["azure/gpt-4.1"]).toContain("no Azure account is signed in")
        expect(details[`aws/${claude}`]).toContain("no AWS credentials here")
        const answered = yield* Effect.promise(() =>
          openai.chat.completions.create({ model: "openai/sim-small", messages: [{ role: "user", content: "Hi" }] })
        )
        expect(answered.choices[0]!.message.content).not.toBe("")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    30_000
  )

  it.live(
    "serve with no cloud credentials in its environment: not ready, and its start line names the deployments " +
      "without one",
    () =>
      Effect.gen(function*() {
        yield* withoutCloudCredentials
        const dir = yield* scopedDirectory("serve-credentials-")
        // Google's chain finds nothing either: no key file, no gcloud configuration, a metadata server that refuses.
        yield* scopedEnv({
          GOOGLE_APPLICATION_CREDENTIALS: undefined,
          CLOUDSDK_CONFIG: dir,
          GCE_METADATA_HOST: "127.0.0.1:9"
        })
        const simulator = yield* Simulator.make({ models: ["gemini-2.5-flash", "gpt-4.1", claude] })
        const file = Path.join(dir, "provider.json")
        Fs.writeFileSync(file, JSON.stringify(clouds(simulator.url)))
        const running = yield* startInProcess((io) =>
          Serve.run(["--config", file, "--port", "0", "--data", Path.join(dir, "data")], io)
        )
        const url = yield* awaitFirstLine(running, "serve's first line (its URL)")
        // The start line follows once every credential has been asked.
        const started = yield* eventually(
          "serve's start line",
          Effect.sync(() => running.stderr()),
          (stderr) => stderr.includes("Ctrl-C to stop")
        )
        expect(started).toContain(
          "No working credential (their calls answered 503 credential_unavailable until it gives a token): " +
            "gcp/gemini-2.5-flash (ApplicationDefaultCredentials: none found: tried the file " +
            "GOOGLE_APPLICATION_CREDENTIALS names (unset)"
        )
        expect(started).toContain("; azure/gpt-4.1 (")
        expect(started).toContain(`; aws/${claude} (`)
        // "none" is a word here, not a key to mask; and no Vertex entry is told to use keys it refuses.
        expect(started).not.toMatch(/…ne#/)
        const ready = yield* readyOf(url)
        expect(ready.status).toBe(503)
        expect(JSON.stringify(ready.body)).toContain(
          `No working credential (no token): gcp/gemini-2.5-flash, azure/gpt-4.1, aws/${claude}.`
        )
        const fromVertex = yield* refusal<InstanceType<typeof OpenAI.APIError>>(() =>
          new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 }).chat.completions.create({
            model: "gemini-2.5-flash",
            messages: [{ role: "user", content: "Hi" }]
          })
        )
        expect(fromVertex?.status).toBe(503)
        expect(fromVertex?.message).not.toContain("API key")
        // The request's log line holds the credential's own words, "none" unmasked, and advises no API keys.
        const logged = yield* eventually(
          "the Vertex call's log line",
          Effect.sync(() => running.stderr().split("\n").filter((line) => line.includes("gemini-2.5-flash"))),
          (lines) => lines.some((line) => line.includes("credential_unavailable"))
        )
        const line = logged.find((candidate) => candidate.includes("credential_unavailable"))!
        expect(line).toContain("none found")
        expect(line).not.toMatch(/…ne#/)
        expect(line).not.toContain("API keys")
        const error = yield* refusal<InstanceType<typeof OpenAI.APIError>>(() =>
          new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 }).chat.completions.create({
            model: claude,
            messages: [{ role: "user", content: "Hi" }]
          })
        )
        expect(error).toBeInstanceOf(OpenAI.InternalServerError)
        expect(error?.code).toBe("credential_unavailable")
        expect((yield* simulator.stats).requests).toBe(0)
        yield* Fiber.interrupt(running.exited)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "serve over an AWS profile whose credential_process fails: the deployment named, its command line and output in " +
      "none of serve's output, its answer or /ready",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDirectory("serve-credential-process-")
        Fs.writeFileSync(
          Path.join(dir, "credentials"),
          "[proc]\ncredential_process = sh -c 'echo printed-secret-0123456789 >&2; exit 3' --token " +
            "argument-secret-0123456789\n"
        )
        Fs.writeFileSync(Path.join(dir, "config"), "")
        const simulator = yield* Simulator.make({ models: [claude] })
        const file = Path.join(dir, "provider.json")
        Fs.writeFileSync(
          file,
          JSON.stringify({
            aws: [{ model_name: claude, api: "bedrock", region: "us-east-1", profile: "proc", base_url: simulator.url }]
          })
        )
        const running = yield* startCli(["serve", "--config", file, "--port", "0", "--data", Path.join(dir, "data")], {
          env: {
            ...envWithoutKeys(),
            AWS_SHARED_CREDENTIALS_FILE: Path.join(dir, "credentials"),
            AWS_CONFIG_FILE: Path.join(dir, "config")
          },
          timeoutMs: 60_000
        })
        const url = yield* awaitFirstLine(running, "serve's first line (its URL)")
        yield* eventually("serve's start line", Effect.sync(running.stderr), (text) => text.includes("Ctrl-C to stop"))
        const ready = yield* readyOf(url)
        const error = yield* refusal<InstanceType<typeof OpenAI.APIError>>(() =>
          new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0 }).chat.completions.create({
            model: claude,
            messages: [{ role: "user", content: "Hi" }]
          })
        )
        expect(error?.status).toBe(503)
        expect(error?.code).toBe("credential_unavailable")
        expect(error?.message).toContain(`no working credential for the deployment aws/${claude}`)
        const logged = yield* eventually(
          "the call's log line",
          Effect.sync(running.stderr),
          (text) => text.split("\n").some((line) => line.includes(claude) && line.includes("credential_unavailable"))
        )
        expect(logged).toContain(`aws/${claude} (`)
        expect(logged).toContain("its credential_process failed (the command line and its output are not shown)")
        for (
          const [what, text] of [
            ["stdout", running.stdout()],
            ["stderr", logged],
            ["/ready", JSON.stringify(ready.body)],
            ["the answer", JSON.stringify(error?.error ?? null) + (error?.message ?? "")]
          ] as const
        ) {
          expect(text, what).not.toContain("argument-secret")
          expect(text, what).not.toContain("printed-secret")
          expect(text, what).not.toContain("sh -c")
        }
        expect((yield* simulator.stats).requests).toBe(0)
      }).pipe(Effect.scoped),
    60_000
  )
})
