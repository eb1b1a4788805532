/**
 * What a guardrail costs a streamed reply, each stream mode against none, side by side in one run: the same `Llm`
 * (the full stack of `llmStack.ts`) against a simulator pacing its reply token by token, through `Guardrail.layer`'s
 * `GuardedLlm` with (a) no guardrail, (b) audit, (c) buffer, (d) window (window 1024, overlap the chain's longest
 * match). The chain is every built-in check blocking. For each side, the first text's time (from the call to the first
 * `TextDelta` the application sees) at p50, and this process's CPU time per request; each as a ratio to (a).
 *
 * It also prints the labelled set's misses and false blocks per built-in check and mode (`tally` in
 * `test/fixtures/guardrails/labelled.ts`, what `test/GuardrailLabelled.test.ts` asserts).
 *
 *   npm run bench -- guardrail
 *
 * BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONCURRENCY and BENCH_WARMUP_SECONDS as `main.ts` reads them;
 * GUARDRAIL_REPLY_TOKENS (default 400, about 2,600 characters) and GUARDRAIL_TOKENS_PER_SECOND (default 2000), the
 * simulator's reply and pace.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Guardrail from "../../src/Guardrail.js"
import * as Llm from "../../src/Llm.js"
import type { OptionsError } from "../../src/OptionsError.js"
import { checks, labelled, modes, tally } from "../../test/fixtures/guardrails/labelled.js"
import type { Server } from "../simulatorChild.js"
import { median, round2 } from "../stats.js"
import { request } from "./call.js"
import { llm } from "./llmStack.js"
import { fail } from "./reply.js"

export const guardrailCaseName = "guardrail-stream-modes"

/** One side's figures: medians over the rounds of each round's p50 first text and CPU per request. */
export interface GuardrailSide {
  readonly side: string
  readonly requests: number
  readonly first_text_p50_ms: number
  readonly first_text_ratio: number
  readonly cpu_us: number
  readonly cpu_ratio: number
}

/** One check's labelled-set score in one mode. */
export interface GuardrailLabelledRow {
  readonly check: string
  readonly mode: Guardrail.Mode
  readonly positives: number
  readonly misses: number
  readonly false_blocks: number
}

export interface GuardrailResult {
  readonly name: string
  readonly reply_chars: number
  readonly window: number
  readonly overlap: number
  readonly sides: ReadonlyArray<GuardrailSide>
  readonly labelled: ReadonlyArray<GuardrailLabelledRow>
}

export interface GuardrailSettings {
  readonly seconds: number
  readonly rounds: number
  readonly warmupSeconds: number
  readonly concurrency: number
  readonly runtime: ManagedRuntime.ManagedRuntime<HttpClient.HttpClient, OptionsError>
  /** A simulator pacing `tokensPerSecond`, its reply `replyTokens` long. */
  readonly startSimulator: (tokensPerSecond: string, replyTokens: number) => Promise<Server>
}

const envNumber = (name: string, fallback: number): number => {
  const value = process.env[name]
  return value === undefined || value === "" ? fallback : Number(value)
}

/** The chain each guarded side runs: every built-in check, blocking, in `mode`. */
const chainOf = (mode: Guardrail.Mode | undefined) =>
  mode === undefined ? Effect.succeed([]) : Effect.map(
    Guardrail.make({
      name: `bench-${mode}`,
      checks: Object.values(Guardrail.checks),
      mode,
      ...(mode === "window" ? { window: 1024 } : {})
    }),
    (guardrail) => [guardrail]
  )

/** One call: the stream drained, the time to its first text in milliseconds, failing unless it was whole. */
const oneCall = (guarded: Guardrail.GuardedService) =>
  Effect.suspend(() => {
    const started = performance.now()
    let first: number | undefined
    let chars = 0
    let finished = false
    return Effect.map(
      Stream.runForEachArray(guarded.chatStream(request), (chunks) =>
        Effect.sync(() => {
          for (const chunk of chunks) {
            if (chunk._tag === "TextDelta") {
              first ??= performance.now() - started
              chars += chunk.text.length
            } else if (chunk._tag === "Finish") finished = true
          }
        })),
      () => {
        if (first === undefined || !finished) fail("no text or no Finish chunk")
        return { firstText: first!, chars }
      }
    )
  })

interface Round {
  readonly firstTextP50: number
  readonly cpuMicros: number
  readonly requests: number
  readonly chars: number
}

/** `concurrency` workers calling for `millis`: the round's p50 first text and this process's CPU per request. */
const roundOf = async (
  settings: GuardrailSettings,
  guarded: Guardrail.GuardedService,
  millis: number
): Promise<Round> => {
  const firsts: Array<number> = []
  let chars = 0
  const deadline = performance.now() + millis
  const worker = Effect.whileLoop({
    while: () => performance.now() < deadline,
    body: () => oneCall(guarded),
    step: (one) => {
      firsts.push(one.firstText)
      chars = one.chars
    }
  })
  const before = process.cpuUsage()
  await settings.runtime.runPromise(
    Effect.all(Array.from({ length: settings.concurrency }, () => worker), { concurrency: "unbounded", discard: true })
  )
  const cpu = process.cpuUsage(before)
  return {
    firstTextP50: median(firsts),
    cpuMicros: firsts.length === 0 ? Infinity : (cpu.user + cpu.system) / firsts.length,
    requests: firsts.length,
    chars
  }
}

/** The labelled set through every built-in check in each mode, as `test/GuardrailLabelled.test.ts` runs it. */
function labelledRows(): ReadonlyArray<GuardrailLabelledRow> {
  const rows: Array<GuardrailLabelledRow> = []
  for (const check of checks) {
    const set = labelled(check.longestMatch + 64)
    for (const mode of modes) {
      const score = tally(check, mode, set)
      rows.push({
        check: check.name,
        mode,
        positives: score.positives,
        misses: score.misses.length,
        false_blocks: score.falseBlocks.length
      })
    }
  }
  return rows
}

const sides: ReadonlyArray<{ readonly side: string; readonly mode: Guardrail.Mode | undefined }> = [
  { side: "none", mode: undefined },
  { side: "audit", mode: "audit" },
  { side: "buffer", mode: "buffer" },
  { side: "window", mode: "window" }
]

export const measureGuardrail = async (settings: GuardrailSettings): Promise<GuardrailResult> => {
  const replyTokens = envNumber("GUARDRAIL_REPLY_TOKENS", 400)
  const pace = String(envNumber("GUARDRAIL_TOKENS_PER_SECOND", 2000))
  const simulator = await settings.startSimulator(pace, replyTokens)
  const { runtime } = settings
  const scope = await runtime.runPromise(Scope.make())
  const rounds: Array<Array<Round>> = sides.map(() => [])
  let window = 0
  let overlap = 0
  try {
    const service = await runtime.runPromise(Scope.provide(llm(simulator.url), scope))
    const guardeds = await Promise.all(sides.map(({ mode }) =>
      runtime.runPromise(
        Effect.gen(function*() {
          const chain = yield* chainOf(mode)
          if (mode === "window") ({ overlap, window } = chain[0]!)
          const built = yield* Layer.build(
            Guardrail.layer(chain).pipe(Layer.provide(Layer.succeed(Llm.Llm, service)))
          )
          return Context.get(built, Guardrail.GuardedLlm)
        }).pipe(Scope.provide(scope))
      )
    ))
    for (const guarded of guardeds) await roundOf(settings, guarded, settings.warmupSeconds * 1000)
    for (let i = 0; i < settings.rounds; i++) {
      const line: Array<string> = []
      for (const [s, guarded] of guardeds.entries()) {
        const round = await roundOf(settings, guarded, settings.seconds * 1000)
        rounds[s]!.push(round)
        line.push(
          `${sides[s]!.side} first text p50 ${round.firstTextP50.toFixed(1)} ms, ${round.cpuMicros.toFixed(0)} us CPU` +
            ` a request (${round.requests})`
        )
      }
      console.log(`${guardrailCaseName} round ${i + 1}: ${line.join("; ")}`)
    }
  } finally {
    await runtime.runPromise(Scope.close(scope, Exit.void))
    await simulator.stop()
  }
  const figures = rounds.map((side) => ({
    firstText: median(side.map((round) => round.firstTextP50)),
    cpu: median(side.map((round) => round.cpuMicros)),
    requests: side.reduce((sum, round) => sum + round.requests, 0)
  }))
  const none = figures[0]!
  const rows = labelledRows()
  for (const row of rows) {
    console.log(
      `${guardrailCaseName} labelled: ${row.check.padEnd(12)} ${row.mode.padEnd(7)} positives ` +
        `${String(row.positives).padStart(2)}  misses ${row.misses}  false blocks ${row.false_blocks}`
    )
  }
  return {
    name: guardrailCaseName,
    reply_chars: rounds[0]!.at(-1)?.chars ?? 0,
    window,
    overlap,
    sides: figures.map((figure, s) => ({
      side: sides[s]!.side,
      requests: figure.requests,
      first_text_p50_ms: round2(figure.firstText),
      first_text_ratio: round2(figure.firstText / none.firstText),
      cpu_us: round2(figure.cpu),
      cpu_ratio: round2(figure.cpu / none.cpu)
    })),
    labelled: rows
  }
}
