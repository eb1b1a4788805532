/**
 * The simulator's Anthropic Message Batches: a batch created with its requests inline (each answered as its call),
 * read, cancelled, and its results read once it has ended.
 */
import * as Schema from "effect/Schema"
import type { WireFormat } from "../../../simulator/WireFormat.js"
import { isJsonObject } from "../../json.js"
import * as AnthropicBatch from "../../wire/anthropic/batch.js"
import { toJsonLines } from "../../wire/batch.js"
import { type BatchFault, refusal } from "../batchFault.js"
import { type BatchServer, cancel, type Held, json, parsed, text, viewOf, written } from "../batchServer.js"
import type { Plan } from "../plan.js"
import type { RouteInput } from "../routes.js"

/** The origin a request came to, which a batch's `results_url` is under. */
function baseOf(input: RouteInput): string {
  const host = input.headers.host
  return `http://${typeof host === "string" ? host : "localhost"}`
}

function viewed(batch: Held<undefined>, now: number, baseUrl: string): AnthropicBatch.BatchView {
  const view = viewOf(batch, now)
  // The lines by outcome: a reply's or a failure's tag, or the reason a line never ran.
  const count = (kind: string) =>
    view.outcomes.filter((outcome) => (typeof outcome === "object" ? outcome._tag : outcome) === kind).length
  const canceled = count("cancelled")
  const expired = count("expired")
  const ended = view.state !== "running"
  return {
    id: batch.id,
    ended,
    cancelling: false,
    createdAt: batch.createdAt,
    expiresAt: batch.createdAt + 24 * 3_600_000,
    endedAt: ended ? Math.min(now, batch.createdAt + batch.fault.ms) : undefined,
    processing: batch.entries.length - view.ran - canceled - expired,
    succeeded: count("Reply"),
    errored: count("Failed"),
    canceled,
    expired,
    resultsUrl: ended ? `${baseUrl}${AnthropicBatch.batchesPath}/${batch.id}/results` : undefined
  }
}

const isBatchRequest = Schema.is(AnthropicBatch.BatchRequest)

/** Anthropic's Message Batches' routes, over their own store of batches. */
export function anthropicBatches<A>(server: BatchServer, format: WireFormat<A>) {
  const batches = new Map<string, Held<undefined>>()

  function create(input: RouteInput, out: Record<string, string>, fault: BatchFault): Plan {
    // Anthropic validates a batch as it creates it: a refused batch is a refused request.
    if (fault.refuse) return server.invalid(format, refusal, out)
    const body = parsed(input.body)
    const requests = isJsonObject(body) && Array.isArray(body.requests) ? body.requests : undefined
    if (requests === undefined || requests.length === 0) {
      return server.invalid(format, "requests: a list of at least one request", out)
    }
    if (!requests.every(isBatchRequest)) return server.invalid(format, "each request needs a custom_id and params", out)
    const model = requests[0]!.params.model
    const batch = server.hold(batches, format, input, fault, {
      id: `msgbatch_sim${server.nextId()}`,
      model: typeof model === "string" ? model : "",
      lines: requests.map((request) => ({ customId: request.custom_id, body: request.params })),
      made: undefined
    })
    return json(out, AnthropicBatch.batchObject(viewed(batch, input.now, baseOf(input))))
  }

  return {
    createAnthropic: (input: RouteInput) => server.creating(format, input, (out, fault) => create(input, out, fault)),
    anthropic: (input: RouteInput, cancelled: boolean) =>
      server.found(format, input, batches.get(input.params.id ?? ""), (batch, out) => {
        if (cancelled) cancel(batch, input.now)
        return json(out, AnthropicBatch.batchObject(viewed(batch, input.now, baseOf(input))))
      }),
    anthropicResults: (input: RouteInput) =>
      server.found(format, input, batches.get(input.params.id ?? ""), (batch, out) => {
        const view = viewOf(batch, input.now)
        if (view.state === "running") return server.invalid(format, "the batch has not ended", out)
        const lines = written(batch, view).map(({ index, outcome }) =>
          AnthropicBatch.resultLine(batch.entries[index]!.customId, outcome)
        )
        return text(out, toJsonLines(lines))
      })
  }
}
