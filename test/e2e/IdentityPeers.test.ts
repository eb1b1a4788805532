/**
 * Sign-on without its optional peer dependencies, in a child process whose module resolution cannot find them (a
 * `registerHooks` resolve hook answers `ERR_MODULE_NOT_FOUND` for them, as Node does for a package not installed): the
 * built library (`dist/`) refuses to start a gateway whose configuration has `gateway.oidc` with an `OptionsError`
 * naming the packages and the command that installs them; with them installed the same gateway starts, and a gateway
 * without sign-on never loads them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"
import { hidePackages } from "../utils/hiddenPackages.js"

const dist = pathToFileURL(path.resolve("dist/index.js")).href

// Hides the packages `HIDDEN` matches, starts a gateway (with sign-on when `OIDC` is set); prints what failed, as JSON.
const program = `${hidePackages}const { Effect } = await import("effect")
const { Gateway, ProviderConfig, UndiciHttpClient } = await import(process.env.DIST)
const exit = await Effect.runPromiseExit(Effect.gen(function*() {
  const config = yield* ProviderConfig.fromJson({
    sim: [{ model_name: "m", base_url: "http://127.0.0.1:9/v1", api_keys: ["sk-peers-0000000001"] }],
    gateway: process.env.OIDC === "1"
      ? { oidc: { issuer: "https://login.example.com", client_id: "llm-gateway" } }
      : {}
  })
  yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
}).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
const error = exit._tag === "Failure" ? exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined
console.log(JSON.stringify(error === undefined ? { exit: exit._tag } : { ...error, message: error.message }))
`

const run = (hidden: string, oidc: boolean) =>
  Effect.map(
    spawnProcess(process.execPath, ["--input-type=module", "-e", program], {
      cwd: process.cwd(),
      env: { ...envWithoutKeys(), HIDDEN: hidden, DIST: dist, OIDC: oidc ? "1" : "0" },
      timeoutMs: 60_000
    }),
    (result) => JSON.parse(result.stdout.trim().split("\n").at(-1)!) as Record<string, string>
  )

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
})
