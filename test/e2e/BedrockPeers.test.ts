/**
 * Bedrock without AWS's optional peer dependencies, in a child process whose module resolution cannot find them (a
 * `registerHooks` resolve hook answers `ERR_MODULE_NOT_FOUND` for them, as Node does for a package not installed): the
 * built library (`dist/`) fails with a typed error naming the packages to install. Without `@smithy/*`,
 * `Bedrock.make` fails with `OptionsError`; without `@aws-sdk/credential-providers`, a call signed by the default
 * credential chain fails with `AuthError` `credential_unavailable`, naming the package and the Bedrock API keys that
 * need none. `serve` (the built command line) over a provider.json with a Bedrock entry, without `@smithy/*`, exits 1
 * naming the entry and the packages, without the command's usage.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"
import { scopedDirectory } from "../utils/env.js"
import { hidePackages, runCliHiding } from "../utils/hiddenPackages.js"

const dist = pathToFileURL(path.resolve("dist/index.js")).href

// Hides the packages `HIDDEN` matches, builds a Bedrock client and makes one call; prints what failed, as JSON.
const program = `${hidePackages}const { Effect } = await import("effect")
const { Bedrock, Message, ProviderClient, UndiciHttpClient } = await import(process.env.DIST)
const exit = await Effect.runPromiseExit(Effect.gen(function*() {
  const client = yield* Bedrock.make({
    region: "us-east-1",
    model: "anthropic.claude-3-5-haiku-20241022-v1:0",
    baseUrl: "http://127.0.0.1:9"
  })
  return yield* client.chat({ messages: [Message.user("Hi")] }, ProviderClient.credentials("none"))
}).pipe(Effect.provide(UndiciHttpClient.layer())))
const error = exit._tag === "Failure" ? exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error : undefined
console.log(JSON.stringify(error === undefined ? { exit: exit._tag } : { ...error, message: error.message }))
`

const run = (hidden: string) =>
  Effect.map(
    spawnProcess(process.execPath, ["--input-type=module", "-e", program], {
      cwd: process.cwd(),
      env: { ...envWithoutKeys(), HIDDEN: hidden, DIST: dist },
      timeoutMs: 60_000
    }),
    (result) => {
      expect(result.stderr).toBe("")
      return JSON.parse(result.stdout.trim().split("\n").at(-1)!) as Record<string, string>
    }
  )

describe("Bedrock without its optional peer dependencies", () => {
  it.live(
    "without @smithy/*: Bedrock.make fails with OptionsError naming the packages and the command that installs them",
    () =>
      Effect.gen(function*() {
        const error = yield* run("^@smithy/")
        expect(error._tag).toBe("OptionsError")
        expect(error.message).toContain("@smithy/signature-v4 @smithy/hash-node @smithy/eventstream-codec")
        expect(error.message).toContain("npm install @smithy/signature-v4 @smithy/hash-node @smithy/eventstream-codec")
      }),
    60_000
  )

  it.live(
    "without @aws-sdk/credential-providers: a call on the default chain fails with AuthError credential_unavailable " +
      "naming the package",
    () =>
      Effect.gen(function*() {
        const error = yield* run("^@aws-sdk/credential-providers")
        expect(error).toMatchObject({ _tag: "AuthError", reason: "credential_unavailable" })
        expect(error.message).toContain("@aws-sdk/credential-providers is not installed")
        expect(error.message).toContain("npm install @aws-sdk/credential-providers")
      }),
    60_000
  )

  it.live(
    "without @smithy/*: serve exits 1 naming the Bedrock entry and the packages to install, without its usage",
    () =>
      Effect.gen(function*() {
        const dir = yield* scopedDirectory("bedrock-peers-")
        const file = path.join(dir, "provider.json")
        Fs.writeFileSync(
          file,
          JSON.stringify({ aws: [{ model_name: "claude-haiku", api: "bedrock", region: "us-east-1", max_retries: 0 }] })
        )
        const served = yield* runCliHiding("^@smithy/", [
          "serve",
          "--config",
          file,
          "--port",
          "0",
          "--data",
          `${dir}/data`
        ])
        expect(served.code).toBe(1)
        // The entry by its path in the file, as every problem of a configuration is named.
        expect(served.stderr).toContain("aws[0]")
        expect(served.stderr).toContain("npm install @smithy/signature-v4 @smithy/hash-node @smithy/eventstream-codec")
        expect(served.stderr).not.toContain("Usage:")
        expect(served.stdout).toBe("")
      }).pipe(Effect.scoped),
    60_000
  )
})
