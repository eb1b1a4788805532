/**
 * Two `serve` processes (the built command line) on one PostgreSQL server, signing people on through a real OpenID
 * Connect issuer (`oidc-provider`), as two instances behind a load balancer without sticky sessions: a person signs in
 * on one and the other answers their session's cookie; a sign-in begun on one is finished on the other; signing out on
 * one ends the session on both (its tokens, unsealed on the instance that did not open the session, revoked at the
 * issuer, and the browser sent there with no token). The database holds each session under its id's digest, never the
 * cookie's value. The admin actions made on both form one audit log that both read alike and that
 * `audit verify`, reading the database itself, finds intact. With the database away, a session or a sign-in is
 * answered 503 (never taken for ended), and once it is back the session is answered again.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Database from "../../src/internal/persistence/database.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { awaitFirstLine, envWithoutKeys, spawnCli, startCli } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import * as OidcIssuer from "../utils/oidcIssuer.js"
import { postgresServer } from "../utils/postgresServer.js"
import { providerFile } from "../utils/serveCluster.js"

const providerKey = "sk-identity-pg-provider-3a5c7e9b1d"
const adminKey = "gw-identity-pg-admin-8e6c4a2f0d"

interface Answer {
  readonly status: number
  readonly location: string | null
  /** The cookies it set, by name. */
  readonly cookies: Readonly<Record<string, string>>
  readonly body: Readonly<Record<string, unknown>>
}

// `method` `path` of the gateway at `url` with `headers`, redirects not followed.
const request = (url: string, method: string, path: string, headers: Record<string, string> = {}, body?: unknown) =>
  Effect.promise(async (): Promise<Answer> => {
    const response = await fetch(`${url}${path}`, {
      method,
      redirect: "manual",
      headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    const cookies = Object.fromEntries(
      response.headers.getSetCookie().map((line) => {
        const pair = line.split(";", 1)[0]!
        return [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]
      })
    )
    let parsed: unknown = {}
    try {
      parsed = JSON.parse(text)
    } catch {
      // A redirect's empty body.
    }
    return {
      status: response.status,
      location: response.headers.get("location"),
      cookies,
      body: parsed as Record<string, unknown>
    }
  })

const errorCode = (answer: Answer) => (answer.body["error"] as { readonly code?: string } | undefined)?.code

/**
 * `person` signs in: the sign-in begun at `begin`'s `/admin/login`, the issuer's pages driven, and the issuer's
 * answer (addressed to `begin`'s callback) delivered to `finish`, as a balancer may send it. The session's cookie, and
 * the callback's path and state (to replay).
 */
const signIn = (begin: string, finish: string, person: string) =>
  Effect.gen(function*() {
    const login = yield* request(begin, "GET", "/admin/login")
    assert.strictEqual(login.status, 302)
    const state = login.cookies["elr_login"]
    assert.isDefined(state)
    const back = new URL(yield* OidcIssuer.signIn(login.location!, person))
    assert.strictEqual(`${back.origin}${back.pathname}`, `${begin}/admin/callback`)
    const done = yield* request(finish, "GET", `${back.pathname}${back.search}`, { cookie: `elr_login=${state}` })
    assert.strictEqual(done.status, 302, JSON.stringify(done.body))
    assert.strictEqual(done.location, `${begin}/dashboard`)
    const session = done.cookies["elr_session"]
    assert.isDefined(session)
    return { session: session!, callback: `${back.pathname}${back.search}`, state: state! }
  })

const me = (url: string, session: string) => request(url, "GET", "/admin/me", { cookie: `elr_session=${session}` })

describe("sign-on and the audit log of two serve processes on one Postgres", () => {
  it.live(
    "a session made on one instance is answered by the other and ended on both by a sign-out on either; one audit " +
      "chain",
    () =>
      Effect.gen(function*() {
        const postgres = yield* postgresServer
        const databaseUrl = yield* postgres.database("identity")
        const issuer = yield* OidcIssuer.make
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const data = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "identity-pg-"))),
          (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
        )
        const file = yield* providerFile({
          sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: ["env:SIM_KEY"] }],
          gateway: {
            admin_keys: [{ name: "ops", key: "env:GATEWAY_ADMIN_KEY" }],
            oidc: {
              issuer: issuer.url,
              client_id: OidcIssuer.clientId,
              client_secret: "env:OIDC_CLIENT_SECRET",
              audience: OidcIssuer.audience,
              scopes: ["openid", "email", "groups"],
              roles: OidcIssuer.roles
            }
          },
          store: { sql: "env:DATABASE_URL" }
        })
        const env = {
          ...envWithoutKeys(),
          SIM_KEY: providerKey,
          GATEWAY_ADMIN_KEY: adminKey,
          OIDC_CLIENT_SECRET: OidcIssuer.clientSecret,
          DATABASE_URL: databaseUrl,
          XDG_DATA_HOME: data
        }
        const start = Effect.gen(function*() {
          const running = yield* startCli(["serve", "--config", file, "--port", "0"], { env, timeoutMs: 170_000 })
          return yield* awaitFirstLine(running, "serve's first line (its URL)")
        })
        const [one, other] = (yield* Effect.all([start, start], { concurrency: 2 })) as [string, string]
        yield* issuer.register(`${one}/admin/callback`, `${one}/dashboard`)

        // Signed in on one, answered by the other.
        const ada = (yield* signIn(one, one, "ada@example.com")).session
        for (const url of [one, other]) {
          const answer = yield* me(url, ada)
          assert.deepStrictEqual([answer.status, answer.body["name"], answer.body["via"], answer.body["roles"]], [
            200,
            "ada@example.com",
            "session",
            ["admin"]
          ], url)
        }
        // Begun on one, finished on the other: the sign-in under way is the database's too.
        const veraSignIn = yield* signIn(one, other, "vera@example.com")
        const vera = veraSignIn.session
        const veraOnOne = yield* me(one, vera)
        assert.deepStrictEqual([veraOnOne.body["name"], veraOnOne.body["roles"]], ["vera@example.com", ["viewer"]])
        // A sign-in's state is taken once: the issuer's answer delivered again, to either, is refused.
        for (const url of [one, other]) {
          const replayed = yield* request(url, "GET", veraSignIn.callback, { cookie: `elr_login=${veraSignIn.state}` })
          assert.deepStrictEqual([replayed.status, errorCode(replayed)], [400, "sign_in_failed"], url)
        }

        // The database holds the sessions under their ids' digests, never a cookie's value.
        const database = { postgres: Redacted.make(databaseUrl) }
        const rows = yield* Effect.scoped(Effect.flatMap(
          Database.open(database),
          (sql) => sql<{ readonly digest: string; readonly subject: string }>`SELECT * FROM admin_sessions`
        ))
        const digestOf = (id: string) => createHash("sha256").update(id).digest("hex")
        assert.sameMembers(rows.map((row) => `${row.subject} ${row.digest}`), [
          `ada@example.com ${digestOf(ada)}`,
          `vera@example.com ${digestOf(vera)}`
        ])
        const stored = rows.flatMap((row) => Object.values(row).map(String)).join(" ")
        assert.notInclude(stored, ada)
        assert.notInclude(stored, vera)

        // Admin actions on both at once.
        const teams = Array.from({ length: 6 }, (_, index) => `team-${index}`)
        const made = yield* Effect.forEach(
          teams,
          (name, index) =>
            request(index % 2 === 0 ? one : other, "POST", "/admin/teams", { cookie: `elr_session=${ada}` }, { name }),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(made.map((answer) => answer.status), teams.map(() => 201))

        // Signed out on the other: the session's tokens (kept sealed where both read them) revoked at the issuer, and
        // the issuer's sign-out carries the client and the page to return to, never a token.
        const out = yield* request(other, "POST", "/admin/logout", { cookie: `elr_session=${ada}` })
        assert.strictEqual(out.status, 200)
        assert.strictEqual(out.body["signed_out"], true)
        const endSession = new URL(String(out.body["redirect"]))
        assert.strictEqual(endSession.origin, issuer.url)
        assert.deepStrictEqual([...endSession.searchParams.keys()].sort(), ["client_id", "post_logout_redirect_uri"])
        assert.include(issuer.asked, "POST /token/revocation")
        // The cookie replayed is refused on both; the other person's session lives on.
        for (const url of [one, other]) {
          const answer = yield* me(url, ada)
          assert.deepStrictEqual([answer.status, errorCode(answer)], [401, "session_expired"], url)
        }
        assert.strictEqual((yield* me(other, vera)).status, 200)

        // One chain, read alike from both: the teams and the sign-out, each `seq` once (the cookie replayed names nobody
        // known: no row of its own).
        const audit = (url: string) =>
          Effect.map(
            request(url, "GET", "/admin/audit?limit=500", { authorization: `Bearer ${adminKey}` }),
            (answer) => (answer.body["data"] as ReadonlyArray<{
              readonly seq: number
              readonly actor: string
              readonly action: string
              readonly object: string | null
              readonly outcome: string
            }>)
          )
        const log = yield* audit(one)
        assert.deepStrictEqual(yield* audit(other), log)
        assert.deepStrictEqual(log.map((row) => row.seq), [7, 6, 5, 4, 3, 2, 1])
        assert.sameMembers(log.map((row) => `${row.actor} ${row.action} ${row.outcome}`), [
          ...teams.map(() => "ada@example.com POST /admin/teams ok"),
          // A sign-out is the person's whose session it ends: who they were is read before the session ends.
          "ada@example.com POST /admin/logout ok"
        ])
        // Its object is the session, by its id's digest as the database keys it, never by the cookie's value.
        const signOut = log.find((row) => row.action === "POST /admin/logout")
        assert.strictEqual(signOut?.object, `session:sha256:${digestOf(ada).slice(0, 12)}`)
        assert.notInclude(JSON.stringify(log), ada)

        const verified = yield* spawnCli(["audit", "verify", "--config", file], { env, timeoutMs: 60_000 })
        assert.strictEqual(verified.code, 0, verified.stderr)
        assert.include(verified.stdout, "is intact: 7 row(s); its head is row 7")

        // The database away: a session cannot be read, nor a sign-in begun, and the gateway says so (503), taking no
        // cookie for a refusal; back, the session that lived is answered again.
        yield* postgres.stop
        const away = yield* me(one, vera)
        assert.deepStrictEqual([away.status, errorCode(away)], [503, "database_unavailable"])
        const loginAway = yield* request(other, "GET", "/admin/login")
        assert.deepStrictEqual([loginAway.status, errorCode(loginAway)], [503, "database_unavailable"])
        yield* postgres.start
        const back = yield* eventually("vera's session answered again", me(one, vera), (answer) =>
          answer.status === 200, {
          every: "200 millis",
          within: "30 seconds"
        })
        assert.strictEqual(back.body["name"], "vera@example.com")
      }).pipe(Effect.scoped),
    240_000
  )
})
