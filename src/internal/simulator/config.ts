/** A simulator's options checked and resolved to the values the engine and the servers read. */
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import type { OptionsError } from "../../OptionsError.js"
import * as Bedrock from "../../simulator/Bedrock.js"
import type { Options, Scenario } from "../../simulator/Simulator.js"
import * as Invalid from "../optionsError.js"
import { bracketed } from "../schemaCheck.js"
import { decodeBatchFault } from "./batch.js"
import { decodeFault } from "./fault.js"
import { valueAt } from "./requestChecks.js"
import { checkScenario } from "./scenario.js"

/** The models a simulator knows unless told otherwise. */
export const defaultModels: ReadonlyArray<string> = ["gpt-4o-mini", "gpt-4o", "sim-small", "sim-large"]

/** A simulator's options resolved: the values the engine and the servers read. */
export type Config = Result.Result.Success<ReturnType<typeof resolve>>

const invalid = (option: string, value: unknown, expected: string) => Invalid.make("Simulator", option, value, expected)

/** An integer option of at least `min`, `fallback` when unset. */
function int(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number
): Result.Result<number, OptionsError> {
  if (value === undefined) return Result.succeed(fallback)
  return Number.isInteger(value) && value >= min
    ? Result.succeed(value)
    : Result.fail(invalid(name, value, `an integer of at least ${min}`))
}

/** A duration option in milliseconds, 0 when unset. */
function millis(name: string, value: Duration.Input | undefined): Result.Result<number, OptionsError> {
  if (value === undefined) return Result.succeed(0)
  const bad = Invalid.duration("Simulator", name, value)
  return bad === undefined ? Result.succeed(Duration.toMillis(value)) : Result.fail(bad)
}

/** A scenario option (`option` its name), or an `OptionsError` naming each of its bad paths. */
function scenarioOption(option: string, json: unknown): Result.Result<Scenario, OptionsError> {
  return Result.mapError(checkScenario(json), (refusals) =>
    Invalid.all(refusals.map(({ message, path }) =>
      invalid(
        path.length === 0 ? option : `${option}.${bracketed(path)}`,
        valueAt(json, path),
        message.replace(/^expected /, "")
      )
    ))!)
}

/** The options with their defaults filled in, or the `OptionsError` of the first one out of range. */
export const resolve = (options: Options) =>
  Result.gen(function*() {
    const port = yield* int("port", options.port, 0, 0)
    const backlog = yield* int("backlog", options.backlog, 65535, 1)
    const latencyMs = yield* millis("latency", options.latency)
    const ttftMs = yield* millis("timeToFirstToken", options.timeToFirstToken)
    const replyTokens = yield* int("replyTokens", options.replyTokens, 16, 0)
    const reasoningTokens = yield* int("reasoningTokens", options.reasoningTokens, 8, 0)
    const contextWindow = yield* int("contextWindow", options.contextWindow, 128_000, 1)
    yield* int("requestsPerMinute", options.requestsPerMinute, 0, 1)
    if (port > 65535) return yield* Result.fail(invalid("port", port, "at most 65535"))
    const tps = options.tokensPerSecond
    const badTps = Invalid.positive("Simulator", "tokensPerSecond", tps, { optional: true })
    if (badTps !== undefined) return yield* Result.fail(badTps)
    for (const [model, window] of Object.entries(options.contextWindows ?? {})) {
      if (!(Number.isInteger(window) && window > 0)) {
        return yield* Result.fail(invalid(`contextWindows[${JSON.stringify(model)}]`, window, "a positive integer"))
      }
    }
    const fault = options.fault === undefined
      ? undefined
      : yield* Result.mapError(
        decodeFault(options.fault),
        (reason) => invalid("fault", options.fault, `a fault the grammar reads (${reason})`)
      )
    const batchFault = options.batchFault === undefined
      ? undefined
      : yield* Result.mapError(
        decodeBatchFault(options.batchFault),
        (reason) => invalid("batchFault", options.batchFault, `a batch fault the grammar reads (${reason})`)
      )
    const server = options.server ?? "node"
    if (server !== "node" && server !== "platform") {
      return yield* Result.fail(invalid("server", server, `"node" or "platform"`))
    }
    const scenario = options.scenario === undefined
      ? undefined
      : { name: "scenario", scenario: yield* scenarioOption("scenario", options.scenario) }
    const scenarios: Record<string, Scenario> = {}
    for (const [name, json] of Object.entries(options.scenarios ?? {})) {
      scenarios[name] = yield* scenarioOption(`scenarios[${JSON.stringify(name)}]`, json)
    }
    const modelList = options.models ?? defaultModels
    return {
      host: options.host ?? "127.0.0.1",
      port,
      backlog,
      server,
      latencyMs,
      ttftMs,
      tokenGapMs: tps === undefined ? undefined : 1000 / tps,
      replyTokens,
      reasoningTokens,
      apiKeys: options.apiKeys === undefined ? undefined : new Set(options.apiKeys),
      models: new Set(modelList),
      // The secret key of each AWS access key id Bedrock's routes know.
      awsSecrets: new Map(
        (options.bedrockCredentials ?? [Bedrock.testCredentials]).map((
          pair
        ) => [pair.accessKeyId, pair.secretAccessKey])
      ),
      modelList,
      contextWindow,
      contextWindows: options.contextWindows ?? {},
      requestsPerMinute: options.requestsPerMinute,
      // The tier a request naming none (or `auto`) is served at and its reply reports; none: the standard one.
      defaultServiceTier: options.defaultServiceTier,
      // The secret of the organisation the simulator stands for; none: one of its own.
      organization: options.organization,
      fault,
      // The faults of every batch created without `x-simulator-batch-fault`.
      batchFault,
      // The scenario played without `x-simulator-scenario`, under its name in errors.
      scenario,
      // The scenarios `x-simulator-scenario` names.
      scenarios
    }
  })
