/**
 * The simulator (`simulatorProcess.ts`) in a child process on core 0, as the bench's cases and the stream profile
 * start it.
 */
import { firstLine, nodeArgs, spawnNode, stopChild } from "./nodeArgs.js"

/** A simulator in a child process: its base URL (ending in `/v1`), and its stop, resolved once it has exited. */
export interface Server {
  readonly url: string
  readonly stop: () => Promise<void>
}

/**
 * A simulator on `server`, its streamed reply paced at `tokensPerSecond` (as `BENCH_TOKENS_PER_SECOND` takes it) when
 * given, else as `BENCH_TOKENS_PER_SECOND` says.
 */
export const startSimulator = async (
  server: string,
  tokensPerSecond?: string,
  replyTokens?: number
): Promise<Server> => {
  const given = process.env["SIMULATOR_URL"]
  if (given !== undefined && given !== "") return { url: given, stop: () => Promise.resolve() }
  const paced = tokensPerSecond === undefined ? {} : { BENCH_TOKENS_PER_SECOND: tokensPerSecond }
  const length = replyTokens === undefined ? {} : { BENCH_REPLY_TOKENS: String(replyTokens) }
  const child = spawnNode({
    args: nodeArgs("simulatorProcess"),
    core: 0,
    env: { ...process.env, BENCH_SIMULATOR_SERVER: server, ...paced, ...length }
  })
  const url = await firstLine(child, "the simulator")
  return { url, stop: () => stopChild(child) }
}
