/**
 * Callers by token's rules apart from the issuer (`identity/callers.ts`): which value of a token's team claim picks its
 * team (the first mapped one, over any claim values and mappings, inherited names never mapping), and the problems of a
 * configuration, each naming its field.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import type * as Caller from "../../src/internal/gateway/access/caller.js"
import * as Callers from "../../src/internal/gateway/identity/callers.js"

const name = fc.oneof(fc.constantFrom("research", "ops", "constructor", "__proto__", "toString", ""), fc.string())

describe("callers by token", () => {
  it("the team claim's first mapped value picks the team, whatever the claim and the mapping", () => {
    fc.assert(fc.property(fc.dictionary(name, fc.string({ minLength: 1 })), fc.array(name), (teams, values) => {
      const picked = Callers.mappedValue(teams, values)
      const mapped = values.filter((value) => Object.keys(teams).includes(value))
      expect(picked).toBe(mapped[0])
    }))
    expect(Callers.mappedValue({}, ["constructor", "__proto__", "hasOwnProperty"])).toBeUndefined()
  })

  it("a configuration's problems name each field: database, issuer, audience, models, mapping, limits", () => {
    const good = { issuer: "https://login.example.com", audience: "llm-api", teams: { research: "research" } }
    // gpt-4o-mini is served and priced, gpt-4o served without a price.
    const known: Caller.Served = {
      resolve: (model) =>
        model === "gpt-4o-mini"
          ? { price: { input: 1, output: 2 } }
          : model === "gpt-4o"
          ? { price: undefined }
          : undefined,
      models: [{ id: "gpt-4o-mini" }, { id: "gpt-4o" }]
    }
    expect(Callers.problems([good], true, known, []).filter((problem) => problem !== undefined)).toEqual([])
    expect(Callers.problems([], false, known, [])).toEqual([])
    const bad = Callers.problems(
      [
        good,
        { issuer: "http://login.example.com", audience: "", teams: {}, models: ["gpt-4o-mini", "nowhere"] },
        // The sign-on's client as the audience: its ID tokens would be taken.
        { ...good, audience: "llm-gateway" }
      ],
      false,
      known,
      ["llm-gateway", "llm-cli"]
    ).flatMap((problem) => problem === undefined ? [] : [problem.option])
    expect(bad).toEqual([
      "tokenCallers",
      "tokenCallers[1].issuer",
      "tokenCallers[1].audience",
      "tokenCallers[1].models[1]",
      "tokenCallers[1].teams",
      "tokenCallers[2].audience"
    ])
    // A person's own rate limit and budget, read as a key's: positive figures, a period in bounds, priced models.
    const limited = { ...good, models: ["gpt-4o-mini"] }
    const fine = [{
      ...limited,
      rateLimit: { capacity: 2, refillRate: 0.5 },
      budget: { limit: 1, period: "1 day" as const, defaultMaxTokens: 64 }
    }, { ...limited, budget: { limit: 1, period: "month" as const } }]
    expect(Callers.problems(fine, true, known, []).filter((problem) => problem !== undefined)).toEqual([])
    const limits = Callers.problems(
      [
        { ...limited, rateLimit: { capacity: 0, refillRate: Infinity } },
        { ...limited, budget: { limit: -1, period: "1 second" as const, defaultMaxTokens: 1.5 } },
        { ...good, budget: { limit: 1, period: "month" } }
      ],
      true,
      known,
      []
    ).flatMap((problem) => problem === undefined ? [] : [`${problem.option}: ${problem.value}`])
    expect(limits).toEqual([
      "tokenCallers[0].rateLimit.capacity: 0",
      "tokenCallers[0].rateLimit.refillRate: Infinity",
      "tokenCallers[1].budget.limit: -1",
      "tokenCallers[1].budget.period: \"1 second\"",
      "tokenCallers[1].budget.defaultMaxTokens: 1.5",
      // Every model: gpt-4o has no price.
      "tokenCallers[2].budget: \"gpt-4o\""
    ])
  })
})
