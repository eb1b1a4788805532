/**
 * The simulator's errors for bad requests, worded as each provider words them and naming the offending field, from
 * each wire format's decode (which reads the body with the dialect's codec).
 */
import { describe, expect, it } from "@effect/vitest"
import { decode as decodeChat } from "../../src/internal/simulator/openAiChat/request.js"
import * as Ollama from "../../src/simulator/Ollama.js"

const hi = [{ role: "user", content: "hi" }]
const f = [{ type: "function", function: { name: "f" } }]

/** A body and the error it gets: OpenAI's `message`, `param` and `code`, as OpenAI's server words them. */
const badChats: ReadonlyArray<readonly [string, unknown, Readonly<Record<string, string>>]> = [
  ["not an object", [1], { message: "The request body must be a JSON object, but got an array." }],
  ["no model", { messages: hi }, {
    message: "you must provide a model parameter",
    param: "model"
  }],
  ["a model of another type", { model: 1, messages: hi }, {
    message: "Invalid type for 'model': expected a string, but got a number instead.",
    param: "model"
  }],
  ["no messages", { model: "m" }, { message: "Missing required parameter: 'messages'.", param: "messages" }],
  ["messages of another type", { model: "m", messages: "x" }, {
    message: "Invalid type for 'messages': expected an array, but got a string instead.",
    param: "messages"
  }],
  ["no message", { model: "m", messages: [] }, {
    message:
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
    param: "messages"
  }],
  ["a message of another type", { model: "m", messages: [1] }, {
    message: "Invalid type for 'messages[0]': expected an object, but got a number instead.",
    param: "messages[0]"
  }],
  ["a role it does not take", { model: "m", messages: [{ role: "robot" }] }, {
    message:
      "Invalid value for 'messages[0].role': expected one of 'system', 'developer', 'user', 'assistant', 'tool', got \"robot\".",
    param: "messages[0].role"
  }],
  ["content of another type", { model: "m", messages: [{ role: "user", content: 42 }] }, {
    message:
      "Invalid type for 'messages[0].content': expected one of a string or array of objects, but got a number instead.",
    param: "messages[0].content"
  }],
  ["a text part without its text", {
    model: "m",
    messages: [{ role: "user", content: [{ type: "text", text: 5 }] }]
  }, {
    message: "Missing required parameter: 'messages[0].content[0].text'.",
    param: "messages[0].content[0].text"
  }],
  ["a part without a type", {
    model: "m",
    messages: [{ role: "user", content: [{ type: "text", text: "a" }, 5] }]
  }, {
    message: "Invalid 'messages[0].content[1]': expected an object with a 'type'.",
    param: "messages[0].content[1]"
  }],
  ["a tool message without its call's id", { model: "m", messages: [{ role: "tool", content: "x" }] }, {
    message: "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'.",
    param: "messages[0].tool_call_id"
  }],
  ["a tool without a function", {
    model: "m",
    messages: hi,
    tools: [{ type: "function" }]
  }, { message: "Missing required parameter: 'tools[0].function.name'.", param: "tools[0].function.name" }],
  ["a tool of another type", { model: "m", messages: hi, tools: [5] }, {
    message: "Invalid type for 'tools[0]': expected an object.",
    param: "tools[0]"
  }],
  ["tools of another type", { model: "m", messages: hi, tools: 3 }, {
    message: "Invalid type for 'tools': expected an array, but got a number instead.",
    param: "tools"
  }],
  ["a tool choice without tools", {
    model: "m",
    messages: hi,
    tool_choice: "auto"
  }, {
    message: "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
    param: "tool_choice"
  }],
  ["a tool choice it does not take", {
    model: "m",
    messages: hi,
    tools: f,
    tool_choice: "bad"
  }, {
    message:
      "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {type: 'function', function: {name}}.",
    param: "tool_choice"
  }],
  ["a tool choice naming no tool", {
    model: "m",
    messages: hi,
    tools: f,
    tool_choice: { type: "function", function: { name: "g" } }
  }, { message: "Invalid value for 'tool_choice': function 'g' is not in 'tools'.", param: "tool_choice" }],
  ["a json_schema format without its name", {
    model: "m",
    messages: hi,
    response_format: { type: "json_schema", json_schema: {} }
  }, {
    message: "Missing required parameter: 'response_format.json_schema.name'.",
    param: "response_format.json_schema.name"
  }],
  ["a format type it does not take", {
    model: "m",
    messages: hi,
    response_format: { type: "xml" }
  }, {
    message: "Invalid value: \"xml\". Supported values are: 'text', 'json_object' and 'json_schema'.",
    param: "response_format.type",
    code: "invalid_value"
  }],
  ["a format of another type", {
    model: "m",
    messages: hi,
    response_format: 3
  }, { message: "Invalid type for 'response_format': expected an object.", param: "response_format" }],
  ["stream of another type", { model: "m", messages: hi, stream: "yes" }, {
    message: "Invalid type for 'stream': expected a boolean, but got a string instead.",
    param: "stream"
  }],
  ["stream_options without stream", {
    model: "m",
    messages: hi,
    stream_options: 3
  }, {
    message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
    param: "stream_options"
  }],
  ["stream_options of another type", {
    model: "m",
    messages: hi,
    stream: true,
    stream_options: "x"
  }, { message: "Invalid type for 'stream_options': expected an object.", param: "stream_options" }],
  ["a limit that is not an integer", {
    model: "m",
    messages: hi,
    max_tokens: 1.5
  }, {
    message: "Invalid 'max_tokens': expected an integer of at least 1, but got 1.5 instead.",
    param: "max_tokens",
    code: "invalid_value"
  }],
  ["a limit of another type", {
    model: "m",
    messages: hi,
    max_completion_tokens: "3"
  }, {
    message: "Invalid 'max_completion_tokens': expected an integer of at least 1, but got \"3\" instead.",
    param: "max_completion_tokens",
    code: "invalid_value"
  }],
  ["continue_final_message with add_generation_prompt", {
    model: "m",
    messages: hi,
    continue_final_message: true
  }, {
    message: "Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
    param: "continue_final_message"
  }]
]

/** A body and the error it gets: Ollama's message (Go's `encoding/json` where it decodes), and the field. */
const badOllamaChats: ReadonlyArray<readonly [string, unknown, Readonly<Record<string, string>>]> = [
  ["not an object", [1], { message: "json: cannot unmarshal array into Go value of type api.ChatRequest" }],
  ["no model", { messages: hi }, { message: "model is required", param: "model" }],
  ["an empty model", { model: "", messages: hi }, { message: "model is required", param: "model" }],
  ["a model of another type", { model: 1, messages: hi }, {
    message: "json: cannot unmarshal number into Go struct field ChatRequest.model of type string",
    param: "model"
  }],
  ["messages of another type", { model: "m", messages: "x" }, {
    message: "json: cannot unmarshal string into Go struct field ChatRequest.messages of type []api.Message",
    param: "messages"
  }],
  ["no message", { model: "m", messages: [] }, {
    message: "messages must not be empty (the simulator does not load models)",
    param: "messages"
  }],
  ["a message of another type", { model: "m", messages: [1] }, {
    message: "json: cannot unmarshal number into Go struct field ChatRequest.messages of type api.Message",
    param: "messages"
  }],
  ["a role it does not take", { model: "m", messages: [{ role: "robot" }] }, {
    message: "messages[0].role: invalid role \"robot\"",
    param: "messages[0].role"
  }],
  ["content of another type", { model: "m", messages: [{ role: "user", content: 42 }] }, {
    message: "json: cannot unmarshal number into Go struct field ChatRequest.messages.content of type string",
    param: "messages.content"
  }],
  ["images of another type", { model: "m", messages: [{ role: "user", content: "a", images: [1] }] }, {
    message: "json: cannot unmarshal array into Go struct field ChatRequest.messages.images of type []api.ImageData",
    param: "messages.images"
  }],
  ["an image by URL", { model: "m", messages: [{ role: "user", content: "a", images: ["http://x"] }] }, {
    message: "illegal base64 data in images",
    param: "messages[0].images"
  }],
  ["tool calls on a user message", { model: "m", messages: [{ role: "user", content: "a", tool_calls: [] }] }, {
    message: "json: cannot unmarshal array into Go struct field ChatRequest.messages.tool_calls of type []api.ToolCall",
    param: "messages.tool_calls"
  }],
  ["a tool call without its name", {
    model: "m",
    messages: [{ role: "assistant", content: "a", tool_calls: [{ function: {} }] }]
  }, { message: "messages[0].tool_calls: a tool call needs function.name", param: "messages[0].tool_calls" }],
  ["arguments as a JSON string", {
    model: "m",
    messages: [{ role: "assistant", content: "a", tool_calls: [{ function: { name: "f", arguments: "{}" } }] }]
  }, {
    message:
      "json: cannot unmarshal string into Go struct field ChatRequest.messages.tool_calls.function.arguments of type api.ToolCallFunctionArguments",
    param: "messages.tool_calls.function.arguments"
  }],
  ["tools of another type", { model: "m", messages: hi, tools: 3 }, {
    message: "json: cannot unmarshal number into Go struct field ChatRequest.tools of type api.Tools",
    param: "tools"
  }],
  ["a tool without its name", { model: "m", messages: hi, tools: [{ function: {} }] }, {
    message: "tools[0]: a tool needs function.name",
    param: "tools[0]"
  }],
  ["stream of another type", { model: "m", messages: hi, stream: "yes" }, {
    message: "json: cannot unmarshal string into Go struct field ChatRequest.stream of type bool",
    param: "stream"
  }],
  ["options of another type", { model: "m", messages: hi, options: 3 }, {
    message: "json: cannot unmarshal number into Go struct field ChatRequest.options of type map[string]interface {}",
    param: "options"
  }],
  ["a num_predict that is not an integer", { model: "m", messages: hi, options: { num_predict: 1.5 } }, {
    message: "option \"num_predict\" must be of type integer",
    param: "options.num_predict"
  }],
  ["a think of another type", { model: "m", messages: hi, think: 3 }, {
    message: "invalid think value: 3",
    param: "think"
  }],
  ["a format it does not take", { model: "m", messages: hi, format: "xml" }, {
    message: "invalid format: \"xml\"",
    param: "format"
  }]
]

describe("the simulator's request errors", () => {
  it("Chat Completions: each bad body gets OpenAI's error naming its field", () => {
    for (const [name, body, error] of badChats) {
      expect(decodeChat(body), name).toEqual({ _tag: "InvalidRequest", param: undefined, code: undefined, ...error })
    }
  })

  it("Chat Completions: a body that fits is read, not refused", () => {
    const decoded = decodeChat({
      model: "m",
      messages: [
        { role: "developer", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "a" }, { type: "image_url", image_url: { url: "u" } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c", function: { name: "f", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "c", content: "r" }
      ],
      tools: [{ type: "function", function: { name: "f" } }],
      tool_choice: { type: "function", function: { name: "f" } },
      max_tokens: 7,
      reasoning_effort: "low",
      stream: true,
      stream_options: { include_usage: true }
    })
    expect(decoded).toMatchObject({
      // 14 characters (the tool call's name and arguments too), 4 tokens, and an image's 85.
      prompt: { model: "m", promptTokens: 89, lastUserText: "a", lastRole: "tool", toolResult: "r" },
      stream: true,
      requestedTokens: 96,
      extra: { includeUsage: true }
    })
  })

  it("Ollama: each bad body gets Ollama's error naming its field", () => {
    for (const [name, body, error] of badOllamaChats) {
      expect(Ollama.format.decode(body, {}), name).toEqual({
        _tag: "InvalidRequest",
        param: undefined,
        code: undefined,
        ...error
      })
    }
  })

  it("Ollama: a body that fits is read, not refused", () => {
    const decoded = Ollama.format.decode({
      model: "m",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "a", images: ["aGk="] },
        { role: "assistant", content: "", tool_calls: [{ function: { name: "f", arguments: { x: 1 } } }] },
        { role: "tool", content: "r", tool_name: "f" }
      ],
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
      options: { num_predict: 7 },
      think: "high",
      format: "json"
    }, {})
    expect(decoded).toMatchObject({
      // 9 + 1 + 1 + 7 + 1 characters (the call's name and arguments too), 5 tokens, and an image's 85.
      prompt: { model: "m", promptTokens: 90, lastUserText: "a", lastRole: "tool", toolResult: "r", reasoning: true },
      stream: true,
      requestedTokens: 97
    })
  })
})
