/**
 * `effect-llm-router simulate`: the local simulator as a process, serving until
 * it is interrupted (SIGINT, SIGTERM), then closing every connection.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Simulator from "../simulator/Simulator.js"
import { ExitCode, exitCodeOf, type Io } from "./io.js"
import {
  listFlag,
  noArgumentFlags,
  numberFlag,
  positiveIntegerFlag,
  programName,
  simulateUsage,
  UsageError
} from "./usage.js"

/**
 * The port `simulate` listens on unless told otherwise: fixed, so scripts and
 * provider.json files can name it.
 *
 * @since 0.1.0
 * @category Constants
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
  help: { type: "boolean", short: "h" }
} as const

const parse = (argv: ReadonlyArray<string>): Result.Result<Simulator.Options | "help", UsageError> =>
  Result.gen(function*() {
    const values = yield* noArgumentFlags("simulate", argv, flags)
    if (values === "help") return values
    const count = { integer: true, min: 0, expected: "an integer, 0 or more" }
    const millis = { min: 0, expected: "milliseconds, 0 or more" }
    const numbers = yield* Result.all({
      port: numberFlag("port", values.port, { integer: true, min: 0, max: 65535, expected: "a port from 0 to 65535" }),
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
      return yield* Result.fail(
        new UsageError({
          reason: `--tokens-per-second needs a positive number, got "${values["tokens-per-second"]}"`
        })
      )
    }
    if (values.fault !== undefined) {
      const fault = Simulator.decodeFault(values.fault)
      if (Result.isFailure(fault)) {
        return yield* Result.fail(new UsageError({ reason: `--fault "${values.fault}": ${fault.failure}` }))
      }
    }
    const apiKeys = listFlag(values.keys)
    const models = listFlag(values.models)
    if (models !== undefined && models.length === 0) {
      return yield* Result.fail(new UsageError({ reason: "--models needs at least one model" }))
    }
    const {
      contextWindow,
      latency,
      reasoningTokens,
      replyTokens,
      requestsPerMinute,
      timeToFirstToken,
      tokensPerSecond
    } = numbers
    return {
      port: numbers.port ?? defaultPort,
      ...(values.host !== undefined ? { host: values.host } : {}),
      ...(latency !== undefined ? { latency: Duration.millis(latency) } : {}),
      ...(timeToFirstToken !== undefined ? { timeToFirstToken: Duration.millis(timeToFirstToken) } : {}),
      ...(tokensPerSecond !== undefined ? { tokensPerSecond } : {}),
      ...(replyTokens !== undefined ? { replyTokens } : {}),
      ...(reasoningTokens !== undefined ? { reasoningTokens } : {}),
      ...(apiKeys !== undefined ? { apiKeys } : {}),
      ...(models !== undefined ? { models } : {}),
      ...(contextWindow !== undefined ? { contextWindow } : {}),
      ...(requestsPerMinute !== undefined ? { requestsPerMinute } : {}),
      ...(values.fault !== undefined ? { fault: values.fault } : {})
    }
  })

/**
 * Runs `simulate` with its arguments (those after the word `simulate`): prints
 * the base URL as the first stdout line, then serves until interrupted. Gives 2
 * for bad flags, 1 when the server cannot listen.
 *
 * @since 0.1.0
 * @category Commands
 */
export const run = (argv: ReadonlyArray<string>, io: Io): Effect.Effect<number> => {
  const parsed = parse(argv)
  return Effect.gen(function*() {
    const options = yield* Effect.fromResult(parsed)
    if (options === "help") {
      io.stdout(simulateUsage)
      return ExitCode.ok
    }
    const simulator = yield* Simulator.make(options).pipe(
      Effect.catchTag("OptionsError", (error) => new UsageError({ reason: error.message }))
    )
    io.stdout(`${simulator.url}\n`)
    io.stderr(
      `${programName}: simulator listening; OpenAI-compatible base URL ${simulator.url}/v1. Ctrl-C to stop.\n`
    )
    return yield* Effect.never
  }).pipe(Effect.scoped, exitCodeOf(io, "simulate", () => []))
}
