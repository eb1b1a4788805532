/**
 * A request's context (`request/context.ts`): what is learnt late is a cell set once, a second setting a defect; what
 * the answer did is written by `request/outcome.ts`' steps alone; and at the request's end one record is made from the
 * context, which its line, its request log row and the live figures all read (`observe/record.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Caller } from "../../src/internal/gateway/access/caller.js"
import * as Journal from "../../src/internal/gateway/observe/record.js"
import type { RequestLog } from "../../src/internal/gateway/observe/requestLog.js"
import * as Request from "../../src/internal/gateway/request/context.js"
import * as Outcome from "../../src/internal/gateway/request/outcome.js"
import { effectProp } from "../utils/effectProp.js"
import { jsonLines } from "../utils/requestLines.js"

const maybe = <A>(arbitrary: fc.Arbitrary<A>) => fc.option(arbitrary, { nil: undefined })
const text = fc.string({ minLength: 1, maxLength: 12 })

describe("a request's context", () => {
  it("keeps what a step learnt once: the first setting is read back, a second is a defect", () =>
    fc.assert(fc.property(fc.anything(), fc.anything(), (first, second) => {
      fc.pre(first !== undefined)
      const cell = new Request.Once<unknown>("model")
      expect(cell.get()).toBeUndefined()
      cell.set(first)
      expect(cell.get()).toBe(first)
      expect(() => cell.set(second)).toThrow("A request's model is set once.")
      expect(cell.get()).toBe(first)
    })))

  effectProp(
    "ends in one record: its line, its row and the live figures say the same of it",
    fc.record({
      start: fc.nat({ max: 1_000_000 }),
      took: fc.nat({ max: 100_000 }),
      caller: maybe(fc.record({ id: text, name: text })),
      model: maybe(text),
      status: fc.constantFrom(200, 400, 429, 502),
      error: maybe(text),
      cost: maybe(fc.double({ min: 0.000_001, max: 10, noNaN: true })),
      toolCall: maybe(fc.record({ server: text, tool: text, argumentsDigest: text }))
    }),
    (given) =>
      Effect.gen(function*() {
        const context = Request.make({
          id: "req_1",
          method: "POST",
          url: "/v1/chat/completions?x=1",
          start: given.start,
          caller: given.caller as Caller | undefined,
          payload: false
        })
        if (given.model !== undefined) context.model.set(given.model)
        if (given.toolCall !== undefined) context.toolCall.set(given.toolCall)
        if (given.error !== undefined) Outcome.failed(context.outcome, given.error, { logged: undefined })
        if (given.cost !== undefined) Outcome.charged(context.outcome, given.cost)
        Outcome.answeredAs(context.outcome, given.status)

        const rows: Array<Journal.RequestRecord> = []
        const requestLog: RequestLog = { logPayloads: false, record: (record) => void rows.push(record) }
        const figures: Array<ReadonlyArray<unknown>> = []
        const stats = {
          record: (...args: ReadonlyArray<unknown>) => void figures.push(args),
          recorded: () => undefined,
          rates: undefined as never
        }
        const lines: Array<string> = []
        const journal = Journal.make({ stats, requestLog, logRequests: true })
        // Requests logged: what writes the line is given.
        const writing = journal.written(context, given.start + given.took)
        expect(writing).toBeDefined()
        yield* Effect.provide(writing!, jsonLines(lines))

        expect(rows.length).toBe(1)
        const record = rows[0]!
        expect(record).toEqual(Journal.recordOf(context, given.start + given.took))
        expect(figures).toEqual([[undefined, given.took, undefined, record.cost]])
        const { annotations } = JSON.parse(lines[0]!) as { readonly annotations: Record<string, unknown> }
        expect(annotations["request_id"]).toBe(record.id)
        expect(annotations["status"]).toBe(given.status)
        expect(annotations["latency_ms"]).toBe(record.latency)
        expect(annotations["key_id"]).toBe(record.caller?.id)
        expect(annotations["model"]).toBe(record.model)
        expect(annotations["error"]).toBe(record.error)
        expect(annotations["cost"]).toBe(record.cost)
        expect(annotations["mcp_tool"]).toBe(record.toolCall?.tool)
        expect(record).toMatchObject({
          path: "/v1/chat/completions",
          latency: given.took,
          status: given.status,
          model: given.model,
          error: given.error,
          cost: given.cost,
          toolCall: given.toolCall
        })
      })
  )

  effectProp(
    "its record holds its outcome whole: every field the outcome declares, as its steps noted it",
    fc.record({
      status: fc.constantFrom(200, 400, 429, 499, 502),
      firstToken: maybe(fc.nat({ max: 10_000 })),
      billed: maybe(fc.record({
        deployment: text,
        tokens: fc.nat({ max: 1000 }),
        cost: maybe(fc.double({ min: 0, max: 10, noNaN: true }))
      })),
      failed: maybe(fc.record({ error: text, logged: maybe(text) })),
      restart: maybe(fc.record({
        kind: fc.constantFrom("Restart" as const, "Continue" as const),
        from: text,
        deployment: text,
        error: text
      })),
      gone: fc.boolean()
    }),
    (given) =>
      Effect.sync(() => {
        const context = Request.make({
          id: "req_1",
          method: "POST",
          url: "/v1/chat/completions",
          start: 0,
          caller: undefined,
          payload: false
        })
        const { outcome } = context
        Outcome.answeredAs(outcome, given.status)
        if (given.firstToken !== undefined) Outcome.opened(outcome, given.firstToken)
        if (given.billed !== undefined) {
          const { cost, deployment, tokens } = given.billed
          const usage = {
            promptTokens: tokens,
            completionTokens: tokens,
            totalTokens: 2 * tokens,
            cachedPromptTokens: 0,
            reasoningTokens: 0,
            estimated: false
          }
          Outcome.billed(outcome, deployment, usage, cost)
        }
        if (given.failed !== undefined) Outcome.failed(outcome, given.failed.error, { logged: given.failed.logged })
        if (given.restart !== undefined) {
          const { deployment, error, from, kind } = given.restart
          Outcome.streamed(outcome, undefined, [{ _tag: kind, attempt: 2, deployment, model: "m", from, error }])
        }
        if (given.gone) Outcome.gone(outcome)
        const record = Journal.recordOf(context, 10)
        const noted = Object.keys(Outcome.begin()) as ReadonlyArray<keyof Outcome.Outcome>
        for (const field of noted) expect([field, record[field]]).toEqual([field, outcome[field]])
        // A copy as it stood: what the outcome notes after does not change a record made.
        Outcome.answeredAs(outcome, 204)
        expect(record.status).toBe(given.gone ? 499 : given.status)
      })
  )

  it("is written by its named steps alone: no file of the gateway but request/ assigns a field of it", () => {
    const gateway = Path.resolve(import.meta.dirname, "../../src/internal/gateway")
    const files = (folder: string): Array<string> =>
      Fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
        const path = Path.join(folder, entry.name)
        return entry.isDirectory() ? files(path) : entry.name.endsWith(".ts") ? [path] : []
      })
    const fields = [
      ...Object.keys(Outcome.begin()),
      "caller",
      "model",
      "settlement",
      "toolCall",
      "omittedTools",
      "payload",
      "request",
      "reply"
    ]
    const assignment = new RegExp(`\\b(?:context|outcome|payload|entry)\\.(?:${fields.join("|")})\\s*(?:\\+|-)?=[^=]`)
    const writers = files(gateway)
      .filter((file) => !file.startsWith(Path.join(gateway, "request") + Path.sep))
      .filter((file) => assignment.test(Fs.readFileSync(file, "utf8")))
      .map((file) => Path.relative(gateway, file))
    expect(writers).toEqual([])
  })
})
