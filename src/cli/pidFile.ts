/**
 * The file `serve` writes its process id to while it serves: what to signal (SIGHUP reloads, SIGTERM stops) when the
 * shell's process is not the gateway, as with `npx effect-llm-router serve &`, whose `$!` is npm's, which neither
 * passes a SIGHUP on nor stops the gateway on a SIGTERM (docs/cli.md).
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Schema from "effect/Schema"
import * as Path from "node:path"

/**
 * The file's name in the data directory.
 */
export const fileName = "serve.pid"

/**
 * The file's path in `directory`.
 */
export const pathIn = (directory: string): string => Path.join(directory, fileName)

/**
 * The file could not be written: `path` names it, `reason` says why.
 */
export class PidFileError extends Schema.TaggedError<PidFileError>()("PidFileError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `The pid file at ${this.path} could not be written: ${this.reason}`
  }
}

/**
 * This process's id written to `directory`'s pid file (mode 0600, directory 0700) for the scope's life, removed when
 * it closes unless another `serve` of the same directory has written its own since.
 */
export const hold = Effect.fnUntraced(function*(directory: string) {
  const fs = yield* FileSystem.FileSystem
  const path = pathIn(directory)
  const own = `${process.pid}\n`
  const failed = (error: { readonly message: string }) => new PidFileError({ path, reason: error.message })
  yield* Effect.acquireRelease(
    Effect.mapError(
      Effect.andThen(
        fs.makeDirectory(directory, { recursive: true, mode: 0o700 }),
        fs.writeFileString(path, own, { mode: 0o600 })
      ),
      failed
    ),
    () =>
      fs.readFileString(path).pipe(
        Effect.flatMap((text) => text === own ? fs.remove(path) : Effect.void),
        Effect.ignore
      )
  )
  return path
})
