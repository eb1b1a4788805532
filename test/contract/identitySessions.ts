/**
 * The contract every backend of the dashboard's sessions' store (`identity/sessions.ts`' `SessionStore`) keeps, under
 * the sessions' algorithm (`Sessions.make`), run against each (`test/gateway/identitySessions.test.ts`:
 * SQLite; Postgres, which several instances share): a session lasts its life and ends at sign-out, kept under its id's
 * digest with its tokens sealed (neither the id nor a token in the store), and its access token refused from its
 * sign-out to its end; a sign-in's state is taken once and not after its ten minutes; opening trims the ended and,
 * past the bound, the oldest.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { digest } from "../../src/internal/gateway/access/caller.js"
import * as Sessions from "../../src/internal/gateway/identity/sessions.js"
import { type StoreBackend, unreadableRow } from "../utils/sqlDatabases.js"

/** Ada's session, ending at `expiresAt`, with her access token `access` (lasting until `accessUntil`), if any. */
export const session = (expiresAt: number, access?: string, accessUntil?: number): Sessions.Session => ({
  subject: "ada@example.com",
  groups: ["llm-admins", "staff"],
  tokens: {
    access: access === undefined ? undefined : Redacted.make(access),
    accessUntil,
    refresh: access === undefined ? undefined : Redacted.make(`refresh-of-${access}`)
  },
  expiresAt
})

export const identitySessionsContract = (backend: StoreBackend<Sessions.Store>) =>
  describe(`the dashboard's sessions' store contract: ${backend.name}`, () => {
    const label = backend.name
    const makeStore = backend.store
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
        const kept = yield* store.find(digest(id))
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
        const digests = ids.map((id) => digest(id))
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

    it.live(`${label}: past the bound exactly the bound are held, the newest too, however many end at once`, () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const sessions = Sessions.make(store, () => 0, 3)
        const digests: Array<string> = []
        for (const end of [10, 10, 10, 10, 20, 20, 10, 30, 30, 30, 30, 5]) {
          digests.push(digest(yield* sessions.open(session(end))))
          const held = yield* Effect.filter(digests, (key) => Effect.map(store.find(key), (kept) => kept !== undefined))
          expect(held.length).toBe(Math.min(digests.length, 3))
          expect(held).toContain(digests.at(-1))
        }
      }).pipe(Effect.scoped))

    const sql = backend.sql
    if (sql !== undefined) {
      it.live(`${label}: a session whose groups are no list fails its read, naming the column`, () =>
        Effect.gen(function*() {
          const error = yield* unreadableRow(sql, {
            write: (database) =>
              database.sql`INSERT INTO admin_sessions (digest, subject, groups_json, expires_at)
            VALUES ('abc', 'ada@example.com', '{"admins":true}', 100)`,
            read: (store) => store.find("abc")
          })
          expect(error._tag).toBe("StoreUnavailableError")
          expect(error.reason).toMatch(/^reading a dashboard session: .*\["groups_json"\]/)
        }).pipe(Effect.scoped))
    }
  })
