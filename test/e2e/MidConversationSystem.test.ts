/**
 * The Anthropic adapter's `midConversationSystem` option over the simulator, through a recorder: a system message
 * after the conversation's start in its place or in the top-level `system`, whatever the model's default.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as ChatRequest from "../../src/ChatRequest.js"
import * as Message from "../../src/Message.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { recorder } from "../utils/cliHarness.js"

const key = "sk-ant-mid-system-e2e-001"

const request = (model: string): ChatRequest.Input => ({
  model,
  messages: [Message.system("Be brief."), Message.user("Name a colour."), Message.system("Answer in French.")]
})

// The reply of `model` with `midConversationSystem` set to `inPlace`, and the body the provider got.
const sent = (model: string, inPlace: boolean | undefined) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [key], models: ["claude-opus-4-8", "claude-haiku-4-5"] })
    const recorded = yield* recorder(simulator.url)
    const client = yield* Anthropic.make({ baseUrl: recorded.baseUrl, midConversationSystem: inPlace })
    const reply = yield* Effect.result(client.chat(request(model), ProviderClient.credentials(key)))
    return { reply, body: recorded.bodies.at(-1)! }
  }).pipe(Effect.provide(UndiciHttpClient.layer()))

describe("Anthropic midConversationSystem", () => {
  it.live("by default, in place for a model that takes it, in the top-level system for another", () =>
    Effect.gen(function*() {
      const opus = yield* sent("claude-opus-4-8", undefined)
      expect(opus.reply._tag).toBe("Success")
      expect(opus.body["system"]).toBe("Be brief.")
      expect(opus.body["messages"]).toEqual([
        { role: "user", content: "Name a colour." },
        { role: "system", content: "Answer in French." }
      ])
      const haiku = yield* sent("claude-haiku-4-5", undefined)
      expect(haiku.reply._tag).toBe("Success")
      expect(haiku.body["system"]).toEqual([{ type: "text", text: "Be brief." }, {
        type: "text",
        text: "Answer in French."
      }])
    }))

  it.live("set, it decides: off hoists for any model; on sends it in place, which a model without it refuses", () =>
    Effect.gen(function*() {
      const off = yield* sent("claude-opus-4-8", false)
      expect(off.body["messages"]).toEqual([{ role: "user", content: "Name a colour." }])
      const on = yield* sent("claude-haiku-4-5", true)
      expect(on.body["messages"]).toEqual([
        { role: "user", content: "Name a colour." },
        { role: "system", content: "Answer in French." }
      ])
      if (on.reply._tag !== "Failure") return expect.unreachable("the simulator took a system message from haiku")
      expect(on.reply.failure._tag).toBe("InvalidRequestError")
    }))
})
