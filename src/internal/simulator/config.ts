/**
 * A simulator's options checked and resolved to the values the engine and the
 * servers read.
 */
import * as Duration from "effect/Duration"
import type { OptionsError } from "../../OptionsError.js"
import * as Bedrock from "../../simulator/Bedrock.js"
import type { Fault, Options } from "../../simulator/Simulator.js"
import * as Invalid from "../optionsError.js"
import { parseFault } from "./fault.js"

/** The models a simulator knows unless told otherwise. */
export const defaultModels: ReadonlyArray<string> = ["gpt-4o-mini", "gpt-4o", "sim-small", "sim-large"]

export interface Config {
  readonly host: string
  readonly port: number
  readonly backlog: number
  readonly server: "node" | "platform"
  readonly latencyMs: number
  readonly ttftMs: number
  readonly tokenGapMs: number | undefined
  readonly replyTokens: number
  readonly reasoningTokens: number
  readonly apiKeys: ReadonlySet<string> | undefined
  readonly models: ReadonlySet<string>
  /** The secret key of each AWS access key id Bedrock's routes know. */
  readonly awsSecrets: ReadonlyMap<string, string>
  readonly modelList: ReadonlyArray<string>
  readonly contextWindow: number
  readonly contextWindows: Readonly<Record<string, number>>
  readonly requestsPerMinute: number | undefined
  readonly fault: Fault | undefined
}

const invalid = (option: string, value: unknown, expected: string) => Invalid.make("Simulator", option, value, expected)

/** The options with their defaults filled in, or the `OptionsError` of the first one out of range. */
export const resolve = (options: Options): Config | OptionsError => {
  const int = (name: string, value: number | undefined, fallback: number, min: number): number | OptionsError => {
    if (value === undefined) return fallback
    return Number.isInteger(value) && value >= min ? value : invalid(name, value, `an integer of at least ${min}`)
  }
  const millis = (name: string, value: Duration.Input | undefined): number | OptionsError => {
    if (value === undefined) return 0
    return Invalid.duration("Simulator", name, value) ?? Duration.toMillis(value)
  }
  const port = int("port", options.port, 0, 0)
  const backlog = int("backlog", options.backlog, 65535, 1)
  const latencyMs = millis("latency", options.latency)
  const ttftMs = millis("timeToFirstToken", options.timeToFirstToken)
  const replyTokens = int("replyTokens", options.replyTokens, 16, 0)
  const reasoningTokens = int("reasoningTokens", options.reasoningTokens, 8, 0)
  const contextWindow = int("contextWindow", options.contextWindow, 128_000, 1)
  const rpm = int("requestsPerMinute", options.requestsPerMinute, 0, 1)
  for (const v of [port, backlog, latencyMs, ttftMs, replyTokens, reasoningTokens, contextWindow, rpm]) {
    if (typeof v !== "number") return v
  }
  if ((port as number) > 65535) return invalid("port", port, "at most 65535")
  const tps = options.tokensPerSecond
  const badTps = Invalid.positive("Simulator", "tokensPerSecond", tps, { optional: true })
  if (badTps !== undefined) return badTps
  for (const [model, window] of Object.entries(options.contextWindows ?? {})) {
    if (!(Number.isInteger(window) && window > 0)) {
      return invalid(`contextWindows[${JSON.stringify(model)}]`, window, "a positive integer")
    }
  }
  const fault = options.fault === undefined ? undefined : parseFault(options.fault)
  if (typeof fault === "string") return invalid("fault", options.fault, `a fault the grammar reads (${fault})`)
  const server = options.server ?? "node"
  if (server !== "node" && server !== "platform") return invalid("server", server, `"node" or "platform"`)
  const modelList = options.models ?? defaultModels
  return {
    host: options.host ?? "127.0.0.1",
    port: port as number,
    backlog: backlog as number,
    server,
    latencyMs: latencyMs as number,
    ttftMs: ttftMs as number,
    tokenGapMs: tps === undefined ? undefined : 1000 / tps,
    replyTokens: replyTokens as number,
    reasoningTokens: reasoningTokens as number,
    apiKeys: options.apiKeys === undefined ? undefined : new Set(options.apiKeys),
    models: new Set(modelList),
    awsSecrets: new Map(
      (options.bedrockCredentials ?? [Bedrock.testCredentials]).map((pair) => [pair.accessKeyId, pair.secretAccessKey])
    ),
    modelList,
    contextWindow: contextWindow as number,
    contextWindows: options.contextWindows ?? {},
    requestsPerMinute: options.requestsPerMinute,
    fault
  }
}
