/**
 * Environment variables for the length of a scope: set or unset, then put back as they were when it closes; and an
 * environment emptied of cloud credentials, for the clouds' own default chains to find nothing.
 */
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

/** `vars` set (a string) or unset (`undefined`) until the scope closes. */
export const scopedEnv = (vars: Readonly<Record<string, string | undefined>>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const before = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]))
      assign(vars)
      return before
    }),
    (before) => Effect.sync(() => assign(before))
  )

function assign(vars: Readonly<Record<string, string | undefined>>): void {
  for (const [name, value] of Object.entries(vars)) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
}

/** A temporary directory for the scope, removed when it closes. */
export const scopedDirectory = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

// The variables that point AWS's and Azure's chains at credentials or at their metadata and token endpoints.
const credentialVariable = /^(AWS_|AZURE_|AZD_|MSI_|IDENTITY_|IMDS_)/

/**
 * An environment in which AWS's default chain (`fromNodeProviderChain`) and Azure's (`DefaultAzureCredential`) find
 * nothing, for the scope: every `AWS_*`, `AZURE_*` and managed identity variable unset; `HOME`, the shared config and
 * credentials files (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`) and the Azure CLI's and Azure Developer CLI's
 * directories (`AZURE_CONFIG_DIR`, `AZD_CONFIG_DIR`) all empty; and AWS's instance metadata off
 * (`AWS_EC2_METADATA_DISABLED`). Azure's probe of its instance metadata is bounded by the library (a second).
 */
export const withoutCloudCredentials = Effect.gen(function*() {
  const home = yield* scopedDirectory("no-cloud-credentials-")
  Fs.writeFileSync(Path.join(home, "aws-config"), "")
  Fs.writeFileSync(Path.join(home, "aws-credentials"), "")
  const unset = Object.fromEntries(
    Object.keys(process.env).filter((name) => credentialVariable.test(name)).map((name) => [name, undefined])
  )
  yield* scopedEnv({
    ...unset,
    HOME: home,
    USERPROFILE: home,
    AWS_CONFIG_FILE: Path.join(home, "aws-config"),
    AWS_SHARED_CREDENTIALS_FILE: Path.join(home, "aws-credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
    AZURE_CONFIG_DIR: Path.join(home, ".azure"),
    AZD_CONFIG_DIR: Path.join(home, ".azd")
  })
})
