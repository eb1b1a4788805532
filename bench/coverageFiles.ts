/**
 * Which of the project's files ran, from V8's precise coverage (`Profiler.takePreciseCoverage` at function
 * granularity, with call counts): what `hotPath.ts` counts.
 */

/** One function's coverage as V8's `Profiler.takePreciseCoverage` gives it (function granularity). */
export interface FunctionCoverage {
  readonly functionName: string
  readonly ranges: ReadonlyArray<{ readonly startOffset: number; readonly endOffset: number; readonly count: number }>
}

/** One script's coverage. */
export interface ScriptCoverage {
  readonly url: string
  readonly functions: ReadonlyArray<FunctionCoverage>
}

/**
 * The project's source files (paths relative to the project, `src/...ts`) among `scripts` that ran: one of whose
 * functions was called since the counters were last read; `compiledSrc` is the URL of the compiled `src/` folder.
 */
export const filesRun = (scripts: ReadonlyArray<ScriptCoverage>, compiledSrc: string): ReadonlyArray<string> => {
  const prefix = compiledSrc.endsWith("/") ? compiledSrc : `${compiledSrc}/`
  const files = new Set<string>()
  for (const script of scripts) {
    if (!script.url.startsWith(prefix) || !script.url.endsWith(".js")) continue
    if (script.functions.some((fn) => (fn.ranges[0]?.count ?? 0) > 0)) {
      files.add(`src/${script.url.slice(prefix.length).replace(/\.js$/, ".ts")}`)
    }
  }
  return [...files].sort()
}
