/**
 * What a command touches of the outside world, passed in so tests run commands
 * in-process with their own environment, stdin and captured output.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { maskKey } from "../LlmError.js"
import { programName, UsageError } from "./usage.js"

/**
 * @since 0.1.0
 * @category Models
 */
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
 *
 * @since 0.1.0
 * @category Constants
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  interrupted: 130
} as const

/**
 * Replaces every secret in `text` by its masked id: the last guard before
 * anything reaches a terminal or a log file.
 *
 * @since 0.1.0
 * @category Secrets
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
 * Prints a usage error as its one-line reason followed by the command's usage,
 * and gives exit code 2.
 *
 * @since 0.1.0
 * @category Errors
 */
export const reportUsage = (io: Io, error: UsageError, usageText: string): number => {
  io.stderr(`${programName}: ${error.reason}\n\n${usageText}`)
  return ExitCode.usage
}

const isTagged = (value: unknown): value is { readonly _tag: string; readonly message: string } =>
  typeof value === "object" && value !== null && "_tag" in value && typeof value._tag === "string" &&
  "message" in value && typeof value.message === "string"

/**
 * Turns the end of a command into its exit code: a usage error prints the
 * reason and the usage (2); any other failure prints `<Tag>: <message>` as the
 * first stderr line (1); a defect prints what is known of it (1). Every line
 * goes through `scrub`, so no key reaches stderr whatever failed.
 *
 * @since 0.1.0
 * @category Errors
 */
export const exitCodeOf = <E>(
  io: Io,
  usageText: string,
  secrets: () => ReadonlyArray<Redacted.Redacted<string>>
) =>
<R>(effect: Effect.Effect<number, E, R>): Effect.Effect<number, never, R> =>
  Effect.catchCause(effect, (cause) =>
    Effect.sync(() => {
      if (Cause.hasInterruptsOnly(cause)) return ExitCode.interrupted
      const failure = Cause.findErrorOption(cause)
      if (failure._tag === "Some") {
        const error: unknown = failure.value
        if (error instanceof UsageError) return reportUsage(io, error, usageText)
        const line = isTagged(error) ? `${error._tag}: ${error.message}` : `Error: ${String(error)}`
        io.stderr(`${scrub(line, secrets())}\n`)
        return ExitCode.failed
      }
      const defect = Cause.squash(cause)
      const line = defect instanceof Error ? `${defect.name}: ${defect.message}` : `Error: ${String(defect)}`
      io.stderr(`${scrub(line, secrets())}\n${scrub(Cause.pretty(cause), secrets())}\n`)
      return ExitCode.failed
    }))
