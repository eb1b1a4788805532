/**
 * A simulator's options checked and resolved to the values the engine and the
 * servers read.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type { Fault, Options } from "../../simulator/Simulator.js"
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
  readonly modelList: ReadonlyArray<string>
  readonly contextWindow: number
  readonly contextWindows: Readonly<Record<string, number>>
  readonly requestsPerMinute: number | undefined
  readonly fault: Fault | undefined
}

/** The options with their defaults filled in; a `string` is what makes them invalid. */
export const resolve = (options: Options): Config | string => {
  const int = (name: string, value: number | undefined, fallback: number, min: number): number | string => {
    if (value === undefined) return fallback
    return Number.isInteger(value) && value >= min ? value : `${name} must be an integer of at least ${min}, got ${value}`
  }
  const millis = (name: string, value: Duration.Input | undefined): number | string => {
    if (value === undefined) return 0
    const decoded = Duration.fromInput(value)
    if (Option.isNone(decoded)) return `${name} is not a duration`
    const ms = Duration.toMillis(decoded.value)
    return Number.isFinite(ms) && ms >= 0 ? ms : `${name} must be a finite duration`
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
    if (typeof v === "string") return v
  }
  if ((port as number) > 65535) return `port must be at most 65535, got ${port}`
  const tps = options.tokensPerSecond
  if (tps !== undefined && !(Number.isFinite(tps) && tps > 0)) return `tokensPerSecond must be positive, got ${tps}`
  for (const [model, window] of Object.entries(options.contextWindows ?? {})) {
    if (!(Number.isInteger(window) && window > 0)) return `contextWindows["${model}"] must be a positive integer, got ${window}`
  }
  const fault = options.fault === undefined ? undefined : parseFault(options.fault)
  if (typeof fault === "string") return `fault "${options.fault}": ${fault}`
  const server = options.server ?? "node"
  if (server !== "node" && server !== "platform") return `server must be "node" or "platform", got ${String(server)}`
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
    modelList,
    contextWindow: contextWindow as number,
    contextWindows: options.contextWindows ?? {},
    requestsPerMinute: options.requestsPerMinute,
    fault
  }
}
