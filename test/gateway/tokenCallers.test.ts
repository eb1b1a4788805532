/**
 * Callers by token's rules apart from the issuer (`identity/callers.ts`): which value of a token's team claim picks its
 * team (the first mapped one, over any claim values and mappings, inherited names never mapping), and the problems of a
 * configuration, each naming its field.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
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

  it("a configuration's problems name each field: database, issuer, audience, models, mapping", () => {
    const good = { issuer: "https://login.example.com", audience: "llm-api", teams: { research: "research" } }
    const known = (model: string) => model === "gpt-4o-mini"
    expect(Callers.problems([good], true, known).filter((problem) => problem !== undefined)).toEqual([])
    expect(Callers.problems([], false, known)).toEqual([])
    const bad = Callers.problems(
      [good, { issuer: "http://login.example.com", audience: "", teams: {}, models: ["gpt-4o-mini", "nowhere"] }],
      false,
      known
    ).flatMap((problem) => problem === undefined ? [] : [problem.option])
    expect(bad).toEqual([
      "tokenCallers",
      "tokenCallers[1].issuer",
      "tokenCallers[1].audience",
      "tokenCallers[1].models[1]",
      "tokenCallers[1].teams"
    ])
  })
})
