/**
 * The MCP protocol's own conformance suite (`@modelcontextprotocol/conformance`, pinned) against `serve`'s
 * `/mcp/<server>`: one upstream with the fixture the suite's server scenarios expect (the official SDK's server,
 * `conformanceServer.ts`) behind a `serve` with no gateway keys, on loopback. Every server scenario the suite lists is
 * run, each in a child process of its own (on the project's Node 24: the suite needs Node 22 or later), and each must
 * pass, except the few below that cannot pass yet, each with its reason; one of those that passes fails this test,
 * so the list is kept true as the missing parts land.
 */
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Serve from "../../src/cli/serve.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { awaitFirstLine, startInProcess } from "../utils/cliHarness.js"
import { conformanceUpstream } from "../utils/conformanceServer.js"
import { providerFile } from "../utils/serveCluster.js"

const root = path.resolve(import.meta.dirname, "../..")
const node = path.join(root, "node_modules/node/bin/node")
const conformance = path.join(root, "node_modules/@modelcontextprotocol/conformance/dist/index.js")
const providerKey = "sk-provider-mcp-conformance-0001"

/**
 * The scenarios that cannot pass yet, and why. Each is a part of the tool plane not built in this version (docs/mcp.md,
 * "What is not built yet"), or a disagreement with the suite named here.
 */
const expectedFailures: Readonly<Record<string, string>> = {
  // The scenario posts inside a 2025-11-25 session with `MCP-Protocol-Version: 2025-03-26`; `McpServer` answers a
  // header that differs from the session's revision with 400, as the Streamable HTTP transport's rules ask.
  "server-sse-multiple-streams": "its requests name another revision than their session's (400)"
}

interface Check {
  readonly id: string
  readonly status: string
  readonly errorMessage?: string
}

// `node conformance ...args`: its standard output, whatever its exit code (a failed scenario exits 1).
function run(args: ReadonlyArray<string>) {
  return Effect.callback<string>((resume) => {
    const child = execFile(node, [conformance, ...args], { maxBuffer: 16 * 1024 * 1024, timeout: 150_000 }, (
      _error,
      stdout
    ) => resume(Effect.succeed(stdout)))
    return Effect.sync(() => child.kill())
  })
}

// The server scenarios the suite lists.
const serverScenarios = Effect.map(run(["list"]), (listing) => {
  const section = listing.slice(listing.indexOf("Server scenarios"), listing.indexOf("Client scenarios"))
  return [...section.matchAll(/^\s+- ([a-z0-9-]+) \[/gm)].map((match) => match[1]!)
})

// The checks of `scenario` against `url`, as the suite saved them.
const checksOf = (url: string, scenario: string, into: string) =>
  Effect.gen(function*() {
    const dir = path.join(into, scenario)
    yield* run(["server", "--url", url, "--scenario", scenario, "-o", dir])
    const saved = fs.readdirSync(dir)
    expect(saved, `the suite saved ${scenario}'s results`).toHaveLength(1)
    return JSON.parse(fs.readFileSync(path.join(dir, saved[0]!, "checks.json"), "utf8")) as ReadonlyArray<Check>
  })

it.live(
  "serve's /mcp/<server> passes the MCP conformance suite's server scenarios, but for those listed as not built yet",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const upstream = yield* conformanceUpstream
      const file = yield* providerFile({
        sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
        mcp_servers: { everything: { url: upstream.url } }
      })
      const into = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-conformance-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(into, { recursive: true, force: true })))
      const serving = yield* startInProcess((io) =>
        Serve.run(["--config", file, "--port", "0", "--data", path.join(into, "data")], io)
      )
      const url = yield* awaitFirstLine(serving, "serve's first line (its URL)")

      const scenarios = yield* serverScenarios
      expect(scenarios).toContain("dns-rebinding-protection")
      expect(scenarios).toContain("tools-call-simple-text")
      // Every expected failure names a scenario of the suite: none is a typo that would hide nothing.
      for (const name of Object.keys(expectedFailures)) expect(scenarios).toContain(name)

      const results = yield* Effect.forEach(
        scenarios,
        (scenario) => Effect.map(checksOf(`${url}/mcp/everything`, scenario, into), (checks) => ({ scenario, checks })),
        { concurrency: 6 }
      )
      const outcomes = Object.fromEntries(results.map(({ checks, scenario }) => {
        const failed = checks.filter((check) => check.status === "FAILURE")
        return [scenario, failed.length === 0 ? "passed" : failed.map((check) => check.errorMessage).join("; ")]
      }))
      const wanted = Object.fromEntries(
        scenarios.map((scenario) => [scenario, scenario in expectedFailures ? "fails" : "passed"])
      )
      const seen = Object.fromEntries(
        Object.entries(outcomes).map(([scenario, outcome]) => [scenario, outcome === "passed" ? "passed" : "fails"])
      )
      // On a mismatch, the messages of the scenarios that failed show what went wrong.
      expect(seen, JSON.stringify(outcomes, null, 2)).toEqual(wanted)
      // The DNS rebinding scenario's two halves: a foreign `Host` refused, the gateway's own (with its origin) served.
      const rebinding = results.find((result) => result.scenario === "dns-rebinding-protection")!.checks
      expect(rebinding.map((check) => [check.id, check.status])).toEqual([
        ["localhost-host-rebinding-rejected", "SUCCESS"],
        ["localhost-host-valid-accepted", "SUCCESS"]
      ])
    }).pipe(Effect.scoped),
  300_000
)
