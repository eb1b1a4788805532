/**
 * The contract every backend of the batch ids' secret (`batches/idSecret.ts`' `IdSecretStore`) keeps, run against each
 * (`test/gateway/batchIdSecret.test.ts`: SQLite, Postgres and Redis): one secret of 256 random bits, the one
 * the first read made, read by every instance on the store however many ask at once and however often; a store of its
 * own makes a secret of its own.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as IdSecret from "../../src/internal/gateway/batches/idSecret.js"

/** A backend of the store: its name, and two instances on one new store each time the effect runs. */
export interface Backend {
  readonly name: "SQLite" | "Postgres" | "Redis"
  readonly instances: Effect.Effect<readonly [IdSecret.Secrets, IdSecret.Secrets], never, Scope.Scope>
}

export function batchIdSecretContract(backend: Backend) {
  describe(`the batch ids' secret (${backend.name})`, () => {
    it.live("every instance reads the one secret the first read made, however many ask at once", () =>
      Effect.gen(function*() {
        const [one, other] = yield* backend.instances
        const read = yield* Effect.all(
          Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? one : other).secret),
          { concurrency: "unbounded" }
        )
        const secrets = new Set(read.map(Redacted.value))
        expect(secrets.size).toBe(1)
        const [secret] = secrets
        expect(Buffer.from(secret!, "base64url")).toHaveLength(32)
        // And ever after.
        expect(Redacted.value(yield* one.secret)).toBe(secret)
        expect(Redacted.value(yield* other.secret)).toBe(secret)
      }).pipe(Effect.scoped))

    it.live("a store of its own makes a secret of its own", () =>
      Effect.gen(function*() {
        const [first] = yield* backend.instances
        const [second] = yield* backend.instances
        expect(Redacted.value(yield* first.secret)).not.toBe(Redacted.value(yield* second.secret))
      }).pipe(Effect.scoped))
  })
}
