/**
 * `effect-llm-router keys create|list|revoke|rotate` against a running gateway (SQLite database) over loopback, run
 * in-process with captured output: a key made is printed once, alone on stdout, and works with the `openai` client;
 * `list` shows it without the key; `rotate` prints the new key; `revoke` ends it; refusals and a gateway that is not
 * there exit 1 with the error's tag, bad flags and a missing admin key exit 2; the admin key never reaches the output.
 * The built binary runs it too, and lists it in its help.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { join } from "node:path"
import * as AdminApi from "../../src/cli/adminApi.js"
import * as AdminToken from "../../src/cli/adminToken.js"
import * as Audit from "../../src/cli/audit.js"
import * as Keys from "../../src/cli/keys.js"
import * as Serve from "../../src/cli/serve.js"
import * as Spend from "../../src/cli/spend.js"
import * as Teams from "../../src/cli/teams.js"
import { proofOf } from "../../src/internal/gateway/identity/instance.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import {
  adminCommand,
  adminEnv,
  adminKey,
  call,
  chat,
  configKey,
  gatewayOn,
  gatewayOnSqlite,
  providerKey,
  temporaryDirectory
} from "../utils/adminApi.js"
import { awaitFirstLine, envWithoutKeys, spawnCli, startInProcess } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import { freePort } from "../utils/freePort.js"
import * as Loopback from "../utils/loopbackServer.js"
import * as Relay from "../utils/tcpRelay.js"

const keys = adminCommand(Keys.run)
const spend = adminCommand(Spend.run)
const teams = adminCommand(Teams.run)
const audit = adminCommand(Audit.run)

const directory = temporaryDirectory("keys-command-")

const ipv6Loopback = await Relay.ipv6Loopback()

/** `serve` in-process on `host` at a port free now, its data directory of its own: the directory and the port. */
const serveAt = (host: string) =>
  Effect.gen(function*() {
    const data = yield* directory
    const port = yield* Effect.promise(freePort)
    const running = yield* startInProcess((io) =>
      Serve.run(["--host", host, "--port", String(port), "--data", data], io)
    )
    yield* awaitFirstLine(running, "serve's URL")
    return { data, port }
  })

const gateway = gatewayOnSqlite("keys-command-")

describe("effect-llm-router keys", () => {
  it.live("creates, lists, rotates and revokes keys of a running gateway", () =>
    Effect.gen(function*() {
      const served = yield* gateway
      const url = ["--url", served.url]
      const created = yield* keys([
        "create",
        "ci-bot",
        "--models",
        "gpt-4o-mini",
        "--budget",
        "2",
        "--period",
        "1 day",
        ...url
      ])
      assert.strictEqual(created.code, 0)
      const key = created.stdout.trim()
      assert.match(key, /^elr-\S+$/)
      assert.include(created.stderr, "shown only now")
      assert.strictEqual((yield* chat(served, key)).status, 200)

      const listed = yield* keys(["list", ...url])
      assert.strictEqual(listed.code, 0)
      const row = listed.stdout.split("\n").find((line) => line.includes("ci-bot"))!
      assert.include(row, "$2/1d")
      assert.notInclude(listed.stdout, key)
      const id = row.split("\t")[0]!
      assert.include(listed.stdout, "fixed\tprovider.json")

      const rotated = yield* keys(["rotate", id, "--grace", "0", ...url])
      assert.strictEqual(rotated.code, 0)
      const replacement = rotated.stdout.trim()
      assert.notStrictEqual(replacement, key)
      assert.include(rotated.stderr, "The old key no longer works")
      assert.strictEqual((yield* chat(served, key)).status, 401)
      assert.strictEqual((yield* chat(served, replacement)).status, 200)

      const revoked = yield* keys(["revoke", id, ...url])
      assert.strictEqual(revoked.code, 0)
      assert.strictEqual((yield* chat(served, replacement)).status, 401)

      const again = yield* keys(["revoke", id, ...url])
      assert.strictEqual(again.code, 1)
      assert.match(again.stderr, /^GatewayRequestError: The gateway at \S+ answered 404/)
      const readOnly = yield* keys(["revoke", "config:fixed", ...url])
      assert.match(readOnly.stderr, /^GatewayRequestError: The gateway at \S+ answered 403: .*provider\.json/)
    }), 60_000)

  it.live(
    "updates a key as teams update does a team: each field changed or cleared, and the key obeys it",
    () =>
      Effect.gen(function*() {
        const served = yield* gateway
        const url = ["--url", served.url]
        const team = (yield* teams(["create", "research", ...url])).stdout.trim()
        const key = (yield* keys(["create", "bot", "--models", "house", "--tools", "calc__add", ...url])).stdout.trim()
        const rowOf = (listed: string) => listed.split("\n").find((line) => line.split("\t")[1] === "bot-2")!
        const id = (yield* keys(["list", ...url])).stdout.split("\n").find((line) => line.includes("\tbot\t"))!
          .split("\t")[0]!
        // Limited to another model, the key is refused gpt-4o-mini.
        assert.strictEqual((yield* chat(served, key)).status, 403)

        const updated = yield* keys([
          "update",
          id,
          "--name",
          "bot-2",
          "--team",
          team,
          "--models",
          "gpt-4o-mini",
          "--no-tools",
          "--budget",
          "5",
          "--period",
          "1 day",
          ...url
        ])
        assert.strictEqual(updated.code, 0, updated.stderr)
        assert.strictEqual(updated.stdout, "")
        assert.include(updated.stderr, `updated the key bot-2 (id ${id})`)
        const row = rowOf((yield* keys(["list", ...url])).stdout)
        assert.deepStrictEqual(row.split("\t").slice(3), [team, "gpt-4o-mini", "$5/1d", "none"])
        assert.strictEqual((yield* chat(served, key)).status, 200)

        const later = Math.floor(Date.now() / 1000) + 86_400
        const again = yield* keys([
          "update",
          id,
          "--no-team",
          "--all-models",
          "--tools",
          "calc__*",
          "--no-budget",
          "--expires-at",
          String(later),
          "--json",
          ...url
        ])
        assert.strictEqual(again.code, 0, again.stderr)
        const shown = JSON.parse(again.stdout) as Record<string, unknown>
        assert.deepStrictEqual(
          [shown.team ?? null, shown.models ?? null, shown.tools, shown.budget ?? null],
          [null, null, ["calc__*"], null]
        )
        assert.strictEqual(shown.expires_at, later)
        const cleared = yield* keys(["update", id, "--no-expiry", "--json", ...url])
        assert.isNull((JSON.parse(cleared.stdout) as Record<string, unknown>).expires_at ?? null)

        const readOnly = yield* keys(["update", "config:fixed", "--name", "x", ...url])
        assert.strictEqual(readOnly.code, 1)
        assert.match(readOnly.stderr, /^GatewayRequestError: The gateway at \S+ answered 403/)
        const cases = [
          [["update"], "keys update needs the key's ID (keys list)"],
          [["update", id], "keys update needs --name, --team, --no-team, --models, --all-models"],
          [["update", id, "--team", team, "--no-team"], "--no-team does not go with --team"],
          [["update", id, "--models", "a", "--all-models"], "--all-models does not go with --models"],
          [["update", id, "--tools", "a", "--no-tools"], "--no-tools does not go with --tools"],
          [["update", id, "--budget", "2", "--no-budget"], "--no-budget does not go with --budget"],
          [["update", id, "--expires-at", String(later), "--no-expiry"], "--no-expiry does not go with --expires-at"],
          [["update", id, "--grace", "5"], "keys update does not take --grace"],
          [["create", "k", "--no-team"], "keys create does not take --no-team"]
        ] as const
        for (const [args, reason] of cases) {
          const refused = yield* keys([...args, ...url])
          assert.deepStrictEqual([args, refused.code], [args, 2])
          assert.include(refused.stderr, reason)
        }
      }),
    60_000
  )

  it.live(
    "prints names as text: a name's terminal escape codes and tabs are shown escaped, in list and spend",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const dir = yield* directory
        // A provider.json key named to retitle the terminal, clear it and break the table's columns.
        const hostile = "\u001b]0;owned\u0007\u001b[2Jmallory\tx"
        const hostileKey = "gw-keys-command-hostile-3c5e7a9b"
        const served = yield* gatewayOn(simulator, { sqlite: join(dir, "gateway.db") }, {
          gateway: {
            keys: [{ name: "fixed", key: configKey }, { name: hostile, key: hostileKey }],
            admin_keys: [{ name: "ops", key: adminKey }]
          }
        })
        assert.strictEqual((yield* chat(served, hostileKey)).status, 200)
        const listed = yield* keys(["list", "--url", served.url])
        // The request log writes its rows in batches, a moment after the calls: the spend shows the call once written.
        const spent = yield* eventually(
          "the spend by key to count the hostile key's call",
          spend(["--url", served.url, "--group-by", "key"]),
          (printed) => printed.stdout.includes("mallory")
        )
        for (const printed of [listed, spent]) {
          assert.strictEqual(printed.code, 0)
          for (const raw of ["\u001b", "\u0007"]) assert.notInclude(printed.stdout, raw)
          assert.include(printed.stdout, "\\u001b]0;owned\\u0007\\u001b[2Jmallory\\tx")
        }
        // Still one row per key, seven columns each.
        const row = listed.stdout.split("\n").find((line) => line.includes("mallory"))!
        assert.lengthOf(row.split("\t"), 7)
      }),
    60_000
  )

  it.live(
    "GET /admin/keys and keys list show a provider.json key's budget and rate limit as a key made here with the same",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        // Every field a key's configuration can hold besides its name and key, each present or absent.
        const period = fc.oneof(
          fc.constant("month"),
          fc.integer({ min: 1, max: 366 }).map((days) => `${days} days`),
          fc.integer({ min: 1, max: 1440 }).map((minutes) => `${minutes} minutes`)
        )
        const setting = fc.record({
          budget: fc.option(
            fc.record({ limit: fc.integer({ min: 1, max: 10_000 }).map((cents) => cents / 100), period })
          ),
          capacity: fc.option(fc.integer({ min: 1, max: 1000 })),
          refill: fc.option(fc.integer({ min: 1, max: 1000 }).map((tenths) => tenths / 10))
        })
        const settings = fc.sample(setting, { numRuns: 24, seed: 75 })
        const fields = (item: (typeof settings)[number]) => ({
          models: ["gpt-4o-mini"],
          ...(item.budget === null ? {} : { budget: item.budget }),
          ...(item.capacity === null || item.refill === null
            ? {}
            : { rate_limit_capacity: item.capacity, rate_limit_refill_rate: item.refill })
        })
        const served = yield* gatewayOn(simulator, { sqlite: join(yield* directory, "gateway.db") }, {
          gateway: {
            keys: settings.map((item, i) => ({
              name: `file-${i}`,
              key: `gw-keys-command-file-${i}-4b6d8f0a`,
              ...fields(item)
            })),
            admin_keys: [{ name: "ops", key: adminKey }]
          }
        })
        for (const [i, item] of settings.entries()) {
          const made = yield* call(served.url, "POST", "/admin/keys", { name: `made-${i}`, ...fields(item) })
          assert.strictEqual(made.status, 201, JSON.stringify(made.body))
        }
        const listed = (yield* call(served.url, "GET", "/admin/keys")).body.data as unknown as ReadonlyArray<
          Record<string, unknown>
        >
        const shown = (name: string) => {
          const { budget, models, rate_limit_capacity, rate_limit_refill_rate, tools } = listed.find((key) =>
            key.name === name
          )!
          return { budget, models, rate_limit_capacity, rate_limit_refill_rate, tools }
        }
        const printed = (yield* keys(["list", "--url", served.url])).stdout.split("\n")
        const row = (name: string) => printed.find((line) => line.split("\t")[1] === name)!.split("\t").slice(4)
        for (const [i, item] of settings.entries()) {
          assert.deepStrictEqual(shown(`file-${i}`), shown(`made-${i}`), JSON.stringify(item))
          assert.deepStrictEqual(row(`file-${i}`), row(`made-${i}`), JSON.stringify(item))
          if (item.budget !== null) assert.notStrictEqual(shown(`file-${i}`).budget, null)
        }
      }),
    60_000
  )

  it.live("is a command of the binary, listed in its help", () =>
    Effect.gen(function*() {
      const served = yield* gateway
      const env = { ...envWithoutKeys(), ...adminEnv }
      const listed = yield* spawnCli(["keys", "list", "--url", served.url], { env })
      assert.strictEqual(listed.code, 0)
      assert.include(listed.stdout, "config:fixed\tfixed\tprovider.json")
      const help = yield* spawnCli(["help", "keys"], { env })
      assert.include(help.stdout, "EFFECT_LLM_ROUTER_ADMIN_KEY")
      const usage = yield* spawnCli(["--help"], { env })
      assert.include(usage.stdout, "keys ACTION          make, list, update, revoke or rotate")
    }), 60_000)

  it.live("exits 2 on bad flags or without an admin key, 1 when no gateway answers", () =>
    Effect.gen(function*() {
      const cases = [
        [[], "keys needs an action: create, list, update, revoke or rotate"],
        [["renew", "x"], `unknown keys action "renew" (create, list, update, revoke or rotate)`],
        [["create"], "keys create needs the key's NAME"],
        [["list", "extra"], `keys list takes no argument, got "extra"`],
        [["list", "--grace", "5"], "keys list does not take --grace"],
        [["revoke"], "keys revoke needs the key's ID (keys list)"],
        [["rotate"], "keys rotate needs the key's ID (keys list)"]
      ] as const
      for (const [args, reason] of cases) {
        const refused = yield* keys([...args])
        assert.deepStrictEqual([args, refused.code], [args, 2])
        assert.include(refused.stderr, reason)
      }
      const noKey = yield* keys(["list", "--data", yield* directory], {})
      assert.strictEqual(noKey.code, 2)
      assert.include(noKey.stderr, AdminApi.adminKeyVariable)
      const port = yield* Effect.promise(freePort)
      const away = yield* keys(["list", "--url", `http://127.0.0.1:${port}`])
      assert.strictEqual(away.code, 1)
      assert.match(away.stderr, /^GatewayRequestError: The gateway at http:\/\/127\.0\.0\.1:\d+ could not be reached/)
    }), 60_000)

  it.live(
    "without an admin key in the environment, keys and spend use serve's token for a gateway on loopback only",
    () =>
      Effect.gen(function*() {
        const data = yield* directory
        const running = yield* startInProcess((io) => Serve.run(["--port", "0", "--data", data], io))
        const url = yield* awaitFirstLine(running, "serve's URL")
        const token = yield* AdminToken.read(data).pipe(Effect.provide(NodeFileSystem.layer))
        assert.isDefined(token)
        assert.include(running.stderr(), `the token in ${join(data, "admin-token")}`)
        assert.notInclude(running.stderr(), Redacted.value(token!))
        const flags = ["--url", url, "--data", data]
        const made = yield* keys(["create", "from-token", ...flags], {})
        assert.strictEqual(made.code, 0)
        const listed = yield* keys(["list", ...flags], {})
        assert.strictEqual(listed.code, 0)
        assert.include(listed.stdout, "from-token")
        const spent = yield* spend([...flags, "--json"], {})
        assert.strictEqual(spent.code, 0)
        for (const output of [made, listed, spent]) {
          assert.notInclude(output.stdout + output.stderr, Redacted.value(token!))
        }
        // A gateway elsewhere is not sent this machine's token.
        const elsewhere = yield* keys(["list", "--url", "http://192.0.2.1:4000", "--data", data], {})
        assert.strictEqual(elsewhere.code, 2)
        assert.include(elsewhere.stderr, "keys needs an admin key")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "serve's token goes only to the serve that proves it holds it: another process at the loopback address gets no " +
      "credential, whatever it answers (nothing, a refusal, a forged proof, the real gateway's proof relayed)",
    () =>
      Effect.gen(function*() {
        const data = yield* directory
        const running = yield* startInProcess((io) => Serve.run(["--port", "0", "--data", data], io))
        const real = yield* awaitFirstLine(running, "serve's URL")
        const token = Redacted.value((yield* AdminToken.read(data).pipe(Effect.provide(NodeFileSystem.layer)))!)
        // What the impostor answers `GET /admin/instance?challenge=...` with, given the challenge and its own address.
        type Impostor = (challenge: string, own: string) => Promise<{ readonly status: number; readonly body: string }>
        const impostors: ReadonlyArray<readonly [string, Impostor]> = [
          ["nothing", async () => ({ status: 404, body: "{}" })],
          ["a refusal", async () => ({ status: 401, body: "{\"error\":{\"message\":\"no\"}}" })],
          ["a forged proof", async (_, own) => ({
            status: 200,
            body: JSON.stringify({ listening: own, proof: "00".repeat(32) })
          })],
          // The real gateway asked the same challenge: its proof is for its own address, not the impostor's.
          ["the real proof relayed", async (challenge) => {
            const relayed = await fetch(`${real}/admin/instance?challenge=${challenge}`)
            return { status: relayed.status, body: await relayed.text() }
          }],
          ["the real proof, its address rewritten", async (challenge, own) => {
            const relayed = await fetch(`${real}/admin/instance?challenge=${challenge}`)
            const answer = await relayed.json() as { readonly proof: string }
            return { status: 200, body: JSON.stringify({ listening: own, proof: answer.proof }) }
          }]
        ]
        const credentials: Array<string> = []
        let current: Impostor = impostors[0]![1]
        const server = yield* Loopback.serve((request, response) => {
          for (const name of ["authorization", "x-api-key", "cookie"]) {
            const value = request.headers[name]
            if (value !== undefined) credentials.push(String(value))
          }
          const asked = new URL(request.url ?? "/", "http://impostor")
          if (asked.pathname !== "/admin/instance") {
            response.writeHead(200, { "content-type": "application/json" })
            response.end("{\"data\": []}")
            return
          }
          const own = `127.0.0.1:${new URL(server.url).port}`
          void current(asked.searchParams.get("challenge") ?? "", own).then(({ body, status }) => {
            response.writeHead(status, { "content-type": "application/json" })
            response.end(body)
          })
        })
        for (const [name, impostor] of impostors) {
          current = impostor
          for (
            const run of [
              keys(["list", "--url", server.url, "--data", data], {}),
              spend(["--url", server.url, "--data", data], {}),
              audit(["--url", server.url, "--data", data], {})
            ]
          ) {
            const out = yield* run
            assert.strictEqual(out.code, 1, `${name}: ${out.stderr}`)
            assert.include(out.stderr, "did not prove it is the serve whose admin token this is", name)
            assert.notInclude(out.stdout + out.stderr, token)
          }
        }
        assert.deepStrictEqual(credentials, [], "no credential reached the impostor")
        // The real gateway proves it, and is sent the token.
        const listed = yield* keys(["list", "--url", real, "--data", data], {})
        assert.strictEqual(listed.code, 0, listed.stderr)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live.skipIf(!ipv6Loopback)(
    "serve's token never reaches a relay: serve on 0.0.0.0:PORT, another process on [::1]:PORT passing each " +
      "connection's bytes to it, and the command given [::1]:PORT refuses, since the proof is of the relay's own " +
      "connection",
    () =>
      Effect.gen(function*() {
        const { data, port } = yield* serveAt("0.0.0.0")
        const token = Redacted.value((yield* AdminToken.read(data).pipe(Effect.provide(NodeFileSystem.layer)))!)
        const relay = yield* Relay.on({ host: "::1", port }, { host: "127.0.0.1", port })
        const url = `http://[::1]:${port}`
        for (
          const run of [
            keys(["list", "--url", url, "--data", data], {}),
            teams(["list", "--url", url, "--data", data], {}),
            spend(["--url", url, "--data", data], {}),
            audit(["--url", url, "--data", data], {})
          ]
        ) {
          const out = yield* run
          assert.strictEqual(out.code, 1, out.stderr)
          assert.include(out.stderr, "did not prove it is the serve whose admin token this is")
          assert.include(out.stderr, "so the token was not sent")
        }
        // The challenges went through the relay to the gateway and back; the token never did.
        assert.include(relay.received(), "GET /admin/instance?challenge=")
        assert.notInclude(relay.received(), token)
        // Asked at the address serve listens on, the same command is sent the token.
        const listed = yield* keys(["list", "--url", `http://127.0.0.1:${port}`, "--data", data], {})
        assert.strictEqual(listed.code, 0, listed.stderr)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live.skipIf(!ipv6Loopback)(
    "serve on :: (both families) proves itself to a command at 127.0.0.1, its IPv4 callers named as IPv6 there",
    () =>
      Effect.gen(function*() {
        const { data, port } = yield* serveAt("::")
        for (const url of [`http://127.0.0.1:${port}`, `http://[::1]:${port}`]) {
          const listed = yield* keys(["list", "--url", url, "--data", data], {})
          assert.strictEqual(listed.code, 0, `${url}: ${listed.stderr}`)
        }
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "serve's token goes only on the connection the proof came on: a gateway that closes it after its proof is sent " +
      "no token on another, and the command says to run it again",
    () =>
      Effect.gen(function*() {
        const data = yield* directory
        const token = yield* AdminToken.ensure(data).pipe(Effect.provide(NodeFileSystem.layer))
        const credentials: Array<string> = []
        // A process holding the token: its proofs are good, and it hangs up after each.
        const server = yield* Loopback.serve((request, response) => {
          const credential = request.headers.authorization
          if (credential !== undefined) credentials.push(credential)
          const challenge = new URL(request.url ?? "/", "http://gateway").searchParams.get("challenge") ?? ""
          const socket = request.socket
          const proof = proofOf(token, challenge, {
            gateway: { address: socket.localAddress!, port: socket.localPort! },
            caller: { address: socket.remoteAddress!, port: socket.remotePort! }
          })
          response.writeHead(200, { "content-type": "application/json", connection: "close" })
          response.end(JSON.stringify({ proof }))
        })
        const out = yield* keys(["list", "--url", server.url, "--data", data], {})
        assert.strictEqual(out.code, 1, out.stderr)
        assert.include(out.stderr, "the connection on which the gateway proved it is the serve holding the admin token")
        assert.include(out.stderr, "run the command again")
        assert.deepStrictEqual(credentials, [])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "keys, teams, spend and audit given an answer that is not the admin API's (garbage, HTML, a 500, JSON cut short " +
      "or of another shape) say so on one line and exit 1, never with a stack trace nor as done (a revoke, a delete " +
      "and audit's JSON lines too)",
    () =>
      Effect.gen(function*() {
        // Each answer in turn, whatever was asked.
        const answers: Array<
          { readonly status: number; readonly type: string; readonly body: string; readonly cut?: true }
        > = [
          { status: 200, type: "text/plain", body: "\u0000\u00ff garbage \u001b[31m" },
          { status: 200, type: "text/html", body: "<html><body><h1>Welcome to nginx!</h1></body></html>" },
          { status: 500, type: "text/html", body: "<html>Internal Server Error</html>" },
          { status: 200, type: "application/json", body: "{\"data\": [{\"id\": \"k1\", \"na", cut: true },
          { status: 200, type: "application/json", body: "{\"data\": [{\"id\": \"k1\", \"na" },
          { status: 200, type: "application/json", body: "{\"data\": \"none\", \"groups\": 5, \"key\": 7}" },
          {
            status: 200,
            type: "application/json",
            body: "{\"data\": [{\"id\": 1, \"models\": \"all\", \"budget\": {}}], \"groups\": [{\"calls\": \"x\"}]}"
          },
          { status: 200, type: "application/json", body: "null" },
          { status: 200, type: "application/json", body: "" }
        ]
        let next = 0
        const server = yield* Loopback.serve((_req, res) => {
          const answer = answers[next % answers.length]!
          if (answer.cut === true) {
            // Promises more than it sends, then hangs up.
            res.writeHead(answer.status, {
              "content-type": answer.type,
              "content-length": String(answer.body.length + 100)
            })
            res.write(answer.body, () => setTimeout(() => res.socket?.destroy(), 50))
            return
          }
          res.writeHead(answer.status, { "content-type": answer.type })
          res.end(answer.body)
        })
        const commands: ReadonlyArray<
          (url: string) => Effect.Effect<{ readonly code: number; readonly stdout: string; readonly stderr: string }>
        > = [
          (url) => keys(["list", "--url", url]),
          (url) => keys(["list", "--url", url, "--json"]),
          (url) => keys(["create", "k", "--url", url]),
          (url) => keys(["rotate", "k1", "--url", url]),
          (url) => keys(["revoke", "k1", "--url", url]),
          (url) => teams(["create", "t", "--url", url]),
          (url) => teams(["list", "--url", url]),
          (url) => teams(["show", "t1", "--url", url]),
          (url) => teams(["update", "t1", "--name", "u", "--url", url]),
          (url) => teams(["delete", "t1", "--url", url]),
          (url) => spend(["--url", url]),
          (url) => spend(["--url", url, "--json"]),
          (url) => audit(["--url", url]),
          (url) => audit(["--url", url, "--jsonl"])
        ]
        for (const [index, answer] of answers.entries()) {
          for (const command of commands) {
            // An empty body is audit's JSON lines of no rows: only that command takes it.
            if (answer.body === "" && answer.status === 200 && command === commands.at(-1)) continue
            next = index
            const out = yield* command(server.url)
            const what = `${JSON.stringify(answer)}: ${out.stderr}`
            // `spend --json` prints the gateway's JSON as it is, once it is the admin API's.
            assert.strictEqual(out.code, 1, what)
            assert.strictEqual(out.stdout, "", what)
            const lines = out.stderr.trimEnd().split("\n")
            assert.lengthOf(lines, 1, what)
            assert.match(
              lines[0]!,
              new RegExp(`^GatewayRequestError: The gateway at ${server.url} answered ${answer.status}: `),
              what
            )
            assert.notMatch(out.stderr, /\n\s+at |SyntaxError|TypeError/, what)
            // A terminal's escape codes in the answer are shown escaped, never sent to the terminal.
            assert.notInclude(out.stderr, String.fromCharCode(27), what)
            assert.notInclude(out.stderr, adminKey)
          }
        }
      }).pipe(Effect.scoped),
    60_000
  )
})
