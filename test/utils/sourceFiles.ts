/** The TypeScript files of `src/`, for the tests that read the house as text. */
import * as Fs from "node:fs"
import * as Path from "node:path"

/** The repository's `src/` folder. */
export const src = Path.resolve(import.meta.dirname, "../../src")

/** Every `.ts` file under `folder`, however deep. */
export function sourceFiles(folder: string): Array<string> {
  return Fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = Path.join(folder, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith(".ts") ? [path] : []
  })
}
