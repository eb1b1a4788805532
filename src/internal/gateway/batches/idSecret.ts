/**
 * The secret a batch's id is signed under (`ids.ts`, docs/batch.md) when the deployment's key is no secret (a keyless
 * server's stand-in `none`, a cloud identity's name): 256 random bits, made by the first instance that needs it and
 * kept where every instance reads it, so no client can make an id. The store, `IdSecretStore`, is the database
 * (`layerSql`), else the shared Redis (`layerRedis`), under one contract
 * (`test/contract/batchIdSecret.ts`): one secret, whoever asks first and however many at once.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as SqlSchema from "effect/sql/SqlSchema"
import { randomBytes } from "node:crypto"
import type { StoreUnavailableError } from "../../../Store.js"
import { tableRow } from "../../persistence/columns.js"
import { overArgv } from "../../persistence/script.js"
import * as Sql from "../../persistence/sql.js"
import { SharedStore } from "../../store/sharedStore.js"

/** The batch ids' secret's store. */
export interface Secrets {
  /** The secret, made now when there is none yet: the same one for every instance on the store, ever after. */
  readonly secret: Effect.Effect<Redacted.Redacted<string>, StoreUnavailableError>
}

export class IdSecretStore
  extends Context.Service<IdSecretStore, Secrets>()("effect-llm-router/gateway/batches/IdSecretStore")
{}

/** A new secret: 256 random bits, base64url. */
function made(): string {
  return randomBytes(32).toString("base64url")
}

/** The secret in the gateway's database, which every instance on it shares. */
export const layerSql: Layer.Layer<IdSecretStore, never, Sql.Database> = Layer.effect(
  IdSecretStore,
  Effect.map(Sql.steps, ({ sql, step }): Secrets => {
    const kept = SqlSchema.findOne({
      Request: Schema.Void,
      Result: tableRow("batch_id_secret", { secret: Schema.RedactedFromValue(Schema.NonEmptyString) }),
      execute: () => sql`SELECT secret FROM batch_id_secret WHERE id = 1`
    })
    return {
      // Of instances making it at once, the first insert wins; every one reads the row it left.
      secret: step(
        "reading the batch ids' secret",
        Effect.gen(function*() {
          yield* sql`INSERT INTO batch_id_secret (id, secret) VALUES (1, ${made()}) ON CONFLICT (id) DO NOTHING`
          // The insert just made sure of the row.
          return (yield* Effect.catchTag(kept(undefined), "NoSuchElementError", Effect.die)).secret
        })
      )
    }
  })
)

// ARGV: the key, and a new secret, kept unless one is already; the secret kept.
const secretScript = overArgv<[key: string, secret: string], string>(`
redis.call("SET", ARGV[1], ARGV[2], "NX")
return redis.call("GET", ARGV[1])
`)

/** The secret in the Redis the instances share, for those without a database every instance shares. */
export const layerRedis: Layer.Layer<IdSecretStore, never, SharedStore> = Layer.effect(
  IdSecretStore,
  Effect.map(SharedStore, ({ connection }): Secrets => {
    const read = connection.eval(secretScript)
    return { secret: Effect.map(read(`${connection.prefix}:batches:id-secret`, made()), Redacted.make) }
  })
)

/**
 * `store`'s secret, read once and kept: a read that failed (the store away) is tried again at the next need, so a
 * batch's id is answered once the store is back.
 */
export function remembered(store: Secrets): Effect.Effect<Redacted.Redacted<string>, StoreUnavailableError> {
  let known: Redacted.Redacted<string> | undefined
  return Effect.suspend(() =>
    known !== undefined ? Effect.succeed(known) : Effect.tap(store.secret, (secret) =>
      Effect.sync(() => {
        known = secret
      }))
  )
}
