import { describe, expect, it } from "@effect/vitest"
import { OptionsError } from "effect-llm-router"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import * as Invalid from "../src/internal/optionsError.js"

const secret = "sk-live-0123456789abcdef"

describe("OptionsError", () => {
  it("names the module, the option and the value in its message", () => {
    const error = new OptionsError.OptionsError({
      module: "Router",
      option: "deployments[1].weight",
      value: "-1",
      expected: "a positive number"
    })
    expect(error._tag).toBe("OptionsError")
    expect(error.message).toBe("Router: deployments[1].weight must be a positive number, got -1")
    expect(error).toBeInstanceOf(Error)
  })

  it("all: every problem in one error, in order, the first named and the rest its others; none is undefined", () => {
    fc.assert(fc.property(
      fc.array(
        fc.option(fc.record({ option: fc.string(), value: fc.string(), expected: fc.string() }), { nil: undefined }),
        { maxLength: 8 }
      ),
      (problems) => {
        const errors = problems.map((problem) =>
          problem === undefined ? undefined : new OptionsError.OptionsError({ module: "Gateway", ...problem })
        )
        const found = errors.filter((error) => error !== undefined)
        const all = Invalid.all(errors)
        if (found.length === 0) {
          expect(all).toBeUndefined()
          return
        }
        const named = [all!, ...(all!.others ?? [])].map(({ expected, option, value }) => ({ option, value, expected }))
        expect(named).toEqual(problems.filter((problem) => problem !== undefined))
        expect(all!.others === undefined).toBe(found.length === 1)
        expect(all!.message).toBe(found.map((error) => error.message).join("; "))
        // An error that already holds several is taken whole.
        expect(Invalid.all([all, undefined])!.message).toBe(all!.message)
      }
    ))
  })

  it("masks a Redacted value and any option named key, keys or apiKey, whatever the value", () => {
    for (
      const [option, value] of [
        ["token", Redacted.make(secret)],
        ["apiKey", secret],
        ["keys[3]", secret],
        ["deployments[0].key", secret],
        ["headers.x-api-key", secret],
        ["headers.Authorization", `Bearer ${secret}`],
        ["keys", [secret]]
      ] as const
    ) {
      const error = Invalid.make("M", option, value, "something else")
      expect(error.value).toBe("<redacted>")
      expect(`${error.message} ${JSON.stringify(error)} ${String(error)}`).not.toContain(secret)
    }
  })

  it("masks the key fields inside an object value, showing the rest", () => {
    const value = {
      name: "east",
      keys: [secret],
      headers: { authorization: `Bearer ${secret}`, "x-trace": "on" },
      apiKey: secret
    }
    const error = Invalid.make("Router", "deployments[0]", value, "a deployment")
    expect(`${error.message} ${JSON.stringify(error)}`).not.toContain(secret)
    expect(error.value).toBe(
      JSON.stringify({
        name: "east",
        keys: "<redacted>",
        headers: { authorization: "<redacted>", "x-trace": "on" },
        apiKey: "<redacted>"
      })
        .slice(0, 80) + "…"
    )
  })

  it("renders other values so they can be told apart: numbers, strings quoted, durations, shortened JSON", () => {
    expect(Invalid.render("weight", -1)).toBe("-1")
    expect(Invalid.render("weight", Number.NaN)).toBe("NaN")
    expect(Invalid.render("weight", undefined)).toBe("undefined")
    expect(Invalid.render("model", "1")).toBe("\"1\"")
    expect(Invalid.render("period", Duration.seconds(0))).toBe("0")
    expect(Invalid.render("deployments", [])).toBe("[]")
    expect(Invalid.render("keepAliveTimeout", "x".repeat(200))).toHaveLength(81)
    const circular: Record<string, unknown> = {}
    circular["self"] = circular
    expect(Invalid.render("options", circular)).toBe("[object Object]")
  })

  it("positive: integers, optional values and Infinity as the options say", () => {
    expect(Invalid.positive("M", "n", 1)).toBeUndefined()
    expect(Invalid.positive("M", "n", undefined, { optional: true })).toBeUndefined()
    expect(Invalid.positive("M", "n", undefined)?.expected).toBe("a positive finite number")
    expect(Invalid.positive("M", "n", 1.5, { integer: true })?.expected).toBe("a positive integer")
    expect(Invalid.positive("M", "n", Infinity)?.value).toBe("Infinity")
    expect(Invalid.positive("M", "n", Infinity, { unbounded: true })).toBeUndefined()
    expect(Invalid.positive("M", "n", -Infinity, { unbounded: true })?.expected).toBe("a positive number or Infinity")
  })

  it.effect("is a failure in the typed channel, caught by its tag", () =>
    Effect.gen(function*() {
      const caught = yield* Effect.fail(Invalid.make("CacheStore", "capacity", 0, "a positive integer")).pipe(
        Effect.catchTag("OptionsError", (error) => Effect.succeed(`${error.module}.${error.option}`))
      )
      expect(caught).toBe("CacheStore.capacity")
    }))
})
