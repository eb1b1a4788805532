#!/usr/bin/env node
// Runs the command line straight from the TypeScript sources through tsx, so the
// repository needs no build step before `npx effect-llm-router`.
import { register } from "tsx/esm/api"

register()
await import("../src/cli/main.ts")
