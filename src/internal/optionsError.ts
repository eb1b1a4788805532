/** Building `OptionsError`s: the value rendered safely, and the checks most options share. */
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import { OptionsError } from "../OptionsError.js"

const masked = "<redacted>"
const longest = 80

/** Whether the last segment of an option's path names a key (`key`, `apiKey`, `keys[2]`, `headers.authorization`). */
const namesKey = (option: string): boolean => {
  const last = option.slice(option.lastIndexOf(".") + 1).replace(/\[[^\]]*\]$/, "")
  return /(keys?|authorization|secret)$/i.test(last)
}

// Inside an object value, the fields that name a key are masked too.
const maskKeyFields = (name: string, value: unknown): unknown =>
  name !== "" && value !== undefined && namesKey(name) ? masked : value

const shorten = (text: string) => text.length > longest ? `${text.slice(0, longest)}…` : text

/** `value` as the message shows it; a key, or anything `Redacted`, masked. */
export const render = (option: string, value: unknown): string => {
  if (Redacted.isRedacted(value) || namesKey(option)) return masked
  if (typeof value === "string") return shorten(JSON.stringify(value))
  if (typeof value === "object" && value !== null) {
    if (Duration.isDuration(value)) return Duration.format(value)
    try {
      return shorten(JSON.stringify(value, maskKeyFields) ?? String(value))
    } catch {
      return Object.prototype.toString.call(value)
    }
  }
  return String(value)
}

/** The error for `option` of `module`, with `value` rendered by `render`. */
export const make = (module: string, option: string, value: unknown, expected: string): OptionsError =>
  new OptionsError({ module, option, value: render(option, value), expected })

/** Every problem of `problems` in one error (the first, with the rest as its `others`); undefined when none. */
export const all = (problems: ReadonlyArray<OptionsError | undefined>): OptionsError | undefined => {
  const found = problems.flatMap((problem) =>
    problem === undefined ? [] : [problem, ...(problem.others ?? [])].map(({ expected, module, option, value }) => ({
      module,
      option,
      value,
      expected
    }))
  )
  const [first, ...others] = found
  return first === undefined ? undefined : new OptionsError({ ...first, ...(others.length > 0 ? { others } : {}) })
}

/**
 * `error`'s options renamed under `prefix` (`config.guardrails.pii.`), as the gateway's checks name a problem of a part
 * another module built.
 */
export const under = (prefix: string, error: OptionsError): OptionsError =>
  all(
    [error, ...(error.others ?? [])].map((problem) =>
      new OptionsError({ ...problem, module: "Gateway", option: `${prefix}${problem.option}` })
    )
  )!

/** The error of a value that is not a non-empty string (`optional`: `undefined` passes); undefined for a good one. */
export const nonEmpty = (
  module: string,
  option: string,
  value: unknown,
  how?: { readonly optional?: boolean | undefined }
): OptionsError | undefined =>
  (value === undefined && how?.optional === true) || (typeof value === "string" && value !== "")
    ? undefined
    : make(module, option, value, "a non-empty string")

/** How `positive` reads a value. */
export interface Positive {
  /** Only whole numbers. */
  readonly integer?: boolean | undefined
  /** `undefined` passes: the option is optional. */
  readonly optional?: boolean | undefined
  /** `Infinity` passes: it means no bound. */
  readonly unbounded?: boolean | undefined
}

/** The error of a value that is not a positive finite number (as `how` says); undefined for a good one. */
export const positive = (
  module: string,
  option: string,
  value: number | undefined,
  how: Positive = {}
): OptionsError | undefined => {
  if (value === undefined && how.optional) return undefined
  const ok = typeof value === "number" && value > 0 &&
    (how.integer ? Number.isInteger(value) : Number.isFinite(value) || (how.unbounded === true && value === Infinity))
  if (ok) return undefined
  const expected = how.integer
    ? "a positive integer"
    : how.unbounded
    ? "a positive number or Infinity"
    : "a positive finite number"
  return make(module, option, value, expected)
}

/** The longest a duration option may be, and why (what the message says of it). */
export interface AtMost {
  readonly millis: number
  readonly why: string
}

/**
 * The error of a value that is not a finite duration of at least 0 (more than 0 when `positive`), nor longer than
 * `atMost`; undefined for a good one or for `undefined`.
 */
export const duration = (
  module: string,
  option: string,
  value: Duration.Input | undefined,
  positive = false,
  atMost?: AtMost
): OptionsError | undefined => {
  if (value === undefined) return undefined
  const decoded = Duration.fromInput(value)
  const millis = decoded._tag === "Some" ? Duration.toMillis(decoded.value) : NaN
  if (
    Number.isFinite(millis) && (positive ? millis > 0 : millis >= 0) &&
    (atMost === undefined || millis <= atMost.millis)
  ) {
    return undefined
  }
  const expected = positive ? "a positive, finite duration" : "a finite duration, 0 or more"
  return make(
    module,
    option,
    value,
    atMost === undefined ? expected : `${expected} of at most ${atMost.millis} ms (${atMost.why})`
  )
}
