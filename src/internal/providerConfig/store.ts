/**
 * The `store` section of `provider.json`: where instances share their limits
 * (`Store.Options` in snake_case, durations in seconds).
 */
import * as Schema from "effect/Schema"
import type * as Store from "../../Store.js"
import { NonEmpty, oneOf, optional, Positive, PositiveInt } from "./fields.js"

export const StoreEntry = Schema.Struct({
  redis: NonEmpty.check(
    Schema.makeFilter((url: string) => /^rediss?:\/\//.test(url), { message: "expected a redis:// or rediss:// URL" })
  ),
  on_unavailable: optional(oneOf(["fail-open", "fail-closed"])),
  instances: optional(PositiveInt),
  command_timeout: optional(Positive),
  lease_ttl: optional(Positive),
  publish_period: optional(Positive),
  publish_ttl: optional(Positive)
})

export type StoreEntry = typeof StoreEntry.Type

export const toOptions = (entry: StoreEntry): Store.Options => ({
  redis: entry.redis,
  ...(entry.on_unavailable !== undefined ? { onUnavailable: entry.on_unavailable } : {}),
  ...(entry.instances !== undefined ? { instances: entry.instances } : {}),
  ...(entry.command_timeout !== undefined ? { commandTimeout: entry.command_timeout * 1000 } : {}),
  ...(entry.lease_ttl !== undefined ? { leaseTtl: entry.lease_ttl * 1000 } : {}),
  ...(entry.publish_period !== undefined ? { publishPeriod: entry.publish_period * 1000 } : {}),
  ...(entry.publish_ttl !== undefined ? { publishTtl: entry.publish_ttl * 1000 } : {})
})
