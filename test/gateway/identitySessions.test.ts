/**
 * The dashboard's sessions and sign-ins under way (docs/identity.md): their store's contract
 * (`contract/identitySessions.ts`) on each backend the gateway keeps them in (SQLite and Postgres, `layerSql`); and
 * sealed text opens under its own session's id only, and not once any byte of it is changed.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { randomBytes } from "node:crypto"
import * as Sessions from "../../src/internal/gateway/identity/sessions.js"
import { identitySessionsContract } from "../contract/identitySessions.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("sessions", Sessions.SessionStore, Sessions)) identitySessionsContract(backend)

describe("the dashboard's sessions", () => {
  it("text sealed under one session opens under its id only, and not once edited", () =>
    fc.assert(fc.property(fc.string({ minLength: 1 }), fc.nat(), (token, at) => {
      const id = randomBytes(32).toString("base64url")
      const sealed = Sessions.seal(id, Redacted.make(token))
      expect(Redacted.value(Sessions.unseal(id, sealed)!)).toBe(token)
      expect(Sessions.unseal(randomBytes(32).toString("base64url"), sealed)).toBeUndefined()
      const bytes = Buffer.from(sealed, "base64url")
      bytes[at % bytes.length] = bytes[at % bytes.length]! ^ 1
      expect(Sessions.unseal(id, bytes.toString("base64url"))).toBeUndefined()
    })))
})
