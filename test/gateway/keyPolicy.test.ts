/**
 * The gateway's key policy over its whole domain: every host kind, store, database, admin and gateway keys, the
 * `allow_keyless` setting and whether keys were ever made at run time. What a caller may rely on, each stated on its
 * own: a gateway others can reach or share limits with never answers without a key unless told to; the owner's
 * loopback gateway does; a gateway that needs keys starts only with a way to have one; keys made at run time are
 * refused where the other instances would not know them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Policy from "../../src/internal/gateway/keys/policy.js"

const loopbacks = ["127.0.0.1", "::1", "localhost"]
const hosts = [...loopbacks, "0.0.0.0", "::", "10.0.0.5", "gateway.internal"]
const booleans = [false, true]

/** Every setting of the domain, with whether its database holds keys made at run time. */
const domain = hosts.flatMap((host) =>
  booleans.flatMap((redis) =>
    ([undefined, "sqlite", "postgres"] as const).flatMap((database) =>
      [0, 1].flatMap((adminKeys) =>
        [0, 2].flatMap((keys) =>
          booleans.flatMap((allowKeyless) =>
            booleans
              // A database that holds no key was never one to hold them.
              .filter((everMade) => !everMade || database !== undefined)
              .map((everMade) => ({
                setting: { host, redis, database, adminKeys, keys, allowKeyless } satisfies Policy.Setting,
                everMade
              }))
          )
        )
      )
    )
  )
)

/** What a gateway of `setting` does: refuse to start, or start and answer keyless requests or not. */
const outcome = (setting: Policy.Setting, everMade: boolean) => {
  const refused = Policy.keylessProblem(setting, everMade)
  // As `Auth.required` decides it: keys listed, ever made, or required by the policy.
  const required = setting.keys > 0 || everMade || Policy.keysRequired(setting)
  return { refused, keyless: refused === undefined && !required }
}

describe("the gateway's key policy, over its whole domain", () => {
  it("answers without a key beyond loopback or with a shared store only when allow_keyless says so", () => {
    for (const { everMade, setting } of domain) {
      const { keyless } = outcome(setting, everMade)
      if (keyless && (!loopbacks.includes(setting.host) || setting.redis)) {
        expect({ setting, everMade, allowed: setting.allowKeyless }).toEqual({ setting, everMade, allowed: true })
      }
    }
  })

  it("the owner's machine (loopback, no store, no keys): starts and answers without a key, whatever its database", () => {
    for (const { everMade, setting } of domain) {
      if (loopbacks.includes(setting.host) && !setting.redis && setting.keys === 0 && !everMade) {
        expect({ setting, ...outcome(setting, everMade) }).toEqual({ setting, refused: undefined, keyless: true })
      }
    }
  })

  it("a gateway with keys (listed or ever made) never answers without one, allow_keyless or not", () => {
    for (const { everMade, setting } of domain) {
      if (setting.keys > 0 || everMade) expect(outcome(setting, everMade).keyless).toBe(false)
    }
  })

  it("a gateway that needs keys starts only when it can have one: listed, ever made, or made in a database every instance reads", () => {
    for (const { everMade, setting } of domain) {
      const { keyless, refused } = outcome(setting, everMade)
      const canMake = setting.database !== undefined && setting.adminKeys > 0 &&
        !(setting.redis && setting.database === "sqlite")
      if (refused === undefined && !keyless) {
        expect({ setting, everMade, someKey: setting.keys > 0 || everMade || canMake }).toEqual({
          setting,
          everMade,
          someKey: true
        })
      }
      if (refused !== undefined) {
        expect({ setting, everMade, someKey: setting.keys > 0 || everMade || canMake }).toEqual({
          setting,
          everMade,
          someKey: false
        })
        expect(setting.allowKeyless).toBe(false)
      }
    }
  })

  it("keys made at run time are this instance's alone exactly when Redis shares the limits and the database is SQLite", () => {
    for (const { setting } of domain) {
      expect(Policy.localOnly(setting)).toBe(setting.redis && setting.database === "sqlite")
      if (Policy.localOnly(setting)) expect(Policy.makesKeys(setting)).toBe(false)
    }
  })

  it("a refusal names what to change: the host beyond loopback, else the store; and allow_keyless", () => {
    const beyond = Policy.keylessProblem({
      host: "0.0.0.0",
      redis: false,
      database: undefined,
      adminKeys: 0,
      keys: 0,
      allowKeyless: false
    }, false)
    expect(beyond?.option).toBe("host")
    expect(beyond?.message).toContain("gateway.allow_keyless")
    const shared = Policy.keylessProblem({
      host: "127.0.0.1",
      redis: true,
      database: "sqlite",
      adminKeys: 1,
      keys: 0,
      allowKeyless: false
    }, false)
    expect(shared?.option).toBe("store")
    expect(shared?.message).toContain("gateway.allow_keyless")
    expect(shared?.message).toContain("Postgres")
    expect(shared?.message).toContain("SQLite file of this instance's own")
  })
})
