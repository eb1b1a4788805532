/**
 * Vertex AI's Google access tokens (`clouds/vertex/token.ts`, over `providers/accessToken.ts`) under `TestClock`:
 * held until 5 minutes before the client's `expiry_date`, asked for at every call without one; and Application
 * Default Credentials that find nothing fail naming what they tried.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/testing/TestClock"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { ApplicationDefaultCredentials, nameOf, tokenSource } from "../../src/internal/clouds/vertex/token.js"
import type * as Vertex from "../../src/providers/Vertex.js"

const minute = 60_000

/** Hands out `t1`, `t2`... each expiring at `expiry(n)` (none when undefined), counting the times it is asked. */
class ScriptedClient implements Vertex.AuthClient {
  asked = 0
  credentials: { expiry_date?: number | null } = {}
  constructor(readonly expiry: (n: number) => number | undefined) {}
  getAccessToken() {
    this.asked += 1
    this.credentials = { expiry_date: this.expiry(this.asked) ?? null }
    return Promise.resolve({ token: `t${this.asked}` })
  }
}

const tokenOf = (source: Effect.Effect<Redacted.Redacted<string>, string>) => Effect.map(source, Redacted.value)

describe("Google access token source", () => {
  it.effect("one token while fresh, shared by concurrent calls; a new one 5 minutes before its expiry_date", () =>
    Effect.gen(function*() {
      const client = new ScriptedClient((n) => n * 60 * minute)
      const source = tokenSource(client, nameOf(client))
      const first = yield* Effect.all(Array.from({ length: 4 }, () => tokenOf(source)), { concurrency: "unbounded" })
      assert.deepStrictEqual(first, ["t1", "t1", "t1", "t1"])
      yield* TestClock.adjust(55 * minute - 1)
      assert.strictEqual(yield* tokenOf(source), "t1")
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* tokenOf(source), "t2")
      assert.strictEqual(client.asked, 2)
    }))

  it.effect("without an expiry_date, the client is asked at every call", () =>
    Effect.gen(function*() {
      const client = new ScriptedClient(() => undefined)
      const source = tokenSource(client, nameOf(client))
      assert.strictEqual(yield* tokenOf(source), "t1")
      assert.strictEqual(yield* tokenOf(source), "t2")
    }))

  it.effect("no token, or a failing client, fails with a detail naming the client", () =>
    Effect.gen(function*() {
      const empty: Vertex.AuthClient = { getAccessToken: () => Promise.resolve({ token: null }) }
      assert.strictEqual(
        yield* Effect.flip(tokenSource(empty, nameOf(empty))),
        "the Google credential provided: no access token for the scope https://www.googleapis.com/auth/cloud-platform"
      )
      class Failing implements Vertex.AuthClient {
        getAccessToken() {
          return Promise.reject(new Error("invalid_grant"))
        }
      }
      assert.strictEqual(
        yield* Effect.flip(tokenSource(new Failing(), nameOf(new Failing()))),
        "Failing: invalid_grant"
      )
    }))

  it.live("Application Default Credentials that find nothing name what they tried; a missing key file names it", () =>
    Effect.gen(function*() {
      const saved = { ...process.env }
      const home = Fs.mkdtempSync(Path.join(Os.tmpdir(), "adc-"))
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          process.env = saved
          Fs.rmSync(home, { recursive: true, force: true })
        })
      )
      // No key file, no gcloud configuration, and a metadata server that refuses at once.
      delete process.env.GOOGLE_APPLICATION_CREDENTIALS
      process.env.HOME = home
      process.env.CLOUDSDK_CONFIG = home
      process.env.GCE_METADATA_HOST = "127.0.0.1:9"
      const adc = new ApplicationDefaultCredentials()
      assert.strictEqual(nameOf(adc), "ApplicationDefaultCredentials")
      const none = yield* Effect.flip(tokenSource(adc, nameOf(adc)))
      assert.include(none, "ApplicationDefaultCredentials: none found: tried the file GOOGLE_APPLICATION_CREDENTIALS")
      assert.include(none, "(unset)")
      assert.include(none, "metadata server")
      process.env.GOOGLE_APPLICATION_CREDENTIALS = Path.join(home, "missing.json")
      const missing = yield* Effect.flip(tokenSource(adc, nameOf(adc)))
      assert.include(missing, "missing.json")
    }).pipe(Effect.scoped))
})
