/**
 * `batch`'s command line: the input file, `--out`, `--live`, `--poll`, `--concurrency`, and the flags that choose the
 * model (`chat`'s, parsed by `chatArgs.parseSource`).
 */
import * as Result from "effect/Result"
import * as path from "node:path"
import { defaultMaxBodyBytes } from "../internal/gateway/server.js"
import { parseSource, type SourceArgs, sourceFlags } from "./chatArgs.js"
import { failUsage, parseFlags, positiveIntegerFlag, secondsFlag, type UsageError } from "./usage.js"

/**
 * How many requests run at once unless `--concurrency` says otherwise.
 */
export const defaultConcurrency = 8

/**
 * How often a provider batch is asked how it goes unless `--poll` says otherwise, in seconds.
 */
export const defaultPollSeconds = 30

/**
 * The longest input line unless `--max-line-bytes` says otherwise: a line is a request body, and this is the largest
 * the gateway takes by default. A longer line is reported and skipped, unread.
 */
export const defaultMaxLineBytes = defaultMaxBodyBytes

const flags = {
  ...sourceFlags,
  out: { type: "string", short: "o" },
  concurrency: { type: "string" },
  live: { type: "boolean" },
  poll: { type: "string" },
  "max-line-bytes": { type: "string" }
} as const

/**
 * One `batch`'s arguments.
 */
export interface Args extends SourceArgs {
  /** The JSONL file of requests. */
  readonly input: string
  /** The JSONL file results are appended to. */
  readonly out: string
  /** `--live`: the lines run as calls even where the deployment has a batch API. */
  readonly live: boolean
  /** Seconds between a provider batch's polls. */
  readonly poll: number
  /** Calls at once, when the lines run as calls. */
  readonly concurrency: number
  /** The longest line read; a longer one is a bad line. */
  readonly maxLineBytes: number
}

/**
 * Parses `batch`'s arguments (those after the word `batch`).
 */
export const parse = (argv: ReadonlyArray<string>): Result.Result<Args | "help", UsageError> =>
  Result.gen(function*() {
    const parsed = yield* parseFlags(argv, flags)
    const { positionals, values } = parsed
    if (values.help === true) return "help" as const
    const [input, ...extra] = positionals
    if (input === undefined) {
      return yield* failUsage("no input: pass the JSONL file of requests")
    }
    if (extra.length > 0) {
      return yield* failUsage(`batch takes one input file, got also "${extra.join(" ")}"`)
    }
    if (values.out === undefined) {
      return yield* failUsage("--out FILE is needed: the JSONL file results go to")
    }
    if (path.resolve(values.out) === path.resolve(input)) {
      return yield* failUsage(`--out ${values.out} is the input file: results go to a file of their own`)
    }
    const concurrency = yield* positiveIntegerFlag("concurrency", values.concurrency)
    const poll = yield* secondsFlag("poll", values.poll)
    const maxLineBytes = yield* positiveIntegerFlag("max-line-bytes", values["max-line-bytes"])
    const source = yield* parseSource(values)
    return {
      ...source,
      input,
      out: values.out,
      live: values.live === true,
      poll: poll ?? defaultPollSeconds,
      concurrency: concurrency ?? defaultConcurrency,
      maxLineBytes: maxLineBytes ?? defaultMaxLineBytes
    }
  })
