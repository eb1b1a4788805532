/**
 * What a command touches of the outside world, passed in so tests run commands in-process with their own environment,
 * stdin and captured output.
 */
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { maskKey } from "../LlmError.js"
import { helpHint, programName, UsageError } from "./usage.js"

export interface Io {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
  /** The environment `OPENAI_API_KEY` and `env:NAME` keys are read from. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Reads all of stdin; absent when stdin is a terminal (nothing is piped in). */
  readonly readStdin?: (() => Promise<string>) | undefined
}

/**
 * The exit codes of the command line.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  interrupted: 130
} as const

/**
 * Replaces every secret in `text` by its masked id: the last guard before anything reaches a terminal or a log file.
 */
export const scrub = (text: string, secrets: ReadonlyArray<Redacted.Redacted<string>>): string => {
  let out = text
  for (const secret of secrets) {
    const value = Redacted.value(secret)
    if (value.length >= 4) out = out.split(value).join(maskKey(value))
  }
  return out
}

/**
 * Prints a usage error as its reason and where the usage is (`<command> --help`), never the usage itself; exit code 2.
 */
export const reportUsage = (io: Io, error: UsageError, command: string): number => {
  io.stderr(`${programName}: ${error.reason}\n${helpHint(command)}\n`)
  return ExitCode.usage
}

const isTagged = (value: unknown): value is { readonly _tag: string; readonly message: string } =>
  typeof value === "object" && value !== null && "_tag" in value && typeof value._tag === "string" &&
  "message" in value && typeof value.message === "string"

/**
 * A failure as `--json` prints it: `{"error": {"tag", "message", ...}}` with the error's typed fields, a `Duration`
 * as milliseconds (`retryAfterMs`). An `OutputDecodeError`'s `raw` is left out: it can be a whole reply.
 */
export const errorJson = (error: unknown): { readonly error: Readonly<Record<string, unknown>> } => {
  if (!isTagged(error)) {
    return {
      error: error instanceof Error
        ? { tag: error.name, message: error.message }
        : { tag: "Error", message: String(error) }
    }
  }
  const fields: Record<string, unknown> = { tag: error._tag, message: error.message }
  for (const [name, value] of Object.entries(error)) {
    if (name === "_tag" || name === "raw") continue
    if (Duration.isDuration(value)) fields[`${name}Ms`] = Duration.toMillis(value)
    else fields[name] = value
  }
  return { error: fields }
}

/**
 * The exit code of a command's end: a usage error prints its reason and where the usage is (2); another failure prints
 * `<Tag>: <message>` as the first stderr line (1), with `json` also `errorJson` on stdout; a defect what is known of it
 * (1). Every line goes through `scrub`, so no key reaches stdout or stderr whatever failed.
 */
export const exitCodeOf = <E>(
  io: Io,
  command: string,
  secrets: () => ReadonlyArray<Redacted.Redacted<string>>,
  json: () => boolean = () => false
) =>
<R>(effect: Effect.Effect<number, E, R>): Effect.Effect<number, never, R> =>
  Effect.catchCause(effect, (cause) =>
    Effect.sync(() => {
      if (Cause.hasInterruptsOnly(cause)) return ExitCode.interrupted
      const failure = Cause.findErrorOption(cause)
      if (failure._tag === "Some" && failure.value instanceof UsageError) {
        return reportUsage(io, failure.value, command)
      }
      const error: unknown = failure._tag === "Some" ? failure.value : Cause.squash(cause)
      if (json()) io.stdout(`${scrub(JSON.stringify(errorJson(error)), secrets())}\n`)
      if (failure._tag === "Some") {
        const line = isTagged(error) ? `${error._tag}: ${error.message}` : `Error: ${String(error)}`
        io.stderr(`${scrub(line, secrets())}\n`)
        return ExitCode.failed
      }
      const line = error instanceof Error ? `${error.name}: ${error.message}` : `Error: ${String(error)}`
      io.stderr(`${scrub(line, secrets())}\n${scrub(Cause.pretty(cause), secrets())}\n`)
      return ExitCode.failed
    }))

/**
 * `io`'s environment as the `ConfigProvider` of an effect, its unset variables left out.
 */
export const withEnv = (io: Io) =>
  Effect.provideService(
    ConfigProvider.ConfigProvider,
    ConfigProvider.fromEnv({
      env: Object.fromEntries(
        Object.entries(io.env).filter((entry): entry is [string, string] => entry[1] !== undefined)
      )
    })
  )

/**
 * A command as it runs: `parsed`, then `usage` printed for `help` (0), else `perform`'s exit code, in a scope; its end
 * as `exitCodeOf` gives it, scrubbed of the secrets `perform` adds to the array it is given, with `errorJson` on stdout
 * when `json` says so of the arguments.
 */
export const runParsed = <A, E1, R1, E2, R2>(
  io: Io,
  command: string,
  usage: string,
  parsed: Effect.Effect<A | "help", E1, R1>,
  perform: (args: A, secrets: Array<Redacted.Redacted<string>>) => Effect.Effect<number, E2, R2>,
  json?: (args: A) => boolean
): Effect.Effect<number, never, Exclude<R1 | R2, Scope.Scope>> => {
  const secrets: Array<Redacted.Redacted<string>> = []
  let asJson = false
  return Effect.flatMap(parsed, (args) => {
    if (args !== "help") {
      asJson = json?.(args) === true
      return perform(args, secrets)
    }
    return Effect.sync(() => {
      io.stdout(usage)
      return ExitCode.ok
    })
  }).pipe(Effect.scoped, exitCodeOf(io, command, () => secrets, () => asJson))
}
