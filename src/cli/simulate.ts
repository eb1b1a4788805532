/**
 * `effect-llm-router simulate`: the local simulator as a process, serving until interrupted (SIGINT, SIGTERM), then
 * closing every connection.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { messageOf } from "../internal/errorText.js"
import { definedFields } from "../internal/json.js"
import * as Simulator from "../simulator/Simulator.js"
import { type Io, runParsed } from "./io.js"
import {
  failUsage,
  listFlag,
  noArgumentFlags,
  numberFlag,
  portFlag,
  positiveIntegerFlag,
  programName,
  simulateUsage,
  UsageError
} from "./usage.js"

/**
 * The port `simulate` listens on unless told otherwise: fixed, so scripts and provider.json files can name it.
 */
export const defaultPort = 8787

const flags = {
  host: { type: "string" },
  port: { type: "string" },
  latency: { type: "string" },
  "time-to-first-token": { type: "string" },
  "tokens-per-second": { type: "string" },
  "reply-tokens": { type: "string" },
  "reasoning-tokens": { type: "string" },
  keys: { type: "string" },
  models: { type: "string" },
  "context-window": { type: "string" },
  "requests-per-minute": { type: "string" },
  fault: { type: "string" },
  scenario: { type: "string" }
} as const

/** What the flags say: the options, and the scenario file to read, if any. */
interface Parsed {
  readonly options: Simulator.Options
  readonly scenarioFile: string | undefined
}

const parse = (argv: ReadonlyArray<string>): Result.Result<Parsed | "help", UsageError> =>
  Result.gen(function*() {
    const values = yield* noArgumentFlags("simulate", argv, flags)
    if (values === "help") return values
    const count = { integer: true, min: 0, expected: "an integer, 0 or more" }
    const millis = { min: 0, expected: "milliseconds, 0 or more" }
    const numbers = yield* Result.all({
      port: portFlag(values.port),
      latency: numberFlag("latency", values.latency, millis),
      timeToFirstToken: numberFlag("time-to-first-token", values["time-to-first-token"], millis),
      tokensPerSecond: numberFlag("tokens-per-second", values["tokens-per-second"], { expected: "a positive number" }),
      replyTokens: numberFlag("reply-tokens", values["reply-tokens"], count),
      reasoningTokens: numberFlag("reasoning-tokens", values["reasoning-tokens"], count),
      contextWindow: positiveIntegerFlag("context-window", values["context-window"]),
      requestsPerMinute: positiveIntegerFlag("requests-per-minute", values["requests-per-minute"])
    })
    const tps = numbers.tokensPerSecond
    if (tps !== undefined && !(tps > 0)) {
      return yield* failUsage(`--tokens-per-second needs a positive number, got "${values["tokens-per-second"]}"`)
    }
    if (values.fault !== undefined) {
      const fault = Simulator.decodeFault(values.fault)
      if (Result.isFailure(fault)) {
        return yield* failUsage(`--fault "${values.fault}": ${fault.failure}`)
      }
    }
    const apiKeys = listFlag(values.keys)
    const models = listFlag(values.models)
    if (models !== undefined && models.length === 0) {
      return yield* failUsage("--models needs at least one model")
    }
    const { latency, port, timeToFirstToken, ...counts } = numbers
    const options: Simulator.Options = {
      port: port ?? defaultPort,
      ...definedFields({
        host: values.host,
        latency: latency === undefined ? undefined : Duration.millis(latency),
        timeToFirstToken: timeToFirstToken === undefined ? undefined : Duration.millis(timeToFirstToken),
        ...counts,
        apiKeys,
        models,
        fault: values.fault
      })
    }
    return { options, scenarioFile: values.scenario }
  })

/**
 * The scenario of `file`, played for every request and named by its base name (`session` for `session.scenario.json`,
 * as for `x-simulator-scenario`); a file unreadable, not JSON or no scenario is a usage error naming every bad path.
 */
function readScenario(file: string): Result.Result<Simulator.Options, UsageError> {
  const bad = (why: string) => failUsage(`--scenario "${file}": ${why}`)
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, "utf8"))
  } catch (cause) {
    return bad(messageOf(cause))
  }
  const scenario = Simulator.decodeScenario(json)
  if (Result.isFailure(scenario)) {
    const lines = scenario.failure.split("\n")
    return bad(`${lines.length === 1 ? "a problem" : `${lines.length} problems`}:\n  ${lines.join("\n  ")}`)
  }
  const name = path.basename(file).replace(/(\.scenario)?\.json$/, "")
  return Result.succeed({ scenario: scenario.success, scenarios: { [name]: scenario.success } })
}

/**
 * Runs `simulate`: prints the base URL as the first stdout line, then serves until interrupted. Gives 2 for bad flags,
 * 1 when the server cannot listen.
 */
export const run = (argv: ReadonlyArray<string>, io: Io): Effect.Effect<number> =>
  runParsed(io, "simulate", simulateUsage, Effect.fromResult(parse(argv)), (flags) =>
    Effect.gen(function*() {
      const scenario = flags.scenarioFile === undefined
        ? {}
        : yield* Effect.fromResult(readScenario(flags.scenarioFile))
      const options: Simulator.Options = { ...flags.options, ...scenario }
      const simulator = yield* Simulator.make(options).pipe(
        Effect.catchTag("OptionsError", (error) => new UsageError({ reason: error.message }))
      )
      io.stdout(`${simulator.url}\n`)
      io.stderr(
        `${programName}: simulator listening; OpenAI-compatible base URL ${simulator.url}/v1. Ctrl-C to stop.\n`
      )
      return yield* Effect.never
    }))
