/**
 * `effect-llm-router teams create|list|show|update|delete` against a running gateway (SQLite database) over loopback,
 * run in-process with captured output: a team made is printed as its id, alone on stdout, which `keys create --team`
 * takes; `list` and `show` show it, its budget and its keys; `update` renames it and changes or clears its budget;
 * `delete` refuses a team with keys and deletes an empty one; `spend --group-by team` names each team beside its id.
 * Bad flags exit 2; the admin key never reaches the output. The built binary runs it too, and lists it in its help.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Keys from "../../src/cli/keys.js"
import * as Spend from "../../src/cli/spend.js"
import * as Teams from "../../src/cli/teams.js"
import { adminCommand, adminEnv, chat, gatewayOnSqlite } from "../utils/adminApi.js"
import { envWithoutKeys, spawnCli } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"

const teams = adminCommand(Teams.run)
const keys = adminCommand(Keys.run)
const spend = adminCommand(Spend.run)

const gateway = gatewayOnSqlite("teams-command-")

describe("effect-llm-router teams", () => {
  it.live("creates, lists, shows, updates and deletes teams; spend by team names them", () =>
    Effect.gen(function*() {
      const served = yield* gateway
      const url = ["--url", served.url]
      const created = yield* teams(["create", "research", "--budget", "5", "--period", "1 day", ...url])
      assert.strictEqual(created.code, 0)
      const id = created.stdout.trim()
      assert.match(id, /^team_\S+$/)
      assert.include(created.stderr, `made the team research (id ${id})`)

      const listed = yield* teams(["list", ...url])
      assert.strictEqual(listed.code, 0)
      assert.deepStrictEqual(listed.stdout.split("\n"), ["id\tname\tbudget\ttools", `${id}\tresearch\t$5/1d\tnone`, ""])

      const member = yield* keys(["create", "alice", "--team", id, "--models", "gpt-4o-mini", ...url])
      assert.strictEqual(member.code, 0, member.stderr)
      assert.strictEqual((yield* chat(served, member.stdout.trim())).status, 200)
      const shown = yield* teams(["show", id, ...url])
      assert.strictEqual(shown.code, 0)
      assert.match(shown.stdout, new RegExp(`^research \\(id ${id}\\): budget \\$5/1d, spent \\$\\d`))
      assert.match(shown.stdout, /\ntools: none\nkeys: alice \(key_\S+\)\n$/)

      // By team, each row has the team's name and its id; the calls without a team are "(none)".
      const byTeam = yield* eventually(
        "the spend by team to count alice's call",
        spend(["--group-by", "team", ...url]),
        (printed) => printed.stdout.includes(id)
      )
      assert.strictEqual(byTeam.code, 0)
      const [title, header, row] = byTeam.stdout.split("\n")
      assert.match(title!, /^Spend by team, /)
      assert.match(header!, /^TEAM\s+ID\s+CALLS\s+COST/)
      assert.match(row!, new RegExp(`^research\\s+${id}\\s+1\\s+\\$`))

      const renamed = yield* teams(["update", id, "--name", "science", "--no-budget", ...url])
      assert.strictEqual(renamed.code, 0)
      assert.include(renamed.stderr, `updated the team science (id ${id})`)
      assert.include((yield* teams(["list", ...url])).stdout, `${id}\tscience\t-\tnone`)
      const rebudgeted = yield* teams(["update", id, "--budget", "7", ...url])
      assert.strictEqual(rebudgeted.code, 0)
      assert.include((yield* teams(["list", ...url])).stdout, `${id}\tscience\t$7/month\tnone`)
      // The spend names the team as it is called now.
      assert.match((yield* spend(["--group-by", "team", ...url])).stdout, new RegExp(`\\nscience\\s+${id}\\s`))

      const busy = yield* teams(["delete", id, ...url])
      assert.strictEqual(busy.code, 1)
      assert.match(busy.stderr, /^GatewayRequestError: The gateway at \S+ answered 409: The team still has 1 key/)
      const keyId = (yield* keys(["list", ...url])).stdout.split("\n").find((line) => line.includes("alice"))!
        .split("\t")[0]!
      assert.strictEqual((yield* keys(["revoke", keyId, ...url])).code, 0)
      const deleted = yield* teams(["delete", id, ...url])
      assert.strictEqual(deleted.code, 0)
      assert.include(deleted.stderr, `deleted the team ${id}`)
      assert.deepStrictEqual((yield* teams(["list", ...url])).stdout, "id\tname\tbudget\ttools\n")
      const gone = yield* teams(["show", id, ...url])
      assert.strictEqual(gone.code, 1)
      assert.match(gone.stderr, /answered 404/)
      // A deleted team's spend stays, without a name.
      assert.match((yield* spend(["--group-by", "team", ...url])).stdout, new RegExp(`\\n\\(none\\)\\s+${id}\\s`))
    }).pipe(Effect.scoped), 60_000)

  it.live("exits 2 on bad flags, 1 on a refusal", () =>
    Effect.gen(function*() {
      const served = yield* gateway
      const url = ["--url", served.url]
      const cases = [
        [[], "teams needs an action: create, list, show, update or delete"],
        [["rename", "x"], `unknown teams action "rename" (create, list, show, update or delete)`],
        [["list", "extra"], `teams list takes no argument, got "extra"`],
        [["show"], "teams show needs the team's ID (teams list)"],
        [["update"], "teams update needs the team's ID (teams list)"],
        [["create"], "teams create needs the team's NAME"],
        [["create", "x", "--period", "1 day"], "--period goes with --budget"],
        [["create", "x", "--budget", "-1"], `--budget needs 0 or more US dollars, got "-1"`],
        [["list", "--name", "y"], "teams list does not take --name"],
        [["update", "team_x"], "teams update needs --name, --budget, --no-budget, --tools or --no-tools"],
        [["update", "team_x", "--budget", "2", "--no-budget"], "--no-budget does not go with --budget"],
        [["delete"], "teams delete needs the team's ID (teams list)"]
      ] as const
      for (const [args, reason] of cases) {
        const refused = yield* teams([...args, ...url])
        assert.deepStrictEqual([args, refused.code], [args, 2])
        assert.include(refused.stderr, reason)
      }
      assert.strictEqual((yield* teams(["create", "twice", ...url])).code, 0)
      const taken = yield* teams(["create", "twice", ...url])
      assert.strictEqual(taken.code, 1)
      assert.include(taken.stderr, "answered 409: The name `twice` is taken (by another team)")
    }).pipe(Effect.scoped), 60_000)

  it.live("is a command of the binary, listed in its help", () =>
    Effect.gen(function*() {
      const served = yield* gateway
      const cli = { env: { ...envWithoutKeys(), ...adminEnv } }
      const made = yield* spawnCli(["teams", "create", "ops", "--url", served.url], cli)
      assert.strictEqual(made.code, 0)
      const listed = yield* spawnCli(["teams", "list", "--url", served.url], cli)
      assert.include(listed.stdout, `${made.stdout.trim()}\tops\t-\tnone`)
      assert.include((yield* spawnCli(["help", "teams"], cli)).stdout, "teams ACTION [options]")
      assert.include(
        (yield* spawnCli(["--help"], cli)).stdout,
        "teams ACTION         make, list, show, update or delete"
      )
    }).pipe(Effect.scoped), 60_000)
})
