/**
 * The governed call (`governedCall.ts`), which chat (answered whole or streamed), embeddings and MCP tool calls go
 * through: its steps run in one order, and a call stopped at any step leaves its reservation as the rule for that step
 * says (released before anything was sent or on a failure, charged the reservation when interrupted once sent, charged
 * its cost once it answered; an answer held past the call, a stream's, settled once when its scope closes), with one
 * record of how it ended, read from its exit.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { GuardrailError } from "../../src/Guardrail.js"
import * as GovernedCall from "../../src/internal/gateway/governedCall.js"

// Where a call is stopped, and how.
type StopAt =
  | "none"
  | "reserve refused"
  | "input blocked"
  | "input refused"
  | "input interrupted"
  | "turn failed"
  | "turn interrupted"
  | "send failed"
  | "send blocked"
  | "send interrupted"
  | "output blocked"

const cost = 0.25
const answer = { text: "the answer", cost }

const blocked = (where: "request" | "reply") => new GuardrailError({ guardrail: "pii", where, reason: "an email" })

interface Run {
  /** The steps that ran, in order, and what each settle charged (`settle(0)`, `settle(undefined)`: the reservation). */
  readonly steps: ReadonlyArray<string>
  readonly exit: Exit.Exit<typeof answer, GovernedCall.Stop<string, typeof answer>>
  /** Each ending the record was given. */
  readonly recorded: ReadonlyArray<GovernedCall.Ended<string, typeof answer>>
}

// The governed call whose steps stop at `at`, run to its end (an interruption from outside once the step waits).
function run(at: StopAt): Effect.Effect<Run> {
  return Effect.gen(function*() {
    const steps: Array<string> = []
    const recorded: Array<GovernedCall.Ended<string, typeof answer>> = []
    const waiting = yield* Deferred.make<void>()
    const step = <A, E>(name: string, outcome: Effect.Effect<A, E>) =>
      Effect.suspend(() => {
        steps.push(name)
        return outcome
      })
    // A step that waits until it is interrupted, having said that it waits.
    const hang = (name: string) => step(name, Effect.andThen(Deferred.succeed(waiting, undefined), Effect.never))
    const call = GovernedCall.governed<string, typeof answer, string, never>({
      reserve: at === "reserve refused"
        ? step("reserve", Effect.fail("over budget"))
        : step("reserve", Effect.succeed((charged) => Effect.sync(() => steps.push(`settle ${charged}`)))),
      guardIn: at === "input blocked"
        ? step("guard in", Effect.fail(blocked("request")))
        : at === "input refused"
        ? step("guard in", Effect.fail("a guardrail gone"))
        : at === "input interrupted"
        ? hang("guard in")
        : step("guard in", Effect.succeed("masked input")),
      turn: (input) =>
        at === "turn failed"
          ? step(`turn ${input}`, Effect.fail("limiter unavailable"))
          : at === "turn interrupted"
          ? hang(`turn ${input}`)
          : step(`turn ${input}`, Effect.void),
      send: (input) =>
        at === "send failed"
          ? step(`send ${input}`, Effect.fail("upstream 500"))
          : at === "send blocked"
          ? step(`send ${input}`, Effect.fail(blocked("reply")))
          : at === "send interrupted"
          ? hang(`send ${input}`)
          : step(`send ${input}`, Effect.succeed(answer)),
      cost: (answered) => answered.cost,
      guardOut: (answered, input) =>
        at === "output blocked"
          ? step(`guard out ${input}`, Effect.fail(blocked("reply")))
          : step(`guard out ${input}`, Effect.succeed(answered)),
      record: (ended) => {
        steps.push("record")
        recorded.push(ended)
      }
    })
    const fiber = yield* Effect.forkChild(call)
    if (at === "input interrupted" || at === "turn interrupted" || at === "send interrupted") {
      yield* Deferred.await(waiting)
      yield* Fiber.interrupt(fiber)
    }
    const exit = yield* Fiber.await(fiber)
    return { steps, exit, recorded }
  })
}

// The stop a call ended with, if it ended with one.
function stopOf(exit: Run["exit"]) {
  return Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined
}

// The steps a call runs up to the one it stopped at, then what that stop settled (none: nothing), then its record.
function ranTo(last: string, settled: string | undefined): ReadonlyArray<string> {
  const order = [
    "reserve",
    "guard in",
    "turn masked input",
    "send masked input",
    `settle ${cost}`,
    "guard out masked input"
  ]
  return [...order.slice(0, order.indexOf(last) + 1), ...(settled === undefined ? [] : [`settle ${settled}`]), "record"]
}

describe("a governed call", () => {
  it.effect("runs reserve, guard in, turn, send, settle its cost, guard out, and records once at its exit", () =>
    Effect.gen(function*() {
      const { exit, recorded, steps } = yield* run("none")
      expect(steps).toEqual(ranTo("guard out masked input", undefined))
      expect(steps).toContain(`settle ${cost}`)
      expect(exit).toEqual(Exit.succeed(answer))
      expect(recorded).toEqual([{ exit, answered: answer, stop: undefined }])
    }))

  // Each stop: the steps that ran (the settle among them, and what it charged), and the stop the call ended with.
  const stops: ReadonlyArray<{
    readonly at: StopAt
    readonly steps: ReadonlyArray<string>
    readonly stop: string | undefined
  }> = [
    { at: "reserve refused", steps: ranTo("reserve", undefined), stop: "Failed" },
    { at: "input blocked", steps: ranTo("guard in", "0"), stop: "Blocked" },
    { at: "input refused", steps: ranTo("guard in", "0"), stop: "Failed" },
    { at: "input interrupted", steps: ranTo("guard in", "0"), stop: undefined },
    { at: "turn failed", steps: ranTo("turn masked input", "0"), stop: "Failed" },
    { at: "turn interrupted", steps: ranTo("turn masked input", "0"), stop: undefined },
    { at: "send failed", steps: ranTo("send masked input", "0"), stop: "Failed" },
    { at: "send blocked", steps: ranTo("send masked input", "0"), stop: "Blocked" },
    { at: "send interrupted", steps: ranTo("send masked input", "undefined"), stop: undefined },
    { at: "output blocked", steps: ranTo("guard out masked input", undefined), stop: "Blocked" }
  ]

  for (const expected of stops) {
    it.effect(`stopped at "${expected.at}": ${expected.steps.filter((s) => s.startsWith("settle")).join(", ") || "no settle"}`, () =>
      Effect.gen(function*() {
        const { exit, recorded, steps } = yield* run(expected.at)
        expect(steps).toEqual(expected.steps)
        expect(Exit.isFailure(exit)).toBe(true)
        expect(stopOf(exit)?._tag).toBe(expected.stop)
        if (expected.stop === undefined && Exit.isFailure(exit)) expect(Cause.hasInterruptsOnly(exit.cause)).toBe(true)
        expect(recorded).toEqual([{
          exit,
          answered: expected.at === "output blocked" ? answer : undefined,
          stop: stopOf(exit)
        }])
      }))
  }

  it.effect("a block of its answer carries the answer it blocked (charged, and recorded as answered); of its input none", () =>
    Effect.gen(function*() {
      const output = stopOf((yield* run("output blocked")).exit)
      expect(output).toEqual({ _tag: "Blocked", error: blocked("reply"), answered: answer })
      const input = stopOf((yield* run("input blocked")).exit)
      expect(input).toEqual({ _tag: "Blocked", error: blocked("request"), answered: undefined })
      const sent = stopOf((yield* run("send blocked")).exit)
      expect(sent).toEqual({ _tag: "Blocked", error: blocked("reply"), answered: undefined })
    }))
})

// A governed call whose answer is held past it in a scope, as a stream's past its first batch: its `send` fails (the
// stream failed before its first batch) or answers; its cost is known once it `finished` (its `Finish` came in), and
// the scope is then closed with `closing` (the stream's end, or its cut). The steps seen, the call's return and the
// scope's close among them.
function runHeld(options: { readonly failed: boolean; readonly finished: boolean; readonly closing: Exit.Exit<void> }) {
  return Effect.gen(function*() {
    const steps: Array<string> = []
    const held = yield* Scope.make()
    let known: number | undefined
    const exit = yield* Effect.exit(GovernedCall.governed<string, typeof answer, string, never>({
      reserve: Effect.succeed((charged) => Effect.sync(() => steps.push(`settle ${charged}`))),
      guardIn: Effect.succeed("input"),
      send: () => options.failed ? Effect.fail("upstream 500") : Effect.succeed(answer),
      cost: () => known,
      held,
      record: () => {
        steps.push("record")
      }
    }))
    steps.push("returned")
    if (options.finished) known = cost
    yield* Scope.close(held, options.closing)
    steps.push("closed")
    return { steps, exit }
  })
}

describe("a governed call whose answer is held in a scope (a stream)", () => {
  it.effect("a whole stream is charged its cost once, when its scope closes, not when the call returns", () =>
    Effect.gen(function*() {
      const { exit, steps } = yield* runHeld({ failed: false, finished: true, closing: Exit.void })
      expect(exit).toEqual(Exit.succeed(answer))
      expect(steps).toEqual(["record", "returned", `settle ${cost}`, "closed"])
    }))

  it.effect("a stream cut after it was sent is charged its reservation, when its scope closes", () =>
    Effect.gen(function*() {
      const { exit, steps } = yield* runHeld({ failed: false, finished: false, closing: Exit.interrupt() })
      expect(exit).toEqual(Exit.succeed(answer))
      expect(steps).toEqual(["record", "returned", "settle undefined", "closed"])
    }))

  it.effect("a stream that failed before its first batch is released at once, and its scope's close charges nothing", () =>
    Effect.gen(function*() {
      const { exit, steps } = yield* runHeld({ failed: true, finished: false, closing: Exit.void })
      expect(stopOf(exit)).toEqual({ _tag: "Failed", error: "upstream 500" })
      expect(steps).toEqual(["settle 0", "record", "returned", "closed"])
    }))
})
