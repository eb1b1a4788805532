/**
 * The router's fallback, written with Effect's own `ExecutionPlan` over `Llm`
 * layers: try a model twice, then move to another, but only when the first
 * failed with an error worth falling back on. The program is the same
 * `Llm.chat` as ever; the plan provides the `Llm` for each try.
 *
 * A plan builds each step's layer per run (a key pool and limiter per call
 * here); `Router` builds its deployments once and adds picking, cooldowns and
 * status. Use a plan for a simple ordered fallback inside one program.
 *
 *   npx node --import tsx examples/execution-plan.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Llm, type LlmError, Message } from "effect-llm-router"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as ExecutionPlan from "effect/ExecutionPlan"
import * as Provider from "./_provider.js"

const worthFallingBack = (error: LlmError.LlmError) =>
  error._tag === "ModelNotFoundError" || error._tag === "ProviderUnavailableError" || error._tag === "RateLimitError"

const plan = ExecutionPlan.make(
  // A model the server does not know: both tries fail with ModelNotFoundError.
  { provide: Provider.llm("gpt-3.5-retired"), attempts: 2 },
  // Entered only when the previous step's last error is worth falling back on.
  { provide: Provider.llm("gpt-4o"), while: worthFallingBack }
)

const program = Effect.gen(function*() {
  const tries: Array<string> = []
  const reply = yield* Llm.chat({ messages: [Message.user("Which model are you?")] }).pipe(
    Effect.tapError((error) => Effect.sync(() => tries.push(`${error.model}: ${error._tag}`))),
    Effect.withExecutionPlan(plan)
  )
  yield* Console.log(`failed first: ${tries.join(", ")}`)
  yield* Console.log(`answered by ${reply.model}`)
})

program.pipe(
  Effect.provide(Provider.endpoint()),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
