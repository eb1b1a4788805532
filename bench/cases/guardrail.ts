/**
 * What a guardrail costs a streamed reply, each stream mode against none, side by side in one run: the same `Llm`
 * (the full stack of `llmStack.ts`) against a simulator pacing its reply token by token, through `Guardrail.layer`'s
 * `GuardedLlm` with (a) no guardrail, (b) audit, (c) buffer, (d) window (window 1024, overlap the chain's longest
 * match). The chain is every built-in check blocking. For each side, the first text's time (from the call to the first
 * `TextDelta` the application sees) at p50, and this process's CPU time per request; each as a ratio to (a).
 *
 * The block path, in the same rounds: (e) window-pass and (f) window-block, window mode over a reply the simulator is
 * told to give (`x-simulator-reply`), the same length both ways, the block's with an AWS access key id at its start:
 * the time from the call to the error the application sees (`GuardrailError`, the first window's check) and the CPU
 * a request, against the pass's first text, its whole stream and its CPU.
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
import { envNumber } from "../env.js"
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
  /** For window-block, the time to the block's error. */
  readonly first_text_p50_ms: number
  readonly first_text_ratio: number
  /** The time to the stream's end (its `Finish`, or the block's error). */
  readonly whole_p50_ms: number
  readonly cpu_us: number
  readonly cpu_ratio: number
}

/** A window-mode block against a window-mode pass of a reply of the same length. */
export interface GuardrailBlock {
  readonly reply_chars: number
  readonly error_p50_ms: number
  /** The block's error time over the pass's first text. */
  readonly error_to_pass_first_text: number
  /** The block's error time over the pass's whole stream. */
  readonly error_to_pass_whole: number
  /** The block's CPU a request over the pass's. */
  readonly cpu_to_pass: number
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
  readonly block: GuardrailBlock
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

/** One call's times in milliseconds: to its first text (or its block), to its end, and its text's length. */
interface Timing {
  readonly firstText: number
  readonly whole: number
  readonly chars: number
}

/** One call: the stream drained, failing unless it was whole. */
const oneCall = (guarded: Guardrail.GuardedService): Effect.Effect<Timing> =>
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
        return { firstText: first!, whole: performance.now() - started, chars }
      }
    ).pipe(Effect.orDie)
  })

/** One call that a guardrail blocks: the time to the `GuardrailError`, failing on any other end. */
const blockedCall = (guarded: Guardrail.GuardedService): Effect.Effect<Timing> =>
  Effect.suspend(() => {
    const started = performance.now()
    let chars = 0
    return Effect.matchEffect(
      Stream.runForEachArray(guarded.chatStream(request), (chunks) =>
        Effect.sync(() => {
          for (const chunk of chunks) if (chunk._tag === "TextDelta") chars += chunk.text.length
        })),
      {
        onFailure: (error) => {
          if (error._tag !== "GuardrailError") fail(`the blocked call failed otherwise: ${error._tag}`)
          const at = performance.now() - started
          return Effect.succeed({ firstText: at, whole: at, chars })
        },
        onSuccess: () => Effect.sync(() => fail("the blocked call was not blocked"))
      }
    )
  })

interface Round {
  readonly firstTextP50: number
  readonly wholeP50: number
  readonly cpuMicros: number
  readonly requests: number
  readonly chars: number
}

/** `concurrency` workers making `call` for `millis`: the round's p50 times and this process's CPU per request. */
const roundOf = async (
  settings: GuardrailSettings,
  call: Effect.Effect<Timing>,
  millis: number
): Promise<Round> => {
  const firsts: Array<number> = []
  const wholes: Array<number> = []
  let chars = 0
  const deadline = performance.now() + millis
  const worker = Effect.whileLoop({
    while: () => performance.now() < deadline,
    body: () => call,
    step: (one) => {
      firsts.push(one.firstText)
      wholes.push(one.whole)
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
    wholeP50: median(wholes),
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

// The block path's replies, of one length: clean prose, and the same with an access key id at its start.
const prose = "The stream goes on in plain words with nothing in them to hide. ".repeat(50)
const passReply = prose.slice(0, 2_600)
const blockReply = `Here is the key AKIAIOSFODNN7EXAMPLE, ${prose}`.slice(0, 2_600)

interface Side {
  readonly side: string
  readonly mode: Guardrail.Mode | undefined
  /** The reply the simulator is told to give; none: its own. */
  readonly reply?: string
  readonly blocked?: true
}

const sides: ReadonlyArray<Side> = [
  { side: "none", mode: undefined },
  { side: "audit", mode: "audit" },
  { side: "buffer", mode: "buffer" },
  { side: "window", mode: "window" },
  { side: "window-pass", mode: "window", reply: passReply },
  { side: "window-block", mode: "window", reply: blockReply, blocked: true }
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
    const calls = await Promise.all(sides.map(({ blocked, mode, reply }) =>
      runtime.runPromise(
        Effect.gen(function*() {
          const service = yield* llm(
            simulator.url,
            reply === undefined ? undefined : { "x-simulator-reply": encodeURIComponent(reply) }
          )
          const chain = yield* chainOf(mode)
          if (mode === "window") ({ overlap, window } = chain[0]!)
          const built = yield* Layer.build(
            Guardrail.layer(chain).pipe(Layer.provide(Layer.succeed(Llm.Llm, service)))
          )
          const guarded = Context.get(built, Guardrail.GuardedLlm)
          return blocked ? blockedCall(guarded) : oneCall(guarded)
        }).pipe(Scope.provide(scope))
      )
    ))
    for (const call of calls) await roundOf(settings, call, settings.warmupSeconds * 1000)
    for (let i = 0; i < settings.rounds; i++) {
      const line: Array<string> = []
      for (const [s, call] of calls.entries()) {
        const round = await roundOf(settings, call, settings.seconds * 1000)
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
    whole: median(side.map((round) => round.wholeP50)),
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
      whole_p50_ms: round2(figure.whole),
      cpu_us: round2(figure.cpu),
      cpu_ratio: round2(figure.cpu / none.cpu)
    })),
    block: blockOf(figures[sides.findIndex((side) => side.side === "window-pass")]!, figures.at(-1)!),
    labelled: rows
  }
}

/** The block's figures against the pass's. */
function blockOf(
  pass: { readonly firstText: number; readonly whole: number; readonly cpu: number },
  block: { readonly firstText: number; readonly cpu: number }
): GuardrailBlock {
  return {
    reply_chars: passReply.length,
    error_p50_ms: round2(block.firstText),
    error_to_pass_first_text: round2(block.firstText / pass.firstText),
    error_to_pass_whole: round2(block.firstText / pass.whole),
    cpu_to_pass: round2(block.cpu / pass.cpu)
  }
}
