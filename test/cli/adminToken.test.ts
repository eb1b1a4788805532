import * as NodeServices from "@effect/platform-node/NodeServices"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as AdminToken from "../../src/cli/adminToken.js"

// A file system whose writes are seen half done, as another process may see them: the file is made empty first, and
// its text comes a moment later.
const halfDoneWrites = Layer.effect(
  FileSystem.FileSystem,
  Effect.map(FileSystem.FileSystem, (files) => ({
    ...files,
    writeFileString: (file, text, options) =>
      files.writeFileString(file, "", options).pipe(
        Effect.andThen(Effect.sleep("5 millis")),
        Effect.andThen(files.writeFileString(file, text, { ...options, flag: "w" }))
      )
  }))
).pipe(Layer.provide(NodeServices.layer))

describe("the admin token", () => {
  it.live("made by many at once, its writes seen half done: each reads the same whole token, and only it is left", () =>
    Effect.gen(function*() {
      const home = fs.mkdtempSync(path.join(os.tmpdir(), "admin-token-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(home, { recursive: true, force: true })))
      for (let round = 0; round < 10; round++) {
        const data = path.join(home, `data-${round}`)
        const tokens = yield* Effect.all(Array.from({ length: 8 }, () => AdminToken.ensure(data)), {
          concurrency: "unbounded"
        })
        const values = new Set(tokens.map(Redacted.value))
        expect(values.size).toBe(1)
        expect([...values][0]).toMatch(/^elr-admin-[A-Za-z0-9_-]{43}$/)
        expect(fs.readdirSync(data)).toEqual([AdminToken.fileName])
        expect(fs.statSync(AdminToken.pathIn(data)).mode & 0o777).toBe(0o600)
      }
    }).pipe(Effect.scoped, Effect.provide(halfDoneWrites)))
})
