import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { ChatResponse } from "../../src/ChatResponse.js"
import * as Batch from "../../src/cli/batch.js"
import { defaultMaxLineBytes } from "../../src/cli/batchArgs.js"
import { lines } from "../../src/cli/batchInput.js"
import * as Progress from "../../src/cli/batchProgress.js"
import * as Pricing from "../../src/Pricing.js"
import * as Bedrock from "../../src/providers/Bedrock.js"
import * as Vertex from "../../src/providers/Vertex.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import {
  awaitWhileRunning,
  binPath,
  captureIo,
  EndedEarly,
  envWithoutKeys,
  spawnCli,
  startCli
} from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"

const KEY = "sk-batch-test-secret-0123456789abcdef"

/** A directory of its own, removed with the test's scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "elr-batch-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const ask = (id: string | number, content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, messages: [{ role: "user", content }], ...extra })

/** An input file of `lines` and where its results go. */
const files = (lines: ReadonlyArray<string>) =>
  Effect.map(tempDir, (dir) => {
    const input = path.join(dir, "requests.jsonl")
    fs.writeFileSync(input, `${lines.join("\n")}\n`)
    return { input, out: path.join(dir, "results.jsonl") }
  })

type ResultLine = { readonly id: string | number } & Record<string, unknown>

/** The results file's lines, each checked to be whole JSON with an id. */
const results = (file: string): ReadonlyArray<ResultLine> => {
  const text = fs.readFileSync(file, "utf8")
  expect(text.endsWith("\n")).toBe(true)
  return text.slice(0, -1).split("\n").map((line) => {
    const json = JSON.parse(line) as ResultLine
    expect(["string", "number"]).toContain(typeof json.id)
    return json
  })
}

const byId = (lines: ReadonlyArray<ResultLine>) => new Map(lines.map((line) => [line.id, line]))

/** Runs `batch` in-process, its built-in simulator quick. */
const batch = (argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { io, result } = captureIo()
    const captured = result(yield* Batch.run(argv, io, { simulator: { port: 0, replyTokens: 8 } }))
    expect(captured.stdout).not.toContain(KEY)
    expect(captured.stderr).not.toContain(KEY)
    return captured
  })

const direct = (sim: Simulator.Simulator) => ["--base-url", `${sim.url}/v1`, "--key", KEY]

/** The simulator as an OpenAI server, the lines run as calls though it has OpenAI's batch API. */
const live = (sim: Simulator.Simulator) => [...direct(sim), "--live"]

/** How often the tests look at a run: every 20 ms. */
const pace = { every: "20 millis" } as const

const lineCount = (file: string) =>
  Effect.sync(() => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").length - 1 : 0))

describe("batch", () => {
  it.live("runs every line against the built-in simulator, says so, and writes each result with its id", () =>
    Effect.gen(function*() {
      const { input, out } = yield* files([
        ask(1, "Hello"),
        ask("two", "Hi", { model: "gpt-4o", temperature: 0.5, max_tokens: 5, stream: true }),
        "this is not json",
        JSON.stringify({ messages: [{ role: "user", content: "no id" }] }),
        ask(1, "the same id again"),
        "",
        ask(3, "Who are you?", { model: "no-such-model" }),
        JSON.stringify({ id: 4, messages: [{ role: "wizard", content: "x" }] }),
        ask(5, "Too hot", { temperature: 5 }),
        JSON.stringify({
          id: 6,
          messages: [{ role: "developer", content: "Be brief." }, { role: "user", content: "Hi" }]
        })
      ])
      const run = yield* batch([input, "--out", out])
      expect(run.code).toBe(0)
      expect(run.stdout).toBe("")
      const stderr = run.stderr.split("\n")
      expect(stderr[0]).toMatch(
        /^effect-llm-router: no provider configured; using the built-in simulator at http:\/\/127\.0\.0\.1:\d+ /
      )
      expect(stderr).toContain(`effect-llm-router: ${input} line 3: not JSON (${errorOf("this is not json")}); skipped`)
      expect(stderr).toContain(`effect-llm-router: ${input} line 4: no id; skipped`)
      expect(stderr).toContain(`effect-llm-router: ${input} line 5: id 1 is also on line 1; skipped`)
      expect(stderr.find((line) => line.includes("line 8:"))).toMatch(
        /line 8: messages\[0\]\.role: expected "system" \| "developer" \| "user"/
      )
      expect(stderr.at(-2)).toMatch(
        new RegExp(
          String.raw`^effect-llm-router: batch done: 3 succeeded, 2 failed, 4 bad lines, 0 already done; ` +
            String.raw`\d+ tokens, \$[\d.]+, in \d+s$`
        )
      )

      const lines = results(out)
      expect(lines.map((line) => line.id).sort()).toEqual([1, 3, 5, 6, "two"].sort())
      const got = byId(lines)
      expect(got.get(1)).toMatchObject({
        response: { finishReason: "stop", model: "gpt-4o-mini", provider: "simulator", usage: { completionTokens: 8 } }
      })
      // The line's model is the model asked for; max_tokens is the request's maxTokens.
      expect(got.get("two")).toMatchObject({ response: { model: "gpt-4o", usage: { completionTokens: 5 } } })
      expect(got.get(6)).toMatchObject({ response: { finishReason: "stop" } })
      expect(got.get(3)).toMatchObject({ error: { tag: "ModelNotFoundError", status: 404, model: "no-such-model" } })
      expect(got.get(5)).toMatchObject({ error: { tag: "InvalidRequestError", param: "temperature" } })
    }))

  it.live("a re-run skips every id already in the results and sends nothing", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4 })
      const { input, out } = yield* files([ask("a", "one"), ask("b", "two"), ask("c", "three")])
      const first = yield* batch([input, "--out", out, ...live(sim)])
      expect(first.code).toBe(0)
      expect(yield* sim.requestCount).toBe(3)
      const written = fs.readFileSync(out, "utf8")

      const again = yield* batch([input, "--out", out, ...live(sim)])
      expect(again.code).toBe(0)
      expect(again.stderr).toContain(`batch of 3 lines from ${input} to ${out} (3 results there already)`)
      expect(again.stderr).toMatch(/batch done: 0 succeeded, 0 failed, 0 bad lines, 3 already done;/)
      expect(yield* sim.requestCount).toBe(3)
      expect(fs.readFileSync(out, "utf8")).toBe(written)
    }))

  it.live(
    "--config --router NAME: a line's model addresses the router's deployments, --model is the default for " +
      "lines with none",
    () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4 })
        const entry = (model: string, extra: Record<string, unknown> = {}) => ({
          model_name: model,
          api_keys: [KEY],
          base_url: `${sim.url}/v1`,
          ...extra
        })
        const dir = yield* tempDir
        const config = path.join(dir, "provider.json")
        fs.writeFileSync(
          config,
          JSON.stringify({
            alpha: [entry("gpt-4o-mini"), entry("sim-large", { groups: ["big"] })],
            router: {
              main: {
                deployments: ["alpha/gpt-4o-mini", "alpha/sim-large"],
                strategy: "priority",
                model: "gpt-4o-mini"
              }
            }
          })
        )
        const { input, out } = yield* files([ask(1, "one"), ask(2, "two", { model: "big" })])
        const run = yield* batch([input, "--out", out, "--config", config, "--router", "main"])
        expect(run.code).toBe(0)
        expect(run.stderr).toContain("--router, --fallback and --timeout choose or bound each call")
        expect(run.stderr).not.toContain("simulator")
        const got = byId(results(out))
        expect(got.get(1)).toMatchObject({ response: { provider: "alpha", model: "gpt-4o-mini" } })
        expect(got.get(2)).toMatchObject({ response: { provider: "alpha", model: "sim-large" } })

        const { input: input2, out: out2 } = yield* files([ask(3, "three"), ask(4, "four", { model: "gpt-4o-mini" })])
        expect((yield* batch([input2, "--out", out2, "--config", config, "--router", "main", "--model", "big"])).code)
          .toBe(0)
        const defaulted = byId(results(out2))
        expect(defaulted.get(3)).toMatchObject({ response: { model: "sim-large" } })
        expect(defaulted.get(4)).toMatchObject({ response: { model: "gpt-4o-mini" } })
        expect(fs.readFileSync(out, "utf8") + fs.readFileSync(out2, "utf8")).not.toContain(KEY)
      })
  )

  it.live("a partial last line left by a killed run is cut off, and its request runs again", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4 })
      const { input, out } = yield* files([ask(1, "one"), ask(2, "two"), ask(3, "three")])
      fs.writeFileSync(out, `${JSON.stringify({ id: 1, response: { text: "earlier" } })}\n{"id":2,"respo`)
      const run = yield* batch([input, "--out", out, ...live(sim)])
      expect(run.code).toBe(0)
      expect(run.stderr.split("\n")[0]).toBe(
        `effect-llm-router: ${out} ended in a partial line (14 bytes, from a run stopped mid-write); cut it off; its ` +
          `request runs again`
      )
      const lines = results(out)
      expect(lines.map((line) => line.id)).toEqual([1, expect.any(Number), expect.any(Number)])
      expect(lines.slice(1).map((line) => line.id).sort()).toEqual([2, 3])
      expect(lines[0]).toEqual({ id: 1, response: { text: "earlier" } })
      expect(yield* sim.requestCount).toBe(2)
    }))

  it.live("keys never reach the results: an error that quotes the key is scrubbed", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: [KEY], fault: "echo-key=error" })
      const { input, out } = yield* files([ask(1, "one")])
      const run = yield* batch([input, "--out", out, ...live(sim)])
      expect(run.code).toBe(0)
      const [line] = results(out)
      expect(line).toMatchObject({ id: 1, error: { tag: "InvalidRequestError" } })
      expect(fs.readFileSync(out, "utf8")).not.toContain(KEY)
      expect(fs.readFileSync(out, "utf8")).toContain("sk-…")
    }))

  it.live("an output that is not a results file is left alone (exit 1)", () =>
    Effect.gen(function*() {
      const { input, out } = yield* files([ask(1, "one")])
      fs.writeFileSync(out, "important notes\n")
      const run = yield* batch([input, "--out", out])
      expect(run.code).toBe(1)
      expect(run.stderr.split("\n")[0]).toBe(
        `ResultsFileError: ${out} line 1 is not a batch result (a JSON object with an id); give --out a new file or ` +
          `one an earlier batch wrote`
      )
      expect(fs.readFileSync(out, "utf8")).toBe("important notes\n")
    }))

  it.live("an input that does not exist fails with exit 1 and writes nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const out = path.join(dir, "results.jsonl")
      const run = yield* batch([path.join(dir, "missing.jsonl"), "--out", out])
      expect(run.code).toBe(1)
      expect(run.stderr.split("\n")[0]).toMatch(/^PlatformError: .*missing\.jsonl/)
      expect(fs.existsSync(out)).toBe(false)
    }))

  it.live("bad flags exit 2 with the reason and where the usage is", () =>
    Effect.gen(function*() {
      const { input, out } = yield* files([ask(1, "one")])
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [[], "no input: pass the JSONL file of requests"],
        [[input], "--out FILE is needed: the JSONL file results go to"],
        [[input, "--out", input], `--out ${input} is the input file: results go to a file of their own`],
        [[input, "--out", out, "--concurrency", "0"], `--concurrency needs a positive integer, got "0"`],
        [[input, "--out", out, "--max-line-bytes", "1.5"], `--max-line-bytes needs a positive integer, got "1.5"`],
        [[input, "extra", "--out", out], `batch takes one input file, got also "extra"`],
        [[input, "--out", out, "--router", "main"], "--router needs --config (the file that names the router)"]
      ]
      for (const [argv, reason] of cases) {
        const run = yield* batch(argv)
        expect(run.code).toBe(2)
        expect(run.stderr).toBe(`effect-llm-router: ${reason}\nRun "effect-llm-router batch --help" for its usage.\n`)
      }
      expect((yield* help()).stdout).toMatch(/^Usage: effect-llm-router batch FILE --out RESULTS/)
      expect(fs.existsSync(out)).toBe(false)
    }))

  it.effect("reads the input as bytes split at \\n: a line is decoded whole, a line past the limit only counted", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "lines.jsonl")
      // A first line of 80,001 bytes spans the file's first two 64 KiB reads, the boundary inside an "é".
      const first = `a${"é".repeat(40_000)}`
      const atLimit = "y".repeat(100_000)
      fs.writeFileSync(file, `${first}\ncrlf\r\n\n${atLimit}\n${"z".repeat(100_001)}\nlast`)
      const read = yield* Stream.runCollect(lines(file, 100_000)).pipe(Effect.provide(NodeFileSystem.layer))
      expect(read).toEqual([
        { _tag: "Text", number: 1, text: first },
        { _tag: "Text", number: 2, text: "crlf" },
        { _tag: "Text", number: 3, text: "" },
        { _tag: "Text", number: 4, text: atLimit },
        { _tag: "TooLong", number: 5, bytes: 100_001 },
        { _tag: "Text", number: 6, text: "last" }
      ])
    }).pipe(Effect.scoped))

  it.live("runs no more requests at once than --concurrency", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4, latency: "30 millis" })
      const { input, out } = yield* files(Array.from({ length: 12 }, (_, i) => ask(i, `request ${i}`)))
      let peak = 0
      const watch = yield* Effect.forkChild(
        Effect.repeat(
          Effect.map(sim.stats, (stats) => {
            peak = Math.max(peak, stats.inFlight)
          }),
          Schedule.spaced("5 millis")
        )
      )
      const run = yield* batch([input, "--out", out, "--concurrency", "3", ...live(sim)])
      yield* Fiber.interrupt(watch)
      expect(run.code).toBe(0)
      expect(results(out)).toHaveLength(12)
      expect(peak).toBeGreaterThan(0)
      expect(peak).toBeLessThanOrEqual(3)
    }))
})

/** The batches a run names on stderr, by their id, each with the states it was polled in, in order. */
const polls = (stderr: string): ReadonlyMap<string, ReadonlyArray<string>> => {
  const out = new Map<string, Array<string>>()
  for (const [, id, state] of stderr.matchAll(/^effect-llm-router: batch (\S+) \(\S+\) (\w+): \d+\/\d+ done/gm)) {
    out.set(id!, [...(out.get(id!) ?? []), state!])
  }
  return out
}

/** The simulator's record of a batch, asked with OpenAI's `GET /v1/batches/{id}`. */
const batchAtSimulator = (sim: Simulator.Simulator, id: string) =>
  Effect.promise(() =>
    fetch(`${sim.url}/v1/batches/${id}`, { headers: { authorization: `Bearer ${KEY}` } }).then(
      (response) => response.json() as Promise<{ readonly status: string; readonly request_counts: unknown }>
    )
  )

/** A quick poll: the simulator's batches end a second after they are made. */
const quickPoll = ["--poll", "0.1"]

describe("batch through the provider's batch API", () => {
  it.live("the lines go as one batch per model they name, polled on stderr, each result in order at the batch price", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4 })
      const { input, out } = yield* files([
        ask("a", "one"),
        ask("b", "two", { model: "gpt-4o" }),
        "not json",
        ask("c", "three"),
        ask("d", "four", { model: "gpt-4o" }),
        ask("e", "five", { temperature: 5 })
      ])
      const run = yield* batch([input, "--out", out, ...direct(sim), ...quickPoll])
      expect(run.code).toBe(0)
      expect(run.stderr).toContain(
        `batch of 6 lines from ${input} to ${out}, as provider batches at the batch price, polled every 0.1s`
      )
      expect(run.stderr).toContain(`${input} line 3: not JSON`)
      const batches = polls(run.stderr)
      expect(batches.size).toBe(2)
      for (const [id, states] of batches) {
        expect(states[0]).toBe("running")
        expect(states.at(-1)).toBe("completed")
        // The simulator holds the batches the command made: its batch API was what it called.
        expect(yield* batchAtSimulator(sim, id)).toMatchObject({ status: "completed" })
      }
      expect(run.stderr).toMatch(/batch done: 4 succeeded, 1 failed, 1 bad line, 0 already done; /)

      const lines = results(out)
      expect(lines.map((line) => line.id)).toEqual(["a", "b", "c", "d", "e"])
      for (const line of lines.filter((line) => line.id !== "e")) {
        expect(line).toMatchObject({ response: { usage: { serviceTier: "batch" } } })
      }
      expect(lines[0]).toMatchObject({ response: { model: "gpt-4o-mini" } })
      expect(lines[1]).toMatchObject({ response: { model: "gpt-4o" } })
      expect(lines[4]).toMatchObject({ error: { tag: "InvalidRequestError", param: "temperature" } })
    }))

  it.live(
    "whatever models the lines name and whichever a call would refuse, each line has one result, in order",
    () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 2 })
        const line = fc.record({
          model: fc.constantFrom(undefined, "gpt-4o", "gpt-4o-mini"),
          refused: fc.boolean()
        })
        const runOnce = (spec: ReadonlyArray<{ readonly model: string | undefined; readonly refused: boolean }>) =>
          Effect.scoped(Effect.gen(function*() {
            const { input, out } = yield* files(spec.map(({ model, refused }, i) =>
              ask(`r${i}`, `request ${i}`, {
                ...(model === undefined ? {} : { model }),
                ...(refused ? { temperature: 5 } : {})
              })
            ))
            const run = yield* batch([input, "--out", out, ...direct(sim), ...quickPoll])
            expect(run.code).toBe(0)
            const lines = results(out)
            expect(lines.map((line) => line.id)).toEqual(spec.map((_, i) => `r${i}`))
            for (const [i, { model, refused }] of spec.entries()) {
              expect(lines[i]).toMatchObject(
                refused
                  ? { error: { tag: "InvalidRequestError", param: "temperature" } }
                  : { response: { model: model ?? "gpt-4o-mini", usage: { serviceTier: "batch" } } }
              )
            }
            // One batch for each model the lines a call would take name ("" and gpt-4o-mini apart).
            const models = new Set(spec.filter(({ refused }) => !refused).map(({ model }) => model ?? ""))
            expect(polls(run.stderr).size).toBe(models.size)
          }))
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              fc.array(line, { minLength: 1, maxLength: 6 }),
              (spec) => Effect.runPromise(runOnce(spec))
            ),
            { numRuns: 4 }
          )
        )
      }),
    30_000
  )

  it.live("--live runs the same lines as chat completions calls, at the standard price", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4 })
      const { input, out } = yield* files([ask("a", "one"), ask("b", "two"), ask("c", "three")])
      const run = yield* batch([input, "--out", out, ...live(sim), ...quickPoll])
      expect(run.code).toBe(0)
      expect(run.stderr).toContain(`batch of 3 lines from ${input} to ${out}, 8 at a time`)
      expect(polls(run.stderr).size).toBe(0)
      // One request a line: the three calls, no file, batch or poll.
      expect(yield* sim.requestCount).toBe(3)
      for (const line of results(out)) {
        expect(line).toMatchObject({ response: { finishReason: "stop" } })
        expect((line.response as { usage: Record<string, unknown> }).usage).not.toHaveProperty("serviceTier")
      }
    }))

  it.live("a deployment without a batch API, or a routed one, runs the lines as calls and says so once", () =>
    Effect.gen(function*() {
      const { input, out } = yield* files([ask(1, "one"), ask(2, "two")])
      const builtIn = yield* batch([input, "--out", out])
      expect(builtIn.code).toBe(0)
      expect(builtIn.stderr.split("effect-llm-router: simulator (gpt-4o-mini) has no batch API").length).toBe(2)
      expect(builtIn.stderr).toContain("lines run as calls")

      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4 })
      const { input: input2, out: out2 } = yield* files([ask(1, "one"), ask(2, "two")])
      const routed = yield* batch([input2, "--out", out2, ...direct(sim), "--timeout", "30"])
      expect(routed.code).toBe(0)
      expect(routed.stderr.split("--router, --fallback and --timeout choose or bound each call").length).toBe(2)
      expect(yield* sim.requestCount).toBe(2)
    }))

  it.live("an expired batch writes every line, those not run with their BatchLineError, names it and exits 1", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4, batchFault: "expire" })
      const { input, out } = yield* files([ask(1, "one"), ask(2, "two"), ask(3, "three"), ask(4, "four")])
      const run = yield* batch([input, "--out", out, ...direct(sim), ...quickPoll])
      expect(run.code).toBe(1)
      const [id] = polls(run.stderr).keys()
      expect(polls(run.stderr).get(id!)?.at(-1)).toBe("expired")
      expect(run.stderr).toContain(
        `effect-llm-router: batch ${id} (gpt-4o-mini) expired (its completion window passed) before all its lines ` +
          `ran: those not run have a BatchLineError in ${out}; send them again in a new batch or with --live`
      )
      const lines = results(out)
      expect(lines.map((line) => line.id)).toEqual([1, 2, 3, 4])
      const notRun = lines.filter((line) => (line.error as { tag?: string } | undefined)?.tag === "BatchLineError")
      expect(notRun.length).toBeGreaterThan(0)
      for (const line of notRun) expect(line).toMatchObject({ error: { reason: "expired", batchId: id } })
      expect(lines.length - notRun.length).toBeGreaterThan(0)
    }))

  it.live("a batch the provider refuses fails the run with BatchError and its reason (exit 1)", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4, batchFault: "refuse" })
      const { input, out } = yield* files([ask(1, "one"), ask(2, "two")])
      const run = yield* batch([input, "--out", out, ...direct(sim), ...quickPoll])
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(/^BatchError: openai \(gpt-4o-mini\) refused batch \S+: .*refuse asked/m)
      expect(fs.existsSync(out) ? fs.readFileSync(out, "utf8") : "").toBe("")
    }))
})

/** A cloud entry of provider.json whose batches go to the simulator's jobs and buckets, and how its job is read. */
interface CloudEntry {
  readonly name: string
  readonly provider: string
  readonly model: string
  readonly entry: (url: string) => Record<string, unknown>
  /** The job a batch id names, as the simulator shows it, and what an ended one shows. */
  readonly job: (url: string, id: string) => string
  readonly completed: Record<string, unknown>
}

const claude = "anthropic.claude-3-5-haiku-20241022-v1:0"

const cloudEntries: ReadonlyArray<CloudEntry> = [
  {
    name: "a Bedrock entry's batch inference jobs",
    provider: "aws",
    model: claude,
    entry: (url) => ({
      api: "bedrock",
      region: "us-east-1",
      batch: {
        role_arn: "arn:aws:iam::123456789012:role/batch-inference",
        input_uri: "s3://batch-input/requests/",
        output_uri: "s3://batch-output/results",
        endpoint: url,
        s3_endpoint: `${url}/s3`
      }
    }),
    job: (url, id) => `${url}/model-invocation-job/${encodeURIComponent(id)}`,
    completed: { status: "Completed", successRecordCount: 3 }
  },
  {
    name: "a Vertex entry's batch prediction jobs",
    provider: "gcp",
    model: "gemini-2.5-flash",
    entry: (url) => ({
      api: "vertex",
      project: "my-proj",
      location: "us-central1",
      batch: { input_uri: "gs://batch-input/requests/", output_uri: "gs://batch-output/results", storage_endpoint: url }
    }),
    job: (url, id) => `${url}/v1/${id}`,
    completed: { state: "JOB_STATE_SUCCEEDED", completionStats: { successfulCount: "3" } }
  }
]

describe.each(cloudEntries)("batch through $name", (cloud) => {
  it.live("the lines go as one job, its progress on stderr, each result in order at the batch price", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({
        apiKeys: [KEY, Simulator.bedrockCredentials.accessKeyId],
        models: [cloud.model],
        replyTokens: 4
      })
      const dir = yield* tempDir
      const config = path.join(dir, "provider.json")
      const entry = { model_name: cloud.model, base_url: sim.url, max_retries: 0, ...cloud.entry(sim.url) }
      fs.writeFileSync(config, JSON.stringify({ [cloud.provider]: [entry] }))
      const { input, out } = yield* files([ask("a", "one"), ask("b", "two"), ask("c", "three")])
      const run = yield* batch([
        input,
        "--out",
        out,
        "--config",
        config,
        "--provider",
        cloud.provider,
        "--model",
        cloud.model,
        ...quickPoll
      ]).pipe(
        Effect.provideService(Bedrock.Credentials, () => Promise.resolve(Simulator.bedrockCredentials)),
        Effect.provideService(Vertex.Credential, { getAccessToken: () => Promise.resolve({ token: KEY }) })
      )
      expect(run.code).toBe(0)
      expect(run.stderr).toContain("as provider batches at the batch price")
      const batches = polls(run.stderr)
      expect(batches.size).toBe(1)
      const [id, states] = [...batches][0]!
      expect(states[0]).toBe("running")
      expect(states.at(-1)).toBe("completed")
      // The id on stderr is the cloud's job, which ran the three lines.
      const job = yield* Effect.promise(() =>
        fetch(cloud.job(sim.url, id), { headers: { authorization: `Bearer ${KEY}` } }).then((r) => r.json())
      )
      expect(job).toMatchObject(cloud.completed)
      const lines = results(out)
      expect(lines.map((line) => line.id)).toEqual(["a", "b", "c"])
      const price = Pricing.lookup(cloud.model)!
      for (const line of lines) {
        const { cost, usage } = line.response as ChatResponse
        expect(usage.serviceTier).toBe("batch")
        expect(cost).toBeCloseTo(Pricing.cost(price, { ...usage, serviceTier: undefined })! / 2, 12)
      }
    }))
})

const errorOf = (text: string) => {
  try {
    JSON.parse(text)
    return ""
  } catch (error) {
    return (error as Error).message
  }
}

const help = () =>
  Effect.gen(function*() {
    const { io, result } = captureIo()
    return result(yield* Batch.run(["--help"], io))
  })

describe("batch, the built command", () => {
  it.live("SIGINT mid-run exits 130 with whole results only, and a re-run completes the rest", () =>
    Effect.gen(function*() {
      // 30 answers, two at a time, 400 ms each: after the fourth, 5 s of run left for the signal to land in.
      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4, latency: "400 millis" })
      const { input, out } = yield* files(Array.from({ length: 30 }, (_, i) => ask(i, `request ${i}`)))
      const running = yield* startCli(["batch", input, "--out", out, "--concurrency", "2", ...live(sim)])
      yield* awaitWhileRunning(running, "four results written", lineCount(out), (n) => n >= 4)
      running.child()!.kill("SIGINT")
      const stopped = yield* Fiber.join(running.exited)
      expect(stopped.code).toBe(130)
      expect(stopped.stdout).toBe("")
      expect(stopped.stderr).toMatch(
        new RegExp(
          String.raw`batch interrupted: \d+ succeeded, 0 failed, 0 bad lines, 0 already done; ` +
            String.raw`.* \d+ left \(run it again to continue\)\n$`
        )
      )
      expect(stopped.stderr).not.toContain(KEY)
      // Every line whole, each a result with its id.
      const written = results(out)
      expect(written.length).toBeGreaterThanOrEqual(4)
      expect(written.length).toBeLessThan(30)
      for (const line of written) expect(line).toMatchObject({ response: { finishReason: "stop" } })

      const rest = yield* batch([input, "--out", out, ...live(sim)])
      expect(rest.code).toBe(0)
      expect(rest.stderr).toContain(`(${written.length} results there already)`)
      const all = results(out)
      expect(all).toHaveLength(30)
      expect(new Set(all.map((line) => line.id)).size).toBe(30)
    }))

  it.live("a wait for its results ends as soon as it exits without them, naming its exit code and stderr", () =>
    Effect.gen(function*() {
      const { out } = yield* files([ask(1, "one")])
      const missing = path.join(path.dirname(out), "missing.jsonl")
      const running = yield* startCli(["batch", missing, "--out", out])
      const ended = yield* Effect.flip(
        awaitWhileRunning(running, "four results written", lineCount(out), (n) => n >= 4)
      )
      expect(ended).toBeInstanceOf(EndedEarly)
      expect(ended).toMatchObject({ what: "four results written", code: 1, signal: null })
      expect(ended.stderr).toContain(`NotFound: FileSystem.open (${missing})`)
      expect(ended.message).toMatch(/^four results written: the run exited with code 1 before it came; its stderr:\n/)
      expect(fs.existsSync(out)).toBe(false)
    }))

  it.live("a 64 MiB line, past the default limit, is named with its size and skipped, in a 48 MB heap", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4 })
      const { input, out } = yield* files([ask(1, "one")])
      // A chat body whose content is 64 MiB: built as one string, it would not fit the heap the command gets.
      const huge = `{"id": 2, "messages": [{"role": "user", "content": "${"x".repeat(1024 * 1024)}`
      const fd = fs.openSync(input, "a")
      for (let i = 0; i < 64; i++) fs.writeSync(fd, i === 0 ? huge : "x".repeat(1024 * 1024))
      fs.writeSync(fd, `"}]}\n${ask(3, "three")}\n`)
      fs.closeSync(fd)
      const bytes = fs.statSync(input).size - ask(1, "one").length - ask(3, "three").length - 3
      const run = yield* spawnCli(["batch", input, "--out", out, ...live(sim)], {
        env: { ...envWithoutKeys(), NODE_OPTIONS: "--max-old-space-size=48" }
      })
      expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null })
      expect(run.stderr).toContain(
        `effect-llm-router: ${input} line 2: ${bytes} bytes, longer than a line may be ` +
          `(${defaultMaxLineBytes} bytes; --max-line-bytes sets it); skipped\n`
      )
      expect(run.stderr).toMatch(/batch done: 2 succeeded, 0 failed, 1 bad line, 0 already done; /)
      expect(results(out).map((line) => line.id).sort()).toEqual([1, 3])
      expect(yield* sim.requestCount).toBe(2)
    }))

  it.live("piped, the progress is plain lines and a summary", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4 })
      const { input, out } = yield* files([ask(1, "one"), "{", ask(2, "two")])
      const run = yield* spawnCli(["batch", input, "--out", out, ...live(sim)])
      expect(run.code).toBe(0)
      // No terminal codes when stderr is a pipe.
      expect(run.stderr).not.toContain("\x1b")
      expect(run.stderr).not.toContain("\r")
      expect(run.stderr.split("\n").slice(-3)).toEqual([
        expect.stringMatching(new RegExp(`^effect-llm-router: ${escape(input)} line 2: not JSON \\(.*\\); skipped$`)),
        expect.stringMatching(/^effect-llm-router: batch done: 2 succeeded, 0 failed, 1 bad line, 0 already done; /),
        ""
      ])
      expect(results(out).map((line) => line.id).sort()).toEqual([1, 2])
    }))
})

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const hasTmux = spawnSync("tmux", ["-V"]).status === 0

/**
 * The built command over `count` requests to a simulator slow enough to
 * watch (each answer after `latency`), two at a time, in a 120x30 window of a
 * tmux server of its own (its socket in the test's directory, the server
 * killed with the scope). The pane stays after the command ends, with its
 * exit code printed; `screen` is what it shows.
 */
const inTerminal = (count: number, latency: Duration.Input) =>
  Effect.gen(function*() {
    // Refuses a stale dist/, as every spawned test does.
    expect((yield* spawnCli(["--version"])).code).toBe(0)
    const sim = yield* Simulator.make({ apiKeys: [KEY], replyTokens: 4, latency })
    const { input, out } = yield* files(Array.from({ length: count }, (_, i) => ask(i, `request ${i}`)))
    const socket = path.join(path.dirname(out), "tmux.sock")
    const tmux = (...args: ReadonlyArray<string>) => spawnSync("tmux", ["-S", socket, ...args], { encoding: "utf8" })
    const command = [process.execPath, binPath, "batch", input, "--out", out, "--concurrency", "2", ...live(sim)]
      .map((arg) => `'${arg}'`).join(" ")
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        expect(tmux("new-session", "-d", "-x", "120", "-y", "30", `${command}; echo "exit $?"; sleep 60`).status).toBe(
          0
        )
      }),
      () => Effect.sync(() => tmux("kill-server"))
    )
    return { out, tmux, screen: Effect.sync(() => tmux("capture-pane", "-p").stdout) }
  })

// CI installs tmux (.ci/run); a machine without it cannot show a terminal to the command.
describe(
  hasTmux ? "batch in a terminal" : "batch in a terminal (skipped: tmux is not installed; .ci/run installs it)",
  () => {
    it.live.skipIf(!hasTmux)(
      "draws a progress bar that counts up, then the summary (under tmux)",
      () =>
        Effect.gen(function*() {
          // 3 s of run (30 answers, two at a time, 200 ms each): the screen, polled, sees the count at least twice.
          const { out, screen } = yield* inTerminal(30, "200 millis")
          const counts: Array<number> = []
          const final = yield* eventually(
            "the run's exit on the screen",
            Effect.map(screen, (text) => {
              const bar = /^\[[#-]+\] (\d+)\/30 {2}[\d.]+\/s {2}ETA \S+ {2}[\d,]+ tokens {2}\$[\d.]+$/m.exec(text)
              if (bar !== null && Number(bar[1]) !== counts.at(-1)) {
                counts.push(Number(bar[1]))
              }
              return text
            }),
            (text) => text.includes("exit "),
            pace
          )
          expect(final).toMatch(
            /^effect-llm-router: batch done: 30 succeeded, 0 failed, 0 bad lines, 0 already done; /m
          )
          expect(final).toContain("exit 0")
          // The bar was cleared for the summary.
          expect(final).not.toMatch(/^\[[#-]+\]/m)
          // It redrew as requests finished: at least two counts, rising.
          expect(counts.length).toBeGreaterThanOrEqual(2)
          expect([...counts].sort((a, b) => a - b)).toEqual(counts)
          expect(results(out)).toHaveLength(30)
        })
    )

    it.live.skipIf(!hasTmux)(
      "Ctrl-C in the terminal clears the bar, prints what is left and exits 130 (under tmux)",
      () =>
        Effect.gen(function*() {
          // 40 answers, two at a time, 400 ms each: after the fourth, 7 s of run left for Ctrl-C to land in.
          const { out, screen, tmux } = yield* inTerminal(40, "400 millis")
          // A run that ends first shows its exit on the screen: the wait stops there, not after its 30 s.
          const [, early] = yield* eventually(
            "four results written, or the run's exit on the screen",
            Effect.all([lineCount(out), screen]),
            ([n, text]) => n >= 4 || text.includes("exit "),
            pace
          )
          expect(early, "the run ended before its fourth result").not.toContain("exit ")
          tmux("send-keys", "C-c")
          const final = yield* eventually(
            "the run's exit on the screen",
            screen,
            (text) => text.includes("exit "),
            pace
          )
          expect(final).toContain("exit 130")
          expect(final).toMatch(
            /^effect-llm-router: batch interrupted: \d+ succeeded, 0 failed, 0 bad lines, 0 already done; /m
          )
          expect(final).not.toMatch(/\[[#-]+\]/)
          const written = results(out)
          expect(written.length).toBeGreaterThanOrEqual(4)
          expect(written.length).toBeLessThan(40)
          expect(final.replace(/\n/g, "")).toContain(`${40 - written.length} left (run it again to continue)`)
        })
    )
  }
)

const counts = (patch: Partial<Progress.Counts>): Progress.Counts => ({ ...Progress.emptyCounts(40), ...patch })

describe("batch progress", () => {
  it("figures: done of total, the rate of requests run, ETA, tokens, cost; failures and bad lines when any", () => {
    const seen = counts({ skipped: 4, bad: 1, succeeded: 8, failed: 2, tokens: 12345, cost: 0.0123456789 })
    // 10 run in 5 s: 2/s; 25 left: 13 s.
    expect(Progress.figures(seen, Duration.seconds(5))).toEqual([
      "15/40",
      "2.0/s",
      "ETA 13s",
      "12,345 tokens",
      "$0.0123457",
      "2 failed",
      "1 bad"
    ])
    expect(Progress.figures(counts({}), Duration.zero)).toEqual(["0/40", "0.0/s", "ETA -", "0 tokens", "$0"])
    expect(Progress.figures(counts({ succeeded: 40 }), Duration.seconds(200))[2]).toBe("ETA 0s")
    expect(Progress.figures(counts({ succeeded: 1 }), Duration.seconds(100))[2]).toBe("ETA 1h05m")
    expect(Progress.figures(counts({ succeeded: 10 }), Duration.seconds(60))[2]).toBe("ETA 3m00s")
  })

  it("the bar fills with what is done and never reaches the terminal's last column", () =>
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 1000 }),
      fc.integer({ min: 0, max: 1000 }),
      fc.integer({ min: 1, max: 300 }),
      (total, done, columns) => {
        const line = Progress.bar(
          { ...Progress.emptyCounts(total), succeeded: Math.min(done, total) },
          Duration.seconds(3),
          columns
        )
        expect(line.length).toBeLessThanOrEqual(Math.max(0, columns - 1))
        const cells = /^\[(#*)(-*)\] /.exec(line)
        if (cells !== null && total > 0) {
          // Within half a cell of the done share, compared in whole numbers (in floating point, a share exactly
          // half a cell away can come out a hair above the bound).
          const width = cells[1]!.length + cells[2]!.length
          expect(Math.abs(2 * cells[1]!.length * total - 2 * Math.min(done, total) * width)).toBeLessThanOrEqual(total)
        }
      }
    )))

  it.effect("not on a terminal: a plain line every 5 seconds, none before, and the summary at the end", () =>
    Effect.gen(function*() {
      const { io, result } = captureIo()
      const seen = counts({})
      const progress = yield* Progress.start({ io, counts: seen, terminal: undefined })
      yield* TestClock.adjust("4999 millis")
      expect(result(0).stderr).toBe("")
      seen.succeeded = 10
      seen.tokens = 600
      yield* TestClock.adjust("1 millis")
      expect(result(0).stderr).toBe("effect-llm-router: batch 10/40, 2.0/s, ETA 15s, 600 tokens, $0\n")
      seen.succeeded = 20
      yield* TestClock.adjust("5 seconds")
      expect(result(0).stderr.split("\n")[1]).toBe("effect-llm-router: batch 20/40, 2.0/s, ETA 10s, 600 tokens, $0")
      yield* progress.finish(false)
      yield* TestClock.adjust("1 minute")
      expect(result(0).stderr.split("\n").slice(2)).toEqual([
        "effect-llm-router: batch done: 20 succeeded, 0 failed, 0 bad lines, 0 already done; 600 tokens, $0, in 10s",
        ""
      ])
    }))

  it.effect("on a terminal: one line redrawn in place when it changes, cleared for messages and the summary", () =>
    Effect.gen(function*() {
      const { io, result } = captureIo()
      const draws = () => result(0).stderr.split("\r\x1b[K").slice(1)
      const seen = counts({})
      const progress = yield* Progress.start({ io, counts: seen, terminal: { columns: () => 80 } })
      yield* TestClock.adjust("1 millis")
      expect(draws()).toEqual(["[------------------------------] 0/40  0.0/s  ETA -  0 tokens  $0"])
      // Nothing changed: nothing drawn.
      yield* TestClock.adjust("500 millis")
      expect(draws()).toHaveLength(1)
      seen.succeeded = 20
      yield* TestClock.adjust("499 millis")
      // Redrawn as the rate settles, each time a different line, no faster than 10 a second.
      expect(draws().length).toBeGreaterThan(2)
      expect(draws().length).toBeLessThanOrEqual(6)
      expect(draws().every((line, i, all) => i === 0 || line !== all[i - 1])).toBe(true)
      expect(draws().at(-1)).toBe("[###############---------------] 20/40  20.0/s  ETA 1s  0 tokens  $0")
      const before = result(0).stderr
      yield* progress.log("a message\n")
      expect(result(0).stderr).toBe(`${before}\r\x1b[Ka message\n`)
      yield* progress.finish(true)
      yield* TestClock.adjust("1 second")
      expect(result(0).stderr).toBe(
        `${before}\r\x1b[Ka message\n` +
          "effect-llm-router: batch interrupted: 20 succeeded, 0 failed, 0 bad lines, 0 already done; 0 tokens, $0, " +
          "in 1s; 20 left (run it again to continue)\n"
      )
    }))
})
