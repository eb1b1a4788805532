/**
 * The simulator's Gemini API batch mode: a batch created with its requests inline (each answered as its call), read as
 * its operation (its responses inline once it has ended) and cancelled.
 */
import * as Schema from "effect/Schema"
import type { WireFormat } from "../../../simulator/WireFormat.js"
import { isJsonObject, type JsonObject, JsonObjectSchema } from "../../json.js"
import { isoTime } from "../../wire/batch.js"
import * as GeminiBatch from "../../wire/gemini/batch.js"
import { type BatchFault, refusal } from "../batchFault.js"
import { type BatchServer, cancel, counts, type Held, json, parsed, viewOf, written } from "../batchServer.js"
import type { Plan } from "../plan.js"
import { valueAt } from "../requestChecks.js"
import type { RouteInput } from "../routes.js"

/** A batch's state as the operation names it. */
const wireStates = {
  running: "BATCH_STATE_RUNNING",
  completed: "BATCH_STATE_SUCCEEDED",
  refused: "BATCH_STATE_FAILED",
  cancelled: "BATCH_STATE_CANCELLED",
  expired: "BATCH_STATE_EXPIRED"
} as const

/** The batch's operation: its metadata, and once it has ended its output. */
function operation(batch: Held<undefined>, now: number): typeof GeminiBatch.Operation.Encoded & JsonObject {
  const view = viewOf(batch, now)
  const { failed, succeeded } = counts(view)
  const total = batch.entries.length
  const output = view.state === "running" || view.state === "refused" ? undefined : {
    "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatchOutput",
    inlinedResponses: {
      // Gemini's output holds the lines that ran: the ones an expired or cancelled batch never ran are not in it.
      inlinedResponses: written(batch, view).flatMap(({ index, outcome }) =>
        typeof outcome === "string" ? [] : [GeminiBatch.inlinedResponse(batch.entries[index]!.customId, outcome)]
      )
    }
  }
  return {
    name: batch.id,
    metadata: {
      "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
      model: `models/${batch.model}`,
      displayName: "effect-llm-router",
      createTime: isoTime(batch.createdAt),
      state: wireStates[view.state],
      batchStats: {
        requestCount: String(total),
        successfulRequestCount: String(succeeded),
        failedRequestCount: String(failed),
        pendingRequestCount: String(total - succeeded - failed)
      },
      ...(output === undefined ? {} : { output })
    },
    done: view.state !== "running",
    ...(output === undefined ? {} : { response: output }),
    ...(view.state === "refused" ? { error: { code: 400, message: refusal, status: "INVALID_ARGUMENT" } } : {})
  }
}

const isInlined = Schema.is(Schema.Struct({ request: JsonObjectSchema, metadata: Schema.optionalKey(Schema.Unknown) }))

/** The inlined requests of a batch's create, each a line of `model`'s, or what is wrong with them. */
function linesOf(body: unknown, model: string) {
  const requests = valueAt(body, ["batch", "inputConfig", "requests", "requests"])
  if (!Array.isArray(requests) || requests.length === 0) {
    return "batch.inputConfig.requests.requests: at least one request"
  }
  if (!requests.every(isInlined)) return "each inlined request needs a request"
  return requests.map(({ metadata, request }, index) => ({
    customId: isJsonObject(metadata) && typeof metadata.key === "string" ? metadata.key : String(index),
    body: request,
    params: { model, method: "generateContent" }
  }))
}

/** The Gemini API's batch routes, over their own store of batches. */
export function geminiBatches<G>(server: BatchServer, format: WireFormat<G>) {
  const batches = new Map<string, Held<undefined>>()

  function create(input: RouteInput, out: Record<string, string>, fault: BatchFault, model: string): Plan {
    const lines = linesOf(parsed(input.body), model)
    if (typeof lines === "string") return server.invalid(format, lines, out)
    const batch = server.hold(batches, format, input, fault, {
      id: `batches/sim${server.nextId()}`,
      model,
      lines,
      made: undefined
    })
    return json(out, operation(batch, input.now))
  }

  return {
    createGemini: (input: RouteInput, model: string) =>
      server.creating(format, input, (out, fault) => create(input, out, fault, model)),
    gemini: (input: RouteInput, cancelled: boolean) =>
      server.found(format, input, batches.get(`batches/${input.params.id ?? ""}`), (batch, out) => {
        if (cancelled) {
          cancel(batch, input.now)
          return json(out, {})
        }
        return json(out, operation(batch, input.now))
      })
  }
}
