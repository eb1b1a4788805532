/**
 * The admin token `serve` keeps in its data directory when provider.json names no admin key, so the admin API is never
 * open to whoever reaches the port: made at first start (mode 0600, in a directory only its owner enters), kept across
 * restarts, found there by `keys` and `spend`. As with Jupyter's token, the file's path is printed, never the token.
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs"
import * as FsPromises from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Io } from "./io.js"

/**
 * The token's file name in the data directory.
 */
export const fileName = "admin-token"

/**
 * The name the token is given among the gateway's admin keys (`GET /admin/keys` lists it so).
 */
export const keyName = "admin-token"

/**
 * The data directory: `--data`, else `$XDG_DATA_HOME/effect-llm-router`, else `~/.local/share/effect-llm-router`
 * (the XDG Base Directory Specification's default for user data).
 */
export const dataDirectory = (flag: string | undefined, env: Io["env"]): string =>
  flag ?? (env.XDG_DATA_HOME !== undefined && env.XDG_DATA_HOME !== ""
    ? Path.join(env.XDG_DATA_HOME, "effect-llm-router")
    : Path.join(env.HOME ?? Os.homedir(), ".local", "share", "effect-llm-router"))

/**
 * The token's file could not be made or read: `path` names it, `reason` says why.
 */
export class AdminTokenError extends Schema.TaggedError<AdminTokenError>()("AdminTokenError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `The admin token at ${this.path} could not be used: ${this.reason}`
  }
}

/**
 * The token file's path in `directory`.
 */
export const pathIn = (directory: string): string => Path.join(directory, fileName)

// 32 random bytes: as hard to guess as a key the admin API makes.
const fresh = (): string => `elr-admin-${randomBytes(32).toString("base64url")}`

const failed = (path: string) => (error: { readonly message: string }) =>
  new AdminTokenError({ path, reason: error.message })

// The token file opened without following a symbolic link, and what it is: one read of one file, so what is checked
// is what is read.
const openToken = (path: string) =>
  Effect.tryPromise({
    try: async () => {
      const handle = await FsPromises.open(path, Fs.constants.O_RDONLY | Fs.constants.O_NOFOLLOW)
      try {
        return { info: await handle.stat(), text: await handle.readFile("utf8") }
      } finally {
        await handle.close()
      }
    },
    catch: (cause) => cause as NodeJS.ErrnoException
  })

// Why the file is not a token only its owner can read, if it is not.
const unsafe = (info: Fs.Stats): string | undefined => {
  if (!info.isFile()) return "it is not a regular file (delete it to make another)"
  // Windows has no such modes (Node reports 0666 for every file); its profile's permissions keep it.
  if (process.platform === "win32") return undefined
  if ((info.mode & 0o077) !== 0) {
    return `its mode is ${(info.mode & 0o777).toString(8).padStart(4, "0")}: others than its owner may read or ` +
      "change it (chmod 600 it, or delete it to make another)"
  }
  const uid = process.getuid?.()
  return uid === undefined || info.uid === uid
    ? undefined
    : `it belongs to another user (uid ${info.uid}): delete it to make another`
}

/**
 * The text of the private file at `path` (the admin token, a stored login), if it is there; a symbolic link, or a file
 * others may read or change (mode beyond 0600), is an error saying why.
 */
export const readPrivate = Effect.fnUntraced(function*(path: string) {
  const opened = yield* openToken(path).pipe(
    Effect.catchIf((error) => error.code === "ENOENT", () => Effect.succeed(undefined)),
    Effect.mapError((error) =>
      new AdminTokenError({
        path,
        reason: error.code === "ELOOP"
          ? "it is a symbolic link: the token is a file of its own (delete the link to make another)"
          : error.message
      })
    )
  )
  if (opened === undefined) return undefined
  const refused = unsafe(opened.info)
  if (refused !== undefined) return yield* new AdminTokenError({ path, reason: refused })
  return opened.text
})

/**
 * The token in `directory` (whitespace trimmed), if the file is there; an empty file is an error, as are those
 * `readPrivate` refuses.
 */
export const read = Effect.fnUntraced(function*(directory: string) {
  const path = pathIn(directory)
  const text = yield* readPrivate(path)
  if (text === undefined) return undefined
  const token = text.trim()
  if (token === "") return yield* new AdminTokenError({ path, reason: "the file is empty (delete it to make another)" })
  return Redacted.make(token)
})

/**
 * The token in `directory`, made first when there is none (directory mode 0700, file 0600), put in place whole and
 * only if the file does not exist yet, so two processes starting together keep one token and neither reads it empty.
 */
export const ensure = Effect.fnUntraced(function*(directory: string) {
  const fs = yield* FileSystem.FileSystem
  const path = pathIn(directory)
  const kept = yield* read(directory)
  if (kept !== undefined) return kept
  yield* Effect.mapError(fs.makeDirectory(directory, { recursive: true, mode: 0o700 }), failed(path))
  // Written whole in a private folder beside it, then linked into place: a link appears whole or not at all, and fails
  // when another process made the file first (its token is the one), so no reader ever sees it half written.
  yield* Effect.gen(function*() {
    const folder = yield* fs.makeTempDirectoryScoped({ directory, prefix: `${fileName}-` })
    const written = Path.join(folder, fileName)
    yield* fs.writeFileString(written, `${fresh()}\n`, { flag: "wx", mode: 0o600 })
    yield* fs.link(written, path)
  }).pipe(
    Effect.scoped,
    Effect.catchIf((error) => error.reason._tag === "AlreadyExists", () => Effect.void),
    Effect.mapError(failed(path))
  )
  const token = yield* read(directory)
  if (token === undefined) return yield* new AdminTokenError({ path, reason: "it vanished as it was made" })
  return token
})
