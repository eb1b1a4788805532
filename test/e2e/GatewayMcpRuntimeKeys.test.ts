/**
 * MCP tools of the keys and teams made through the admin API (on a gateway with a SQLite database), as the official
 * SDK's client sees them at `/mcp`: a key sees what its own `tools` and its team's both allow, none without them (it
 * opens no session), and a change of either is seen at once; a bad list is refused naming `tools`; `keys create
 * --tools` gives one, and `teams create|update --tools` give a team's (`keys create` says when the key's team allows
 * none).
 */
import { expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as Effect from "effect/Effect"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as AdminApi from "../../src/cli/adminApi.js"
import * as Keys from "../../src/cli/keys.js"
import * as Teams from "../../src/cli/teams.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { adminKey, call, configKey, gatewayOn, providerKey } from "../utils/adminApi.js"
import { captureIo } from "../utils/cliHarness.js"
import { namedTools } from "../utils/mcpUpstreams.js"

// The tools `key` lists at `url`'s `/mcp`, sorted; "no session" for a key allowed none, which opens no session.
const listed = (url: string, key: string) =>
  Effect.promise(async (): Promise<ReadonlyArray<string> | "no session"> => {
    const client = new Client({ name: "runtime-keys-mcp", version: "1.0.0" })
    const refused = await client.connect(
      new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${key}` } }
      })
    ).then(() => false, (error: Error) => {
      if (error.message.includes("may use no MCP tool")) return true
      throw error
    })
    if (refused) return "no session"
    try {
      return (await client.listTools()).tools.map((tool) => tool.name).sort()
    } finally {
      await client.close()
    }
  })

it.live(
  "keys and teams of the admin API: a key's tools and its team's both; none by default",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const files = yield* namedTools(["read", "write", "list"])
      const database = { sqlite: join(mkdtempSync(join(tmpdir(), "mcp-runtime-keys-")), "gateway.db") }
      const gateway = yield* gatewayOn(simulator, database, { mcp_servers: { files: { url: files } } })
      const team = yield* call(gateway.url, "POST", "/admin/teams", { name: "readers", tools: ["files__*"] })
      expect(team.status).toBe(201)
      expect((team.body as { readonly tools?: unknown }).tools).toEqual(["files__*"])
      const member = yield* call(gateway.url, "POST", "/admin/keys", {
        name: "member",
        team: team.body.id,
        tools: ["files__read", "files__write", "other__*"]
      })
      expect(member.status).toBe(201)
      expect((member.body as { readonly tools?: unknown }).tools).toEqual(["files__read", "files__write", "other__*"])
      const loner = yield* call(gateway.url, "POST", "/admin/keys", { name: "loner", tools: ["*"] })
      const bare = yield* call(gateway.url, "POST", "/admin/keys", { name: "bare" })
      const emptyTeam = yield* call(gateway.url, "POST", "/admin/teams", { name: "no-tools" })
      const inEmptyTeam = yield* call(gateway.url, "POST", "/admin/keys", {
        name: "in-empty-team",
        team: emptyTeam.body.id,
        tools: ["*"]
      })

      expect(yield* listed(gateway.url, member.body.key!)).toEqual(["files__read", "files__write"])
      expect(yield* listed(gateway.url, loner.body.key!)).toEqual(["files__list", "files__read", "files__write"])
      expect(yield* listed(gateway.url, bare.body.key!)).toEqual("no session")
      expect(yield* listed(gateway.url, inEmptyTeam.body.key!)).toEqual("no session")
      // provider.json's key without tools: none either.
      expect(yield* listed(gateway.url, configKey)).toEqual("no session")

      const narrowed = yield* call(gateway.url, "PATCH", `/admin/teams/${team.body.id}`, { tools: ["files__read"] })
      expect(narrowed.status).toBe(200)
      expect(yield* listed(gateway.url, member.body.key!)).toEqual(["files__read"])
      const cleared = yield* call(gateway.url, "PATCH", `/admin/keys/${loner.body.id}`, { tools: null })
      expect((cleared.body as { readonly tools?: unknown }).tools).toBeNull()
      expect(yield* listed(gateway.url, loner.body.key!)).toEqual("no session")

      // `keys create --tools`: the same list, through the command line.
      const { io, result } = captureIo({ env: { [AdminApi.adminKeyVariable]: adminKey } })
      const code = yield* Keys.run(["create", "cli-made", "--tools", "files__list,files__w*", "--url", gateway.url], io)
      expect(code).toBe(0)
      expect(yield* listed(gateway.url, result(code).stdout.trim())).toEqual(["files__list", "files__write"])

      for (const tools of ["files__read", [1], [""]]) {
        const refused = yield* call(gateway.url, "POST", "/admin/keys", { name: "bad", tools })
        expect(refused.status).toBe(400)
        expect(refused.body.error?.param).toBe("tools")
      }
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)

it.live(
  "GET /admin/keys shows provider.json's keys' tools as it shows those of the admin API's (null: none)",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const files = yield* namedTools(["read"])
      const database = { sqlite: join(mkdtempSync(join(tmpdir(), "mcp-config-key-tools-")), "gateway.db") }
      const gateway = yield* gatewayOn(simulator, database, {
        mcp_servers: { files: { url: files } },
        gateway: {
          keys: [{ name: "fixed", key: configKey, tools: ["files__read", "calc__*"] }, {
            name: "bare",
            key: "gw-config-key-without-tools-0001"
          }],
          admin_keys: [{ name: "ops", key: adminKey }]
        }
      })
      const made = yield* call(gateway.url, "POST", "/admin/keys", { name: "made", tools: ["files__*"] })
      expect(made.status).toBe(201)
      const keys = yield* call(gateway.url, "GET", "/admin/keys")
      const shown = (keys.body.data ?? []) as ReadonlyArray<{ readonly name: string; readonly tools?: unknown }>
      expect(shown.map((key) => [key.name, key.tools])).toEqual([
        ["fixed", ["files__read", "calc__*"]],
        ["bare", null],
        ["made", ["files__*"]]
      ])
      const one = yield* call(gateway.url, "GET", "/admin/keys/config:fixed")
      expect((one.body as { readonly tools?: unknown }).tools).toEqual(["files__read", "calc__*"])
      expect(yield* listed(gateway.url, configKey)).toEqual(["files__read"])
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)

// A command of the command line run in-process with the admin key: its exit code and output.
const command = (run: typeof Keys.run, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { io, result } = captureIo({ env: { [AdminApi.adminKeyVariable]: adminKey } })
    return result(yield* run(args, io))
  })

it.live(
  "teams create and update --tools give a team its tools, as the official SDK's client lists them; --no-tools clears",
  () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const files = yield* namedTools(["read", "write", "list"])
      const database = { sqlite: join(mkdtempSync(join(tmpdir(), "mcp-teams-tools-")), "gateway.db") }
      const gateway = yield* gatewayOn(simulator, database, { mcp_servers: { files: { url: files } } })
      const url = ["--url", gateway.url]

      // A team made without tools: a key given tools in it is allowed none (no session), and `keys create` says why.
      const empty = yield* command(Teams.run, ["create", "later", ...url])
      expect(empty.code).toBe(0)
      const teamId = empty.stdout.trim()
      const member = yield* command(Keys.run, ["create", "member", "--team", teamId, "--tools", "files__*", ...url])
      expect(member.code).toBe(0)
      expect(member.stderr).toContain(`Its team ${teamId} allows no MCP tool, so it lists none`)
      expect(member.stderr).toContain(`teams update ${teamId} --tools`)
      const key = member.stdout.trim()
      expect(yield* listed(gateway.url, key)).toEqual("no session")

      // `teams update --tools`, no hand-written PATCH: the key now lists what both lists allow.
      const updated = yield* command(Teams.run, ["update", teamId, "--tools", "files__read, files__list", ...url])
      expect(updated.code).toBe(0)
      expect(yield* listed(gateway.url, key)).toEqual(["files__list", "files__read"])
      expect((yield* command(Teams.run, ["show", teamId, ...url])).stdout).toContain(
        "\ntools: files__read,files__list\n"
      )
      expect((yield* command(Teams.run, ["list", ...url])).stdout).toContain(
        `${teamId}\tlater\t-\tfiles__read,files__list\n`
      )
      expect((yield* command(Keys.run, ["list", ...url])).stdout).toMatch(/\tmember\tapi\t\S+\tall\t-\tfiles__\*\n/)

      // `teams create --tools`: a team made with its tools; a key in it gets no note.
      const made = yield* command(Teams.run, ["create", "readers", "--tools", "files__write", ...url])
      expect(made.code).toBe(0)
      const writer = yield* command(Keys.run, [
        "create",
        "writer",
        "--team",
        made.stdout.trim(),
        "--tools",
        "files__*",
        ...url
      ])
      expect(writer.stderr).not.toContain("allows no MCP tool")
      expect(yield* listed(gateway.url, writer.stdout.trim())).toEqual(["files__write"])

      // `--no-tools` clears the team's list: its keys are allowed none again, and open no session.
      expect((yield* command(Teams.run, ["update", teamId, "--no-tools", ...url])).code).toBe(0)
      expect(yield* listed(gateway.url, key)).toEqual("no session")
      const both = yield* command(Teams.run, ["update", teamId, "--tools", "a", "--no-tools", ...url])
      expect([both.code, both.stderr]).toEqual([2, expect.stringContaining("--no-tools does not go with --tools")])
      const stray = yield* command(Teams.run, ["list", "--tools", "a", ...url])
      expect([stray.code, stray.stderr]).toEqual([2, expect.stringContaining("teams list does not take --tools")])
    }).pipe(Effect.scoped),
  { timeout: 60_000 }
)
