/**
 * The MCP protocol's own conformance suite (`@modelcontextprotocol/conformance`, pinned; every server scenario of its
 * two revisions, 2025-11-25, the official SDK's latest, and 2026-07-28, the newest) run against its upstream directly
 * and through `serve`: at `/mcp/<server>` with the upstream over Streamable HTTP and over stdio, and at `/mcp`. The
 * upstream is the official SDK's server with the fixture the scenarios expect (`conformanceServer.ts`), which speaks
 * the revisions the SDK supports: the suite runs directly at those only, and the gateway (which speaks 2026-07-28 to
 * its clients whatever its upstream speaks) is held to every scenario of a revision its upstream does not speak.
 * Every scenario that passes directly must pass through each of the gateway's paths, but for those docs/mcp.md lists
 * (its "Conformance" table) with revision, where and why; a listed one that passes there fails this test, so the list
 * is kept true. A pass of `server-sse-polling` counts only when a stream was ended and resumed: the fixture ends the
 * call's stream, as the suite's reference server does; directly the suite's client must have resumed it, and through
 * the gateway (which answers the suite in JSON, so the suite reads no answer) the gateway must have answered the call
 * from its upstream (its metrics) and, over HTTP, resumed the fixture's stream itself. Each run (a revision at a target) is one child process of the suite (on the project's Node 24: the
 * suite needs Node 22 or later), the runs at once; some checks give a server half a second, so a scenario that fails
 * where it should pass is run once more by itself before it counts.
 */
import { expect, it } from "@effect/vitest"
import { SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Serve from "../../src/cli/serve.js"
import * as Upstreams from "../../src/internal/gateway/mcp/upstream.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { awaitFirstLine, startInProcess } from "../utils/cliHarness.js"
import { conformanceStdioServer, conformanceUpstream } from "../utils/conformanceServer.js"
import { scrape, valueOf } from "../utils/prometheus.js"
import { providerFile } from "../utils/serveCluster.js"

const root = path.resolve(import.meta.dirname, "../..")
const node = path.join(root, "node_modules/node/bin/node")
const conformance = path.join(root, "node_modules/@modelcontextprotocol/conformance/dist/index.js")
const providerKey = "sk-provider-mcp-conformance-0001"
const adminKey = "gw-mcp-conformance-admin-7d2f4a"

/** The suite's revisions (its `--spec-version`), each run at its own wire. */
const revisions = ["2025-11-25", "2026-07-28"] as const
type Revision = (typeof revisions)[number]

/** Where the suite runs: the upstream itself, and the gateway's paths (`/mcp/<server>` named as docs/mcp.md names it). */
const targets = ["direct", "/mcp/<server> (HTTP)", "/mcp/<server> (stdio)", "/mcp"] as const
type Target = (typeof targets)[number]
const through = targets.filter((target) => target !== "direct")

/** Whether the upstream speaks `revision`, so that the suite runs directly at it. */
const spokenDirectly = (revision: Revision) => (SUPPORTED_PROTOCOL_VERSIONS as ReadonlyArray<string>).includes(revision)

interface Check {
  readonly id: string
  readonly status: string
  readonly description?: string
  readonly errorMessage?: string
}

/** A scenario's checks as the suite saved them (none: it did not finish), by scenario. */
type Run = ReadonlyMap<string, ReadonlyArray<Check> | undefined>

/**
 * The scenarios docs/mcp.md lists as failing through the gateway, by revision and target: the rows of the table in
 * its "Conformance" section, each naming scenarios, the revisions and the paths they fail at (`/mcp/<server>` stands
 * for both upstreams) and why. A row's scenario counts at those of its revisions the suite has it in.
 */
function documentedFailures(scenarios: ReadonlyMap<Revision, ReadonlySet<string>>) {
  const doc = fs.readFileSync(path.join(root, "docs/mcp.md"), "utf8")
  const start = doc.indexOf("\n## Conformance\n")
  const section = doc.slice(start, doc.indexOf("\n## ", start + 1))
  const listed = new Map(revisions.map((revision) => [
    revision,
    new Map<Target, Map<string, string>>(targets.map((target) => [target, new Map()]))
  ]))
  for (const row of section.split("\n").filter((line) => line.startsWith("| `"))) {
    const [names = "", at = "", where = "", why = ""] = row.split("|").slice(1).map((cell) => cell.trim())
    const quoted = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!)
    const rowRevisions = revisions.filter((revision) => quoted(at).includes(revision))
    expect(rowRevisions, `docs/mcp.md names only revisions of the suite: ${at}`).toHaveLength(quoted(at).length)
    const rowTargets = quoted(where).flatMap((served) => {
      const matching = through.filter((target) => target === served || target.startsWith(`${served} (`))
      expect(matching, `docs/mcp.md names a path the gateway serves: ${served}`).not.toHaveLength(0)
      return matching
    })
    for (const name of quoted(names)) {
      const known = rowRevisions.filter((revision) => scenarios.get(revision)!.has(name))
      // Every name listed is a scenario of the suite at a revision of its row: none is a typo that would hide nothing.
      expect(known, `docs/mcp.md lists ${name} at ${at}`).not.toHaveLength(0)
      for (const revision of known) for (const target of rowTargets) listed.get(revision)!.get(target)!.set(name, why)
    }
  }
  return listed
}

// The suite's child process with `args`, its standard output once it ends (a failed scenario exits 1: the saved checks
// say which).
const conformanceRun = (args: ReadonlyArray<string>) =>
  Effect.callback<string>((resume) => {
    const child = execFile(
      node,
      [conformance, ...args],
      { maxBuffer: 16 * 1024 * 1024, timeout: 150_000 },
      (_error, stdout) => resume(Effect.succeed(stdout))
    )
    return Effect.sync(() => child.kill())
  })

// `conformance server` against `url` at `revision`, every scenario of it (or the one `scenario`): the scenarios it
// began (a whole run names each as it begins it), and each one's checks as the suite saved them under `into`.
const suiteAgainst = (url: string, revision: Revision, into: string, scenario?: string) =>
  Effect.map(
    conformanceRun([
      "server",
      "--url",
      url,
      "--spec-version",
      revision,
      ...(scenario === undefined ? ["--suite", "all"] : ["--scenario", scenario]),
      "-o",
      into
    ]),
    (stdout) => {
      const saved = fs.existsSync(into) ? fs.readdirSync(into) : []
      const checks: Run = new Map(saved.map((dir) => {
        const name = /^server-(.+)-\d{4}-\d{2}-\d{2}T/.exec(dir)![1]!
        const file = path.join(into, dir, "checks.json")
        return [
          name,
          fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) as ReadonlyArray<Check> : undefined
        ]
      }))
      return { began: [...stdout.matchAll(/^=== Running scenario: (\S+) ===$/gm)].map((match) => match[1]!), checks }
    }
  )

/** The scenario whose pass can be vacuous: its checks pass whether or not a stream was ended and resumed. */
const polling = "server-sse-polling"

/** What the gateway did for `polling`'s call at a path: whether it answered it, and resumed the fixture's stream. */
interface PollingSeen {
  /** The gateway counted a call of the path's server's `test_reconnection` answered `ok` (none at `/mcp`). */
  readonly answered: boolean
  /** The fixture saw the gateway's own connection resume a stream it ended (over HTTP). */
  readonly resumed: boolean
}

/**
 * Why a pass of `polling` at `target` exercised nothing, if it did not. Directly, the fixture ends the call's stream
 * and the suite's client must have resumed it (its `server-sse-disconnect-resume` a success, not the note that the
 * answer came on the first stream). Through the gateway, which answers the suite's client in JSON (so the suite stops
 * there, its answer unread), the gateway must have answered the call from its upstream's result, and over HTTP resumed
 * the stream the fixture ended; at `/mcp`, which serves no `test_reconnection` (only `<server>__test_reconnection`),
 * nothing is called.
 */
function pollingVacuity(target: Target, checks: ReadonlyArray<Check>, seen: PollingSeen): string | undefined {
  if (target === "direct") {
    return checks.some((check) => check.id === "server-sse-disconnect-resume" && check.status === "SUCCESS")
      ? undefined
      : "vacuous: the suite's client resumed no stream"
  }
  if (!seen.answered) return "vacuous: the gateway answered no call of the upstream's test_reconnection there"
  return target === "/mcp/<server> (HTTP)" && !seen.resumed
    ? "vacuous: the gateway resumed no stream of the fixture"
    : undefined
}

// A scenario's outcome at `target` (`name`'s checks): "passed", or what failed (a vacuous pass of `polling` among it).
function outcomeOf(
  target: Target,
  name: string,
  checks: ReadonlyArray<Check> | undefined,
  seen: PollingSeen
): string {
  if (checks === undefined) return "did not finish"
  const failed = checks.filter((check) => check.status === "FAILURE")
  if (failed.length > 0) return failed.map((check) => `${check.id}: ${check.errorMessage}`).join("; ")
  return (name === polling ? pollingVacuity(target, checks, seen) : undefined) ?? "passed"
}

// The gateway's metrics at `url`.
const metricsAt = (url: string) => Effect.map(scrape(url, adminKey), ({ samples }) => samples)

it.live(
  "the MCP conformance suite, at 2025-11-25 and 2026-07-28, passes through serve's /mcp/<server> (HTTP and stdio " +
    "upstreams) and /mcp wherever it passes directly, but for the scenarios docs/mcp.md lists",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const upstream = yield* conformanceUpstream
      const file = yield* providerFile({
        sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
        // A stdio server for each revision: one that has a call of each in flight could not tell whose client its
        // request is for (a stdio server has one output), and would be refused.
        mcp_servers: {
          http: { url: upstream.url },
          ...Object.fromEntries(revisions.map((revision) => [`stdio-${revision}`, conformanceStdioServer]))
        },
        // For the metrics (an admin endpoint); the MCP paths stay keyless.
        gateway: { admin_keys: [{ name: "ops", key: adminKey }] }
      })
      const into = fs.mkdtempSync(path.join(os.tmpdir(), "mcp-conformance-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(into, { recursive: true, force: true })))
      const serving = yield* startInProcess((io) =>
        Serve.run(["--config", file, "--port", "0", "--data", path.join(into, "data")], io)
      )
      const url = yield* awaitFirstLine(serving, "serve's first line (its URL)")
      const urlOf = (revision: Revision, target: Target) =>
        ({
          direct: upstream.url,
          "/mcp/<server> (HTTP)": `${url}/mcp/http`,
          "/mcp/<server> (stdio)": `${url}/mcp/stdio-${revision}`,
          "/mcp": `${url}/mcp`
        })[target]
      const runs = revisions.flatMap((revision) =>
        targets.filter((target) => target !== "direct" || spokenDirectly(revision)).map((target) => ({
          revision,
          target
        }))
      )
      const results = yield* Effect.forEach(
        runs,
        (run, n) =>
          Effect.map(
            suiteAgainst(urlOf(run.revision, run.target), run.revision, path.join(into, String(n))),
            ({ began, checks }) => ({ ...run, began, result: checks })
          ),
        { concurrency: "unbounded" }
      )
      // The scenarios of each revision: every one a run of it began.
      const scenariosAt = new Map(revisions.map((revision) => [
        revision,
        new Set(results.filter((run) => run.revision === revision).flatMap((run) => run.began))
      ]))
      const resultOf = (revision: Revision, target: Target) =>
        results.find((run) => run.revision === revision && run.target === target)?.result
      const listed = documentedFailures(scenariosAt)
      // What the gateway did for `polling`'s call at each path, as its metrics and the fixture tell it after the runs
      // (read again after those run once more). The scenario runs at 2025-11-25 only, so each path's server is one.
      let samples = yield* metricsAt(url)
      const serverAt = { "/mcp/<server> (HTTP)": "http", "/mcp/<server> (stdio)": "stdio-2025-11-25" } as const
      const seenAt = (target: Target): PollingSeen => {
        const server = target === "direct" || target === "/mcp" ? undefined : serverAt[target]
        const labels = { server: server ?? "", tool: "test_reconnection", outcome: "ok" }
        return {
          answered: server !== undefined && valueOf(samples, "llm_gateway_mcp_calls_total", labels) > 0,
          resumed: upstream.resumedBy.includes(Upstreams.implementation.name)
        }
      }
      const outcome = (target: Target, name: string, checks: ReadonlyArray<Check> | undefined) =>
        outcomeOf(target, name, checks, seenAt(target))
      // What each revision holds the gateway to: what passes directly where the upstream speaks it (which is the
      // whole suite: the fixture is kept whole), every scenario where it does not.
      const held = new Map(revisions.map((revision) => {
        const names = [...scenariosAt.get(revision)!]
        expect(names.length, `the suite ran its scenarios at ${revision}`).toBeGreaterThan(30)
        const direct = resultOf(revision, "direct")
        if (direct === undefined) return [revision, names] as const
        expect(
          Object.fromEntries(names.map((name) => [name, outcome("direct", name, direct.get(name))])),
          `the fixture passes the suite directly at ${revision}`
        ).toEqual(Object.fromEntries(names.map((name) => [name, "passed"])))
        return [revision, names.filter((name) => outcome("direct", name, direct.get(name)) === "passed")] as const
      }))
      // A scenario failing where it should pass, run once more by itself: a run's one after the other (as they ran),
      // the runs at once.
      const again = (yield* Effect.forEach(
        results.filter((run) => run.target !== "direct"),
        (run, n) =>
          Effect.forEach(
            held.get(run.revision)!.filter((name) =>
              !listed.get(run.revision)!.get(run.target)!.has(name) &&
              outcome(run.target, name, run.result.get(name)) !== "passed"
            ),
            (name) =>
              Effect.map(
                suiteAgainst(urlOf(run.revision, run.target), run.revision, path.join(into, `again-${n}`), name),
                ({ checks }) => ({ ...run, name, checks: checks.get(name) })
              )
          ),
        { concurrency: "unbounded" }
      )).flat()
      samples = yield* metricsAt(url)
      const checksOf = (revision: Revision, target: Target, name: string) => {
        const retried = again.find((retry) =>
          retry.revision === revision && retry.target === target && retry.name === name
        )
        return retried === undefined ? resultOf(revision, target)!.get(name) : retried.checks
      }
      // A table of `cell` by revision, path and scenario held.
      const table = (cell: (revision: Revision, target: Target, name: string) => string) =>
        Object.fromEntries(revisions.map((revision) => [
          revision,
          Object.fromEntries(through.map((target) => [
            target,
            Object.fromEntries(held.get(revision)!.map((name) => [name, cell(revision, target, name)]))
          ]))
        ]))
      const outcomes = table((revision, target, name) => outcome(target, name, checksOf(revision, target, name)))
      const seen = table((revision, target, name) =>
        outcomes[revision]![target]![name] === "passed" ? "passed" : "fails"
      )
      const wanted = table((revision, target, name) =>
        listed.get(revision)!.get(target)!.has(name) ? "fails" : "passed"
      )
      // On a mismatch, the messages of the scenarios that failed show what went wrong.
      expect(seen, JSON.stringify(outcomes, null, 2)).toEqual(wanted)
      // The DNS rebinding scenario's two halves at every path and revision: a foreign `Host` refused, the gateway's
      // own (with its origin) served.
      for (const revision of revisions) {
        for (const target of through) {
          expect(checksOf(revision, target, "dns-rebinding-protection")?.map((check) => [check.id, check.status]))
            .toEqual([["localhost-host-rebinding-rejected", "SUCCESS"], ["localhost-host-valid-accepted", "SUCCESS"]])
        }
      }
    }).pipe(Effect.scoped),
  180_000
)
