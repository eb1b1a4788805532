/**
 * Which cases a bench run measures, and the one JSON line it ends with: each
 * case's figures, or, for a case that failed (threw, its child process exited
 * before reporting, it timed out), `{"name", "error"}` in its place, so one
 * failing case loses none of the others' figures.
 */

/** A case that failed: its name and what went wrong. */
export interface CaseFailure {
  readonly name: string
  readonly error: string
}

/**
 * The cases named on the command line: a comma list of parts of names
 * (`openai-chat-stream,streams-10k-memory`); a case runs when its name contains
 * one of them, every case when there is none.
 */
export const caseFilter = (argument: string | undefined): (name: string) => boolean => {
  const parts = (argument ?? "").split(",").map((part) => part.trim()).filter((part) => part !== "")
  return (name) => parts.length === 0 || parts.some((part) => name.includes(part))
}

const describeError = (error: unknown): string => {
  if (error instanceof Error) return error.message
  if (typeof error === "object" && error !== null) {
    const tagged = error as { readonly _tag?: unknown; readonly message?: unknown }
    if (typeof tagged.message === "string" && tagged.message !== "") return tagged.message
    if (typeof tagged._tag === "string") return tagged._tag
  }
  return String(error)
}

/**
 * Runs one case and adds what it gives to `results`: its result lines, or, when
 * it fails, a `CaseFailure` under each of `names` (the results it would have given).
 */
export const attempt = async <R>(
  results: Array<R | CaseFailure>,
  names: ReadonlyArray<string>,
  run: () => Promise<R | ReadonlyArray<R>>
): Promise<void> => {
  try {
    const outcome = await run()
    if (Array.isArray(outcome)) results.push(...(outcome as ReadonlyArray<R>))
    else results.push(outcome as R)
  } catch (error) {
    const message = describeError(error)
    console.error(`${names.join(", ")}: failed:`, error)
    for (const name of names) results.push({ name, error: message })
  }
}

/** A result that is a case's failure. */
export const isFailure = (result: unknown): result is CaseFailure =>
  typeof result === "object" && result !== null && "error" in result && typeof result.error === "string"

/** The run's last line, `{"results":[...]}`, and the exit code: 1 when any case failed. */
export const summary = (results: ReadonlyArray<unknown>): { readonly line: string; readonly exitCode: number } => ({
  line: JSON.stringify({ results }),
  exitCode: results.some(isFailure) ? 1 : 0
})
