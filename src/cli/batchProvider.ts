/**
 * `batch` through the deployment's batch API at its batch price: one provider batch (`Batch`) per model the lines
 * name, progress on stderr as polled, each result written in input order once every line before it has its own.
 * A batch expired or cancelled before all its lines ran is named on stderr and fails the run (exit 1); one the
 * provider refused fails it with `BatchError`.
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type * as Batch from "../Batch.js"
import type { Input as ChatRequest } from "../ChatRequest.js"
import { invalidChat } from "../internal/llm/service.js"
import type { Request } from "./batchInput.js"
import { type Appender, record } from "./batchOutput.js"
import type * as Progress from "./batchProgress.js"
import { programName } from "./usage.js"

/** The lines one batch holds: those that name one model ("" for the deployment's own), by their place in the run. */
interface Group {
  readonly model: string
  readonly places: ReadonlyArray<number>
}

function byModel(lines: ReadonlyArray<Request>, places: Iterable<number>): ReadonlyArray<Group> {
  const groups = new Map<string, Array<number>>()
  for (const place of places) {
    const line = lines[place]!
    const model = line.request.model ?? ""
    const places = groups.get(model) ?? []
    places.push(place)
    groups.set(model, places)
  }
  return [...groups].map(([model, places]) => ({ model, places }))
}

/** A batch as it was at its last poll, with the model it was submitted for. */
interface Polled {
  readonly model: string
  readonly progress: Batch.Progress
}

/** `… batch batch_abc (gpt-4o-mini) running: 3/10 done, 1 failed`. */
function pollLine(polled: Polled): string {
  const { progress } = polled
  const done = progress.succeeded + progress.failed
  return `${programName}: batch ${progress.batchId ?? "of calls"} (${polled.model}) ${progress.state}: ` +
    `${done}/${progress.total} done, ${progress.failed} failed\n`
}

/** Why a batch that ended without running all its lines did so, and where its lines' errors are. */
function unfinishedLine(polled: Polled, out: string): string {
  const { progress } = polled
  const why = progress.state === "expired" ? "expired (its completion window passed)" : "was cancelled"
  return `${programName}: batch ${progress.batchId} (${polled.model}) ${why} before all its lines ran: ` +
    `those not run have a BatchLineError in ${out}; send them again in a new batch or with --live\n`
}

const differs = (before: Polled | undefined, now: Batch.Progress) =>
  before === undefined || before.progress.state !== now.state || before.progress.succeeded !== now.succeeded ||
  before.progress.failed !== now.failed

/**
 * Runs `lines` as provider batches with `batch` and writes each result to `out` in order, counted in `counts`.
 * Gives the batches that ended without running all their lines (expired or cancelled), each named on stderr.
 */
export const runBatches = Effect.fnUntraced(function*(options: {
  readonly lines: ReadonlyArray<Request>
  readonly batch: Batch.Service
  /** The deployment's provider and model (which the lines that name none are sent to). */
  readonly provider: string
  readonly model: string
  readonly out: Appender
  readonly outFile: string
  readonly counts: Progress.Counts
  readonly progress: Progress.Progress
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}) {
  const { counts, lines, out, progress } = options
  const outcomes: Array<Batch.Outcome | undefined> = new Array(lines.length)
  let written = 0
  // Lines are written in the input's order: each waits for those before it (of another model's batch, say).
  const writeReady = Effect.suspend(() => {
    const ready: Array<Effect.Effect<void>> = []
    for (let result = outcomes[written]; result !== undefined; result = outcomes[written]) {
      ready.push(record({ out, counts, id: lines[written]!.id, result, secrets: options.secrets }))
      written++
    }
    return Effect.all(ready, { discard: true })
  })
  // A line a call would refuse unsent is refused so here, as its own result: it would make its whole batch refused.
  const valid: Array<number> = []
  for (const [place, line] of lines.entries()) {
    const invalid = invalidChat(line.request, options.provider, options.model)
    if (invalid === undefined) valid.push(place)
    else outcomes[place] = Result.fail(invalid)
  }
  yield* writeReady
  const polled = new Map<string, Polled>()
  const events = byModel(lines, valid).map((group) => {
    const requests = group.places.map((place): ChatRequest => lines[place]!.request)
    const model = group.model === "" ? options.model : group.model
    return Stream.mapEffect(options.batch.events(requests), (event) => {
      if (event._tag === "Line") {
        outcomes[group.places[event.index]!] = event.result
        return writeReady
      }
      const key = event.batchId ?? model
      if (!differs(polled.get(key), event)) return Effect.void
      const now = { model, progress: event }
      polled.set(key, now)
      return progress.log(pollLine(now))
    })
  })
  yield* Stream.runDrain(Stream.mergeAll(events, { concurrency: "unbounded" }))
  const unfinished = [...polled.values()].filter(({ progress }) =>
    progress.state === "expired" || progress.state === "cancelled"
  )
  for (const batch of unfinished) yield* progress.log(unfinishedLine(batch, options.outFile))
  return unfinished
})
