import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import type OpenAI from "openai"
import type { Input as ChatRequest } from "../../src/ChatRequest.js"
import type { ChatResponse, FinishReason } from "../../src/ChatResponse.js"
import { completion, reply } from "../../src/internal/codec/openAiChat.js"
import {
  type BodyOptions,
  CreateRequest,
  type MaxTokensField,
  maxTokensField,
  requestBody,
  toRequest
} from "../../src/internal/codec/openAiChat.js"
import { Problem } from "../../src/internal/schemaCheck.js"
import type { ContentPart, Message, ToolCall, ToolDefinition } from "../../src/Message.js"

const word = fc.string({ maxLength: 6 })
const name = fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}$/)

const part: fc.Arbitrary<ContentPart> = fc.oneof(
  word.map((text): ContentPart => ({ type: "text", text })),
  fc.record({ url: fc.webUrl(), detail: fc.constantFrom("auto", "low", "high") }, { requiredKeys: ["url"] })
    .map((image): ContentPart => ({ type: "image", ...image }))
)

const toolCall: fc.Arbitrary<ToolCall> = fc.record({ id: name, name, arguments: fc.json({ maxDepth: 1 }) })

// The messages the encoder can write: an assistant's reasoning goes out only beside its tool calls.
const message: fc.Arbitrary<Message> = fc.oneof(
  word.map((content): Message => ({ role: "system", content })),
  fc.oneof(word, fc.array(part, { maxLength: 3 })).map((content): Message => ({ role: "user", content })),
  word.map((content): Message => ({ role: "assistant", content })),
  fc.record({ content: word, toolCalls: fc.array(toolCall, { minLength: 1, maxLength: 2 }), reasoning: word }, {
    requiredKeys: ["content", "toolCalls"]
  }).map((fields): Message => ({ role: "assistant", ...fields })),
  fc.record({ toolCallId: name, content: word }).map((fields): Message => ({ role: "tool", ...fields }))
)

const tool: fc.Arbitrary<ToolDefinition> = fc.record({
  name,
  description: word,
  parameters: fc.constant({ type: "object", properties: { city: { type: "string" } } }),
  strict: fc.boolean()
}, { requiredKeys: ["name", "parameters"] })

const request: fc.Arbitrary<ChatRequest> = fc.record({
  messages: fc.array(message, { minLength: 1, maxLength: 4 }),
  temperature: fc.double({ min: 0, max: 2, noNaN: true }),
  topP: fc.double({ min: 0, max: 1, noNaN: true }),
  maxTokens: fc.integer({ min: 1, max: 100_000 }),
  stop: fc.array(word, { minLength: 1, maxLength: 4 }),
  tools: fc.array(tool, { minLength: 1, maxLength: 2 }),
  toolChoice: fc.oneof(
    fc.constantFrom("auto" as const, "none" as const, "required" as const),
    name.map((tool) => ({ tool }))
  ),
  responseFormat: fc.oneof(
    fc.constantFrom({ type: "text" as const }, { type: "json_object" as const }),
    fc.record({
      type: fc.constant("json_schema" as const),
      name,
      description: word,
      schema: fc.constant({ type: "object" }),
      // The encoder asks for strict output unless told otherwise.
      strict: fc.boolean()
    }, { requiredKeys: ["type", "name", "schema", "strict"] })
  ),
  reasoningEffort: fc.constantFrom("none", "minimal", "low", "medium", "high", "xhigh", "max"),
  seed: fc.nat(),
  user: word
}, { requiredKeys: ["messages"] })

const options = (maxTokens: MaxTokensField): BodyOptions => ({
  model: "gpt-test",
  stream: true,
  includeUsage: true,
  maxTokensField: maxTokens,
  promptCacheKey: true,
  prefill: true
})

const isCreateRequest = Schema.is(CreateRequest)

describe("internal/codec/openAiChat: the request both ways", () => {
  it("a request encoded for the wire decodes back to itself", () => {
    fc.assert(
      fc.property(
        request,
        fc.constantFrom<MaxTokensField>("max_tokens", "max_completion_tokens"),
        (original, field) => {
          const body = requestBody(original, options(field))
          expect(isCreateRequest(body)).toBe(true)
          if (!isCreateRequest(body)) return
          expect(toRequest(body)).toEqual(original)
          expect(maxTokensField(body)).toBe(original.maxTokens === undefined ? "max_tokens" : field)
          expect(body.stream).toBe(true)
          expect(body.stream_options?.include_usage).toBe(true)
        }
      )
    )
  })

  it("a prompt cache key goes out and comes back as the session too", () => {
    fc.assert(fc.property(word, (key) => {
      const body = requestBody(
        { messages: [{ role: "user", content: "Hi" }], promptCacheKey: key },
        options("max_tokens")
      )
      expect(isCreateRequest(body) && toRequest(body)).toEqual({
        messages: [{ role: "user", content: "Hi" }],
        session: key,
        promptCacheKey: key
      })
    }))
  })

  it("a tool message without its call's id is a Problem naming the field", () => {
    const refused = toRequest({
      model: "m",
      messages: [{ role: "user", content: "Hi" }, { role: "tool", content: "x" }]
    })
    expect(refused).toBeInstanceOf(Problem)
    expect(refused).toMatchObject({ param: "messages[1].tool_call_id" })
  })

  it("the official SDK's request type takes what we encode", () => {
    const encoded = requestBody({
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "What is this?" }, { type: "image", url: "https://x/a.png" }] },
        { role: "assistant", content: "", toolCalls: [{ id: "call_1", name: "look", arguments: "{}" }] },
        { role: "tool", toolCallId: "call_1", content: "a cat" }
      ],
      maxTokens: 10,
      tools: [{ name: "look", parameters: { type: "object", properties: {} }, strict: true }],
      toolChoice: { tool: "look" },
      responseFormat: { type: "json_schema", name: "answer", schema: { type: "object" } },
      reasoningEffort: "low"
    }, options("max_completion_tokens"))
    const params: OpenAI.ChatCompletionCreateParamsStreaming = {
      model: "gpt-test",
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [{ type: "text", text: "What is this?" }, {
            type: "image_url",
            image_url: { url: "https://x/a.png" }
          }]
        },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "look", arguments: "{}" } }]
        },
        { role: "tool", tool_call_id: "call_1", content: "a cat" }
      ],
      max_completion_tokens: 10,
      tools: [{
        type: "function",
        function: { name: "look", parameters: { type: "object", properties: {} }, strict: true }
      }],
      tool_choice: { type: "function", function: { name: "look" } },
      response_format: {
        type: "json_schema",
        json_schema: { name: "answer", schema: { type: "object" }, strict: true }
      },
      reasoning_effort: "low",
      stream: true,
      stream_options: { include_usage: true }
    }
    expect(encoded).toEqual(params)
  })
})

const count = fc.nat({ max: 100_000 })

// `other` has no name on the wire: it goes out as `stop`.
const response = fc.record({
  id: name,
  model: name,
  text: word,
  reasoning: fc.option(word, { nil: undefined }),
  refusal: fc.option(word, { nil: undefined }),
  toolCalls: fc.array(toolCall, { maxLength: 2 }),
  finishReason: fc.constantFrom<FinishReason>("stop", "length", "tool_calls", "content_filter"),
  prompt: count,
  completion: count,
  cached: count,
  reasoningTokens: count
}).map((r): ChatResponse => ({
  id: r.id,
  model: r.model,
  provider: "openai",
  text: r.text,
  ...(r.reasoning !== undefined ? { reasoning: r.reasoning } : {}),
  ...(r.refusal !== undefined ? { refusal: r.refusal } : {}),
  toolCalls: r.toolCalls,
  finishReason: r.finishReason,
  usage: {
    promptTokens: r.prompt,
    completionTokens: r.completion,
    totalTokens: r.prompt + r.completion,
    cachedPromptTokens: r.cached,
    reasoningTokens: r.reasoningTokens,
    estimated: false
  },
  latency: Duration.millis(5)
}))

describe("internal/codec/openAiChat: the reply both ways", () => {
  it("a reply written as a chat.completion reads back as itself", () => {
    fc.assert(fc.property(response, (original) => {
      const body: OpenAI.ChatCompletion = JSON.parse(completion(original, "chatcmpl-x", 1))
      expect(body.object).toBe("chat.completion")
      expect(body.choices[0]?.message.role).toBe("assistant")
      expect(reply(body as unknown as Record<string, unknown>)).toEqual({
        id: original.id,
        model: original.model,
        text: original.text,
        reasoning: original.reasoning,
        refusal: original.refusal,
        toolCalls: original.toolCalls,
        finishReason: original.finishReason,
        usage: original.usage
      })
    }))
  })
})
