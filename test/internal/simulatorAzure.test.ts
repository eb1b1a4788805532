import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { event } from "../../src/internal/wire/openAiChat/writer.js"
import * as AzureOpenAi from "../../src/simulator/AzureOpenAi.js"
import * as OpenAiChat from "../../src/simulator/OpenAiChat.js"
import type * as Reply from "../../src/simulator/Reply.js"
import type { ReplyMeta } from "../../src/simulator/WireFormat.js"
import { fragments, replies, token } from "../utils/simulatorReplies.js"

// Azure's content-filter fields as the simulator added them before the writer's option: each Chat Completions event
// and body parsed and written again with them, the oracle the writer's option must equal byte for byte.
const safe = { filtered: false, severity: "safe" }
const contentFilterResults = { hate: safe, self_harm: safe, sexual: safe, violence: safe }
const promptFilterResults = [{ prompt_index: 0, content_filter_results: contentFilterResults }]

function withChoiceResults(body: Record<string, unknown>): Record<string, unknown> {
  return Array.isArray(body.choices)
    ? {
      ...body,
      choices: body.choices.map((choice: Record<string, unknown>) => ({
        ...choice,
        content_filter_results: contentFilterResults
      }))
    }
    : body
}

function filteredEvent(written: string): string {
  const data = /^data: (\{.*\})\n\n$/s.exec(written)
  if (data === null) return written
  return event(JSON.stringify(withChoiceResults(JSON.parse(data[1]!))))
}

const promptResultsEvent = event(
  JSON.stringify({ choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: promptFilterResults })
)

function oldReply(reply: Reply.Reply, meta: ReplyMeta): string {
  return JSON.stringify({
    ...withChoiceResults(JSON.parse(OpenAiChat.format.renderReply(reply, meta, { includeUsage: false }))),
    prompt_filter_results: promptFilterResults
  })
}

function oldStream(reply: Reply.Reply, meta: ReplyMeta, includeUsage: boolean) {
  const { events, tail } = OpenAiChat.format.renderStream(reply, meta, { includeUsage })
  return { events: [promptResultsEvent, ...events.map(filteredEvent)], tail }
}

const reply = replies(/^call_[a-z0-9]{1,8}$/, fragments(token, 2))

// The model's name in ASCII: the writer's templates write a name's other characters as `\u` escapes, where the
// old path's second `JSON.stringify` wrote them as they are.
const meta = (model: fc.Arbitrary<string>) =>
  fc.record({ id: fc.stringMatching(/^chatcmpl-[a-z0-9]{1,12}$/), created: fc.nat(), model })
const asciiModel = fc.string({ minLength: 1, maxLength: 12, unit: "binary-ascii" })
const anyModel = fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" })

describe("the simulator's Azure OpenAI replies, the Chat writer's content-filter option", () => {
  it("a whole reply is the old path's, byte for byte", () => {
    fc.assert(fc.property(reply, meta(anyModel), (reply, meta) => {
      expect(AzureOpenAi.format.renderReply(reply, meta, { includeUsage: false })).toBe(oldReply(reply, meta))
    }))
  })

  it("a stream's events and tail are the old path's, byte for byte, one event a write", () => {
    fc.assert(fc.property(reply, meta(asciiModel), fc.boolean(), (reply, meta, includeUsage) => {
      const rendered = AzureOpenAi.format.renderStream(reply, meta, { includeUsage })
      const old = oldStream(reply, meta, includeUsage)
      expect(rendered.events).toEqual(old.events)
      expect(rendered.tail).toBe(old.tail)
    }))
  })

  it("with any model's name, each event is the old one's JSON", () => {
    fc.assert(fc.property(reply, meta(anyModel), (reply, meta) => {
      const rendered = AzureOpenAi.format.renderStream(reply, meta, { includeUsage: true })
      const old = oldStream(reply, meta, true)
      const parsed = (events: ReadonlyArray<string>) =>
        events.filter((text) => text !== "").map((text) => JSON.parse(text.slice("data: ".length)))
      expect(parsed(rendered.events)).toEqual(parsed(old.events))
      expect(rendered.tail).toBe(old.tail)
    }))
  })

  it("without the option the Chat Completions stream and body carry no filter results", () => {
    fc.assert(fc.property(reply, meta(anyModel), (reply, meta) => {
      const { events, tail } = OpenAiChat.format.renderStream(reply, meta, { includeUsage: true })
      expect(events.join("") + tail).not.toContain("filter_results")
      expect(OpenAiChat.format.renderReply(reply, meta, { includeUsage: false })).not.toContain("filter_results")
    }))
  })
})
