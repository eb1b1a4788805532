/**
 * effect-llm-router/testing: what an application's tests need, apart from the main entry point so that a program that
 * does not test pulls none of it (`Simulator` brings a `node:http` server).
 *
 * - `LlmTest`: an `Llm` that answers from a script or a function and records the requests it saw.
 * - `Simulator`: a local LLM server on loopback that speaks every supported wire format, with knobs and injected
 *   faults, for tests over real HTTP.

 *
 * @example
 * ```ts
 * import { LlmTest, Simulator } from "effect-llm-router/testing"
 * ```
 *
 * @since 0.1.0
 */

// First: on a Node too old, importing the package fails here, in words, before anything loads undici.
import "./internal/nodeVersion.js"

/** @since 0.1.0 */
export * as LlmTest from "./LlmTest.js"

/** @since 0.1.0 */
export * as Simulator from "./simulator/Simulator.js"
