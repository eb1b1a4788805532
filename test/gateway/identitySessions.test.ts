/**
 * The dashboard's sessions and sign-ins under way (docs/identity.md), on each store the gateway keeps them in (memory;
 * SQLite; Postgres, which several instances share): a session lasts its life and ends at sign-out, kept under its id's
 * digest with its tokens sealed (neither the id nor a token in the store), and its access token refused from its
 * sign-out to its end; a sign-in's state is taken once and not after its ten minutes; opening trims the ended and,
 * past the bound, the oldest; in memory, over every bound and overflow, exactly the newest are held; and sealed text
 * opens under its own session's id only, and not once any byte of it is changed.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { randomBytes } from "node:crypto"
import { digest } from "../../src/internal/gateway/access/caller.js"
import * as Sessions from "../../src/internal/gateway/identity/sessions.js"
import { postgresFor, sqliteDatabase } from "../utils/sqlDatabases.js"

const postgresSessions = Effect.map(postgresFor("sessions"), Sessions.sqlStore)
const sqliteSessions = Effect.map(sqliteDatabase("identity-sessions"), Sessions.sqlStore)

describe("the dashboard's sessions", () => {
  const session = (expiresAt: number, access?: string, accessUntil?: number): Sessions.Session => ({
    subject: "ada@example.com",
    groups: ["llm-admins", "staff"],
    tokens: {
      access: access === undefined ? undefined : Redacted.make(access),
      accessUntil,
      refresh: access === undefined ? undefined : Redacted.make(`refresh-of-${access}`)
    },
    expiresAt
  })
  const stores = [
    ["memory", Effect.sync(Sessions.memoryStore)],
    ["SQLite", sqliteSessions],
    ["Postgres", postgresSessions]
  ] as const

  for (const [label, makeStore] of stores) {
    it.live(`${label}: a session lasts its life and ends at sign-out; a sign-in's state is taken once`, () =>
      Effect.gen(function*() {
        let now = 1_000
        const store = yield* makeStore
        const sessions = Sessions.make(store, () => now)
        const id = yield* sessions.open(session(2_000, "access-token-of-ada", 3_000))
        expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/)
        const found = yield* sessions.find(id)
        expect([found?.subject, found?.groups, found?.expiresAt]).toEqual([
          "ada@example.com",
          ["llm-admins", "staff"],
          2_000
        ])
        expect(Redacted.value(found!.tokens.access!)).toBe("access-token-of-ada")
        expect(Redacted.value(found!.tokens.refresh!)).toBe("refresh-of-access-token-of-ada")
        // Kept under the id's digest, the tokens sealed: the store holds neither the id nor a token.
        const kept = yield* store.find(digest(id).toString("hex"))
        expect(JSON.stringify(kept)).not.toContain(id)
        expect(JSON.stringify(kept)).not.toContain("access-token-of-ada")
        // Signed out, its access token is refused until its end, and no other token is.
        expect(yield* sessions.signedOut("access-token-of-ada")).toBe(false)
        expect((yield* sessions.close(id))?.subject).toBe("ada@example.com")
        expect(yield* sessions.signedOut("access-token-of-ada")).toBe(true)
        expect(yield* sessions.signedOut("access-token-of-bob")).toBe(false)
        now = 3_000
        expect(yield* sessions.signedOut("access-token-of-ada")).toBe(false)
        now = 1_000
        expect(yield* sessions.find(`${id.slice(0, -1)}x`)).toBeUndefined()
        const lapsing = yield* sessions.open(session(2_000))
        now = 2_000
        expect(yield* sessions.find(lapsing)).toBeUndefined()
        now = 1_000
        const other = yield* sessions.open(session(5_000))
        const closed = yield* sessions.close(other)
        expect([closed?.subject, closed?.tokens.access]).toEqual(["ada@example.com", undefined])
        expect(yield* sessions.find(other)).toBeUndefined()
        expect(yield* sessions.close(other)).toBeUndefined()
        const pending = {
          codeVerifier: Redacted.make("v"),
          nonce: "n",
          redirectUri: "http://localhost/admin/callback",
          expiresAt: 1_000 + Sessions.pendingMillis
        }
        yield* sessions.begin("s", pending)
        const taken = yield* sessions.take("s")
        expect([Redacted.value(taken!.codeVerifier), taken?.nonce, taken?.redirectUri, taken?.expiresAt]).toEqual([
          "v",
          "n",
          pending.redirectUri,
          pending.expiresAt
        ])
        expect(yield* sessions.take("s")).toBeUndefined()
        yield* sessions.begin("late", pending)
        now = pending.expiresAt
        expect(yield* sessions.take("late")).toBeUndefined()
      }).pipe(Effect.scoped))

    it.live(`${label}: opening a session trims the ended ones and, past the bound, the oldest`, () =>
      Effect.gen(function*() {
        let now = 0
        const store = yield* makeStore
        const sessions = Sessions.make(store, () => now, 3)
        const ids = yield* Effect.forEach([10, 20, 30], (end) => sessions.open(session(end)))
        const digests = ids.map((id) => digest(id).toString("hex"))
        const held = Effect.forEach(digests, (key) => Effect.map(store.find(key), (kept) => kept !== undefined))
        expect(yield* held).toEqual([true, true, true])
        // A fourth past the bound of three: the oldest (ending first) goes.
        const fourth = yield* sessions.open(session(40))
        expect(yield* held).toEqual([false, true, true])
        // At 25, the one ending at 20 has ended: the next opening forgets it.
        now = 25
        yield* sessions.open(session(50))
        expect(yield* held).toEqual([false, false, true])
        expect((yield* sessions.find(fourth))?.expiresAt).toBe(40)
      }).pipe(Effect.scoped))
  }

  it("memory: at most the bound are held: past it, the oldest ends", () =>
    fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 20 }), (bound, extra) => {
      const sessions = Sessions.make(Sessions.memoryStore(), () => 0, bound)
      const ids = Array.from({ length: bound + extra }, () => Effect.runSync(sessions.open(session(10))))
      const live = ids.map((id) => Effect.runSync(sessions.find(id)) !== undefined)
      expect(live).toEqual(ids.map((_, index) => index >= extra))
    })))

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
