/**
 * Set up before every test file (vitest's `setupFiles`): a data home of its own (`XDG_DATA_HOME`, removed after the
 * file), so the gateways its `serve` processes start keep their databases apart from the user's and each other's.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"

const home = mkdtempSync(join(tmpdir(), "data-home-"))
process.env.XDG_DATA_HOME = home
afterAll(() => rmSync(home, { recursive: true, force: true }))
