/**
 * The command line's `serve` (`src/cli/serve.ts`'s `run`, the function `src/cli/main.ts` runs) with a tracer that
 * records when each of this library's spans starts (`phaseRecorder.ts`'s `recordSpan`), for the stream profile's
 * traced pass (`bench/streamProfile.ts`): the library makes its spans only under a tracer other than Effect's native
 * one, so this pass pays for them and its CPU is not the untraced pass's; its phases say where a request waits.
 * Its arguments are `serve`'s; it prints the gateway's URL first, as `serve` does, and stops on SIGTERM.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { run } from "../../src/cli/serve.js"
import { recordSpan } from "./phaseRecorder.js"

const recording = Tracer.make({
  span(options) {
    const span = Tracer.nativeTracer.span(options)
    recordSpan(span, options.name, Option.getOrUndefined(options.parent) as { readonly name?: string } | undefined)
    return span
  }
})

const fiber = Effect.runFork(
  run(process.argv.slice(2), {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    env: process.env
  }).pipe(Effect.withTracer(recording))
)
process.on("SIGTERM", () => fiber.interruptUnsafe())
fiber.addObserver((exit) => {
  process.exitCode = exit._tag === "Success" ? exit.value : 1
  setTimeout(() => process.exit(), 2000).unref()
})
