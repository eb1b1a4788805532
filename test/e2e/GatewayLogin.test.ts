/**
 * `login` and `logout` against a real OpenID Connect issuer (`oidc-provider`, its device flow enabled) and a gateway
 * with sign-on: the command line asks for a device code, the test approves it as a person on the issuer's device pages
 * over HTTP, and `keys`, `teams` and `spend` then act as that person, with that person's role (a viewer's `keys create`
 * refused with the gateway's 403 message shown). A denied and an expired code store nothing; an expired access token
 * is refreshed, an expired login without a refresh token says to log in again; `logout` revokes at the issuer (the
 * refresh token no longer refreshes) and forgets. The logins file is 0600 in a 0700 directory, and no token ever shows
 * in any output. The commands run in-process; their polling and their view of token expiry run on a TestClock. Against
 * a small issuer of the device grant that answers `slow_down` once, the polling interval grows by five seconds from
 * then on (RFC 8628), each sleep asked of the TestClock recorded.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/testing/TestClock"
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import * as AdminApi from "../../src/cli/adminApi.js"
import type { Io } from "../../src/cli/io.js"
import * as Keys from "../../src/cli/keys.js"
import * as Login from "../../src/cli/login.js"
import * as LoginStore from "../../src/cli/loginStore.js"
import * as Spend from "../../src/cli/spend.js"
import * as Teams from "../../src/cli/teams.js"
import { gatewayOnSqlite } from "../utils/adminApi.js"
import { captureIo, envWithoutKeys, spawnCli, startInProcess } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import { serveWith } from "../utils/identityHarness.js"
import * as OidcIssuer from "../utils/oidcIssuer.js"

/** A fresh issuer and gateway, a data directory of the test's own, and a TestClock the commands run on. */
const setUp = (lifetimes: OidcIssuer.Lifetimes = {}, oidc: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const { gateway, issuer } = yield* serveWith(lifetimes, oidc)
    const home = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(Path.join(tmpdir(), "login-home-"))),
      (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
    )
    const clock = yield* TestClock.make()
    const outputs: Array<string> = []
    const env = { XDG_DATA_HOME: home }
    const directory = Path.join(home, "effect-llm-router")
    const onClock = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, Clock.Clock, clock)
    /** A command run to its end, its output kept for the no-token check. */
    const cli = (run: (argv: ReadonlyArray<string>, io: Io) => Effect.Effect<number>, ...argv: Array<string>) =>
      Effect.gen(function*() {
        const { io, result } = captureIo({ env })
        const captured = result(yield* onClock(run(["--url", gateway.url, ...argv], io)))
        outputs.push(captured.stdout, captured.stderr)
        return captured
      })
    /**
     * `login` started, its code approved (or aborted) by `person` at the issuer, the clock moved past its poll:
     * what it printed and its exit code.
     */
    const login = (
      person: string,
      options: {
        readonly abort?: boolean
        readonly wait?: number
        /** The flags besides `--url`: the issuer, the client and the scopes unless given. */
        readonly flags?: ReadonlyArray<string>
      } = {}
    ) =>
      Effect.scoped(Effect.gen(function*() {
        const flags = options.flags ??
          ["--issuer", issuer.url, "--client-id", OidcIssuer.cliClientId, "--scope", OidcIssuer.cliScopes]
        const running = yield* startInProcess(
          (io) => onClock(Login.run(["--url", gateway.url, ...flags], io)),
          { env }
        )
        const asked = yield* eventually(
          "the device code",
          Effect.sync(running.stderr),
          (text) => /enter the code \S+/.test(text)
        )
        const [, uri, code] = /open (\S+) and enter the code (\S+)/.exec(asked)!
        // Either approved (or aborted) at once, or left for `wait` milliseconds of real time.
        const page = options.wait === undefined
          ? yield* OidcIssuer.approveDevice(uri!, code!, person, options.abort === true)
          : yield* Effect.as(
            Effect.promise(() => sleep(options.wait!)),
            ""
          )
        yield* clock.adjust("5 seconds")
        const { code: exit } = yield* Fiber.join(running.exited)
        outputs.push(running.stdout(), running.stderr())
        return { code: exit, stderr: running.stderr(), page }
      }))
    const stored = Effect.promise(async () =>
      JSON.parse(await readFile(LoginStore.pathIn(directory), "utf8")) as {
        readonly logins: Record<string, LoginStore.Stored>
      }
    )
    const store = (logins: Record<string, LoginStore.Stored>) =>
      Effect.promise(() => writeFile(LoginStore.pathIn(directory), JSON.stringify({ logins }), { mode: 0o600 }))
    /** Every output so far holds none of `tokens`. */
    const noTokenShown = (tokens: ReadonlyArray<string | undefined>) => {
      for (const token of tokens) {
        if (token === undefined) continue
        for (const output of outputs) assert.notInclude(output, token)
      }
    }
    return { gateway, issuer, clock, directory, cli, login, stored, store, noTokenShown }
  })

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

describe("login (device authorization grant)", () => {
  it.live(
    "an operator logs in; keys, teams and spend act as them; the token is refreshed; logout revokes and forgets",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { clock, cli, directory, gateway, login, noTokenShown, store, stored } = yield* setUp()
        const signedIn = yield* login("otto@example.com")
        assert.strictEqual(signedIn.code, 0, signedIn.stderr)
        assert.include(signedIn.stderr, `Logged in as otto@example.com for ${gateway.url}`)
        assert.include(signedIn.page, "Sign-in Success")

        // The file only its owner reads, in a directory only its owner enters.
        assert.strictEqual((yield* Effect.promise(() => stat(directory))).mode & 0o777, 0o700)
        assert.strictEqual((yield* Effect.promise(() => stat(LoginStore.pathIn(directory)))).mode & 0o777, 0o600)
        const first = (yield* stored).logins[gateway.url]!
        assert.isDefined(first.refresh_token)

        const created = yield* cli(Keys.run, "create", "otto-key")
        assert.strictEqual(created.code, 0, created.stderr)
        const listed = yield* cli(Keys.run, "list")
        assert.strictEqual(listed.code, 0, listed.stderr)
        assert.include(listed.stdout, "otto-key")
        const teams = yield* cli(Teams.run, "list")
        assert.strictEqual(teams.code, 0, teams.stderr)
        const spend = yield* cli(Spend.run)
        assert.strictEqual(spend.code, 0, spend.stderr)

        // An hour and more later the access token has expired: the next command refreshes it first.
        yield* clock.adjust("2 hours")
        const later = yield* cli(Keys.run, "list")
        assert.strictEqual(later.code, 0, later.stderr)
        const refreshed = (yield* stored).logins[gateway.url]!
        assert.notStrictEqual(refreshed.access_token, first.access_token)
        assert.isAbove(refreshed.expires_at, first.expires_at)

        // Without a refresh token, an expired login says to log in again.
        const { refresh_token: _kept, ...withoutRefresh } = refreshed
        yield* store({ [gateway.url]: withoutRefresh })
        yield* clock.adjust("2 hours")
        const lapsed = yield* cli(Keys.run, "list")
        assert.strictEqual(lapsed.code, 1)
        assert.include(lapsed.stderr, "LoginError: The login for")
        assert.include(lapsed.stderr, "has expired and cannot be refreshed")
        assert.include(lapsed.stderr, `login --url ${gateway.url} again`)

        // Logout revokes the refresh token at the issuer: a copy kept from before no longer refreshes.
        yield* store({ [gateway.url]: refreshed })
        const out = yield* cli(Login.runLogout)
        assert.strictEqual(out.code, 0, out.stderr)
        assert.include(out.stderr, `Logged out for ${gateway.url}, the login revoked at its issuer`)
        assert.deepStrictEqual((yield* stored).logins, {})
        const none = yield* cli(Keys.run, "list")
        assert.strictEqual(none.code, 2)
        assert.include(none.stderr, "keys needs an admin key")
        yield* store({ [gateway.url]: { ...refreshed, expires_at: 0 } })
        const revoked = yield* cli(Keys.run, "list")
        assert.strictEqual(revoked.code, 1)
        assert.include(revoked.stderr, "could not be refreshed (invalid_grant")
        assert.include(revoked.stderr, "again")
        const again = yield* cli(Login.runLogout)
        assert.strictEqual(again.code, 0)
        const twice = yield* cli(Login.runLogout)
        assert.include(twice.stderr, `Not logged in for ${gateway.url}`)

        noTokenShown([first.access_token, first.refresh_token, refreshed.access_token, refreshed.refresh_token])
      })),
    60_000
  )

  it.live(
    "a viewer lists but may not create a key: the gateway's 403 message is shown",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { cli, gateway, login, noTokenShown, store, stored } = yield* setUp()
        const signedIn = yield* login("vera@example.com")
        assert.strictEqual(signedIn.code, 0, signedIn.stderr)
        const spend = yield* cli(Spend.run)
        assert.strictEqual(spend.code, 0, spend.stderr)
        const refused = yield* cli(Keys.run, "create", "vera-key")
        assert.strictEqual(refused.code, 1)
        assert.include(refused.stderr, `GatewayRequestError: The gateway at ${gateway.url} answered 403: `)
        assert.include(refused.stderr, "POST /admin/keys needs the permission `keys.write`")
        assert.include(refused.stderr, "your roles (viewer) do not grant")
        // What to do: sign in as someone else, or use an admin key.
        assert.include(
          refused.stderr,
          `(the credential sent may not do this: sign in as someone whose roles do with effect-llm-router login ` +
            `--url ${gateway.url}, or set ${AdminApi.adminKeyVariable} to one of the gateway's admin keys)`
        )
        const login_ = (yield* stored).logins[gateway.url]!
        noTokenShown([login_.access_token, login_.refresh_token])
        // A login whose token the gateway does not take (not the issuer's signature): 401, and the same two ways out.
        yield* store({ [gateway.url]: { ...login_, access_token: `${login_.access_token.slice(0, -4)}AAAA` } })
        const untaken = yield* cli(Keys.run, "list")
        assert.strictEqual(untaken.code, 1)
        assert.include(untaken.stderr, `GatewayRequestError: The gateway at ${gateway.url} answered 401: `)
        assert.include(
          untaken.stderr,
          `(the credential sent was not taken: sign in (again) with effect-llm-router login --url ${gateway.url}, ` +
            `set ${AdminApi.adminKeyVariable} to one of the gateway's admin keys`
        )
      })),
    60_000
  )

  it.live(
    "login --url alone signs in with the issuer, client and scopes the gateway publishes; flags override them",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { cli, gateway, issuer, login, stored } = yield* setUp({}, { cli_client_id: OidcIssuer.cliClientId })
        // Published to anyone: no credential sent.
        const published = yield* Effect.promise(() =>
          fetch(`${gateway.url}/admin/oidc`).then((answer) => answer.json())
        )
        assert.deepStrictEqual(published, {
          issuer: issuer.url,
          audience: OidcIssuer.audience,
          scopes: ["openid", "email", "groups"],
          cli_client_id: OidcIssuer.cliClientId
        })
        const signedIn = yield* login("otto@example.com", { flags: [] })
        assert.strictEqual(signedIn.code, 0, signedIn.stderr)
        const kept = (yield* stored).logins[gateway.url]!
        assert.deepStrictEqual([kept.issuer, kept.client_id], [issuer.url, OidcIssuer.cliClientId])
        // The published scopes and offline_access: the groups in the token (an operator's), a refresh token kept.
        assert.isDefined(kept.refresh_token)
        const listed = yield* cli(Keys.run, "list")
        assert.strictEqual(listed.code, 0, listed.stderr)
        // A flag wins over what is published: a client the issuer does not know refuses the login.
        const overridden = yield* cli(Login.run, "--client-id", "no-such-client")
        assert.strictEqual(overridden.code, 1)
        assert.include(overridden.stderr, `LoginError: The issuer at ${issuer.url} refused to start a login`)
      })),
    60_000
  )

  it.live(
    "a gateway publishing no command line client, or no sign-on at all: login says which flag it needs",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { cli, gateway } = yield* setUp()
        const published = yield* Effect.promise(() =>
          fetch(`${gateway.url}/admin/oidc`).then((answer) => answer.json() as Promise<Record<string, unknown>>)
        )
        assert.strictEqual(published.cli_client_id, null)
        const noClient = yield* cli(Login.run)
        assert.strictEqual(noClient.code, 2)
        assert.include(
          noClient.stderr,
          `login needs --client-id, the issuer's public client for the command line; the gateway at ${gateway.url} ` +
            "publishes none (its provider.json's gateway.oidc.cli_client_id)"
        )
        const plain = yield* gatewayOnSqlite("login-plain-")
        assert.strictEqual((yield* Effect.promise(() => fetch(`${plain.url}/admin/oidc`))).status, 404)
        const { io, result } = captureIo()
        const noSignOn = result(yield* Login.run(["--url", plain.url], io))
        assert.strictEqual(noSignOn.code, 2)
        assert.include(noSignOn.stderr, `login needs --issuer, the gateway's OpenID Connect issuer URL`)
        assert.include(
          noSignOn.stderr,
          `the gateway at ${plain.url} publishes none (The gateway at ${plain.url} answered 404`
        )
      })),
    60_000
  )

  it.live("a code aborted at the issuer is denied, and nothing is stored", () =>
    Effect.scoped(Effect.gen(function*() {
      const { directory, login } = yield* setUp()
      const denied = yield* login("ada@example.com", { abort: true })
      assert.strictEqual(denied.code, 1)
      assert.include(denied.stderr, "LoginError: The login was denied at")
      assert.include(denied.page, "The Sign-in request was interrupted")
      const exists = yield* Effect.promise(() => stat(LoginStore.pathIn(directory)).then(() => true, () => false))
      assert.isFalse(exists)
    })), 60_000)

  it.live(
    "a code left unapproved until the issuer expires it fails with the code named, and nothing is stored",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { directory, login } = yield* setUp({ deviceCode: 1 })
        // The issuer's code lasts a second; the first poll comes after it (real time), and the issuer says it expired.
        const expired = yield* login("ada@example.com", { wait: 1_500 })
        assert.strictEqual(expired.code, 1)
        assert.match(expired.stderr, /LoginError: The code \S+ expired before it was approved: run login again/)
        const exists = yield* Effect.promise(() => stat(LoginStore.pathIn(directory)).then(() => true, () => false))
        assert.isFalse(exists)
      })),
    60_000
  )

  it.live(
    "login and logout are commands of the binary, listed in its help; bad flags exit 2 naming what is wrong",
    () =>
      Effect.gen(function*() {
        const env = { env: envWithoutKeys() }
        assert.include((yield* spawnCli(["help", "login"], env)).stdout, "login [--issuer URL --client-id ID]")
        assert.include((yield* spawnCli(["help", "logout"], env)).stdout, "Forgets your login for a gateway")
        assert.include((yield* spawnCli(["--help"], env)).stdout, "sign in for a gateway (device code)")
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
          // No flags, and no gateway at the address to publish its sign-on.
          [["login", "--url", "http://127.0.0.1:1"], "login needs --issuer"],
          [["login", "--issuer", "ftp://issuer"], `login needs --issuer, the gateway's OpenID Connect issuer URL`],
          [["login", "--url", "http://127.0.0.1:1", "--issuer", "https://issuer.example"], "login needs --client-id"],
          [["login", "--issuer", "https://issuer.example", "--client-id", "cli", "--scope", " , "], "--scope needs"],
          [["login", "extra"], `login takes no arguments, got "extra"`],
          [["login", "--url", "gateway"], "--url needs an http:// or https:// URL"],
          [["logout", "--url", "gateway"], "--url needs an http:// or https:// URL"],
          [["logout", "extra"], `logout takes no arguments, got "extra"`]
        ]
        for (const [argv, reason] of cases) {
          const { io, result } = captureIo()
          const run = argv[0] === "login" ? Login.run : Login.runLogout
          const got = result(yield* run(argv.slice(1), io))
          assert.strictEqual(got.code, 2, argv.join(" "))
          assert.include(got.stderr, reason, argv.join(" "))
        }
      }),
    60_000
  )

  it.live(
    "a logins file others may read, or not of this version, is refused naming it; no credential is sent",
    () =>
      Effect.gen(function*() {
        const home = yield* Effect.promise(() => mkdtemp(Path.join(tmpdir(), "login-home-")))
        const directory = Path.join(home, "effect-llm-router")
        const path = LoginStore.pathIn(directory)
        yield* Effect.promise(() => mkdir(directory, { mode: 0o700 }))
        const keysList = Effect.gen(function*() {
          const { io, result } = captureIo({ env: { XDG_DATA_HOME: home } })
          return result(yield* Keys.run(["list", "--url", "http://127.0.0.1:9"], io))
        })
        yield* Effect.promise(() => writeFile(path, "{\"logins\": {}}", { mode: 0o644 }))
        yield* Effect.promise(() => chmod(path, 0o644))
        const open = yield* keysList
        assert.strictEqual(open.code, 1)
        assert.include(open.stderr, `LoginError: The logins at ${path} could not be read: its mode is 0644`)
        yield* Effect.promise(() => chmod(path, 0o600))
        yield* Effect.promise(() => writeFile(path, "{\"logins\": [1]}"))
        const garbled = yield* keysList
        assert.strictEqual(garbled.code, 1)
        assert.include(garbled.stderr, `LoginError: The logins at ${path} could not be read (not the logins of this`)
        yield* Effect.promise(() => rm(home, { recursive: true, force: true }))
      }),
    60_000
  )
})

/**
 * An issuer of the device grant alone, on loopback, whose token endpoint gives `answers` in turn (an error code, or
 * `"tokens"`); `polls` the times it was asked, on `clock`.
 */
const deviceIssuer = (answers: ReadonlyArray<string>, clock: TestClock.TestClock) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly url: string; readonly polls: Array<number>; readonly server: Server }>((resolve) => {
        const polls: Array<number> = []
        const server = createServer((request, response) => {
          const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
          const json = (status: number, body: unknown) => {
            response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
            response.end(JSON.stringify(body))
          }
          request.resume()
          request.on("end", () => {
            if (request.url === "/.well-known/openid-configuration") {
              return json(200, {
                issuer: url,
                token_endpoint: `${url}/token`,
                device_authorization_endpoint: `${url}/device`
              })
            }
            if (request.url === "/device") {
              return json(200, {
                device_code: "device-code-slow-down-0123456789",
                user_code: "WDJB-MJHT",
                verification_uri: `${url}/activate`,
                expires_in: 600,
                interval: 5
              })
            }
            polls.push(clock.currentTimeMillisUnsafe())
            const answer = answers[polls.length - 1] ?? "tokens"
            return answer === "tokens"
              ? json(200, { access_token: "access-token-slow-down-9876543210", token_type: "Bearer", expires_in: 3600 })
              : json(400, { error: answer })
          })
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, polls, server }))
      })
    ),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => server.close(() => resolve()))
      )
  )

describe("login's polling (RFC 8628)", () => {
  it.live(
    "slow_down adds five seconds to the interval, for that poll and every one after",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const home = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(Path.join(tmpdir(), "login-slow-down-"))),
          (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
        )
        const clock = yield* TestClock.make()
        const issuer = yield* deviceIssuer(["slow_down", "authorization_pending", "tokens"], clock)
        // The clock login runs on: the TestClock, each sleep asked of it recorded.
        const sleeps: Array<number> = []
        const recording: Clock.Clock = {
          ...clock,
          currentTimeMillisUnsafe: () => clock.currentTimeMillisUnsafe(),
          currentTimeNanosUnsafe: () => clock.currentTimeNanosUnsafe(),
          monotonicTimeNanosUnsafe: () => clock.monotonicTimeNanosUnsafe(),
          sleep: (duration) =>
            Effect.suspend(() => {
              sleeps.push(Duration.toMillis(duration))
              return clock.sleep(duration)
            })
        }
        const gateway = "http://127.0.0.1:1"
        const running = yield* startInProcess(
          (io) =>
            Effect.provideService(
              Login.run(["--url", gateway, "--issuer", issuer.url, "--client-id", "cli", "--scope", "openid"], io),
              Clock.Clock,
              recording
            ),
          { env: { XDG_DATA_HOME: home } }
        )
        // Each sleep, once asked for, passed on the clock; the next poll comes at its end.
        for (let turn = 1; turn <= 3; turn++) {
          yield* eventually(`sleep ${turn}`, Effect.sync(() => sleeps.length), (asked) => asked >= turn)
          yield* Effect.promise(() => sleep(20))
          yield* clock.adjust(Duration.millis(sleeps[turn - 1]!))
          yield* eventually(`poll ${turn}`, Effect.sync(() => issuer.polls.length), (polled) => polled >= turn)
        }
        const { code } = yield* Fiber.join(running.exited)
        assert.strictEqual(code, 0, running.stderr())
        // Five seconds, then ten after slow_down, and ten still after authorization_pending.
        assert.deepStrictEqual(sleeps, [5_000, 10_000, 10_000])
        assert.deepStrictEqual(issuer.polls, [5_000, 15_000, 25_000])
        assert.include(running.stderr(), `Logged in for ${gateway}`)
        const stored = JSON.parse(
          yield* Effect.promise(() => readFile(LoginStore.pathIn(Path.join(home, "effect-llm-router")), "utf8"))
        ) as { readonly logins: Record<string, LoginStore.Stored> }
        assert.strictEqual(stored.logins[gateway]?.access_token, "access-token-slow-down-9876543210")
        assert.notInclude(running.stderr(), "access-token-slow-down")
      })),
    60_000
  )
})
