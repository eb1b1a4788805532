/**
 * Azure OpenAI's Entra ID tokens (`clouds/azure/token.ts`) under `TestClock`: one token shared while fresh, asked
 * for again before it expires (5 minutes before, halfway for a short-lived one, or when the credential advises), by
 * one call at a time, and kept while it lasts when asking for the next fails; and the real `DefaultAzureCredential`
 * failing, in an environment without credentials, as an `AuthError` naming the chain.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/testing/TestClock"
import { DefaultAzureCredential, nameOf, scope, tokenSource } from "../../src/internal/clouds/azure/token.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as AzureOpenAi from "../../src/providers/AzureOpenAi.js"
import { fakeClient, hello } from "../utils/adapterHarness.js"
import { withoutCloudCredentials } from "../utils/env.js"
import { jsonResponse } from "../utils/fakeHttpClient.js"

const minute = 60_000

/** Hands out `t1`, `t2`... each from `next`, counting the times it is asked; fails while `failing`. */
class ScriptedCredential implements AzureOpenAi.TokenCredential {
  asked = 0
  failing = false
  constructor(readonly next: (n: number) => Omit<AzureOpenAi.AccessToken, "token">) {}
  getToken(scopes: string | Array<string>) {
    assert.deepStrictEqual(scopes, [scope])
    if (this.failing) return Promise.reject(new Error("the token service is down"))
    this.asked += 1
    return Promise.resolve({ token: `t${this.asked}`, ...this.next(this.asked) })
  }
}

const tokenOf = (source: Effect.Effect<Redacted.Redacted<string>, string>) => Effect.map(source, Redacted.value)

describe("Entra ID token source", () => {
  it.effect("one token while fresh, shared by concurrent calls; a new one 5 minutes before it expires", () =>
    Effect.gen(function*() {
      const credential = new ScriptedCredential((n) => ({ expiresOnTimestamp: n * 60 * minute }))
      const source = tokenSource(credential, "Scripted")
      const first = yield* Effect.all(Array.from({ length: 5 }, () => tokenOf(source)), { concurrency: "unbounded" })
      assert.deepStrictEqual(first, ["t1", "t1", "t1", "t1", "t1"])
      assert.strictEqual(credential.asked, 1)
      yield* TestClock.adjust(55 * minute - 1)
      assert.strictEqual(yield* tokenOf(source), "t1")
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* tokenOf(source), "t2")
      assert.strictEqual(credential.asked, 2)
    }))

  it.effect("a short-lived token is renewed halfway to its expiry; the credential's advice is followed", () =>
    Effect.gen(function*() {
      const short = new ScriptedCredential(() => ({ expiresOnTimestamp: 4 * minute }))
      const source = tokenSource(short, "Short")
      assert.strictEqual(yield* tokenOf(source), "t1")
      yield* TestClock.adjust(2 * minute - 1)
      assert.strictEqual(yield* tokenOf(source), "t1")
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* tokenOf(source), "t2")
      const advised = new ScriptedCredential((n) => ({
        expiresOnTimestamp: 100 * minute,
        refreshAfterTimestamp: n * minute
      }))
      const advisedSource = tokenSource(advised, "Advised")
      assert.strictEqual(yield* tokenOf(advisedSource), "t1")
      yield* TestClock.adjust(minute)
      assert.strictEqual(yield* tokenOf(advisedSource), "t2")
    }))

  it.effect("when asking for the next fails, the held token serves until it expires, then the failure names the credential", () =>
    Effect.gen(function*() {
      const credential = new ScriptedCredential(() => ({ expiresOnTimestamp: 60 * minute }))
      const source = tokenSource(credential, "Scripted")
      assert.strictEqual(yield* tokenOf(source), "t1")
      credential.failing = true
      yield* TestClock.adjust(56 * minute)
      assert.strictEqual(yield* tokenOf(source), "t1")
      yield* TestClock.adjust(4 * minute)
      assert.strictEqual(yield* Effect.flip(source), "Scripted: the token service is down")
    }))

  it.effect("a credential that answers no token fails; a credential is named by its class", () =>
    Effect.gen(function*() {
      // Made, never asked: nothing of @azure/identity is imported until a token is.
      assert.strictEqual(nameOf(new DefaultAzureCredential()), "DefaultAzureCredential")
      const none: AzureOpenAi.TokenCredential = { getToken: () => Promise.resolve(null) }
      assert.strictEqual(nameOf(none), "the Entra ID credential provided")
      assert.strictEqual(
        yield* Effect.flip(tokenSource(none, nameOf(none))),
        `the Entra ID credential provided: no token for the scope ${scope}`
      )
    }))

  it.live("DefaultAzureCredential, finding nothing, fails the call with AuthError naming each credential tried", () =>
    Effect.gen(function*() {
      yield* withoutCloudCredentials
      const { requests, service } = fakeClient(
        () => jsonResponse({}),
        AzureOpenAi.make({ baseUrl: "https://my-resource.openai.azure.com", model: "gpt-4.1", entraId: true })
      )
      const client = yield* service
      const error = yield* Effect.flip(client.chat(hello, ProviderClient.credentials("none")))
      assert(error._tag === "AuthError")
      assert.strictEqual(error.reason, "credential_unavailable")
      assert.match(error.detail ?? "", /^DefaultAzureCredential: ChainedTokenCredential authentication failed/)
      // Each credential of the chain says why it was unavailable; the developer tools' words depend on what is installed.
      assert.include(error.detail, "EnvironmentCredential is unavailable")
      assert.include(error.detail, "ManagedIdentityCredential")
      assert.isAtLeast(error.detail?.match(/CredentialUnavailableError/g)?.length ?? 0, 5)
      assert.include(error.message, "DefaultAzureCredential")
      assert.strictEqual(requests.length, 0)
    }).pipe(Effect.scoped))
})
