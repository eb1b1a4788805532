import { describe, expect, it } from "@effect/vitest"
import { LlmError, Message } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Llm from "../../src/Llm.js"
import * as UsageLedger from "../../src/UsageLedger.js"
import { trackedSimulator } from "../utils/trackedSimulator.js"

const key = "sk-sim-ledger-000000000042"

describe("UsageLedger over loopback", () => {
  it.live("records chat and stream calls of a configured model with cost and the masked key", () =>
    Effect.gen(function*() {
      const layer = yield* trackedSimulator(key, "sim-east", { replyTokens: 6 })
      const totals = yield* Effect.gen(function*() {
        const request = { messages: [Message.user("Count me")] }
        const reply = yield* Llm.chat(request)
        yield* Stream.runDrain(Llm.chatStream(request))
        const ledger = yield* UsageLedger.UsageLedger
        return { reply, totals: yield* ledger.totals }
      }).pipe(Effect.provide(layer))
      const { reply } = totals
      const east = totals.totals.byDeployment["sim-east"]!
      expect(east.requests).toBe(2)
      expect(east.completionTokens).toBe(2 * reply.usage.completionTokens)
      expect(east.cost).toBeCloseTo(2 * reply.cost!, 12)
      expect(east.unpriced).toBe(0)
      expect(Object.keys(totals.totals.byKey)).toStrictEqual([LlmError.maskKey(key)])
      expect(JSON.stringify(totals.totals)).not.toContain(key)
      expect(totals.totals.byModel[reply.model]!.requests).toBe(2)
    }))
})
