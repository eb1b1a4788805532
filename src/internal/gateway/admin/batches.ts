/**
 * `GET /admin/batches?limit=` (docs/batch.md): the batches made through the gateway, newest first, each as it stands:
 * its provider's status and line counts (a settled batch's last, kept with its settlement; an open one's read from the
 * provider with the key it was made with), its times, and the cost of its lines settled so far
 * (`batches/settlement.ts`). Its key and team are shown to those who may read them, as the request log's rows are.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as Option from "effect/Option"
import { AdminCheck, type Principal } from "../access/adminCheck.js"
import type { Batching } from "../batches/batching.js"
import * as Ids from "../batches/ids.js"
import { type LastStatus, type Settled, SettlementStore } from "../batches/settlements.js"
import * as Access from "../identity/access.js"
import { errorResponse, json } from "../serving/answers.js"
import { Configuration } from "../serving/configuration.js"
import { Requests } from "../serving/requests.js"
import { unixSeconds } from "./input.js"
import { defaultLimit, integer, maxLimit, readAll } from "./spend.js"

/** How many batches are read from their providers at once. */
const readsAtOnce = 4

/** The objects each kind of batch is, as its wire names it. */
const objects: Readonly<Record<Ids.BatchKind, string>> = { batch: "batch", message: "message_batch" }

/** A batch as the list shows it. */
export interface Listed {
  readonly id: string
  readonly object: string
  readonly key_id: string | null
  readonly key_name: string | null
  readonly team_id: string | null
  readonly deployment: string
  readonly model: string
  /**
   * Its provider's status (`running`, `completed`, `expired`, `cancelled`, `refused`): now, or for a batch settled the
   * one it ended with; null when unread.
   */
  readonly status: LastStatus["state"] | null
  readonly request_counts: { readonly total: number; readonly succeeded: number; readonly failed: number } | null
  /** Unix seconds. */
  readonly created_at: number
  /** Unix seconds when it was recorded settled; null while it is not. */
  readonly settled_at: number | null
  /** US dollars of its lines settled so far, at the batch price; null when its settlement is not recorded. */
  readonly cost_settled: number | null
}

/** What a batch's settlement says of it in the list. */
function settledOf(settled: Settled | undefined) {
  if (settled === undefined) return { settled_at: null, cost_settled: null }
  let cost = 0
  for (const lineCost of settled.lines.values()) cost += lineCost
  return { settled_at: settled.settledAt === undefined ? null : unixSeconds(settled.settledAt), cost_settled: cost }
}

/** The route over the batching of the configuration served; the teams of its keys, for what a principal sees. */
export const routes = Effect.fnUntraced(function*(batching: Batching, teams: Access.Teams | undefined) {
  const { options } = yield* Configuration
  const { served } = yield* Requests
  const { adminAs } = yield* AdminCheck
  const settlements = yield* SettlementStore

  // A batch `id` as `principal` may read it; none for one whose deployment or key this configuration does not serve.
  const listedOf = Effect.fn("AdminBatches.listedOf")(function*(principal: Principal, id: string) {
    const kind = Ids.batchKindOf(id)
    if (kind === undefined) return undefined
    const found = yield* Effect.option(batching.reopened(kind, id, undefined))
    if (Option.isNone(found)) return undefined
    const { deployment, ref } = found.value
    // A provider or store not answering now leaves its figures empty, not the list.
    const settled = Option.getOrUndefined(yield* Effect.option(settlements.settled(id)))
    // A batch settled ended as its settling found it: its provider is asked no more.
    const status = settled?.last ??
      Option.getOrUndefined(yield* Effect.option(batching.statusOf(found.value, "retrieve")))
    const caller = options.auth.callerOf(ref.caller)
    const team = caller?.team === undefined ? undefined : teams?.byId(caller.team)
    const keyShown = Access.sees(principal, "keys.read", team)
    const listed: Listed = {
      id,
      object: objects[kind],
      key_id: keyShown && ref.caller !== "" ? ref.caller : null,
      key_name: keyShown ? caller?.name ?? null : null,
      team_id: Access.sees(principal, "teams.read", team) ? caller?.team ?? null : null,
      deployment: deployment.name,
      model: deployment.model,
      status: status?.state ?? null,
      request_counts: status === undefined
        ? null
        : { total: status.total, succeeded: status.succeeded, failed: status.failed },
      created_at: unixSeconds(ref.createdAt),
      ...settledOf(settled)
    }
    return listed
  })

  const list = served(({ request }) =>
    adminAs((principal) =>
      readAll(
        request,
        (get) => ({ limit: integer("limit", get("limit"), 1, Number.MAX_SAFE_INTEGER) }),
        (read) =>
          batching.recorded(Math.min(read.limit ?? defaultLimit, maxLimit)).pipe(
            Effect.flatMap((ids) => Effect.forEach(ids, (id) => listedOf(principal, id), { concurrency: readsAtOnce })),
            Effect.map((rows) => json(200, JSON.stringify({ data: rows.filter((row) => row !== undefined) }))),
            Effect.catch((answer) => Effect.succeed(errorResponse(answer)))
          )
      )
    )
  )
  return [HttpRouter.route("GET", "/admin/batches", list)]
})
