/**
 * Faults: the `x-simulator-fault` grammar (documented in docs/simulator.md) parsed, and a parsed fault applied to a
 * rendered reply.
 */
import * as Result from "effect/Result"
import type { Fault, StreamErrorShape } from "../../simulator/Simulator.js"
import type { RenderedStream, ReplyMeta, WireFormat } from "../../simulator/WireFormat.js"
import type { Plan } from "./plan.js"
import { prng } from "./prng.js"

export const faultHeader = "x-simulator-fault"

/** Each fault kind, with the parameters it takes. */
const faultParams = {
  status: ["code", "type", "message", "retry-after"],
  html: [],
  empty: [],
  "echo-key": [],
  down: ["status", "since"],
  silent: [],
  "first-token": [],
  reset: [],
  malformed: [],
  truncate: [],
  "stream-error": ["shape"],
  stall: [],
  flood: [],
  output: [],
  continuation: [],
  prefill: [],
  usage: [],
  chaos: ["seed"]
} as const satisfies Readonly<Record<string, ReadonlyArray<string>>>

type FaultKind = keyof typeof faultParams

const faultKinds = Object.keys(faultParams) as ReadonlyArray<FaultKind>

const isFaultKind = (kind: string): kind is FaultKind => Object.hasOwn(faultParams, kind)

/**
 * The faults a `chaos` fault picks from, each as likely: every per-request fault of the grammar (`down`, a window in
 * time, `output`, which only schemas notice, `flood`, which only a size limit ends, `echo-key`, a test of masking, and
 * `usage`, which only a count of usage notices, aside), streams cut before and after their first chunk.
 */
export const chaosFaults: ReadonlyArray<string> = (
  "status=429 status=429;retry-after=none status=500 status=503 html=502 empty=503 reset=0 reset=3 " +
  "malformed=3 truncate=3 stream-error=3 stall=0 stall=3 silent=forever first-token=100"
).split(" ")

/** Decodes an `x-simulator-fault` value: the fault, or the reason it is invalid. */
export const decodeFault = (value: string): Result.Result<Fault, string> =>
  Result.gen(function*() {
    const parts = value.split(";").map((part) => part.trim()).filter((part) => part !== "")
    const pairs: Array<readonly [string, string]> = []
    for (const part of parts) {
      const eq = part.indexOf("=")
      if (eq <= 0) return yield* Result.fail(`"${part}" is not of the form name=value`)
      pairs.push([part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim()])
    }
    const [head, ...params] = pairs
    if (head === undefined) return yield* Result.fail("it is empty")
    const [kind, raw] = head
    if (!isFaultKind(kind)) {
      return yield* Result.fail(`unknown fault "${kind}" (expected one of ${faultKinds.join(", ")})`)
    }
    const names: ReadonlyArray<string> = faultParams[kind]
    for (const [name] of params) {
      if (!names.includes(name)) {
        return yield* Result.fail(
          names.length === 0
            ? `"${kind}" takes no parameters, got "${name}"`
            : `unknown parameter "${name}" for "${kind}" (expected ${names.join(", ")})`
        )
      }
    }
    return yield* faultOf(kind, raw, (name) => params.find(([n]) => n === name)?.[1])
  })

/** A fault of a known kind, from its value and its parameters (`param`), or the reason it is invalid. */
const faultOf = (
  kind: FaultKind,
  raw: string,
  param: (name: string) => string | undefined
): Result.Result<Fault, string> => {
  const fail = (reason: string) => Result.fail(reason)
  const isStatus = (text: string) => /^\d{3}$/.test(text) && Number(text) >= 400 && Number(text) <= 599
  const status = (): Result.Result<number, string> =>
    isStatus(raw) ? Result.succeed(Number(raw)) : fail(`"${kind}" needs an HTTP status from 400 to 599, got "${raw}"`)
  const count = (): Result.Result<number, string> =>
    /^\d{1,6}$/.test(raw)
      ? Result.succeed(Number(raw))
      : fail(`"${kind}" needs a number of chunks (0 or more), got "${raw}"`)
  const millis = (): Result.Result<number, string> =>
    /^\d{1,9}$/.test(raw)
      ? Result.succeed(Number(raw))
      : fail(`"${kind}" needs milliseconds (0 or more), got "${raw}"`)
  // A fault whose value is one of a few words.
  const word = <const W extends string>(
    words: ReadonlyArray<W>,
    make: (word: W) => Fault
  ): Result.Result<Fault, string> =>
    (words as ReadonlyArray<string>).includes(raw)
      ? Result.succeed(make(raw as W))
      : fail(`"${kind}" needs ${words.join(" or ")}, got "${raw}"`)
  switch (kind) {
    case "status":
      return Result.flatMap(status(), (s) => {
        const retryAfterText = param("retry-after")
        const retryAfter = retryAfterText === undefined || retryAfterText === "none"
          ? retryAfterText
          : Number(retryAfterText)
        if (
          typeof retryAfter === "number" &&
          !(Number.isFinite(retryAfter) && retryAfter >= 0 && retryAfterText !== "")
        ) {
          return fail(`retry-after needs seconds (0 or more) or none, got "${retryAfterText}"`)
        }
        return Result.succeed<Fault>({
          _tag: "Status",
          status: s,
          code: param("code"),
          type: param("type"),
          message: param("message"),
          retryAfter
        })
      })
    case "html":
    case "empty":
      return Result.map(status(), (s): Fault => ({ _tag: kind === "html" ? "Html" : "Empty", status: s }))
    case "down":
      return Result.flatMap(millis(), (ms) => {
        const statusText = param("status") ?? "503"
        if (!isStatus(statusText)) return fail(`"down" needs a status from 400 to 599, got "${statusText}"`)
        const since = param("since") ?? "start"
        if (since !== "start" && since !== "first") return fail(`unknown since "${since}" (expected start, first)`)
        return Result.succeed<Fault>({ _tag: "Down", ms, status: Number(statusText), since })
      })
    case "silent":
      return raw === "forever"
        ? Result.succeed({ _tag: "Silent", ms: undefined })
        : Result.mapBoth(millis(), {
          onFailure: () => `"silent" needs milliseconds or forever, got "${raw}"`,
          onSuccess: (ms): Fault => ({ _tag: "Silent", ms })
        })
    case "first-token":
      return Result.map(millis(), (ms): Fault => ({ _tag: "FirstToken", ms }))
    case "reset":
    case "malformed":
    case "truncate":
      return Result.map(count(), (after): Fault => ({
        _tag: kind === "reset" ? "Reset" : kind === "malformed" ? "Malformed" : "Truncate",
        after
      }))
    case "stall":
      return raw === "end"
        ? Result.succeed({ _tag: "StallAtEnd" })
        : Result.mapBoth(count(), {
          onFailure: () => `"stall" needs a number of chunks (0 or more) or end, got "${raw}"`,
          onSuccess: (after): Fault => ({ _tag: "Stall", after })
        })
    case "flood":
      return /^\d{1,9}$/.test(raw) && Number(raw) > 0
        ? Result.succeed({ _tag: "Flood", bytes: Number(raw) })
        : fail(`"flood" needs a number of bytes (1 or more), got "${raw}"`)
    case "stream-error":
      return Result.flatMap(count(), (after) => {
        const shape = param("shape") ?? "openai"
        if (shape !== "openai" && shape !== "vllm" && shape !== "openrouter") {
          return fail(`unknown shape "${shape}" (expected openai, vllm, openrouter)`)
        }
        return Result.succeed<Fault>({ _tag: "StreamError", after, shape })
      })
    case "output":
      return word(["nonconforming", "text", "loop"], (mode) => ({ _tag: "Output", mode }))
    case "continuation":
      return word(["continue", "restart", "repeat", "reword"], (mode) => ({ _tag: "Continuation", mode }))
    case "prefill":
      return word(
        ["refuse", "continue_final_message", "prefix"],
        (mode) => mode === "refuse" ? { _tag: "RefusePrefill" } : { _tag: "PrefillOnFlag", flag: mode }
      )
    case "echo-key":
      return word(["error", "body"], (where) => ({ _tag: "EchoKey", where }))
    case "usage":
      return word(["none"], () => ({ _tag: "NoUsage" }))
    case "chaos": {
      const rate = Number(raw)
      if (!(/^\d+(\.\d+)?$/.test(raw) && rate <= 1)) return fail(`"chaos" needs a rate from 0 to 1, got "${raw}"`)
      const seedText = param("seed") ?? "1"
      const seed = Number(seedText)
      if (!(/^\d{1,10}$/.test(seedText) && seed <= 0xffffffff)) {
        return fail(`"chaos" needs an integer seed from 0 to 4294967295, got "${seedText}"`)
      }
      return Result.succeed({ _tag: "Chaos", rate, seed })
    }
  }
}

/** `key`'s value in `map`, made by `make` the first time it is asked for; bounded, so a client cannot grow it. */
export const remembered = <V>(map: Map<string, V>, key: string, make: (key: string) => V): V => {
  let value = map.get(key)
  if (value === undefined) {
    value = make(key)
    if (map.size > 256) map.clear()
    map.set(key, value)
  }
  return value
}

/** A parser that remembers the values it has seen, since a client usually sends the same few; bounded. */
export const makeCachedParser = (): (value: string) => Result.Result<Fault, string> => {
  const faults = new Map<string, Result.Result<Fault, string>>()
  return (value) => remembered(faults, value, decodeFault)
}

/**
 * What `chaos` faults inject: for each fault value (`""` for the options' fault) a PRNG seeded with its seed, read once
 * per request, and a count of the faults picked, by fault value of {@link chaosFaults}. Bounded as the parser.
 */
export const makeChaos = () => {
  type Picked = Exclude<Fault, { readonly _tag: "Chaos" }>
  const parsed = chaosFaults.map((value) => Result.getOrThrow(decodeFault(value)) as Picked)
  const streams = new Map<string, () => number>()
  const injected = new Map<string, number>()
  /** The fault this request gets, if any. */
  const pick = (fault: Extract<Fault, { readonly _tag: "Chaos" }>, value: string): Picked | undefined => {
    const next = remembered(streams, value, () => prng(fault.seed))
    if (next() / 0x1_0000_0000 >= fault.rate) return undefined
    const i = next() % chaosFaults.length
    injected.set(chaosFaults[i]!, (injected.get(chaosFaults[i]!) ?? 0) + 1)
    return parsed[i]
  }
  return { pick, injected: (): Record<string, number> => Object.fromEntries(injected) }
}

/** The faults that change a reply's delivery rather than replace it. */
export type ReplyFault = Exclude<
  Fault,
  {
    readonly _tag:
      | "Status"
      | "Html"
      | "Empty"
      | "Down"
      | "Output"
      | "Continuation"
      | "RefusePrefill"
      | "PrefillOnFlag"
      | "NoUsage"
      | "Chaos"
      | "EchoKey"
  }
>

/** A fault the gate lets through: one that changes the reply's delivery, its content or what the request may be. */
export type Admitted =
  | ReplyFault
  | Extract<Fault, { readonly _tag: "Output" | "Continuation" | "RefusePrefill" | "PrefillOnFlag" | "NoUsage" }>

/** A stream's events as a fault leaves them: the events, what follows them, and how the connection ends. */
export interface FaultedStream {
  readonly parts: ReadonlyArray<string>
  readonly end: string
  readonly then: "end" | "reset" | "stall"
}

/** Applies a fault (if any) to a rendered stream. */
export const faultStream = (
  format: Pick<WireFormat<never>, "malformedEvent" | "renderStreamError">,
  meta: ReplyMeta,
  { events, malformedEvent, streamError, tail }: RenderedStream,
  fault: ReplyFault | undefined
): FaultedStream => {
  if (fault === undefined || fault._tag === "Silent" || fault._tag === "FirstToken") {
    return { parts: events, end: tail, then: "end" }
  }
  if (fault._tag === "Flood") return { parts: [...events.slice(0, 1), "x".repeat(fault.bytes)], end: "", then: "stall" }
  if (fault._tag === "StallAtEnd") return { parts: events, end: tail, then: "stall" }
  const before = events.slice(0, fault.after)
  switch (fault._tag) {
    case "Malformed":
      return {
        parts: [...before, malformedEvent?.(before.length) ?? format.malformedEvent, ...events.slice(fault.after)],
        end: tail,
        then: "end"
      }
    case "Truncate":
      return { parts: before, end: "", then: "end" }
    case "StreamError":
      return {
        parts: before,
        end: streamError?.(before.length) ?? format.renderStreamError(fault.shape, meta),
        then: "end"
      }
    case "Reset":
      return { parts: before, end: "", then: "reset" }
    case "Stall":
      return { parts: before, end: "", then: "stall" }
  }
}

/** A whole 200 JSON body, changed by the fault, if any; `bodyError` renders a `stream-error` fault's body. */
export const bodyPlan = (
  out: Record<string, string>,
  text: string,
  delayMs: number,
  fault: ReplyFault | undefined,
  bodyError: (shape: StreamErrorShape) => string
): Plan => {
  out["content-type"] = "application/json"
  const sent = (body: string, late = 0): Plan => ({
    _tag: "Body",
    status: 200,
    headers: out,
    body,
    delayMs: delayMs + late
  })
  if (fault === undefined) return sent(text)
  if (fault._tag === "Silent") return fault.ms === undefined ? { _tag: "Hang" } : sent(text, fault.ms)
  if (fault._tag === "FirstToken") return sent(text, fault.ms)
  if (fault._tag === "Flood" || fault._tag === "StallAtEnd") {
    const first = fault._tag === "Flood" ? " ".repeat(fault.bytes) : text
    return { _tag: "Stream", headers: out, delayMs, groups: [{ delayMs: 0, text: first }], then: "stall" }
  }
  const half = text.slice(0, text.length >> 1)
  switch (fault._tag) {
    case "Malformed":
      return sent(half)
    case "StreamError":
      return sent(bodyError(fault.shape))
    case "Truncate":
      return { _tag: "Truncated", headers: out, declaredLength: Buffer.byteLength(text), body: half, delayMs }
    case "Reset":
      return { _tag: "Drop", delayMs }
    case "Stall":
      return { _tag: "Hang" }
  }
}
