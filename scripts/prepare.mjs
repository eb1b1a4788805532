// npm's `prepare`: builds dist/ (`npm run build`) on `npm install` or `npm ci` in a clone and before `npm pack` or
// `npm publish`; not under `npx effect-llm-router` (npm exec) in a clone, which links the clone into npx's cache and
// runs this script with its output hidden: a build there is a silent wait, and one interrupted leaves dist/ half
// made. There the command runs the dist/ the clone has, and says so when it has none.
import { spawnSync } from "node:child_process"
import process from "node:process"

if (process.env.npm_command !== "exec") {
  const build = spawnSync("npm", ["run", "build"], { stdio: "inherit", shell: process.platform === "win32" })
  process.exit(build.status ?? 1)
}
