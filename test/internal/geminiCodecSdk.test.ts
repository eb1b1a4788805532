// The Gemini codec against `@google/genai`'s own types. The SDK exports no type of the REST request body (its
// `GenerateContentParameters` is its own shape: `model`, `contents` and a flat `config`), but the body's fields are
// its `Content`, `Tool`, `ToolConfig` and `GenerationConfig`, and its reply class holds the REST reply's fields. So:
// at compile time, every value our schemas take is one of the SDK's types (the request's parts and the reply alike);
// at run time, replies typed by the SDK (its enums included) decode with our reply schema and read back, and the
// replies our writers write are read by the SDK's own accessors.
import { describe, expect, it } from "@effect/vitest"
import * as Genai from "@google/genai"
import type * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { JsonObject } from "../../src/internal/json.js"
import * as Codec from "../../src/internal/wire/gemini/codec.js"

// A type as JSON carries it: the SDK's string enums as their values, no `null` (our schemas take it as unset).
type Json<T> = T extends string ? `${T}`
  : T extends ReadonlyArray<infer E> ? ReadonlyArray<Json<E>>
  : T extends object ? { readonly [K in keyof T]: Json<Exclude<T[K], null | undefined>> }
  : T

// Compiles only when `A` is assignable to `B`.
type Assignable<A extends B, B> = [A, B]

type Request = typeof Codec.GenerateContentRequest.Type
type Declaration = Result.Result.Success<ReturnType<typeof Codec.checkFunctionDeclarations>>[number]
type Reply = typeof Codec.GenerateContentResponse.Type

// The REST request body's fields, as the SDK types them.
interface SdkRequest {
  readonly contents: Array<Genai.Content>
  readonly systemInstruction?: Genai.Content
  readonly toolConfig?: Genai.ToolConfig
  readonly generationConfig?: Genai.GenerationConfig
}

// The SDK's reply class less its accessors: the REST reply's fields.
type SdkReply = Pick<
  Genai.GenerateContentResponse,
  "candidates" | "promptFeedback" | "usageMetadata" | "modelVersion" | "responseId"
>

type Candidate = NonNullable<Reply["candidates"]>[number]
type Feedback = NonNullable<Reply["promptFeedback"]>

// The reply schema takes any string where the SDK has an enum (a reason added later is still read): those fields are
// checked the other way, every value of the SDK's enum being one the schema takes.
export type CompileTimeChecks = [
  Assignable<Json<Omit<Request, "tools">>, Json<SdkRequest>>,
  Assignable<Json<Declaration>, Json<Genai.FunctionDeclaration>>,
  Assignable<Json<typeof Codec.Part.Type>, Json<Genai.Part>>,
  Assignable<Json<Omit<Reply, "candidates" | "promptFeedback">>, Json<SdkReply>>,
  Assignable<Json<Omit<Candidate, "finishReason">>, Json<Genai.Candidate>>,
  Assignable<`${Genai.FinishReason}`, NonNullable<Candidate["finishReason"]>>,
  Assignable<Json<Omit<Feedback, "blockReason">>, Json<Genai.GenerateContentResponsePromptFeedback>>,
  Assignable<`${Genai.BlockedReason}`, NonNullable<Feedback["blockReason"]>>
]

const sdkReply: SdkReply = {
  candidates: [{
    content: {
      role: "model",
      parts: [
        { text: "Thinking it over.", thought: true },
        { text: "Let me look.", thoughtSignature: "dGV4dA==" },
        { functionCall: { name: "get_weather", args: { city: "Paris" } }, thoughtSignature: "c2ln" }
      ]
    },
    finishReason: Genai.FinishReason.STOP,
    index: 0
  }],
  usageMetadata: {
    promptTokenCount: 12,
    candidatesTokenCount: 7,
    thoughtsTokenCount: 4,
    cachedContentTokenCount: 2,
    totalTokenCount: 23
  },
  modelVersion: "gemini-2.5-flash",
  responseId: "resp-1"
}

const sdkBlocked: SdkReply = {
  promptFeedback: { blockReason: Genai.BlockedReason.PROHIBITED_CONTENT, blockReasonMessage: "Not this." },
  usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 },
  modelVersion: "gemini-2.5-flash",
  responseId: "resp-2"
}

// What the SDK reads of a reply, through its own class and accessors.
function readBySdk(json: string) {
  const reply = Object.assign(new Genai.GenerateContentResponse(), JSON.parse(json) as SdkReply)
  return {
    text: reply.text,
    calls: reply.functionCalls,
    finishReason: reply.candidates?.[0]?.finishReason,
    usage: reply.usageMetadata,
    blockReason: reply.promptFeedback?.blockReason
  }
}

describe("wire/gemini/codec against @google/genai's types", () => {
  it("a reply typed by the SDK decodes with the reply schema and reads back", () => {
    const decode = Schema.decodeUnknownSync(Codec.GenerateContentResponse)
    expect(decode(sdkReply)).toEqual(sdkReply)
    const body = JSON.parse(JSON.stringify(sdkReply)) as JsonObject
    const read = Codec.reply(body, Codec.candidateOf(body)!)
    expect(read).toMatchObject({
      id: "resp-1",
      model: "gemini-2.5-flash",
      text: "Let me look.",
      reasoning: "Thinking it over.",
      toolCalls: [{
        id: "call_resp-1_0",
        name: "get_weather",
        arguments: `{"city":"Paris"}`,
        providerMetadata: { gemini: { thoughtSignature: "c2ln" } }
      }],
      finishReason: "tool_calls",
      usage: { promptTokens: 12, completionTokens: 11, totalTokens: 23, cachedPromptTokens: 2, reasoningTokens: 4 },
      providerMetadata: { gemini: { thoughtSignature: "dGV4dA==" } }
    })
    expect(decode(sdkBlocked)).toEqual(sdkBlocked)
    const blocked = JSON.parse(JSON.stringify(sdkBlocked)) as JsonObject
    expect(Codec.candidateOf(blocked)).toBeUndefined()
    expect(Codec.blockedDetail(blocked)).toBe("the prompt was blocked (PROHIBITED_CONTENT): Not this.")
  })

  it("the replies the codec writes are read by the SDK's own accessors", () => {
    const whole = Codec.response(
      {
        text: "Sunny.",
        reasoning: undefined,
        toolCalls: [{ name: "get_weather", arguments: `{"city":"Paris"}` }],
        finishReason: "tool_calls",
        usage: { promptTokens: 12, completionTokens: 7, totalTokens: 19, cachedPromptTokens: 0, reasoningTokens: 0 },
        providerMetadata: undefined
      },
      "resp-3",
      "gemini-2.5-flash"
    )
    expect(readBySdk(whole)).toEqual({
      text: "Sunny.",
      calls: [{ name: "get_weather", args: { city: "Paris" } }],
      finishReason: Genai.FinishReason.STOP,
      usage: { promptTokenCount: 12, candidatesTokenCount: 7, totalTokenCount: 19 },
      blockReason: undefined
    })
    const blocked = Codec.blockedResponse({ blockReason: "SAFETY" }, 5, "resp-4", "gemini-2.5-flash")
    expect(readBySdk(blocked)).toEqual({
      text: undefined,
      calls: undefined,
      finishReason: undefined,
      usage: { promptTokenCount: 5, totalTokenCount: 5 },
      blockReason: Genai.BlockedReason.SAFETY
    })
    expect(Codec.totalTokensOf(JSON.parse(Codec.countReply(42)) as JsonObject)).toBe(42)
    const count: Genai.CountTokensResponse = JSON.parse(Codec.countReply(42)) as Genai.CountTokensResponse
    expect(count.totalTokens).toBe(42)
  })
})
