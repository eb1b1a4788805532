import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import type { Input as ChatRequest } from "../../src/ChatRequest.js"
import type { Origin } from "../../src/internal/wire/dialect.js"
import * as Wire from "../../src/internal/wire/gemini/codec.js"
import { count, generate as generateText } from "../../src/internal/wire/gemini/dialect.js"

const generate = (body: unknown) => generateText(JSON.stringify(body))

const decoded = (body: unknown): ChatRequest => {
  const request = generate(body)
  if (Result.isFailure(request)) throw new Error(request.failure.message)
  return request.success
}

const refused = (body: unknown): Wire.Problem => {
  const request = generate(body)
  if (Result.isSuccess(request)) throw new Error("accepted")
  return request.failure
}

const ask = { role: "user", parts: [{ text: "What is the weather in Paris?" }] }

describe("the gateway's Gemini request body", () => {
  it("a conversation: system instruction, image, thoughts, a signed call without id and its response by name", () => {
    const request = decoded({
      systemInstruction: { parts: [{ text: "Be brief." }] },
      contents: [
        { role: "user", parts: [{ text: "Look:" }, { inlineData: { mimeType: "image/png", data: "iVBOR" } }] },
        {
          role: "model",
          parts: [
            { text: "Thinking it over", thought: true },
            { functionCall: { name: "get_weather", args: { city: "Paris" } }, thoughtSignature: "sig-1" }
          ]
        },
        { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { output: "sunny" } } }] }
      ]
    })
    expect(request.messages).toEqual([
      { role: "system", content: "Be brief." },
      {
        role: "user",
        content: [{ type: "text", text: "Look:" }, { type: "image", url: "data:image/png;base64,iVBOR" }]
      },
      {
        role: "assistant",
        content: "",
        reasoning: "Thinking it over",
        toolCalls: [{
          id: "call_0",
          name: "get_weather",
          arguments: `{"city":"Paris"}`,
          providerMetadata: { gemini: { thoughtSignature: "sig-1" } }
        }]
      },
      { role: "tool", toolCallId: "call_0", name: "get_weather", content: `{"output":"sunny"}` }
    ])
  })

  it("Gemini's own call id is kept for the Gemini adapter and matches the response that names it", () => {
    const request = decoded({
      contents: [
        ask,
        {
          role: "model",
          parts: [
            { functionCall: { id: "fc-a", name: "get_weather", args: { city: "Paris" } } },
            { functionCall: { id: "fc-b", name: "get_weather", args: { city: "Lyon" } } }
          ]
        },
        {
          role: "function",
          parts: [
            { functionResponse: { id: "fc-b", name: "get_weather", response: { output: "rain" } } },
            { functionResponse: { id: "fc-a", name: "get_weather", response: { output: "sun" } } }
          ]
        }
      ]
    })
    const [, assistant, first, second] = request.messages
    expect(assistant).toMatchObject({
      toolCalls: [{ id: "fc-a", providerMetadata: { gemini: { id: "fc-a" } } }, {
        id: "fc-b"
      }]
    })
    expect(first).toMatchObject({ role: "tool", toolCallId: "fc-b" })
    expect(second).toMatchObject({ role: "tool", toolCallId: "fc-a" })
  })

  it("a function response no call is left for, a misplaced part, a bad role: refused naming the field", () => {
    expect(
      refused({
        contents: [ask, { role: "user", parts: [{ functionResponse: { name: "get_weather", response: {} } }] }]
      }).param
    ).toBe("contents[1].parts[0].functionResponse")
    expect(refused({ contents: [{ role: "user", parts: [{ functionCall: { name: "f" } }] }] }).param).toBe(
      "contents[0].parts[0].functionCall"
    )
    expect(refused({ contents: [{ role: "model", parts: [{ inlineData: { mimeType: "a/b", data: "" } }] }] }).param)
      .toBe("contents[0].parts[0]")
    expect(refused({ contents: [{ role: "system", parts: [] }] }).param).toBe("contents[0].role")
  })

  it("tools: Google's own kinds refused by name; declarations in Gemini's schema subset become JSON Schema", () => {
    const problem = refused({ contents: [ask], tools: [{ googleSearch: {}, codeExecution: {} }] })
    expect(problem.param).toBe("tools[0]")
    expect(problem.message).toContain("googleSearch, codeExecution are tools that Google runs on its own servers")
    const request = decoded({
      contents: [ask],
      tools: [{
        functionDeclarations: [
          {
            name: "get_weather",
            parameters: {
              type: "OBJECT",
              properties: { city: { type: "STRING", nullable: true } },
              propertyOrdering: ["city"],
              required: ["city"]
            }
          },
          { name: "now", parametersJsonSchema: { type: "object", additionalProperties: false } },
          { name: "ping" }
        ]
      }]
    })
    expect(request.tools).toEqual([
      {
        name: "get_weather",
        parameters: { type: "object", properties: { city: { type: ["string", "null"] } }, required: ["city"] }
      },
      { name: "now", parameters: { type: "object", additionalProperties: false } },
      { name: "ping", parameters: { type: "object", properties: {} } }
    ])
  })

  it("toolConfig: ANY with one name is that tool, with several the tools kept to them; NONE and AUTO", () => {
    const tools = [{ functionDeclarations: [{ name: "a" }, { name: "b" }, { name: "c" }] }]
    const mode = (functionCallingConfig: unknown) =>
      decoded({ contents: [ask], tools, toolConfig: { functionCallingConfig } })
    expect(mode({ mode: "ANY", allowedFunctionNames: ["b"] }).toolChoice).toEqual({ tool: "b" })
    const some = mode({ mode: "ANY", allowedFunctionNames: ["a", "c"] })
    expect(some.toolChoice).toBe("required")
    expect(some.tools?.map((tool) => tool.name)).toEqual(["a", "c"])
    expect(mode({ mode: "NONE" }).toolChoice).toBe("none")
    expect(mode({ mode: "AUTO" }).toolChoice).toBe("auto")
  })

  it("generationConfig: sampling, limits, a JSON response with or without a schema, thinking", () => {
    const config = (generationConfig: unknown) => decoded({ contents: [ask], generationConfig })
    expect(config({ temperature: 0.2, topP: 0.9, maxOutputTokens: 64, stopSequences: ["END"], seed: 7 })).toMatchObject(
      {
        temperature: 0.2,
        topP: 0.9,
        maxTokens: 64,
        stop: ["END"],
        seed: 7
      }
    )
    expect(config({ responseMimeType: "application/json" }).responseFormat).toEqual({ type: "json_object" })
    expect(
      config({ responseMimeType: "application/json", responseSchema: { type: "ARRAY", items: { type: "INTEGER" } } })
        .responseFormat
    ).toEqual({ type: "json_schema", name: "response", schema: { type: "array", items: { type: "integer" } } })
    expect(config({ responseMimeType: "application/json", responseJsonSchema: { type: "string" } }).responseFormat)
      .toEqual({ type: "json_schema", name: "response", schema: { type: "string" } })
    expect(config({ thinkingConfig: { thinkingLevel: "HIGH" } }).reasoningEffort).toBe("high")
    expect(config({ thinkingConfig: { thinkingBudget: 1024 } }).reasoningEffort).toBe("low")
    expect(config({ thinkingConfig: { thinkingBudget: 0 } }).reasoningEffort).toBe("none")
    expect(config({ thinkingConfig: { thinkingBudget: -1, includeThoughts: true } }).reasoningEffort).toBeUndefined()
  })

  it("countTokens: the contents alone, or a whole generateContentRequest", () => {
    expect(Result.getOrThrow(count(JSON.stringify({ contents: [ask] })))).toEqual({
      messages: [{ role: "user", content: [{ type: "text", text: "What is the weather in Paris?" }] }]
    })
    const whole = Result.getOrThrow(count(JSON.stringify({
      generateContentRequest: { model: "models/x", contents: [ask], systemInstruction: { parts: [{ text: "Hi" }] } }
    })))
    expect(whole).toMatchObject({ messages: [{ role: "system", content: "Hi" }, { role: "user" }] })
    expect(Result.getOrThrow(Result.flip(count("{not json")))).toBeInstanceOf(Wire.Problem)
  })

  it("the engine's request paths as the Gemini body names them", () => {
    expect(Wire.geminiPath("maxTokens")).toBe("generationConfig.maxOutputTokens")
    expect(Wire.geminiPath("messages[3].content")).toBe("contents")
    expect(Wire.geminiPath("tools[1].parameters.type")).toBe("tools[0].functionDeclarations[1].parameters.type")
  })

  it("a message's path, and its part's, placed where in the body it came from", () => {
    const png = { inlineData: { mimeType: "image/png", data: "iVBORw0KGgo=", displayName: "chart.png" } }
    const pdf = { inlineData: { mimeType: "application/pdf", data: "JVBERi0=" } }
    const origins: Array<Origin> = []
    const request = Result.getOrThrow(generateText(
      JSON.stringify({
        systemInstruction: { parts: [{ text: "Be brief." }] },
        contents: [
          {
            role: "user",
            parts: [{ text: "Chart it." }, { fileData: { fileUri: "gs://b/o.png", mimeType: "image/png" } }]
          },
          { role: "model", parts: [{ functionCall: { id: "c1", name: "chart", args: {} } }] },
          {
            role: "user",
            parts: [
              { text: "Here:" },
              // The part the response references comes first in the tool message, whatever its place in the body.
              {
                functionResponse: {
                  id: "c1",
                  name: "chart",
                  response: { chart: { $ref: "chart.png" } },
                  parts: [pdf, png]
                }
              }
            ]
          }
        ]
      }),
      origins
    ))
    // system, user, assistant, then the tool message before the user text that shares its turn.
    expect(request.messages.map((message) => message.role)).toEqual([
      "system",
      "user",
      "assistant",
      "tool",
      "user"
    ])
    const path = (engine: string) => Wire.geminiPath(engine, origins)
    expect(path("messages[0].content")).toBe("systemInstruction.parts[0]")
    expect(path("messages[1].content[1].url is wrong")).toBe("contents[0].parts[1].url is wrong")
    expect(path("messages[2].toolCalls[0].arguments")).toBe("contents[1]")
    expect(path("messages[3].content[0]")).toBe("contents[2].parts[1].functionResponse")
    expect(path("messages[3].content[1] is an image")).toBe(
      "contents[2].parts[1].functionResponse.parts[1] is an image"
    )
    expect(path("messages[3].content[2]")).toBe("contents[2].parts[1].functionResponse.parts[0]")
    expect(path("messages[4].content[0]")).toBe("contents[2].parts[0]")
    // A path of no message the body gave: the contents.
    expect(path("messages[9].content[0]")).toBe("contents")
  })
})
