import * as path from "node:path"
import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: {
    // Exact matches: a bare "effect-llm-router" key would also rewrite "effect-llm-router/testing".
    alias: [
      { find: /^effect-llm-router$/, replacement: path.resolve(import.meta.dirname, "src/index.ts") },
      { find: /^effect-llm-router\/testing$/, replacement: path.resolve(import.meta.dirname, "src/testing.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts", "examples/**/*.test.ts"],
    setupFiles: ["test/utils/dataHome.ts"],
    // Most files wait on sockets, child processes and servers rather than compute: vitest's default (one worker
    // fewer than the cores) ran them one at a time on a two-core machine (docs/performance.md, "The test suite").
    maxWorkers: 4,
    // A file's concurrent tests two at a time: the coding agents' files start an agent process a test, and five of
    // them at once on two cores took more CPU in all and longer than two (docs/performance.md, "The test suite").
    maxConcurrency: 2,
    testTimeout: 120_000,
    hookTimeout: 30_000
  }
})
