/**
 * The admin side's people and roles over loopback, against a real OpenID Connect issuer (`oidc-provider`): every admin
 * route (the rules of the router's permission table, each checked to be routed) asked by a person of every role with
 * the issuer's access token, allowed or refused exactly as docs/identity.md's roles table says, a team's objects and
 * another team's told apart; team lists showing nothing of another team; tokens expired, for another audience, from
 * another issuer, unsigned or re-signed refused; grants made and removed through the admin API in force at once; and
 * each use of an admin key logged as the break-glass path it is, by its name and never its secret.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { rules } from "../../src/internal/gateway/identity/access.js"
import { eventually } from "../utils/eventually.js"
import { adminKey, type Answer, bearer, call, rowsOf, serve, serveWith } from "../utils/identityHarness.js"
import * as OidcIssuer from "../utils/oidcIssuer.js"

type Gateway = Effect.Success<typeof serve>["gateway"]

/** The roles under test and the person of the issuer who holds each (their groups map to it). */
const roleHolders = {
  admin: "ada@example.com",
  operator: "otto@example.com",
  viewer: "vera@example.com",
  "team_admin:research": "rhea@example.com",
  "team_viewer:research": "remy@example.com",
  none: "nora@example.com"
} as const
type RoleName = keyof typeof roleHolders

/**
 * What each admin route is, as the issue and docs/identity.md describe it, written here apart from the gateway's own
 * table so that a wrong row there fails: a route missing here fails the test.
 */
type Kind =
  | "observe"
  | "keys.read"
  | "keys.write"
  | "teams.read"
  | "teams.write"
  | "budgets"
  | "reload"
  | "audit"
  | "grants"
  | "approve"
  | "self"
  | "public"

/** Where the object a request concerns is: the team `research`, another team, no team (the whole gateway), a list. */
type Where = "research" | "other" | "global" | "list"

// The oracle: whether a role may do `kind` on an object `where`.
function allowed(role: RoleName, kind: Kind, where: Where): boolean {
  if (kind === "self" || kind === "public") return true
  switch (role) {
    case "admin":
      return true
    case "operator":
      return kind !== "grants" && kind !== "approve"
    case "viewer":
      return kind === "observe"
    case "team_admin:research":
      return (where === "research" && ["keys.read", "keys.write", "teams.read", "budgets"].includes(kind)) ||
        (where === "list" && (kind === "keys.read" || kind === "teams.read"))
    case "team_viewer:research":
      return (where === "research" || where === "list") && (kind === "keys.read" || kind === "teams.read")
    case "none":
      return false
  }
}

/** One request of a case: its path and body, made fresh (objects a request consumes are made for it). */
interface Request {
  readonly path: string
  readonly body?: unknown
}

interface Case {
  readonly kind: Kind
  readonly where: Where
  readonly request: Effect.Effect<Request>
}

const admin = bearer(adminKey)
let made = 0
const unique = (prefix: string) => `${prefix}-${++made}`

/** The objects the cases act on: the team `research` and another, each with a key; and makers of fresh ones. */
const fixtures = (gateway: Gateway) =>
  Effect.gen(function*() {
    const post = (path: string, body: unknown) =>
      Effect.map(call(gateway, "POST", path, admin, body), (answer) => {
        assert.include([200, 201], answer.status, `${path}: ${JSON.stringify(answer.body)}`)
        return { id: String(answer.body["id"]) }
      })
    const research = yield* post("/admin/teams", { name: "research" })
    const other = yield* post("/admin/teams", { name: "other" })
    const teamOf = (where: Where) => where === "research" ? research.id : where === "other" ? other.id : undefined
    // Each run of these makes a new object, named afresh.
    const freshKey = (where: Where) =>
      Effect.suspend(() =>
        Effect.map(
          post("/admin/keys", {
            name: unique("key"),
            ...(teamOf(where) === undefined ? {} : { team: teamOf(where) })
          }),
          (key) => key.id
        )
      )
    return {
      research,
      other,
      teamOf,
      freshKey,
      freshTeam: Effect.suspend(() => Effect.map(post("/admin/teams", { name: unique("team") }), (team) => team.id)),
      freshGrant: Effect.suspend(() =>
        Effect.map(post("/admin/grants", { subject: unique("someone"), role: "viewer" }), (grant) => grant.id)
      )
    }
  })

type Fixtures = Effect.Success<ReturnType<typeof fixtures>>

const fixed = (path: string, body?: unknown): Effect.Effect<Request> =>
  Effect.succeed(body === undefined ? { path } : { path, body })

// The cases of a route, by its method and path; `undefined` for a route this test does not know (it then fails).
function casesOf(route: string, f: Fixtures): ReadonlyArray<Case> | undefined {
  const global = (kind: Kind, path: string, body?: unknown): ReadonlyArray<Case> => [{
    kind,
    where: "global",
    request: fixed(path, body)
  }]
  const teams: ReadonlyArray<"research" | "other"> = ["research", "other"]
  const byKey = (kind: Kind, suffix: string, body?: unknown): ReadonlyArray<Case> =>
    (["research", "other", "global"] as const).map((where) => ({
      kind,
      where,
      request: Effect.map(f.freshKey(where), (id) => ({ path: `/admin/keys/${id}${suffix}`, body }))
    }))
  switch (route) {
    case "GET /dashboard/data":
    case "GET /metrics":
    case "GET /admin/spend":
    case "GET /admin/requests":
    case "GET /admin/batches":
    case "GET /admin/mcp/servers":
    case "GET /admin/mcp/pins":
      return global("observe", route.slice(4))
    case "GET /llm/model-load/*":
      return global("observe", "/llm/model-load/sim/gpt-4o-mini")
    case "POST /admin/mcp/pins/:server/:tool/approve":
      return global("approve", "/admin/mcp/pins/docs/lookup/approve")
    case "POST /admin/mcp/pins/:server/:kind/:name/approve":
      return global("approve", "/admin/mcp/pins/docs/prompt/brief/approve")
    case "POST /admin/reload":
      return global("reload", "/admin/reload")
    case "GET /admin/audit":
      return global("audit", "/admin/audit")
    case "GET /admin/me":
      return global("self", "/admin/me")
    case "GET /admin/oidc":
      return global("public", "/admin/oidc")
    case "GET /admin/instance":
      return global("public", "/admin/instance")
    case "GET /admin/login":
    case "GET /admin/callback":
    case "POST /admin/logout":
      return []
    case "POST /admin/keys":
      return (["research", "other", "global"] as const).map((where) => ({
        kind: "keys.write",
        where,
        request: Effect.sync(() => ({
          path: "/admin/keys",
          body: { name: unique("made"), ...(f.teamOf(where) === undefined ? {} : { team: f.teamOf(where) }) }
        }))
      }))
    case "GET /admin/keys":
      return [{ kind: "keys.read", where: "list", request: fixed("/admin/keys") }]
    case "GET /admin/keys/:id":
      return byKey("keys.read", "")
    case "DELETE /admin/keys/:id":
    case "POST /admin/keys/:id/rotate":
      return byKey("keys.write", route.endsWith("rotate") ? "/rotate" : "")
    case "PATCH /admin/keys/:id":
      return [
        ...byKey("keys.write", "", { metadata: { note: "changed" } }),
        // Moving a key of `research` to another team concerns both.
        {
          kind: "keys.write",
          where: "other",
          request: Effect.map(f.freshKey("research"), (id) => ({
            path: `/admin/keys/${id}`,
            body: { team: f.other.id }
          }))
        }
      ]
    case "POST /admin/teams":
      return [{
        kind: "teams.write",
        where: "global",
        request: Effect.sync(() => ({ path: "/admin/teams", body: { name: unique("new-team") } }))
      }]
    case "GET /admin/teams":
      return [{ kind: "teams.read", where: "list", request: fixed("/admin/teams") }]
    case "GET /admin/teams/:id":
      return teams.map((where) => ({ kind: "teams.read", where, request: fixed(`/admin/teams/${f.teamOf(where)}`) }))
    case "PATCH /admin/teams/:id":
      return teams.flatMap((where): ReadonlyArray<Case> => [
        { kind: "budgets", where, request: fixed(`/admin/teams/${f.teamOf(where)}`, { budget: { limit: 50 } }) },
        {
          kind: "teams.write",
          where,
          request: fixed(`/admin/teams/${f.teamOf(where)}`, { metadata: { note: "changed" } })
        }
      ])
    case "DELETE /admin/teams/:id":
      return [{
        kind: "teams.write",
        where: "global",
        request: Effect.map(f.freshTeam, (id) => ({ path: `/admin/teams/${id}` }))
      }]
    case "GET /admin/grants":
      return global("grants", "/admin/grants")
    case "POST /admin/grants":
      return global("grants", "/admin/grants", { subject: "someone@example.com", role: "viewer" })
    case "DELETE /admin/grants/:id":
      return [{
        kind: "grants",
        where: "global",
        request: Effect.map(f.freshGrant, (id) => ({ path: `/admin/grants/${id}` }))
      }]
    default:
      return undefined
  }
}

// Whether the router serves `method` `path` at all (an unknown path is 404 with no code, "Invalid URL").
const routed = (answer: Answer) => !(answer.status === 404 && answer.code === null)

describe("the admin side's roles", () => {
  it.live(
    "every admin route, every role: allowed or refused exactly as the roles table says",
    () =>
      Effect.gen(function*() {
        const { gateway, issuer } = yield* serve
        const f = yield* fixtures(gateway)
        const tokens = Object.fromEntries(
          yield* Effect.forEach(
            Object.entries(roleHolders),
            ([role, person]) => Effect.map(issuer.token(person), (token) => [role, token] as const)
          )
        ) as Record<RoleName, string>
        let checked = 0
        const unrouted: Array<string> = []
        for (const rule of rules) {
          const route = `${rule.method} ${rule.path}`
          const cases = casesOf(route, f)
          assert.isDefined(cases, `the test knows no case of ${route}: add one (and its kind) to this table`)
          for (const item of cases!) {
            const probe = yield* item.request
            const asAdmin = yield* call(gateway, rule.method, probe.path, admin, probe.body)
            if (!routed(asAdmin)) {
              unrouted.push(route)
              break
            }
            for (const role of Object.keys(roleHolders) as ReadonlyArray<RoleName>) {
              const { body, path } = yield* item.request
              const answer = yield* call(gateway, rule.method, path, bearer(tokens[role]), body)
              const expected = allowed(role, item.kind, item.where)
              const what = `${role} ${route} (${item.kind}, ${item.where}): ${answer.status} ${
                JSON.stringify(answer.body)
              }`
              if (expected) assert.notInclude([401, 403], answer.status, what)
              else {
                assert.strictEqual(answer.status, 403, what)
                assert.strictEqual(answer.code, "permission_required", what)
                // The refusal names the permission missing, never the team of the object.
                assert.notInclude(answer.message, f.other.id, what)
              }
              checked++
            }
          }
        }
        // `GET /admin/audit` is another change's route: its rule is here before it.
        assert.deepStrictEqual(unrouted.filter((route) => route !== "GET /admin/audit"), [])
        assert.isAbove(checked, 200)
      }),
    120_000
  )

  it.live(
    "a team's roles list their own team's keys and teams, nothing of another team's or provider.json's",
    () =>
      Effect.gen(function*() {
        const { gateway, issuer } = yield* serve
        const f = yield* fixtures(gateway)
        const own = yield* f.freshKey("research")
        const theirs = yield* f.freshKey("other")
        const loose = yield* f.freshKey("global")
        for (const person of ["rhea@example.com", "remy@example.com"]) {
          const token = bearer(yield* issuer.token(person))
          const keys = yield* call(gateway, "GET", "/admin/keys", token)
          assert.strictEqual(keys.status, 200)
          const ids = rowsOf(keys).map((key) => key["id"])
          assert.include(ids, own)
          assert.notInclude(ids, theirs)
          assert.notInclude(ids, loose)
          const teams = yield* call(gateway, "GET", "/admin/teams", token)
          assert.deepStrictEqual(rowsOf(teams).map((team) => team["name"]), ["research"])
        }
        const all = yield* call(gateway, "GET", "/admin/keys", admin)
        assert.includeMembers(rowsOf(all).map((key) => key["id"]), [own, theirs, loose])
      }),
    60_000
  )

  it.live(
    "an access token the issuer itself mints (client credentials, a resource indicator) is taken",
    () =>
      Effect.gen(function*() {
        const { gateway, issuer } = yield* serve
        const token = bearer(yield* issuer.robotToken)
        const me = yield* call(gateway, "GET", "/admin/me", token)
        assert.deepStrictEqual([me.status, me.body["name"], me.body["roles"], me.body["via"]], [
          200,
          OidcIssuer.robot.person,
          ["operator"],
          "token"
        ])
        assert.strictEqual((yield* call(gateway, "POST", "/admin/reload", token)).status, 200)
        const refused = yield* call(gateway, "GET", "/admin/grants", token)
        assert.strictEqual(refused.code, "permission_required")
      }),
    60_000
  )

  it.live(
    "tokens expired, issued ahead of the clock or longer ago than the longest lifetime, living longer, without " +
      "`iat`, for another audience, from another issuer, unsigned or re-signed are refused",
    () =>
      Effect.gen(function*() {
        const { gateway, issuer } = yield* serve
        const person = "ada@example.com"
        const now = Math.floor(Date.now() / 1000)
        const good = yield* call(gateway, "GET", "/admin/spend", bearer(yield* issuer.token(person)))
        assert.strictEqual(good.status, 200)
        const unsigned = [
          Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url"),
          Buffer.from(
            JSON.stringify({
              iss: issuer.url,
              aud: OidcIssuer.audience,
              sub: person,
              email: person,
              groups: ["llm-admins"],
              exp: now + 300
            })
          ).toString("base64url"),
          ""
        ].join(".")
        const cases: ReadonlyArray<readonly [string, string, RegExp]> = [
          ["expired", yield* issuer.token(person, { iat: now - 600, exp: now - 300 }), /expired/],
          [
            "issued a day ahead",
            yield* issuer.token(person, { iat: now + 86_400, exp: now + 86_700 }),
            /issued in the future \(its `iat` is more than 30 seconds ahead/
          ],
          [
            "living ten years",
            yield* issuer.token(person, { iat: now, exp: now + 3_650 * 86_400 }),
            /it lives 3650d \(`exp` less `iat`\), longer than the 1d the gateway takes \(max_token_lifetime\)/
          ],
          [
            "issued two days ago, not yet expired",
            yield* issuer.token(person, { iat: now - 2 * 86_400, exp: now + 300 }),
            /issued more than 1d ago/
          ],
          ["without iat", yield* issuer.token(person, { iat: undefined }), /no `iat` claim/],
          ["another audience", yield* issuer.token(person, { aud: "another-service" }), /audience/],
          ["another issuer", yield* issuer.token(person, { iss: "https://login.example.net" }), /issuer/],
          ["unsigned", unsigned, /algorithm/],
          ["re-signed", yield* issuer.forged(person), /signature/],
          ["no user claim", yield* issuer.token(person, { email: undefined }), /user_claim/]
        ]
        for (const [what, token, why] of cases) {
          const answer = yield* call(gateway, "GET", "/admin/spend", bearer(token))
          assert.strictEqual(answer.status, 401, what)
          assert.strictEqual(answer.code, "invalid_token", what)
          assert.match(answer.message, why, what)
        }
        // A gateway key or anything else that is no JWT and no admin key: 403, as before sign-on.
        const other = yield* call(gateway, "GET", "/admin/spend", bearer("not-a-key"))
        assert.strictEqual(other.code, "admin_key_required")
        const none = yield* call(gateway, "GET", "/admin/spend")
        assert.strictEqual(none.status, 401)
        assert.strictEqual(none.code, "sign_in_required")
      }),
    60_000
  )

  it.live(
    "without a database, grants are kept in the gateway's memory: a grant gives its role at once, its removal takes it",
    () =>
      Effect.gen(function*() {
        const { gateway, issuer } = yield* serveWith({}, {}, false)
        const nora = bearer(yield* issuer.token("nora@example.com"))
        const ada = bearer(yield* issuer.token("ada@example.com"))
        assert.deepStrictEqual((yield* call(gateway, "GET", "/admin/me", nora)).body["roles"], [])
        const granted = yield* call(gateway, "POST", "/admin/grants", ada, {
          subject: "nora@example.com",
          role: "viewer"
        })
        assert.strictEqual(granted.status, 201)
        assert.deepStrictEqual((yield* call(gateway, "GET", "/admin/me", nora)).body["roles"], ["viewer"])
        const listed = yield* call(gateway, "GET", "/admin/grants", ada)
        assert.deepStrictEqual(rowsOf(listed).map((row) => [row["subject"], row["role"]]), [[
          "nora@example.com",
          "viewer"
        ]])
        assert.strictEqual(
          (yield* call(gateway, "DELETE", `/admin/grants/${String(granted.body["id"])}`, ada)).status,
          200
        )
        assert.deepStrictEqual((yield* call(gateway, "GET", "/admin/me", nora)).body["roles"], [])
      }),
    60_000
  )

  it.live(
    "a grant gives a person a role at once, and its removal takes it away; only an admin grants",
    () =>
      Effect.gen(function*() {
        const { gateway, issuer } = yield* serve
        const nora = bearer(yield* issuer.token("nora@example.com"))
        const before = yield* call(gateway, "GET", "/admin/spend", nora)
        assert.strictEqual(before.status, 403)
        const me = yield* call(gateway, "GET", "/admin/me", nora)
        assert.deepStrictEqual([me.body["name"], me.body["roles"]], ["nora@example.com", []])

        const ada = bearer(yield* issuer.token("ada@example.com"))
        const granted = yield* call(gateway, "POST", "/admin/grants", ada, {
          subject: "nora@example.com",
          role: "viewer"
        })
        assert.strictEqual(granted.status, 201)
        assert.strictEqual(granted.body["created_by"], "ada@example.com")
        const again = yield* call(gateway, "POST", "/admin/grants", ada, {
          subject: "nora@example.com",
          role: "viewer"
        })
        assert.deepStrictEqual([again.status, again.body["id"]], [200, granted.body["id"]])
        assert.strictEqual((yield* call(gateway, "GET", "/admin/spend", nora)).status, 200)
        assert.deepStrictEqual((yield* call(gateway, "GET", "/admin/me", nora)).body["roles"], ["viewer"])
        // Granted roles are roles like the others': a viewer still may not reload.
        assert.strictEqual((yield* call(gateway, "POST", "/admin/reload", nora)).status, 403)

        const operator = bearer(yield* issuer.token("otto@example.com"))
        const refused = yield* call(gateway, "POST", "/admin/grants", operator, {
          subject: "otto@example.com",
          role: "admin"
        })
        assert.strictEqual(refused.code, "permission_required")

        const removed = yield* call(gateway, "DELETE", `/admin/grants/${String(granted.body["id"])}`, ada)
        assert.strictEqual(removed.status, 200)
        assert.strictEqual((yield* call(gateway, "GET", "/admin/spend", nora)).status, 403)

        const bad = yield* call(gateway, "POST", "/admin/grants", ada, { subject: "x@example.com", role: "root" })
        assert.deepStrictEqual([bad.status, bad.param], [400, "role"])
        assert.match(bad.message, /team_admin:<team>/)
        const noSubject = yield* call(gateway, "POST", "/admin/grants", ada, { role: "viewer" })
        assert.deepStrictEqual([noSubject.status, noSubject.param], [400, "subject"])
      }),
    60_000
  )

  it.live(
    "each use of an admin key is logged as the break-glass path, by the key's name and never its secret",
    () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        const logger = Logger.make((options) => {
          lines.push(Array.isArray(options.message) ? options.message.join(" ") : String(options.message))
        })
        yield* Effect.gen(function*() {
          const { gateway, issuer } = yield* serve
          yield* call(gateway, "GET", "/admin/spend", admin)
          yield* call(gateway, "GET", "/admin/keys", admin)
          yield* call(gateway, "GET", "/admin/spend", bearer(yield* issuer.token("ada@example.com")))
        }).pipe(Effect.provide(Logger.layer([logger])))
        const breakGlass = lines.filter((line) => line.includes("break-glass"))
        assert.strictEqual(breakGlass.length, 2)
        for (const line of breakGlass) assert.include(line, "`ops`")
        assert.isFalse(lines.some((line) => line.includes(adminKey)))
      }),
    60_000
  )

  it.live(
    "keys' names and budgets are the keys' data: a viewer reads none of them from any route it may ask (the " +
      "dashboard's data, spend, the request log, metrics...), those who may read keys read them, teams by name",
    () =>
      Effect.gen(function*() {
        const { gateway, issuer } = yield* serve
        const post = (path: string, body: unknown) =>
          Effect.map(call(gateway, "POST", path, admin, body), (answer) => {
            assert.include([200, 201], answer.status, `${path}: ${JSON.stringify(answer.body)}`)
            return answer.body as Readonly<Record<string, string>>
          })
        const team = yield* post("/admin/teams", { name: "tname-research-9c1" })
        const inTeam = yield* post("/admin/keys", {
          name: "kname-member-7f3",
          team: team["id"],
          budget: { limit: 5, period: "month" }
        })
        const loose = yield* post("/admin/keys", { name: "kname-loose-2b8", budget: { limit: 4, period: "1 day" } })
        // A request of each key, answered by the gateway itself (a model it does not serve): a row of the request log.
        for (const key of [inTeam["key"]!, loose["key"]!]) {
          const chat = yield* call(gateway, "POST", "/v1/chat/completions", bearer(key), {
            model: "no-such-model",
            max_tokens: 5,
            messages: [{ role: "user", content: "Hello" }]
          })
          assert.strictEqual(chat.status, 404, chat.message)
        }
        // Both calls in the request log before anyone reads it.
        yield* eventually(
          "the request log to hold both calls",
          call(gateway, "GET", "/admin/requests", admin),
          (answer) => rowsOf(answer).length >= 2
        )
        const secretsOfKeys = [
          "kname-member-7f3",
          "kname-loose-2b8",
          inTeam["id"]!,
          loose["id"]!,
          "tname-research-9c1",
          team["id"]!
        ]

        // A viewer: every route a viewer may GET answers without a key's name, id or budget, or a team's.
        const viewer = bearer(yield* issuer.token(roleHolders.viewer))
        const observed = rules.filter((rule) => rule.method === "GET" && rule.permission === "observe")
        assert.isAbove(observed.length, 4)
        for (const rule of observed) {
          const path = rule.path === "/llm/model-load/*" ? "/llm/model-load/sim/gpt-4o-mini" : rule.path
          for (const asked of [path, ...(path === "/admin/spend" ? ["/admin/spend?group_by=deployment"] : [])]) {
            const answer = yield* call(gateway, "GET", asked, viewer)
            assert.strictEqual(answer.status, 200, `${asked}: ${answer.message}`)
            const text = JSON.stringify(answer.body) + answer.message
            for (const secret of secretsOfKeys) assert.notInclude(text, secret, asked)
          }
        }
        const data = yield* call(gateway, "GET", "/dashboard/data", viewer)
        assert.deepStrictEqual(data.body["budgets"], [])
        for (const row of rowsOf(yield* call(gateway, "GET", "/admin/requests", viewer))) {
          assert.deepStrictEqual([row["key_id"], row["key_name"], row["team_id"]], [null, null, null])
        }
        // What would name them is refused, naming the permission it needs.
        for (
          const [asked, permission] of [
            ["/admin/spend?group_by=key", "keys.read"],
            ["/admin/spend?group_by=team", "teams.read"],
            [`/admin/requests?key=${loose["id"]}`, "keys.read"],
            [`/admin/requests?team=${team["id"]}`, "teams.read"]
          ] as const
        ) {
          const refused = yield* call(gateway, "GET", asked, viewer)
          assert.deepStrictEqual([refused.status, refused.code], [403, "permission_required"], asked)
          assert.include(refused.message, `\`${permission}\``)
        }

        // Those who may read keys (an operator, an admin key): the budgets, their teams by name, the spend by key.
        for (const reader of [bearer(yield* issuer.token(roleHolders.operator)), admin]) {
          const budgets = (yield* call(gateway, "GET", "/dashboard/data", reader)).body["budgets"] as ReadonlyArray<
            Readonly<Record<string, unknown>>
          >
          assert.deepStrictEqual(
            budgets.map((budget) => [budget["key"], budget["team"], budget["teamName"], budget["limit"]]),
            [["kname-member-7f3", team["id"], "tname-research-9c1", 5], ["kname-loose-2b8", null, null, 4]]
          )
          const byKey = yield* call(gateway, "GET", "/admin/spend?group_by=key", reader)
          const names = (byKey.body["groups"] as ReadonlyArray<Readonly<Record<string, unknown>>>).map((group) =>
            group["name"]
          )
          assert.includeMembers(names, ["kname-member-7f3", "kname-loose-2b8"])
          const rows = rowsOf(yield* call(gateway, "GET", "/admin/requests", reader))
          assert.includeMembers(rows.map((row) => row["key_name"]), ["kname-member-7f3", "kname-loose-2b8"])
        }
      }),
    60_000
  )
})
