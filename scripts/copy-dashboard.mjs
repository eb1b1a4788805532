// Copies the dashboard's browser scripts (src/internal/gateway/observe/dashboard/browser/*.js, which tsc does not
// compile: they are plain browser JavaScript) beside the compiled gateway in the output folder given (`dist`,
// `.bench-build/src`).
import { cpSync } from "node:fs"
import * as path from "node:path"
import process from "node:process"

const out = process.argv[2]
if (out === undefined) throw new Error("usage: node scripts/copy-dashboard.mjs <compiled src folder>")
const from = path.join("src", "internal", "gateway", "observe", "dashboard", "browser")
cpSync(from, path.join(out, "internal", "gateway", "observe", "dashboard", "browser"), { recursive: true })
