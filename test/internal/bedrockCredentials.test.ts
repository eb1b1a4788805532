/**
 * Bedrock's AWS credentials (`wire/bedrock/aws.ts`) under `TestClock`: held and shared while fresh, asked for
 * again 5 minutes before they expire, by one call at a time, kept while they last when asking for the next fails;
 * long-term keys (no expiration) asked for once; SigV4 signing with the `Clock`'s time; and AWS's real default
 * chain failing, in an environment without credentials, as an `AuthError` naming it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/testing/TestClock"
import * as Aws from "../../src/internal/wire/bedrock/aws.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as Bedrock from "../../src/providers/Bedrock.js"
import { fakeClient, hello } from "../utils/adapterHarness.js"
import { withoutCloudCredentials } from "../utils/env.js"
import { jsonResponse } from "../utils/fakeHttpClient.js"

const minute = 60_000

/** Hands out `AKID1`, `AKID2`... expiring as `expiresAt` says, counting the times it is asked; fails while `failing`. */
const scripted = (expiresAt: (n: number) => number | undefined) => {
  const state = { asked: 0, failing: false }
  const provider: Bedrock.CredentialProvider = () => {
    if (state.failing) return Promise.reject(new Error("the metadata service is down"))
    state.asked += 1
    const expiry = expiresAt(state.asked)
    return Promise.resolve({
      accessKeyId: `AKID${state.asked}`,
      secretAccessKey: "secret",
      ...(expiry !== undefined ? { expiration: new Date(expiry) } : {})
    })
  }
  return { state, provider }
}

const idOf = (source: Effect.Effect<Aws.HeldCredentials, string>) => Effect.map(source, (held) => held.accessKeyId)

describe("AWS credential source", () => {
  it.effect("held while fresh, shared by concurrent calls; renewed 5 minutes before they expire", () =>
    Effect.gen(function*() {
      const { provider, state } = scripted((n) => n * 60 * minute)
      const source = Aws.credentialSource(provider, "Scripted")
      const first = yield* Effect.all(Array.from({ length: 5 }, () => idOf(source)), { concurrency: "unbounded" })
      assert.deepStrictEqual(first, ["AKID1", "AKID1", "AKID1", "AKID1", "AKID1"])
      assert.strictEqual(state.asked, 1)
      yield* TestClock.adjust(55 * minute - 1)
      assert.strictEqual(yield* idOf(source), "AKID1")
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* idOf(source), "AKID2")
      assert.strictEqual(state.asked, 2)
    }))

  it.effect("long-term keys are asked for once", () =>
    Effect.gen(function*() {
      const longTerm = scripted(() => undefined)
      const source = Aws.credentialSource(longTerm.provider, "LongTerm")
      yield* idOf(source)
      yield* TestClock.adjust(365 * 24 * 60 * minute)
      assert.strictEqual(yield* idOf(source), "AKID1")
      assert.strictEqual(longTerm.state.asked, 1)
    }))

  it.effect("a failure keeps credentials that have not expired, and fails once they have", () =>
    Effect.gen(function*() {
      const expiring = scripted(() => 60 * minute)
      const held = Aws.credentialSource(expiring.provider, "Expiring")
      yield* idOf(held)
      expiring.state.failing = true
      yield* TestClock.adjust(56 * minute)
      assert.strictEqual(yield* idOf(held), "AKID1")
      yield* TestClock.adjust(4 * minute)
      assert.strictEqual(yield* Effect.flip(held), "Expiring: the metadata service is down")
    }))

  it.effect("the secret key and the session token are held Redacted", () =>
    Effect.gen(function*() {
      const provider: Bedrock.CredentialProvider = () =>
        Promise.resolve({ accessKeyId: "AKIDHELD", secretAccessKey: "held-secret", sessionToken: "held-token" })
      const held = yield* Aws.credentialSource(provider, "Held")
      assert(Redacted.isRedacted(held.secretAccessKey) && held.sessionToken !== undefined)
      assert.strictEqual(Redacted.value(held.secretAccessKey), "held-secret")
      assert.strictEqual(Redacted.value(held.sessionToken), "held-token")
      const shown = `${JSON.stringify(held)} ${String(held.secretAccessKey)} ${String(held.sessionToken)}`
      assert.notInclude(shown, "held-secret")
      assert.notInclude(shown, "held-token")
      assert.include(shown, "AKIDHELD")
    }))

  it.effect("a provider that gives no credentials fails naming it", () =>
    Effect.gen(function*() {
      const empty: Bedrock.CredentialProvider = () => Promise.resolve({ accessKeyId: "", secretAccessKey: "" })
      assert.strictEqual(yield* Effect.flip(Aws.credentialSource(empty, "Empty")), "Empty: no credentials")
    }))

  it.live("AWS's default chain, finding nothing, fails the call with AuthError naming it, before any HTTP", () =>
    Effect.gen(function*() {
      yield* withoutCloudCredentials
      const { requests, service } = fakeClient(
        () => jsonResponse({}),
        Bedrock.make({ region: "us-east-1", model: "amazon.nova-micro-v1:0" })
      )
      const client = yield* service
      const error = yield* Effect.flip(client.chat(hello, ProviderClient.credentials("none")))
      assert(error._tag === "AuthError")
      assert.strictEqual(error.reason, "credential_unavailable")
      assert.strictEqual(error.detail, `${Aws.defaultChainName}: Could not load credentials from any providers`)
      assert.include(error.message, "fromNodeProviderChain")
      assert.strictEqual(requests.length, 0)
    }).pipe(Effect.scoped))

  it.effect("signs with the Clock's time, the session token included", () =>
    Effect.gen(function*() {
      const aws = yield* Aws.load
      yield* TestClock.setTime(Date.UTC(2025, 0, 2, 3, 4, 5))
      const credentials = Effect.succeed({
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: Redacted.make("s"),
        sessionToken: Redacted.make("tok")
      })
      const request = HttpClientRequest.bodyText(
        HttpClientRequest.post("https://bedrock-runtime.us-east-1.amazonaws.com/model/a%3A0/converse"),
        "{}",
        "application/json"
      )
      const signed = yield* Aws.sign(aws, credentials, "us-east-1")(request, Date.UTC(2025, 0, 2, 3, 4, 5))
      assert.strictEqual(signed.headers["x-amz-date"], "20250102T030405Z")
      assert.strictEqual(signed.headers["x-amz-security-token"], "tok")
      assert.match(
        signed.headers["authorization"]!,
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20250102\/us-east-1\/bedrock\/aws4_request, SignedHeaders=[a-z0-9;-]*;host;[a-z0-9;-]*x-amz-security-token, Signature=[0-9a-f]{64}$/
      )
    }))
})
