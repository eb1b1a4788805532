/**
 * When a gateway answers a request without a key, and where keys may be made at run time: one rule, decided by the
 * configuration (docs/gateway.md, "Gateway keys"; the scale-out recipe in docs/store.md).
 *
 * - A gateway on loopback that shares no store is the owner's machine: without gateway keys it answers every request.
 * - One listening beyond loopback, or sharing its limits through Redis, answers only requests with a key unless
 *   `gateway.allow_keyless` says otherwise, and starts only with some way to have one (keys listed or ever made at run
 *   time, or admin keys and a database to make them in).
 * - Keys made at run time must reach every instance sharing the limits: with a Redis store only a Postgres database
 *   will do; making one in an instance's own SQLite file is refused (`localOnly`).
 */
import type { OptionsError } from "../../../OptionsError.js"
import * as OptionsErrors from "../../optionsError.js"

const loopback: ReadonlySet<string> = new Set(["127.0.0.1", "::1", "localhost"])

/** Whether `host` is a loopback address (`127.0.0.1`, `::1` or `localhost`): the gateway serves this machine only. */
export function isLoopback(host: string): boolean {
  return loopback.has(host)
}

/** What the rule reads of a gateway's configuration. */
export interface Setting {
  readonly host: string
  /** Whether a Redis store shares the gateway's limits with other instances. */
  readonly redis: boolean
  /** The gateway's database, if it has one. */
  readonly database: "sqlite" | "postgres" | undefined
  readonly adminKeys: number
  /** Gateway keys listed in the configuration (provider.json's `gateway.keys`, `Gateway.Options.keys`). */
  readonly keys: number
  /** provider.json's `gateway.allow_keyless` (`Gateway.Keys.allowKeyless`). */
  readonly allowKeyless: boolean
}

/** Whether every request needs a key even before one is made: a gateway others may reach or share limits with. */
export function keysRequired(setting: Setting): boolean {
  return !setting.allowKeyless && (!isLoopback(setting.host) || setting.redis)
}

/** Whether keys made at run time would be this instance's alone: limits shared through Redis, a SQLite file its own. */
export function localOnly(setting: Setting): boolean {
  return setting.redis && setting.database === "sqlite"
}

/** Whether keys can be made at run time: admin keys, and a database every instance sharing the limits reaches. */
export function makesKeys(setting: Setting): boolean {
  return setting.database !== undefined && setting.adminKeys > 0 && !localOnly(setting)
}

const allowKeyless = "unless provider.json's `gateway.allow_keyless` is true (`Gateway.Keys.allowKeyless`)"

/**
 * The refusal of a gateway that would need keys and could never have one (`everMade`: whether its database holds keys
 * made at run time), or `undefined`.
 */
export function keylessProblem(setting: Setting, everMade: boolean): OptionsError | undefined {
  if (!keysRequired(setting) || setting.keys > 0 || everMade || makesKeys(setting)) return undefined
  if (!isLoopback(setting.host)) {
    return OptionsErrors.make(
      "Gateway",
      "host",
      setting.host,
      "a loopback address (127.0.0.1, ::1 or localhost): without gateway keys the gateway serves only this machine, " +
        `${allowKeyless}; beyond loopback list gateway keys, or give it admin keys and a database to make them in`
    )
  }
  return OptionsErrors.make(
    "Gateway",
    "store",
    setting.database === "sqlite" && setting.adminKeys > 0
      ? "Redis, with a SQLite file of this instance's own"
      : "Redis",
    "absent without gateway keys, " + allowKeyless + ": instances sharing their limits through Redis answer only " +
      "requests with a key. List keys in provider.json's `gateway.keys`, or make them at run time in a Postgres " +
      "database every instance shares (`store.sql`, with `gateway.admin_keys`); keys made in a SQLite file of one " +
      "instance's own would be unknown to the others"
  )
}
