/**
 * Sign-on without its optional peer dependencies, in a child process whose module resolution cannot find them (a
 * `registerHooks` resolve hook answers `ERR_MODULE_NOT_FOUND` for them, as Node does for a package not installed): the
 * built library (`dist/`) refuses to start a gateway whose configuration has `gateway.oidc` with an `OptionsError`
 * naming the packages and the command that installs them, and one with `gateway.token_callers` likewise; with them
 * installed the same gateways start, and a gateway without sign-on never loads them. The command line's `login`
 * without openid-client exits 1 at its start, naming the package and its install command.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"
import { hidePackages, runCliHiding } from "../utils/hiddenPackages.js"

const dist = pathToFileURL(path.resolve("dist/index.js")).href

// Hides the packages `HIDDEN` matches, starts a gateway (with sign-on when `OIDC` is set, with callers by token and a
// database in `DATA` when `CALLERS` is); prints what failed, as JSON.
const program = `${hidePackages}const { Effect } = await import("effect")
const { Gateway, ProviderConfig, UndiciHttpClient } = await import(process.env.DIST)
const exit = await Effect.runPromiseExit(Effect.gen(function*() {
  const config = yield* ProviderConfig.fromJson({
    sim: [{ model_name: "m", base_url: "http://127.0.0.1:9/v1", api_keys: ["sk-peers-0000000001"] }],
    gateway: {
      ...(process.env.OIDC === "1" ? { oidc: { issuer: "https://login.example.com", client_id: "llm-gateway" } } : {}),
      ...(process.env.CALLERS === "1"
        ? { token_callers: [{ issuer: "https://login.example.com", audience: "llm-api", teams: { a: "a" } }] }
        : {})
    }
  })
  yield* Gateway.make({
    config: ProviderConfig.gatewayConfig(config),
    port: 0,
    ...(process.env.CALLERS === "1" ? { database: { sqlite: process.env.DATA + "/gateway.db" } } : {})
  })
}).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
const error = exit._tag === "Failure" ? exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined
console.log(JSON.stringify(error === undefined ? { exit: exit._tag } : { ...error, message: error.message }))
`

const run = (hidden: string, oidc: boolean, callers?: { readonly data: string }) =>
  Effect.map(
    spawnProcess(process.execPath, ["--input-type=module", "-e", program], {
      cwd: process.cwd(),
      env: {
        ...envWithoutKeys(),
        HIDDEN: hidden,
        DIST: dist,
        OIDC: oidc ? "1" : "0",
        CALLERS: callers === undefined ? "0" : "1",
        DATA: callers?.data ?? ""
      },
      timeoutMs: 60_000
    }),
    (result) => JSON.parse(result.stdout.trim().split("\n").at(-1)!) as Record<string, string>
  )

const runCli = (hidden: string, args: ReadonlyArray<string>, data: string) =>
  runCliHiding(hidden, args, { XDG_DATA_HOME: data })

describe("sign-on without its optional peer dependencies", () => {
  it.live(
    "a gateway with gateway.oidc fails to start with OptionsError naming the install command",
    () =>
      Effect.gen(function*() {
        const failed = yield* run("^(openid-client|jose)$", true)
        expect(failed["_tag"]).toBe("OptionsError")
        expect(failed["message"]).toContain("npm install openid-client jose")
        // The same gateway with them installed starts; one without sign-on starts without them.
        expect(yield* run("^$", true)).toEqual({ exit: "Success" })
        expect(yield* run("^(openid-client|jose)$", false)).toEqual({ exit: "Success" })
      }),
    120_000
  )

  it.live(
    "a gateway with gateway.token_callers fails to start with OptionsError naming them and the install command",
    () =>
      Effect.gen(function*() {
        const data = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(path.join(tmpdir(), "peers-"))),
          (made) => Effect.promise(() => rm(made, { recursive: true, force: true }))
        )
        const failed = yield* run("^(openid-client|jose)$", false, { data })
        expect(failed).toMatchObject({ _tag: "OptionsError", option: "tokenCallers" })
        expect(failed["message"]).toContain("npm install openid-client jose")
        expect(yield* run("^$", false, { data })).toEqual({ exit: "Success" })
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "login without openid-client exits 1 at its start, naming the package and the install command",
    () =>
      Effect.gen(function*() {
        const data = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(path.join(tmpdir(), "peers-login-"))),
          (made) => Effect.promise(() => rm(made, { recursive: true, force: true }))
        )
        // An issuer nothing listens at: the package is missing before anything is asked of it.
        const args = ["login", "--url", "http://127.0.0.1:9", "--issuer", "http://127.0.0.1:9", "--client-id", "cli"]
        const missing = yield* runCli("^openid-client$", args, data)
        expect(missing.code).toBe(1)
        expect(missing.stderr).toContain(
          "login needs the optional package openid-client installed (npm install openid-client)"
        )
        // With it installed, the same login gets as far as the issuer, which cannot be reached.
        const installed = yield* runCli("^$", args, data)
        expect(installed.code).toBe(1)
        expect(installed.stderr).not.toContain("optional package")
        expect(installed.stderr).toContain("http://127.0.0.1:9")
      }).pipe(Effect.scoped),
    120_000
  )
})
