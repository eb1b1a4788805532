/**
 * The refusals of admin requests that name nobody the gateway knows (401 and 403 to a request without a credential,
 * with one it does not take, or from a person holding no role), which anyone who reaches the port can cause: none is a
 * row of its own. They are counted, every address together, and one window after the first a summary row says how
 * many (`summaryAction`), so that a flood from any number of addresses leaves at most one row a window. The count
 * (`RefusalCount`) is in the gateway's database (`dropped.ts`), one for every instance on it.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { StoreUnavailableError } from "../../../Store.js"
import { canonicalJson } from "../../json.js"
import { Database } from "../../persistence/sql.js"
import * as Dropped from "./dropped.js"
import type { AuditLog } from "./store.js"

/** The window the refusals are summarised over: one row a window at most. */
export const window = Duration.minutes(1)

/** The action of the row that says how many refusals of nobody known there were. */
export const summaryAction = "unauthenticated refusals"

/** The actor of the rows the gateway writes of itself. */
export const gatewayActor = "gateway"

export function isRefusal(status: number): boolean {
  return status === 401 || status === 403
}

export interface Refusals {
  /** A refusal of nobody known, at `at` (epoch milliseconds), counted for the window's summary. */
  readonly count: (at: number) => Effect.Effect<void, StoreUnavailableError>
}

/** Where the refusals of nobody known are counted. */
export class RefusalCount
  extends Context.Service<RefusalCount, Dropped.DropCount>()("effect-llm-router/gateway/audit/RefusalCount")
{}

/** The count in the gateway's database, one for every instance on it. */
export const layerSql: Layer.Layer<RefusalCount, never, Database> = Layer.effect(
  RefusalCount,
  Effect.map(Database, (database) => Dropped.sql(database, window))
)

/** The refusals counted in `state`, their summaries written to `log` one window `per` on, in the scope. */
export const make = Effect.fnUntraced(function*(
  log: AuditLog,
  options: { readonly per?: Duration.Duration | undefined; readonly state: Dropped.DropCount }
): Effect.fn.Return<Refusals, never, Scope.Scope> {
  const scope = yield* Effect.scope
  const { per = window, state: dropped } = options

  // One window after the first refusal it counts: the summary row, and the count started again.
  const summarise = Effect.gen(function*() {
    yield* Effect.sleep(per)
    const written = Effect.gen(function*() {
      const counted = yield* dropped.take
      if (counted === undefined) return
      yield* log.append({
        at: yield* Clock.currentTimeMillis,
        actor: gatewayActor,
        action: summaryAction,
        object: null,
        before: null,
        after: canonicalJson({
          refusals: counted.count,
          first: new Date(counted.first).toISOString(),
          last: new Date(counted.last).toISOString()
        }),
        outcome: "refused",
        status: 401,
        code: "unauthenticated",
        from: null
      })
    })
    yield* written.pipe(
      Effect.catch((error) =>
        Effect.logError("Gateway: the count of unauthenticated refusals could not be recorded in the audit log").pipe(
          Effect.annotateLogs({ reason: error.message })
        )
      )
    )
  })

  const count = Effect.fnUntraced(function*(at: number) {
    if (yield* dropped.add(at)) yield* Effect.forkIn(summarise, scope)
  })

  return { count }
})
