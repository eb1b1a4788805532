/**
 * The `store` section of `provider.json`: where instances share their limits (`redis`: `Store.Options` in snake_case,
 * durations in seconds) and the gateway's database (`sql`: a Postgres URL); each URL written or `env:NAME`.
 */
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Store from "../../Store.js"
import { NonEmpty, oneOf, optional, Positive, PositiveInt } from "./fields.js"

/** A `redis://` or `rediss://` URL. */
export const isRedisUrl = (url: string): boolean => /^rediss?:\/\//.test(url)

export const StoreEntry = Schema.Struct({
  /** A URL may hold a password: read as `Redacted`, from the environment with `env:NAME`. */
  redis: optional(NonEmpty.check(
    Schema.makeFilter((url: string) => isRedisUrl(url) || url.startsWith("env:"), {
      message: "expected a redis:// or rediss:// URL, or env:NAME naming one"
    })
  )),
  sql: optional(NonEmpty.check(
    Schema.makeFilter((url: string) => /^(postgres(ql)?:\/\/|env:)/.test(url), {
      message: "expected a postgres:// or postgresql:// URL, or env:NAME naming one"
    })
  )),
  on_unavailable: optional(oneOf(["fail-open", "fail-closed"])),
  instances: optional(PositiveInt),
  command_timeout: optional(Positive),
  lease_ttl: optional(Positive),
  publish_period: optional(Positive),
  publish_ttl: optional(Positive)
}).check(
  Schema.makeFilter((entry) => entry.redis !== undefined || entry.sql !== undefined, {
    message: "expected `redis` (where instances share their limits), `sql` (the gateway's database) or both"
  })
)

export type StoreEntry = typeof StoreEntry.Type

/** The Redis options of an entry that names a Redis, at `redis` (its URL read). */
export const toOptions = (entry: StoreEntry, redis: Redacted.Redacted<string>): Store.Options => ({
  redis,
  ...(entry.on_unavailable !== undefined ? { onUnavailable: entry.on_unavailable } : {}),
  ...(entry.instances !== undefined ? { instances: entry.instances } : {}),
  ...(entry.command_timeout !== undefined ? { commandTimeout: entry.command_timeout * 1000 } : {}),
  ...(entry.lease_ttl !== undefined ? { leaseTtl: entry.lease_ttl * 1000 } : {}),
  ...(entry.publish_period !== undefined ? { publishPeriod: entry.publish_period * 1000 } : {}),
  ...(entry.publish_ttl !== undefined ? { publishTtl: entry.publish_ttl * 1000 } : {})
})
