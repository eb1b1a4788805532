/**
 * The simulator in its own process, for `bench/main.ts`: 64-token replies,
 * every latency knob at zero, the HTTP server named by `BENCH_SIMULATOR_SERVER`
 * (`node`, the simulator's default, or `platform`). `BENCH_TOKENS_PER_SECOND`
 * paces a streamed reply (each token a write of its own; a whole reply takes
 * as long) instead of sending it in one write: a gateway then forwards it batch
 * by batch, and the bench's requests per second are bound by the pace, so its
 * CPU figures are the ones to compare. `gateway-stream` sets it when unset
 * (`cases/gateway.ts`).
 * Prints its base URL (with `/v1`) as the first line of stdout, then serves
 * until a signal arrives.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Simulator from "../src/simulator/Simulator.js"

const replyTokens = Number(process.env["BENCH_REPLY_TOKENS"] ?? 64)
const server = process.env["BENCH_SIMULATOR_SERVER"] === "platform" ? "platform" : "node"
const paced = process.env["BENCH_TOKENS_PER_SECOND"]
const tokensPerSecond = paced === undefined ? undefined : Number(paced)
if (tokensPerSecond !== undefined && !(tokensPerSecond > 0)) {
  throw new Error(`BENCH_TOKENS_PER_SECOND must be a positive number, got "${paced}"`)
}

const main = async () => {
  const scope = Effect.runSync(Scope.make())
  const simulator = await Effect.runPromise(
    Simulator.make({ replyTokens, server, ...(tokensPerSecond === undefined ? {} : { tokensPerSecond }) }).pipe(
      Scope.provide(scope)
    )
  )
  console.log(`${simulator.url}/v1`)
  const stop = () => {
    void Effect.runPromise(Scope.close(scope, Exit.void)).finally(() => process.exit(0))
  }
  process.on("SIGTERM", stop)
  process.on("SIGINT", stop)
  process.on("disconnect", stop)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
