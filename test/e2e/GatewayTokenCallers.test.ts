/**
 * Callers by token over loopback (provider.json's `gateway.token_callers`, docs/identity.md): the official `openai`
 * client presenting a real issuer's access token (`oidc-provider`) as its API key is its team's caller: the models the
 * entry allows only, the team's budget enforced, and its calls recorded under the person and the team
 * (`/admin/spend`); each person's own rate limit and budget (the entry's), one person's spent while another of the
 * same team still calls; tokens expired, for another audience, re-signed, unsigned, with no mapped team claim, or mapped to
 * a team the gateway does not have, refused in the dialect's own error shape; gateway keys still work beside them.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { call } from "../utils/identityHarness.js"
import * as OidcIssuer from "../utils/oidcIssuer.js"

const providerKey = "sk-token-callers-provider-5e7a9c1b3d"
const adminKey = "gw-token-callers-admin-8b0d2f4a6c"
const gatewayKey = "gw-token-callers-key-3c5e7a9b1d"
const admin = { authorization: `Bearer ${adminKey}` }

/**
 * A gateway whose API takes the issuer's tokens for the team `research` (remy's group) and `admins` (ada's), the
 * entry's fields besides (`callers`: a person's own limits) and the team's budget given.
 */
const serveWith = (
  callers: Record<string, unknown> = {},
  teamBudget: Record<string, unknown> | undefined = { limit: 0.005, period: "month" }
) =>
  Effect.gen(function*() {
    const issuer = yield* OidcIssuer.make
    yield* issuer.register("http://127.0.0.1/unused-callback", "http://127.0.0.1/unused")
    const directory = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(Path.join(tmpdir(), "token-callers-"))),
      (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
    )
    const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
    const entry = (model: string) => ({
      model_name: model,
      base_url: `${simulator.url}/v1`,
      api_keys: [providerKey],
      max_retries: 0,
      pricing: { input_per_mtok: 1, output_per_mtok: 2 }
    })
    const config = yield* ProviderConfig.fromJson({
      sim: [entry("gpt-4o-mini"), entry("gpt-4o")],
      gateway: {
        keys: [{ name: "plain", key: gatewayKey }],
        admin_keys: [{ name: "ops", key: adminKey }],
        token_callers: [{
          issuer: issuer.url,
          audience: OidcIssuer.audience,
          team_claim: "groups",
          teams: { research: "research", "llm-admins": "admins" },
          models: ["gpt-4o-mini"],
          ...callers
        }]
      }
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      database: { sqlite: Path.join(directory, "gateway.db") }
    })
    // The team's budget: a call without max_tokens would reserve 4,096 reply tokens ($0.008), more than it has.
    const team = yield* call(gateway, "POST", "/admin/teams", admin, {
      name: "research",
      ...(teamBudget === undefined ? {} : { budget: teamBudget })
    })
    assert.strictEqual(team.status, 201, team.message)
    return { issuer, gateway, team: String(team.body["id"]) }
  })

const serve = serveWith()

const client = (gateway: Gateway.Service, apiKey: string) =>
  new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 })

/** A chat of `model` with `apiKey`: its reply's text, or its error's status, code and message. */
const chat = (gateway: Gateway.Service, apiKey: string, model: string, maxTokens?: number) =>
  Effect.promise(() =>
    client(gateway, apiKey).chat.completions.create({
      model,
      messages: [{ role: "user", content: "Hello, team" }],
      ...(maxTokens === undefined ? {} : { max_tokens: maxTokens })
    }).then(
      (reply) => ({ ok: true as const, text: reply.choices[0]?.message.content ?? "" }),
      (error: InstanceType<typeof OpenAI.APIError>) => ({
        ok: false as const,
        status: error.status,
        code: error.code,
        message: error.message,
        retryAfter: error.headers?.get("retry-after") ?? null
      })
    )
  )

describe("callers by token", () => {
  it.live("a person's token is their team's caller: its models, its budget, spend under the person and team", () =>
    Effect.gen(function*() {
      const { gateway, issuer, team } = yield* serve
      const token = yield* issuer.token("remy@example.com")

      const allowed = yield* chat(gateway, token, "gpt-4o-mini", 16)
      assert.isTrue(allowed.ok, JSON.stringify(allowed))
      // Streamed too.
      const streamed = yield* Effect.promise(async () => {
        const stream = await client(gateway, token).chat.completions.create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "Hello, stream" }],
          max_tokens: 16,
          stream: true
        })
        let text = ""
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
        return text
      })
      expect(streamed.length).toBeGreaterThan(0)
      // Only the models the entry allows.
      const other = yield* chat(gateway, token, "gpt-4o", 16)
      expect(other).toMatchObject({ ok: false, status: 403, code: "model_not_allowed" })
      const listed = yield* Effect.promise(() => client(gateway, token).models.list())
      expect(listed.data.map((model) => model.id)).toEqual(["gpt-4o-mini"])
      // The team's budget: a call whose worst case passes what is left is sent with the reply bound the rest pays
      // for; one whose prompt alone passes it ($0.006 at most) is refused.
      const lowered = yield* Effect.promise(() =>
        client(gateway, token).chat.completions.create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "Hello, team" }]
        }).withResponse()
      )
      expect(lowered.response.headers.get("x-llm-max-tokens-lowered")).toMatch(/^\d+; asked=4096; /)
      const costly = yield* Effect.promise(() =>
        client(gateway, token).chat.completions.create({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "x".repeat(6_000) }]
        }).then(() => undefined, (error: InstanceType<typeof OpenAI.APIError>) => error)
      )
      expect(costly).toMatchObject({ status: 429, code: "insufficient_quota" })
      expect(costly?.message).toContain("team's budget")
      // A gateway key works beside the tokens.
      expect((yield* chat(gateway, gatewayKey, "gpt-4o", 16)).ok).toBe(true)

      const spend = (groupBy: string) =>
        Effect.map(
          call(gateway, "GET", `/admin/spend?group_by=${groupBy}`, admin),
          (answer) => answer.body["groups"] as ReadonlyArray<Record<string, unknown>>
        )
      // The request log is written in the background, in order: once the gateway key's call (the last) is there, the
      // person's are.
      let byKey: ReadonlyArray<Record<string, unknown>> = []
      for (let attempt = 0; attempt < 100 && !byKey.some((group) => group["group"] === "config:plain"); attempt++) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
        byKey = yield* spend("key")
      }
      const byTeam = yield* spend("team")
      const research = byTeam.find((group) => group["group"] === team)
      expect(research).toMatchObject({ name: "research" })
      expect(Number(research!["cost"])).toBeGreaterThan(0)
      const person = byKey.find((group) => group["group"] === `person:${issuer.url}#remy@example.com`)
      // Its three chats that reached the model (four reply tokens each) and its two refusals are calls; its model
      // list is a request apart.
      expect(person).toMatchObject({ name: "remy@example.com" })
      expect(person).toMatchObject({ calls: 5, other_requests: 1, output_tokens: 12 })
      expect(research).toMatchObject({ calls: 5, other_requests: 1, output_tokens: 12 })
      expect(Number(person!["cost"])).toBeCloseTo(Number(research!["cost"]), 12)
      // What the team spent is in its ledger too (the admin API's view of the team).
      const shown = yield* call(gateway, "GET", `/admin/teams/${team}`, admin)
      const spent = (shown.body["spend"] as Record<string, unknown> | null)?.["spent"]
      expect(Number(spent)).toBeCloseTo(Number(research!["cost"]), 12)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("each person has their own rate limit: one person's burst spent, another of the team still calls", () =>
    Effect.gen(function*() {
      // Bursts of two calls, one more every 1,000 seconds; the team without a budget.
      const { gateway, issuer } = yield* serveWith({ rate_limit_capacity: 2, rate_limit_refill_rate: 0.001 }, undefined)
      const remy = yield* issuer.token("remy@example.com")
      for (let attempt = 0; attempt < 2; attempt++) {
        const admitted = yield* chat(gateway, remy, "gpt-4o-mini", 16)
        assert.isTrue(admitted.ok, JSON.stringify(admitted))
      }
      const limited = yield* chat(gateway, remy, "gpt-4o-mini", 16)
      expect(limited).toMatchObject({ ok: false, status: 429, code: "rate_limit_exceeded" })
      if (!limited.ok) {
        expect(limited.message).toContain("This person's rate limit is reached")
        // The next token comes in about 1,000 seconds.
        expect(Number(limited.retryAfter)).toBeGreaterThan(900)
      }
      // A fresh token of the same person draws from the same bucket: the limit is the person's, not the token's.
      const again = yield* chat(gateway, yield* issuer.token("remy@example.com"), "gpt-4o-mini", 16)
      expect(again).toMatchObject({ ok: false, status: 429, code: "rate_limit_exceeded" })
      // Rhea, of the same team, has her own bucket.
      const rhea = yield* issuer.token("rhea@example.com", { groups: ["research"] })
      for (let attempt = 0; attempt < 2; attempt++) {
        const admitted = yield* chat(gateway, rhea, "gpt-4o-mini", 16)
        assert.isTrue(admitted.ok, JSON.stringify(admitted))
      }
      expect(yield* chat(gateway, rhea, "gpt-4o-mini", 16)).toMatchObject({ ok: false, status: 429 })
      // Gateway keys are not the people's limits.
      expect((yield* chat(gateway, gatewayKey, "gpt-4o", 16)).ok).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("each person has their own budget beside the team's: one person's spent, another of the team still calls", () =>
    Effect.gen(function*() {
      // $0.0001 a day for each person, of the team's $0.005 a month.
      const { gateway, issuer } = yield* serveWith({ budget: { limit: 0.0001, period: "1 day" } })
      const remy = yield* issuer.token("remy@example.com")
      let admitted = 0
      let refused: Effect.Success<ReturnType<typeof chat>> | undefined
      while (refused === undefined && admitted < 50) {
        const answer = yield* chat(gateway, remy, "gpt-4o-mini", 16)
        if (answer.ok) admitted++
        else refused = answer
      }
      // Several calls fit (each charged its real cost, far below its worst case), then his own budget refuses.
      expect(admitted).toBeGreaterThan(0)
      expect(refused).toMatchObject({ ok: false, status: 429, code: "insufficient_quota" })
      expect(refused?.ok === false ? refused.message : "").toMatch(
        /^429 This person's own budget has \$[\d.e-]+ of \$0\.0001 left/
      )
      // A call without max_tokens (the default 4,096 reply tokens) fits no better: refused at once.
      expect(yield* chat(gateway, remy, "gpt-4o-mini")).toMatchObject({ ok: false, code: "insufficient_quota" })
      // Rhea, of the same team, has her own budget; the team's is far from spent.
      const rhea = yield* issuer.token("rhea@example.com", { groups: ["research"] })
      const hers = yield* chat(gateway, rhea, "gpt-4o-mini", 16)
      assert.isTrue(hers.ok, JSON.stringify(hers))
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("refuses tokens expired, for another audience, re-signed, unsigned, without a team, of a missing team", () =>
    Effect.gen(function*() {
      const { gateway, issuer } = yield* serve
      const now = Math.floor(Date.now() / 1000)
      const refusal = (token: string) => chat(gateway, token, "gpt-4o-mini", 16)
      const unsigned = (claims: Record<string, unknown>) =>
        [{ alg: "none", typ: "JWT" }, claims].map((part) => Buffer.from(JSON.stringify(part)).toString("base64url"))
          .join(".") + "."

      const expired = yield* refusal(yield* issuer.token("remy@example.com", { iat: now - 7200, exp: now - 3600 }))
      expect(expired).toMatchObject({ ok: false, status: 401, code: "invalid_token" })
      if (!expired.ok) expect(expired.message).toContain("expired")
      // Issued a day ahead of the clock, or living ten years: refused.
      const ahead = yield* refusal(yield* issuer.token("remy@example.com", { iat: now + 86_400, exp: now + 86_700 }))
      expect(ahead).toMatchObject({ ok: false, status: 401, code: "invalid_token" })
      if (!ahead.ok) expect(ahead.message).toContain("issued in the future")
      const decade = yield* refusal(yield* issuer.token("remy@example.com", { iat: now, exp: now + 3_650 * 86_400 }))
      expect(decade).toMatchObject({ ok: false, status: 401, code: "invalid_token" })
      if (!decade.ok) expect(decade.message).toContain("longer than the 1d the gateway takes")
      const audience = yield* refusal(yield* issuer.token("remy@example.com", { aud: "urn:another-api" }))
      expect(audience).toMatchObject({ ok: false, status: 401, code: "invalid_token" })
      if (!audience.ok) expect(audience.message).toContain("audience")
      const forged = yield* refusal(yield* issuer.forged("remy@example.com"))
      expect(forged).toMatchObject({ ok: false, status: 401, code: "invalid_token" })
      if (!forged.ok) expect(forged.message).toContain("signature")
      const none = yield* refusal(unsigned({
        iss: issuer.url,
        aud: OidcIssuer.audience,
        email: "remy@example.com",
        groups: ["research"],
        exp: now + 300
      }))
      expect(none).toMatchObject({ ok: false, status: 401, code: "invalid_token" })
      // nora has no group; vera's maps to no team.
      for (const person of ["nora@example.com", "vera@example.com"]) {
        const teamless = yield* refusal(yield* issuer.token(person))
        expect(teamless).toMatchObject({ ok: false, status: 401, code: "invalid_token" })
        if (!teamless.ok) expect(teamless.message).toContain("`groups` claim names no team")
      }
      // ada's group maps to `admins`, a team this gateway does not have.
      const missing = yield* refusal(yield* issuer.token("ada@example.com"))
      expect(missing).toMatchObject({ ok: false, status: 403, code: "team_not_found" })
      if (!missing.ok) expect(missing.message).toContain("`admins`")
      // A key that is neither a gateway key nor a token.
      expect(yield* refusal("gw-not-a-key")).toMatchObject({ ok: false, status: 401, code: "invalid_api_key" })

      // In Anthropic's own error shape on its path.
      const anthropic = yield* Effect.promise(async () => {
        const response = await fetch(`${gateway.url}/v1/messages`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-api-key": await Effect.runPromise(issuer.forged("remy@example.com"))
          },
          body: "{}"
        })
        return { status: response.status, body: await response.json() as Record<string, unknown> }
      })
      expect(anthropic.status).toBe(401)
      expect(anthropic.body).toMatchObject({ type: "error", error: { type: "authentication_error" } })
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("an entry's max_token_lifetime bounds its tokens' lifetime: two hours taken by default, not past one", () =>
    Effect.gen(function*() {
      const twoHours = (issuer: OidcIssuer.Issuer) => {
        const now = Math.floor(Date.now() / 1000)
        return issuer.token("remy@example.com", { iat: now, exp: now + 7_200 })
      }
      const byDefault = yield* serve
      const taken = yield* chat(byDefault.gateway, yield* twoHours(byDefault.issuer), "gpt-4o-mini", 16)
      assert.isTrue(taken.ok, JSON.stringify(taken))
      const { gateway, issuer } = yield* serveWith({ max_token_lifetime: "1 hour" })
      const refused = yield* chat(gateway, yield* twoHours(issuer), "gpt-4o-mini", 16)
      expect(refused).toMatchObject({ ok: false, status: 401, code: "invalid_token" })
      if (!refused.ok) expect(refused.message).toContain("it lives 2h (`exp` less `iat`), longer than the 1h")
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live(
    "two issuers' people of one user claim are two callers (limits, budgets, spend); an unverified email is refused",
    () =>
      Effect.gen(function*() {
        const issuers = [yield* OidcIssuer.make, yield* OidcIssuer.make]
        for (const issuer of issuers) yield* issuer.register("http://127.0.0.1/unused-callback", "http://127.0.0.1/u")
        const directory = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(Path.join(tmpdir(), "token-callers-two-"))),
          (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
        )
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const config = yield* ProviderConfig.fromJson({
          sim: [{
            model_name: "gpt-4o-mini",
            base_url: `${simulator.url}/v1`,
            api_keys: [providerKey],
            max_retries: 0,
            pricing: { input_per_mtok: 1, output_per_mtok: 2 }
          }],
          gateway: {
            admin_keys: [{ name: "ops", key: adminKey }],
            token_callers: issuers.map((issuer) => ({
              issuer: issuer.url,
              audience: OidcIssuer.audience,
              teams: { research: "research" },
              rate_limit_capacity: 2,
              rate_limit_refill_rate: 0.001
            }))
          }
        })
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          database: { sqlite: Path.join(directory, "gateway.db") }
        })
        assert.strictEqual((yield* call(gateway, "POST", "/admin/teams", admin, { name: "research" })).status, 201)
        // The same address at each issuer (and the same `sub`, as each issuer names its own people).
        const [first, second] = [
          yield* issuers[0]!.token("remy@example.com"),
          yield* issuers[1]!.token("remy@example.com")
        ]
        for (let attempt = 0; attempt < 2; attempt++) {
          assert.isTrue((yield* chat(gateway, first, "gpt-4o-mini", 16)).ok)
        }
        expect(yield* chat(gateway, first, "gpt-4o-mini", 16)).toMatchObject({ ok: false, status: 429 })
        // The other issuer's remy has a bucket of their own.
        for (let attempt = 0; attempt < 2; attempt++) {
          const admitted = yield* chat(gateway, second, "gpt-4o-mini", 16)
          assert.isTrue(admitted.ok, JSON.stringify(admitted))
        }
        // Spend and the request log name them apart: by issuer and subject, each with their user claim as name.
        const ids = issuers.map((issuer) => `person:${issuer.url}#remy@example.com`)
        let groups: ReadonlyArray<Record<string, unknown>> = []
        for (let attempt = 0; attempt < 100 && groups.filter((group) => group["calls"] === 2).length < 2; attempt++) {
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
          groups = (yield* call(gateway, "GET", "/admin/spend?group_by=key", admin)).body["groups"] as typeof groups
        }
        expect(
          groups.filter((group) => String(group["group"]).startsWith("person:")).map((group) => [
            group["group"],
            group["name"],
            group["calls"]
          ]).sort()
        ).toEqual([...ids.map((id) => [id, "remy@example.com", id === ids[0] ? 3 : 2])].sort())

        // An address the issuer has not verified is no name: refused, whatever else the token holds.
        for (const verified of [false, "false"]) {
          const unverified = yield* chat(
            gateway,
            yield* issuers[1]!.token("rhea@example.com", { groups: ["research"], email_verified: verified }),
            "gpt-4o-mini",
            16
          )
          expect(unverified).toMatchObject({ ok: false, status: 401, code: "invalid_token" })
          if (!unverified.ok) expect(unverified.message).toContain("email_verified")
        }
        const verified = yield* issuers[1]!.token("rhea@example.com", { groups: ["research"], email_verified: true })
        expect((yield* chat(gateway, verified, "gpt-4o-mini", 16)).ok).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    120_000
  )

  it.live("a configuration that cannot work is refused at start, naming each field", () =>
    Effect.gen(function*() {
      const section = (callers: ReadonlyArray<Record<string, unknown>>) => ({
        sim: [{ model_name: "gpt-4o-mini", base_url: "http://127.0.0.1:9/v1", api_keys: [providerKey] }],
        gateway: { token_callers: callers }
      })
      // What provider.json's decoding refuses: a URL that is none, an empty audience, no team mapping.
      const decoded = yield* Effect.flip(
        ProviderConfig.fromJson(section([{ issuer: "login.example.com", audience: "", teams: { a: "" } }]))
      )
      expect(decoded._tag).toBe("ProviderConfigError")
      expect(decoded.issues.map((issue) => issue.path).sort()).toEqual([
        "gateway.token_callers[0].audience",
        "gateway.token_callers[0].issuer",
        "gateway.token_callers[0].teams.a"
      ])
      // A person's rate limit takes both figures, as a key's does.
      const half = yield* Effect.flip(ProviderConfig.fromJson(section([{
        issuer: "https://login.example.com",
        audience: "urn:api",
        teams: { a: "a" },
        rate_limit_capacity: 5
      }])))
      expect(half.issues.map((issue) => issue.path)).toEqual(["gateway.token_callers[0].rate_limit_refill_rate"])
      // Both, and a budget, read as a key's are.
      const read = yield* ProviderConfig.fromJson(section([{
        issuer: "https://login.example.com",
        audience: "urn:api",
        teams: { a: "a" },
        rate_limit_capacity: 5,
        rate_limit_refill_rate: 0.5,
        budget: { limit: 2, period: "1 day", default_max_tokens: 256 }
      }]))
      expect(ProviderConfig.gatewayConfig(read).keys?.tokenCallers?.[0]).toMatchObject({
        rateLimit: { capacity: 5, refillRate: 0.5 },
        budget: { limit: 2, period: 86_400_000, defaultMaxTokens: 256 }
      })
      // What the gateway refuses: an http issuer beyond loopback, an unknown model, no mapping, and no database.
      const config = yield* ProviderConfig.fromJson(section([{
        issuer: "http://login.example.com",
        audience: "urn:api",
        teams: {},
        models: ["gpt-5-nowhere"]
      }]))
      const refused = yield* Effect.flip(Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }))
      expect(refused._tag).toBe("OptionsError")
      const named = [refused, ...(refused._tag === "OptionsError" ? refused.others ?? [] : [])].map((problem) =>
        "option" in problem ? problem.option : ""
      )
      expect(named).toEqual(expect.arrayContaining([
        "tokenCallers",
        "tokenCallers[0].issuer",
        "tokenCallers[0].models[0]",
        "tokenCallers[0].teams"
      ]))
      expect(refused.message).toContain("a database")
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})
