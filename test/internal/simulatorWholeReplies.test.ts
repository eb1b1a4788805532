import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as fc from "fast-check"
import type { ChatResponse } from "../../src/ChatResponse.js"
import { renderReply as anthropicReply, signatureOf } from "../../src/internal/simulator/anthropic/render.js"
import { renderReply as bedrockReply } from "../../src/internal/simulator/bedrock/render.js"
import { signatureOf as geminiSignature } from "../../src/internal/simulator/gemini/signature.js"
import { renderReply as chatReply } from "../../src/internal/simulator/openAiChat/render.js"
import { usageOf } from "../../src/internal/simulator/usage.js"
import {
  messageJson,
  reply as readAnthropic,
  stopReason,
  textBlock,
  thinkingBlock,
  toolUseBlock,
  wireUsage
} from "../../src/internal/wire/anthropic/reply.js"
import { message } from "../../src/internal/wire/anthropic/writer.js"
import * as Bedrock from "../../src/internal/wire/bedrock/codec.js"
import * as Gemini from "../../src/internal/wire/gemini/codec.js"
import * as Ollama from "../../src/internal/wire/ollama/codec.js"
import { completion, reply as readChat } from "../../src/internal/wire/openAiChat/codec.js"
import { reply as readResponses } from "../../src/internal/wire/openAiResponses/codec.js"
import * as GeminiFormat from "../../src/simulator/Gemini.js"
import * as OllamaFormat from "../../src/simulator/Ollama.js"
import * as ResponsesFormat from "../../src/simulator/OpenAiResponses.js"
import type * as Reply from "../../src/simulator/Reply.js"
import { replies } from "../utils/simulatorReplies.js"

// Tool arguments as the generator makes them: a JSON object's text, cut into fragments.
const argumentsText = fc.dictionary(
  fc.stringMatching(/^[a-z_]{1,8}$/),
  fc.oneof(fc.string({ maxLength: 8, unit: "grapheme" }), fc.integer(), fc.boolean(), fc.constant(null)),
  { maxKeys: 4 }
).map((value) => JSON.stringify(value))

const reply: fc.Arbitrary<Reply.Reply> = fc.record({
  reply: replies(/^call_[a-z0-9]{1,8}$/),
  args: fc.array(argumentsText, { minLength: 3, maxLength: 3 }),
  cut: fc.boolean()
}).map(({ args, cut, reply }) => ({
  ...reply,
  // As the simulator finishes: `tool_calls` whenever it calls a tool, else stop or length.
  finishReason: reply.toolCalls.length > 0 ? "tool_calls" : cut ? "length" : "stop",
  toolCalls: reply.toolCalls.map((call, i) => ({ ...call, arguments: args[i]!, fragments: [args[i]!] }))
}))

const meta = fc.record({
  id: fc.stringMatching(/^[a-z]{1,6}_sim[a-z0-9]{1,8}$/),
  created: fc.nat(),
  model: fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" })
})

// The reply as the library's `ChatResponse`, as a client folds its stream: written here from the reply's fields.
function whole(reply: Reply.Reply, meta: { id: string; model: string }, callId = (id: string) => id): ChatResponse {
  return {
    id: meta.id,
    model: meta.model,
    provider: "simulator",
    text: reply.content.join(""),
    ...(reply.reasoning.length > 0 ? { reasoning: reply.reasoning.join("") } : {}),
    toolCalls: reply.toolCalls.map((call) => ({ id: callId(call.id), name: call.name, arguments: call.arguments })),
    finishReason: reply.finishReason,
    usage: usageOf(reply.usage),
    latency: Duration.zero
  }
}

const toolId = (id: string): string => `toolu_${id.startsWith("call_") ? id.slice(5) : id}`

// The simulator's Messages reply as it was written before the one writer: its own grammar over the codec's blocks,
// the oracle the writer's `message` must equal byte for byte.
function ownGrammar(reply: Reply.Reply, meta: { id: string; model: string }): string {
  const blocks: Array<string> = []
  if (reply.reasoning.length > 0) {
    const thinking = reply.reasoning.join("")
    blocks.push(thinkingBlock(JSON.stringify(thinking), `"${signatureOf(thinking)}"`))
  }
  if (reply.content.length > 0) blocks.push(textBlock(JSON.stringify(reply.content.join(""))))
  for (const call of reply.toolCalls) {
    blocks.push(toolUseBlock(`"${toolId(call.id)}"`, JSON.stringify(call.name), call.arguments))
  }
  return messageJson({
    id: `"${meta.id}"`,
    model: JSON.stringify(meta.model),
    blocks,
    stopReason: stopReason(reply.finishReason),
    usage: wireUsage(usageOf(reply.usage))
  })
}

// The simulator's Ollama body as it was written before it went through a `ChatResponse`: from the reply's pieces, the
// oracle the codec's `responseJson` must equal byte for byte.
function ollamaPieces(reply: Reply.Reply, head: string, done: string): string {
  let json = `{"role":"assistant","content":${JSON.stringify(reply.content.join(""))}`
  const reasoning = reply.reasoning.join("")
  if (reasoning !== "") json += `,"thinking":${JSON.stringify(reasoning)}`
  if (reply.toolCalls.length > 0) json += `,"tool_calls":${Ollama.toolCallsJson(reply.toolCalls)}`
  return `${head}"message":${json}},${done}}`
}

// What a client's reader must find of a reply: its text, reasoning, calls' names and arguments, finish and usage.
function readBack(
  read: {
    text: string
    reasoning?: string | undefined
    toolCalls: ReadonlyArray<Reply.ToolCall | { name: string; arguments: string }>
    finishReason: string
    usage: unknown
  }
) {
  return {
    text: read.text,
    reasoning: read.reasoning ?? "",
    calls: read.toolCalls.map((call) => [call.name, JSON.parse(call.arguments)]),
    finishReason: read.finishReason
  }
}

function expected(reply: Reply.Reply) {
  return {
    text: reply.content.join(""),
    reasoning: reply.reasoning.join(""),
    calls: reply.toolCalls.map((call) => [call.name, JSON.parse(call.arguments)]),
    finishReason: reply.finishReason
  }
}

const responsesExtra = { store: false, encryptedReasoning: false, summary: true, effort: undefined }

describe("the simulator's whole replies, written by each dialect's one writer", () => {
  it("Anthropic: the writer's message of the reply, byte for byte the simulator's own grammar", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = anthropicReply(reply, meta, undefined)
      expect(rendered).toBe(ownGrammar(reply, meta))
      expect(rendered).toBe(message(whole(reply, meta, toolId), meta.id, { signature: signatureOf, noEmptyText: true }))
      const read = readAnthropic(JSON.parse(rendered))
      expect(readBack(read)).toEqual(expected(reply))
      expect(read.usage?.completionTokens).toBe(reply.usage.completionTokens)
    }))
  })

  it("Anthropic: only the simulator leaves an empty reply without a block, and signs its thinking", () => {
    const empty: Reply.Reply = {
      reasoning: ["hm"],
      content: [],
      toolCalls: [],
      finishReason: "length",
      usage: {
        promptTokens: 3,
        completionTokens: 1,
        totalTokens: 4,
        cachedTokens: 0,
        cacheWriteTokens: 0,
        cacheWrite1hTokens: 0,
        reasoningTokens: 1
      }
    }
    const meta = { id: "msg_sim1", created: 0, model: "claude-sim" }
    const simulated = JSON.parse(anthropicReply(empty, meta, undefined))
    const gateway = JSON.parse(message(whole(empty, meta), meta.id))
    expect(simulated.content).toEqual([{ type: "thinking", thinking: "hm", signature: signatureOf("hm") }])
    expect(gateway.content).toEqual([{ type: "thinking", thinking: "hm", signature: "" }, { type: "text", text: "" }])
  })

  it("Chat Completions: the codec's completion of the reply, as the gateway writes one", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = chatReply(reply, meta)
      expect(rendered).toBe(completion(whole(reply, meta), meta.id, meta.created))
      const read = readChat(JSON.parse(rendered))
      expect(readBack(read)).toEqual(expected(reply))
      expect(read.usage).toEqual({
        ...usageOf(reply.usage),
        cacheWriteTokens: undefined,
        cacheWrite1hTokens: undefined
      })
    }))
  })

  it("Gemini: the codec's response of the reply, its calls without ids and the first signed", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = GeminiFormat.format.renderReply(reply, meta, { blocked: false })
      const calls = reply.toolCalls.map((call, index) => ({
        name: call.name,
        arguments: call.arguments,
        ...(index === 0
          ? {
            providerMetadata: {
              gemini: { thoughtSignature: geminiSignature(call.name, JSON.parse(call.arguments)) }
            }
          }
          : {})
      }))
      expect(rendered).toBe(Gemini.response({ ...whole(reply, meta), toolCalls: calls }, meta.id, meta.model))
      const body = JSON.parse(rendered)
      const read = Gemini.reply(body, body.candidates[0])
      expect(readBack(read)).toEqual(expected(reply))
      expect(read.toolCalls.map((call) => Gemini.metadataOf(call.providerMetadata)?.thoughtSignature))
        .toEqual(calls.map((call) => call.providerMetadata?.gemini.thoughtSignature))
    }))
  })

  it("Bedrock: the codec's Converse body of the reply, its reasoning signed", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = bedrockReply(reply, meta)
      // Its reasoning signed as Claude signs it on Bedrock, which the client keeps for the next turn.
      const signature = reply.reasoning.length > 0 ? signatureOf(reply.reasoning.join("")) : undefined
      const signed = { ...whole(reply, meta), providerMetadata: Bedrock.replyMetadata(signature) }
      expect(rendered).toBe(JSON.stringify(Bedrock.response(signed, 1)))
      const read = Bedrock.reply(JSON.parse(rendered))
      expect(readBack(read)).toEqual(expected(reply))
      expect(Bedrock.signatureOf(read.providerMetadata)).toBe(signature)
      expect(read.toolCalls.map((call) => call.id)).toEqual(reply.toolCalls.map((call) => call.id))
    }))
  })

  it("Ollama: the codec's body of the reply as a ChatResponse, byte for byte the body of its pieces", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const rendered = OllamaFormat.format.renderReply(reply, meta, {})
      const body = JSON.parse(rendered)
      // The counts' fields come from the simulator's durations; the oracle takes them from the body it checks.
      const done = rendered.slice(rendered.indexOf(`"done":true`), -1)
      expect(rendered).toBe(ollamaPieces(reply, Ollama.objectHead(meta.model, meta.created), done))
      const read = Ollama.reply(body)
      expect(readBack(read)).toEqual(expected(reply))
      expect(read.model).toBe(meta.model)
    }))
  })

  it("Responses: the writer's response object of the reply, read back by the client", () => {
    fc.assert(fc.property(reply, meta, (reply, meta) => {
      const read = readResponses(JSON.parse(ResponsesFormat.format.renderReply(reply, meta, responsesExtra)), false)
      expect(readBack(read)).toEqual(expected(reply))
      expect(read.usage?.completionTokens).toBe(reply.usage.completionTokens)
      const none = JSON.parse(ResponsesFormat.format.renderReply(reply, { ...meta, usage: "none" }, responsesExtra))
      expect(none.usage).toBeNull()
    }))
  })
})
