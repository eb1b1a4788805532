/**
 * `effect-llm-router batch requests.jsonl --out results.jsonl`: every line (an OpenAI chat body plus an `id`) sent as
 * provider batches at the batch price where the one deployment addressed has a batch API (`batchProvider.ts`), else
 * (or with `--live`) as calls, `--concurrency` at once, each result appended as it finishes. The model comes from
 * `chatSource.ts`; `batchInput.ts`, `batchOutput.ts` and `batchProgress.ts` read, write and show; this module chooses
 * how the requests run.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Batch from "../Batch.js"
import * as Llm from "../Llm.js"
import { ProviderClient } from "../ProviderClient.js"
import { type Args, parse } from "./batchArgs.js"
import { countLines, keyOf, lines, readLine, type Request } from "./batchInput.js"
import { type Appender, appender, record, resume } from "./batchOutput.js"
import * as Progress from "./batchProgress.js"
import { runBatches } from "./batchProvider.js"
import { resolve, type Resolved, type RunOptions as SourceOptions } from "./chatSource.js"
import { ExitCode, type Io, runParsed, withEnv } from "./io.js"
import { batchUsage, programName } from "./usage.js"

/**
 * Options of `run` beyond the command line.
 */
export interface RunOptions extends SourceOptions {
  /** Stderr's terminal, when it is one: the progress is a redrawn bar. Default: plain periodic lines. */
  readonly terminal?: Progress.Terminal | undefined
}

/**
 * The lines worth running: a bad one is reported with its number, one whose id has a result already counted as
 * skipped, an id used twice a bad line the second time.
 */
const requests = (args: Args, done: ReadonlySet<string>, counts: Progress.Counts, progress: Progress.Progress) => {
  const firstLineOf = new Map<string, number>()
  const bad = (line: number, reason: string) =>
    Effect.andThen(
      Effect.sync(() => counts.bad++),
      progress.log(`${programName}: ${args.input} line ${line}: ${reason}; skipped\n`)
    )
  return lines(args.input, args.maxLineBytes).pipe(
    Stream.mapEffect((raw): Effect.Effect<Request | void> => {
      const line = readLine(raw, args.maxLineBytes)
      if (line._tag === "Blank") return Effect.succeed(undefined)
      if (line._tag === "Bad") return bad(line.line, line.reason)
      const key = keyOf(line.id)
      const first = firstLineOf.get(key)
      if (first !== undefined) return bad(line.line, `id ${key} is also on line ${first}`)
      firstLineOf.set(key, line.line)
      if (!done.has(key)) return Effect.succeed(line)
      counts.skipped++
      return Effect.succeed(undefined)
    }),
    Stream.filter((line): line is Request => line !== undefined)
  )
}

/** One request sent; its result appended and counted. */
const send = (
  line: Request,
  args: Args,
  out: Appender,
  counts: Progress.Counts,
  secrets: ReadonlyArray<Redacted.Redacted<string>>
) => {
  // Through a router, --model addresses a deployment, group or model of it for lines that name none.
  const model = line.request.model ?? (args.routing.router === undefined ? undefined : args.source.model)
  return Llm.chat(model === undefined ? line.request : { ...line.request, model }).pipe(
    Effect.result,
    Effect.flatMap((result) => record({ out, counts, id: line.id, result, secrets }))
  )
}

/** How the lines run: as calls, or as provider batches of the deployment's (its `Batch`, and its model). */
type Mode =
  | { readonly _tag: "Calls" }
  | { readonly _tag: "Batches"; readonly batch: Batch.Service; readonly provider: string; readonly model: string }

/**
 * As provider batches where the command addresses one deployment whose API has them, unless `--live`; else as calls,
 * saying why once.
 */
const modeOf = Effect.fnUntraced(function*(args: Args, resolved: Resolved, io: Io) {
  const calls: Mode = { _tag: "Calls" }
  if (args.live) return calls
  const { deployment } = resolved
  if (deployment === undefined) {
    io.stderr(
      `${programName}: --router, --fallback and --timeout choose or bound each call, so the lines run as calls ` +
        "(at the standard price)\n"
    )
    return calls
  }
  const context = yield* Layer.build(deployment.parts)
  const client = Context.get(context, ProviderClient)
  const model = deployment.options.model ?? ""
  if (client.batch === undefined) {
    io.stderr(`${programName}: ${client.provider} (${model}) has no batch API, so the lines run as calls\n`)
    return calls
  }
  const batch = yield* Effect.provide(
    Batch.make({ ...deployment.options, poll: Duration.seconds(args.poll), concurrency: args.concurrency }),
    context
  )
  return { _tag: "Batches", batch, provider: client.provider, model } satisfies Mode
})

/** `secrets`: the keys known so far, which every line printed or written is scrubbed of. */
const program = (args: Args, io: Io, options: RunOptions, secrets: Array<Redacted.Redacted<string>>) =>
  Effect.gen(function*() {
    if (args.source._tag === "Direct" && args.source.key !== undefined) secrets.push(args.source.key)
    const total = yield* countLines(args.input, args.maxLineBytes)
    const resumed = yield* resume(args.out)
    if (resumed.cut > 0) {
      io.stderr(
        `${programName}: ${args.out} ended in a partial line (${resumed.cut} bytes, from a run stopped mid-write); ` +
          "cut it off; its request runs again\n"
      )
    }
    const resolved = yield* resolve(args, io, options)
    secrets.push(...resolved.secrets)
    const mode = yield* modeOf(args, resolved, io)
    const out = yield* appender(args.out)
    io.stderr(
      `${programName}: batch of ${total} line${total === 1 ? "" : "s"} from ${args.input} to ${args.out}` +
        `${resumed.done.size > 0 ? ` (${resumed.done.size} results there already)` : ""}, ${
          mode._tag === "Calls"
            ? `${args.concurrency} at a time`
            : `as provider batches at the batch price, polled every ${args.poll}s`
        }\n`
    )
    const counts = Progress.emptyCounts(total)
    const progress = yield* Progress.start({ io, counts, terminal: options.terminal, ticking: mode._tag === "Calls" })
    const lines = requests(args, resumed.done, counts, progress)
    const interrupted = () => progress.finish(true)
    const code = mode._tag === "Calls"
      ? yield* lines.pipe(
        Stream.mapEffect((line) => send(line, args, out, counts, secrets), {
          concurrency: args.concurrency,
          unordered: true
        }),
        Stream.runDrain,
        Effect.provide(resolved.layer),
        Effect.as(ExitCode.ok),
        Effect.onInterrupt(interrupted)
      )
      : yield* Stream.runCollect(lines).pipe(
        Effect.flatMap((all) =>
          runBatches({
            lines: all,
            batch: mode.batch,
            provider: mode.provider,
            model: mode.model,
            out,
            outFile: args.out,
            counts,
            progress,
            secrets
          })
        ),
        Effect.map((unfinished) => unfinished.length === 0 ? ExitCode.ok : ExitCode.failed),
        Effect.onInterrupt(interrupted)
      )
    yield* progress.finish(false)
    return code
  })

/**
 * Runs `batch` and gives the exit code: 0 when every line has been seen to (result or typed error in the output, bad
 * ones reported, done ones skipped); 1 when input, output or configuration cannot be used, or a provider batch was
 * refused (`BatchError`), expired or cancelled before all its lines ran; 2 bad flags; 130 interrupted (every finished
 * result in the output, whole; a running provider batch cancelled).
 */
export const run = (argv: ReadonlyArray<string>, io: Io, options: RunOptions = {}): Effect.Effect<number> =>
  runParsed(
    io,
    "batch",
    batchUsage,
    Effect.fromResult(parse(argv)),
    (args, secrets) => program(args, io, options, secrets)
  ).pipe(Effect.provide(NodeFileSystem.layer), withEnv(io))
