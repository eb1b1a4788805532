/**
 * The MCP protocol's own conformance suite (`@modelcontextprotocol/conformance`, pinned; every server scenario it has)
 * run against its upstream directly and through `serve`: at `/mcp/<server>` with the upstream over Streamable HTTP
 * and over stdio, and at `/mcp`. The upstream is the official SDK's server with the fixture the scenarios expect
 * (`conformanceServer.ts`); `serve` has no gateway keys and listens on loopback. Every scenario that passes directly must
 * pass through each of the gateway's paths, but for those docs/mcp.md lists (its "Conformance" table) with where and
 * why; a listed one that passes there fails this test, so the list is kept true. Each target's scenarios run in one
 * child process of the suite (on the project's Node 24: the suite needs Node 22 or later), the targets at once.
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
import { conformanceStdioServer, conformanceUpstream } from "../utils/conformanceServer.js"
import { providerFile } from "../utils/serveCluster.js"

const root = path.resolve(import.meta.dirname, "../..")
const node = path.join(root, "node_modules/node/bin/node")
const conformance = path.join(root, "node_modules/@modelcontextprotocol/conformance/dist/index.js")
const providerKey = "sk-provider-mcp-conformance-0001"

/** Where the suite runs: the upstream itself, and the gateway's paths (`/mcp/<server>` named as docs/mcp.md names it). */
const targets = ["direct", "/mcp/<server> (HTTP)", "/mcp/<server> (stdio)", "/mcp"] as const
type Target = (typeof targets)[number]

interface Check {
  readonly id: string
  readonly status: string
  readonly errorMessage?: string
}

/**
 * The scenarios docs/mcp.md lists as failing through the gateway, by target: the rows of the table in its
 * "Conformance" section, each naming scenarios, the paths they fail at (`/mcp/<server>` stands for both upstreams) and
 * why.
 */
function documentedFailures(): ReadonlyMap<Target, ReadonlyMap<string, string>> {
  const doc = fs.readFileSync(path.join(root, "docs/mcp.md"), "utf8")
  const section = doc.slice(
    doc.indexOf("\n## Conformance\n"),
    doc.indexOf("\n## ", doc.indexOf("\n## Conformance\n") + 1)
  )
  const listed = new Map<Target, Map<string, string>>(targets.map((target) => [target, new Map()]))
  for (const row of section.split("\n").filter((line) => line.startsWith("| `"))) {
    const [scenarios = "", where = "", why = ""] = row.split("|").slice(1).map((cell) => cell.trim())
    const names = [...scenarios.matchAll(/`([a-z0-9-]+)`/g)].map((match) => match[1]!)
    const paths = [...where.matchAll(/`([^`]+)`/g)].map((match) => match[1]!)
    for (const at of paths) {
      const matching = targets.filter((target) => target === at || target.startsWith(`${at} (`))
      expect(matching, `docs/mcp.md names a path the gateway serves: ${at}`).not.toHaveLength(0)
      for (const target of matching) for (const name of names) listed.get(target)!.set(name, why)
    }
  }
  return listed
}

// `node conformance server` against `url`, every scenario, each one's checks as the suite saved them under `into`
// (none: it did not finish).
const suiteAgainst = (url: string, into: string) =>
  Effect.callback<ReadonlyMap<string, ReadonlyArray<Check> | undefined>>((resume) => {
    const child = execFile(
      node,
      [conformance, "server", "--url", url, "--suite", "all", "-o", into],
      { maxBuffer: 16 * 1024 * 1024, timeout: 150_000 },
      // A failed scenario exits 1: the saved checks say which.
      () => {
        const saved = fs.existsSync(into) ? fs.readdirSync(into) : []
        resume(Effect.succeed(
          new Map(saved.map((dir) => {
            const scenario = /^server-(.+)-\d{4}-\d{2}-\d{2}T/.exec(dir)![1]!
            const file = path.join(into, dir, "checks.json")
            return [
              scenario,
              fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) as ReadonlyArray<Check> : undefined
            ]
          }))
        ))
      }
    )
    return Effect.sync(() => child.kill())
  })

// A scenario's outcome: "passed", or what failed.
function outcomeOf(checks: ReadonlyArray<Check> | undefined): string {
  if (checks === undefined) return "did not finish"
  const failed = checks.filter((check) => check.status === "FAILURE")
  return failed.length === 0 ? "passed" : failed.map((check) => `${check.id}: ${check.errorMessage}`).join("; ")
}

it.live(
  "the MCP conformance suite passes through serve's /mcp/<server> (HTTP and stdio upstreams) and /mcp wherever it " +
    "passes directly, but for the scenarios docs/mcp.md lists",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const upstream = yield* conformanceUpstream
      const file = yield* providerFile({
        sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
        mcp_servers: { http: { url: upstream.url }, stdio: conformanceStdioServer }
      })
      const into = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-conformance-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(into, { recursive: true, force: true })))
      const serving = yield* startInProcess((io) =>
        Serve.run(["--config", file, "--port", "0", "--data", path.join(into, "data")], io)
      )
      const url = yield* awaitFirstLine(serving, "serve's first line (its URL)")
      const urls: Record<Target, string> = {
        direct: upstream.url,
        "/mcp/<server> (HTTP)": `${url}/mcp/http`,
        "/mcp/<server> (stdio)": `${url}/mcp/stdio`,
        "/mcp": `${url}/mcp`
      }
      const runs = yield* Effect.forEach(
        targets,
        (target, n) =>
          Effect.map(suiteAgainst(urls[target], path.join(into, String(n))), (run) => [target, run] as const),
        { concurrency: "unbounded" }
      )
      const results = new Map(runs)
      const direct = results.get("direct")!
      expect(direct.size, "the suite ran its scenarios directly").toBeGreaterThan(30)
      const passingDirectly = [...direct].filter(([, checks]) => outcomeOf(checks) === "passed").map(([name]) => name)
      // The upstream passes every scenario directly: the gateway is held to the whole suite.
      expect(
        Object.fromEntries([...direct].map(([name, checks]) => [name, outcomeOf(checks)])),
        "the fixture passes the suite directly"
      ).toEqual(Object.fromEntries([...direct.keys()].map((name) => [name, "passed"])))
      const listed = documentedFailures()
      for (const [target, names] of listed) {
        // Every name listed is a scenario of the suite: none is a typo that would hide nothing.
        for (const name of names.keys()) expect([...direct.keys()], `docs/mcp.md lists ${name}`).toContain(name)
        if (target === "direct") expect(names.size).toBe(0)
      }
      const through = targets.filter((target) => target !== "direct")
      const outcomes = Object.fromEntries(through.map((target) => {
        const run = results.get(target)!
        return [target, Object.fromEntries(passingDirectly.map((name) => [name, outcomeOf(run.get(name))]))]
      }))
      const seen = Object.fromEntries(through.map((target) => [
        target,
        Object.fromEntries(
          passingDirectly.map((name) => [name, outcomes[target]![name] === "passed" ? "passed" : "fails"])
        )
      ]))
      const wanted = Object.fromEntries(through.map((target) => [
        target,
        Object.fromEntries(
          passingDirectly.map((name) => [name, listed.get(target)!.has(name) ? "fails" : "passed"])
        )
      ]))
      // On a mismatch, the messages of the scenarios that failed show what went wrong.
      expect(seen, JSON.stringify(outcomes, null, 2)).toEqual(wanted)
      // The DNS rebinding scenario's two halves at every path: a foreign `Host` refused, the gateway's own (with its
      // origin) served.
      for (const target of through) {
        expect(results.get(target)!.get("dns-rebinding-protection")?.map((check) => [check.id, check.status])).toEqual([
          ["localhost-host-rebinding-rejected", "SUCCESS"],
          ["localhost-host-valid-accepted", "SUCCESS"]
        ])
      }
    }).pipe(Effect.scoped),
  180_000
)
