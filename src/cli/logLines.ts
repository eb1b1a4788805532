/**
 * `serve`'s logger: JSON lines (`Logger.formatJson`) on stderr, each `logWindow`'s written together, the last when its
 * scope closes. A line is formatted at its window's write, off the logging fiber, when nothing the formatter reads can
 * change meanwhile: message parts and annotations all primitives, no cause. Annotations and spans are held as logged:
 * Effect makes a new record and list at each `annotateLogs` and `withLogSpan`, so later ones leave them alone. A line
 * holding an object (its owner may change it; its masking reads the logging fiber's context) or a cause is formatted
 * as it is logged.
 */
import type * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"
import type { Io } from "./io.js"

/**
 * How long `serve`'s log lines gather before they are written together: one write a window costs far less than one a
 * line.
 */
export const logWindow = Duration.millis(100)

/**
 * `serve`'s logger: the lines of a `logWindow` (on Effect's `Clock`) written to `io.stderr` at once, and the last of
 * them when the scope closes, so a clean stop loses none.
 */
export function jsonLines(io: Pick<Io, "stderr">) {
  return Logger.batched(heldLines, {
    window: logWindow,
    flush: (lines) => Effect.sync(() => io.stderr(`${lines.map(formatted).join("\n")}\n`))
  })
}

/**
 * What `Logger.formatJson` reads of a line whose parts cannot change: the logging fiber's id, annotations and spans
 * as they were when it logged.
 */
interface HeldLine {
  readonly message: unknown
  readonly logLevel: LogLevel.LogLevel
  readonly cause: Cause.Cause<unknown>
  readonly date: Date
  readonly fiberId: number
  readonly annotations: Readonly<Record<string, unknown>>
  readonly spans: ReadonlyArray<[label: string, timestamp: number]>
  /** Whether its message or annotations hold a bigint. */
  readonly bigint: boolean
}

/** A line as its window holds it: already formatted, or held to be formatted at the write. */
type WindowLine = string | HeldLine

const heldLines = Logger.make(hold)

/** Holds `options`' line for its window's write when nothing in it can change until then, else formats it now. */
function hold(options: Logger.Options<unknown>): WindowLine {
  const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
  const values = valuesOf(options.message, annotations)
  if (options.cause.reasons.length > 0 || values === "objects") return Logger.formatJson.log(options)
  return {
    message: options.message,
    logLevel: options.logLevel,
    cause: options.cause,
    date: options.date,
    fiberId: options.fiber.id,
    annotations,
    spans: options.fiber.getRef(References.CurrentLogSpans),
    bigint: values === "bigint"
  }
}

/**
 * What a line's message (one value or the parts of one `Effect.log` call) and annotations hold: primitives only
 * (`JSON.stringify` writes them), a bigint among primitives (which it refuses), or an object or function (whose owner
 * may change it).
 */
function valuesOf(message: unknown, annotations: Readonly<Record<string, unknown>>): Values {
  let values = Array.isArray(message) ? message.reduce<Values>(widened, "primitives") : kindOf(message)
  for (const key in annotations) values = widened(values, annotations[key])
  return values
}

type Values = "primitives" | "bigint" | "objects"

// What `found` and `value` hold together: an object over a bigint over primitives.
function widened(found: Values, value: unknown): Values {
  const kind = kindOf(value)
  return kind === "objects" || found === "primitives" ? kind : found
}

function kindOf(value: unknown): Values {
  if (value === null) return "primitives"
  const type = typeof value
  return type === "object" || type === "function" ? "objects" : type === "bigint" ? "bigint" : "primitives"
}

/**
 * The line, `Logger.formatJson`'s: its structure (`Logger.formatStructured`) written by `JSON.stringify`, which writes
 * primitives as `Formatter.formatJson` (what `Logger.formatJson` writes with) does, without its walk of each value for
 * secrets, getters and cycles, which primitives cannot hold. A bigint, which `JSON.stringify` refuses, is written by
 * `Logger.formatJson`.
 */
function formatted(line: WindowLine): string {
  if (typeof line === "string") return line
  const { cause, date, logLevel, message } = line
  const options = { message, logLevel, cause, date, fiber: asLogged(line) }
  return line.bigint ? Logger.formatJson.log(options) : JSON.stringify(Logger.formatStructured.log(options))
}

/**
 * The logging fiber as `Logger.formatJson` reads it (id, annotations and spans), as it was when it logged `line`; any
 * other reference its default. The fiber itself is not held: it holds its request.
 */
function asLogged(line: HeldLine): Fiber.Fiber<unknown, unknown> {
  const logged = {
    id: line.fiberId,
    getRef<X>(reference: Context.Reference<X>): X {
      const value: unknown = reference.key === References.CurrentLogAnnotations.key
        ? line.annotations
        : reference.key === References.CurrentLogSpans.key
        ? line.spans
        : reference.defaultValue()
      return value as X
    }
  }
  return logged as unknown as Fiber.Fiber<unknown, unknown>
}
