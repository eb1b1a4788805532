/**
 * The Node arguments that start another bench script in a child process the
 * way this one runs. `npm run bench` runs tsc's output (`.bench-build/`), as
 * the published package is compiled JavaScript; run from the TypeScript
 * sources (`node --import tsx bench/main.ts`), children go through tsx too.
 */
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const compiled = import.meta.url.endsWith(".js")

/** What Node needs before a bench script's path: tsx's loader when running from the sources. */
export const loaderArgs: ReadonlyArray<string> = compiled ? [] : ["--import", "tsx"]

/** The arguments that run `name` (a bench script's path under `bench/`, without extension). */
export const nodeArgs = (name: string): Array<string> => [
  ...loaderArgs,
  path.join(path.dirname(fileURLToPath(import.meta.url)), `${name}${compiled ? ".js" : ".ts"}`)
]
