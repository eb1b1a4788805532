/**
 * The simulator's errors for bad requests, worded as each provider words them and naming the offending field, from
 * each wire format's decode (which reads the body with the dialect's codec).
 */
import { describe, expect, it } from "@effect/vitest"
import type * as Result from "effect/Result"
import * as fc from "fast-check"
import { signatureOf } from "../../src/internal/simulator/anthropic/render.js"
import { decode as decodeMessages, decodeCount } from "../../src/internal/simulator/anthropic/request.js"
import { decode as decodeConverse } from "../../src/internal/simulator/bedrock/request.js"
import { decode as decodeGemini } from "../../src/internal/simulator/gemini/request.js"
import { decodeEmbedding } from "../../src/internal/simulator/openAiChat/embedding.js"
import { decode as decodeChat } from "../../src/internal/simulator/openAiChat/request.js"
import { organization } from "../../src/internal/simulator/openAiResponses/organization.js"
import * as Ollama from "../../src/simulator/Ollama.js"
import * as OpenAiResponses from "../../src/simulator/OpenAiResponses.js"
import { pdf as pdfOf } from "../utils/media.js"
import { failed, read } from "../utils/results.js"

const decodeResponses = (body: unknown) => OpenAiResponses.format.decode(body)

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
  ["an empty tools", { model: "m", messages: hi, tools: [] }, {
    message: "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.",
    param: "tools"
  }],
  ["a tool choice with empty tools", { model: "m", messages: hi, tools: [], tool_choice: "none" }, {
    message: "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.",
    param: "tools"
  }],
  ["parallel_tool_calls without tools", { model: "m", messages: hi, parallel_tool_calls: false }, {
    message:
      "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.",
    param: "parallel_tool_calls"
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

/** An embeddings body with `fields` over a minimal one. */
const embeddings = (fields: Readonly<Record<string, unknown>>) => ({ model: "m", input: "hi", ...fields })

/** A body and the error it gets: OpenAI's `message`, `param` and `code`. */
const badEmbeddings: ReadonlyArray<readonly [string, unknown, Readonly<Record<string, string>>]> = [
  ["not an object", [1], { message: "The request body must be a JSON object, but got an array." }],
  ["no model", { input: "hi" }, { message: "you must provide a model parameter", param: "model" }],
  ["a model of another type", { model: 1, input: "hi" }, {
    message: "Invalid type for 'model': expected a string, but got a number instead.",
    param: "model"
  }],
  ["no input", { model: "m" }, { message: "Missing required parameter: 'input'.", param: "input" }],
  ["input of another type", embeddings({ input: 5 }), {
    message: "Invalid type for 'input': expected a string or an array of strings, but got a number instead.",
    param: "input"
  }],
  ["input an object", embeddings({ input: { a: 1 } }), {
    message: "Invalid type for 'input': expected a string or an array of strings, but got an object instead.",
    param: "input"
  }],
  ["no inputs", embeddings({ input: [] }), {
    message: "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
    param: "input"
  }],
  ["too many inputs", embeddings({ input: Array.from({ length: 2049 }, () => "a") }), {
    message:
      "Invalid 'input': array too long. Expected an array with maximum length 2048, but got an array with length 2049 instead.",
    param: "input",
    code: "array_above_max_length"
  }],
  ["too many token arrays", embeddings({ input: Array.from({ length: 2049 }, () => [1]) }), {
    message:
      "Invalid 'input': array too long. Expected an array with maximum length 2048, but got an array with length 2049 instead.",
    param: "input",
    code: "array_above_max_length"
  }],
  ["an empty string", embeddings({ input: ["a", ""] }), {
    message: "'$.input[1]' is invalid: it must not be empty.",
    param: "input[1]"
  }],
  ["a piece of another type", embeddings({ input: ["a", 5] }), {
    message: "Invalid type for 'input[1]': expected a string, but got a number instead.",
    param: "input[1]"
  }],
  ["a mixed array", embeddings({ input: [1, "a"] }), {
    message: "Invalid type for 'input[0]': expected a string, but got a number instead.",
    param: "input[0]"
  }],
  ["an empty token array", embeddings({ input: [[1], []] }), {
    message: "Invalid type for 'input[1]': expected an array of token ids, but got an array instead.",
    param: "input[1]"
  }],
  ["a token array with a string", embeddings({ input: [[1], [2, "x"]] }), {
    message: "Invalid type for 'input[1]': expected an array of token ids, but got an array instead.",
    param: "input[1]"
  }],
  ["a negative token", embeddings({ input: [[1], [-1]] }), {
    message: "Invalid type for 'input[1]': expected an array of token ids, but got an array instead.",
    param: "input[1]"
  }],
  ["an object piece", embeddings({ input: ["a", {}] }), {
    message: "Invalid type for 'input[1]': expected a string, but got an object instead.",
    param: "input[1]"
  }],
  ["dimensions 0", embeddings({ dimensions: 0 }), {
    message: "Invalid 'dimensions': expected an integer from 1 to 8192, but got 0 instead.",
    param: "dimensions",
    code: "invalid_value"
  }],
  ["dimensions 1.5", embeddings({ dimensions: 1.5 }), {
    message: "Invalid 'dimensions': expected an integer from 1 to 8192, but got 1.5 instead.",
    param: "dimensions",
    code: "invalid_value"
  }],
  ["dimensions of another type", embeddings({ dimensions: "x" }), {
    message: "Invalid 'dimensions': expected an integer from 1 to 8192, but got \"x\" instead.",
    param: "dimensions",
    code: "invalid_value"
  }],
  ["dimensions too many", embeddings({ dimensions: 9000 }), {
    message: "Invalid 'dimensions': expected an integer from 1 to 8192, but got 9000 instead.",
    param: "dimensions",
    code: "invalid_value"
  }],
  ["encoding it does not take", embeddings({ encoding_format: "hex" }), {
    message: "Invalid value for 'encoding_format': expected 'float' or 'base64', but got \"hex\" instead.",
    param: "encoding_format"
  }],
  ["an empty single string", embeddings({ input: "" }), {
    message: "'$.input[0]' is invalid: it must not be empty.",
    param: "input[0]"
  }]
]

/** A Responses body with `fields` over a minimal one. */
const responsesBody = { model: "m", input: "hi" }
const responses = (fields: Readonly<Record<string, unknown>>) => ({ ...responsesBody, ...fields })
const inputs = (input: unknown) => responses({ input })
const inputText = (text: string) => ({ role: "user", content: [{ type: "input_text", text }] })
const call = { type: "function_call", id: "fc_1", call_id: "call_1", name: "get_weather", arguments: "{}" }
const output = { type: "function_call_output", call_id: "call_1", output: "21" }

/** A body and the error it gets: OpenAI's `message`, `param` and `code`, as OpenAI's server words them. */
const badResponses: ReadonlyArray<readonly [string, unknown, Readonly<Record<string, string>>]> = [
  ["not an object", [1], { message: "The request body must be a JSON object, but got an array." }],
  ["a Chat Completions body", { model: "m", messages: [inputText("hi")] }, {
    message: "Unknown parameter: 'messages'.",
    param: "messages",
    code: "unknown_parameter"
  }],
  ["max_tokens", responses({ max_tokens: 20 }), {
    message: "Unknown parameter: 'max_tokens'.",
    param: "max_tokens",
    code: "unknown_parameter"
  }],
  ["no model", { input: "hi" }, { message: "Missing required parameter: 'model'.", param: "model" }],
  ["a model of another type", { model: 1, input: "hi" }, {
    message: "Invalid type for 'model': expected a string, but got a number instead.",
    param: "model"
  }],
  ["no input", { model: "m" }, { message: "Missing required parameter: 'input'.", param: "input" }],
  ["input of another type", inputs(5), {
    message: "Invalid type for 'input': expected one of a string or array of input items, but got a number instead.",
    param: "input"
  }],
  ["no item", inputs([]), {
    message: "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.",
    param: "input"
  }],
  ["an item of another type", inputs([5]), {
    message: "Invalid type for 'input[0]': expected an object, but got a number instead.",
    param: "input[0]"
  }],
  ["a role it does not take", inputs([{ role: "robot", content: "x" }]), {
    message:
      "Invalid value for 'input[0].role': expected one of 'user', 'assistant', 'system' or 'developer', got \"robot\".",
    param: "input[0].role"
  }],
  ["a message without content", inputs([{ role: "user" }]), {
    message: "Missing required parameter: 'input[0].content'.",
    param: "input[0].content"
  }],
  ["content of another type", inputs([{ role: "user", content: 5 }]), {
    message:
      "Invalid type for 'input[0].content': expected one of a string or array of input items, but got a number instead.",
    param: "input[0].content"
  }],
  ["a part of another type", inputs([{ role: "user", content: [5] }]), {
    message: "Invalid type for 'input[0].content[0]': expected an object.",
    param: "input[0].content[0]"
  }],
  ["a Chat Completions part", inputs([{ role: "user", content: [{ type: "text", text: "hi" }] }]), {
    message: "Invalid value: \"text\". Supported values are: 'input_text', 'input_image', 'input_file', " +
      "'output_text' and 'refusal'.",
    param: "input[0].content[0].type",
    code: "invalid_value"
  }],
  ["an input_text without text", inputs([{ role: "user", content: [{ type: "input_text" }] }]), {
    message: "Missing required parameter: 'input[0].content[0].text'.",
    param: "input[0].content[0].text"
  }],
  ["an input_image without url", inputs([{ role: "user", content: [{ type: "input_image" }] }]), {
    message: "Missing required parameter: 'input[0].content[0].image_url'.",
    param: "input[0].content[0].image_url"
  }],
  ["an input_file without its file", inputs([{ role: "user", content: [{ type: "input_file" }] }]), {
    message: "Missing required parameter: 'input[0].content[0].file_data'.",
    param: "input[0].content[0].file_data"
  }],
  [
    "a function_call without call_id",
    inputs([inputText("hi"), { type: "function_call", name: "f", arguments: "{}" }]),
    { message: "Missing required parameter: 'input[1].call_id'.", param: "input[1].call_id" }
  ],
  ["a function_call without arguments", inputs([inputText("hi"), { type: "function_call", call_id: "c", name: "f" }]), {
    message: "Missing required parameter: 'input[1].arguments'.",
    param: "input[1].arguments"
  }],
  ["a function_call_output without call_id", inputs([inputText("hi"), { type: "function_call_output", output: "x" }]), {
    message: "Missing required parameter: 'input[1].call_id'.",
    param: "input[1].call_id"
  }],
  [
    "a function_call_output of another type",
    inputs([inputText("hi"), { type: "function_call_output", call_id: "c", output: 5 }]),
    {
      message:
        "Invalid type for 'input[1].output': expected one of a string or array of input items, but got a number instead.",
      param: "input[1].output"
    }
  ],
  ["a reasoning without summary", inputs([inputText("hi"), { type: "reasoning", id: "rs" }]), {
    message: "Missing required parameter: 'input[1].summary'.",
    param: "input[1].summary"
  }],
  ["a reasoning without id nor content", inputs([inputText("hi"), { type: "reasoning", summary: [] }]), {
    message: "Missing required parameter: 'input[1].id'.",
    param: "input[1].id"
  }],
  ["a call without its reasoning", { ...inputs([inputText("hi"), call, output]), reasoning: { effort: "low" } }, {
    message: "Item 'fc_1' of type 'function_call' was provided without its required 'reasoning' item.",
    param: "input"
  }],
  ["an item_reference", inputs([{ type: "item_reference", id: "x" }]), {
    message: "Item with id 'x' not found. Items are not persisted when `store` is set to false.",
    param: "input"
  }],
  ["an item type of another type", inputs([{ type: 5 }]), {
    message:
      "Invalid value: 5. Supported values are: 'message', 'function_call', 'function_call_output', 'reasoning' and 'item_reference'.",
    param: "input[0].type",
    code: "invalid_value"
  }],
  ["previous_response_id of another type", responses({ previous_response_id: 5 }), {
    message: "Invalid type for 'previous_response_id': expected a string, but got a number instead.",
    param: "previous_response_id"
  }],
  ["reasoning of another type", responses({ reasoning: 5 }), {
    message: "Invalid type for 'reasoning': expected an object, but got a number instead.",
    param: "reasoning"
  }],
  ["an effort it does not take", responses({ reasoning: { effort: "huge" } }), {
    message:
      "Invalid value for 'reasoning.effort': expected \"none\" | \"minimal\" | \"low\" | \"medium\" | \"high\" | \"xhigh\" | \"max\".",
    param: "reasoning.effort",
    code: "invalid_value"
  }],
  ["instructions of another type", responses({ instructions: 5 }), {
    message: "Invalid type for 'instructions': expected a string, but got a number instead.",
    param: "instructions"
  }],
  ["stream of another type", responses({ stream: "yes" }), {
    message: "Invalid type for 'stream': expected a boolean, but got a string instead.",
    param: "stream"
  }],
  ["stream_options without stream", responses({ stream_options: {} }), {
    message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
    param: "stream_options"
  }],
  ["stream_options.include_usage", responses({ stream: true, stream_options: { include_usage: true } }), {
    message: "Unknown parameter: 'stream_options.include_usage'.",
    param: "stream_options.include_usage",
    code: "unknown_parameter"
  }],
  ["include of another type", responses({ include: "x" }), {
    message: "Invalid type for 'include': expected an array, but got a string instead.",
    param: "include"
  }],
  ["max_output_tokens below 16", responses({ max_output_tokens: 5 }), {
    message: "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 5 instead.",
    param: "max_output_tokens",
    code: "integer_below_min_value"
  }],
  ["max_output_tokens of another type", responses({ max_output_tokens: "x" }), {
    message: "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got \"x\" instead.",
    param: "max_output_tokens",
    code: "integer_below_min_value"
  }],
  ["tools of another type", responses({ tools: 5 }), {
    message: "Invalid type for 'tools': expected an array, but got a number instead.",
    param: "tools"
  }],
  ["a tool of another type", responses({ tools: [5] }), {
    message: "Invalid type for 'tools[0]': expected an object.",
    param: "tools[0]"
  }],
  ["a nested function tool", responses({ tools: [{ type: "function", function: { name: "f", parameters: {} } }] }), {
    message: "Missing required parameter: 'tools[0].name'.",
    param: "tools[0].name",
    code: "missing_required_parameter"
  }],
  ["a tool choice it does not take", responses({ tool_choice: "bad" }), {
    message: "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {type: 'function', name}.",
    param: "tool_choice"
  }],
  [
    "a tool choice without name",
    responses({ tools: [{ type: "function", name: "f" }], tool_choice: { type: "function" } }),
    { message: "Missing required parameter: 'tool_choice.name'.", param: "tool_choice.name" }
  ],
  [
    "a tool choice naming no tool",
    responses({ tools: [{ type: "function", name: "f" }], tool_choice: { type: "function", name: "g" } }),
    { message: "Tool choice 'function' not found in 'tools' parameter.", param: "tool_choice" }
  ],
  ["text of another type", responses({ text: 5 }), {
    message: "Invalid type for 'text': expected an object, but got a number instead.",
    param: "text"
  }],
  ["a format of another type", responses({ text: { format: 5 } }), {
    message: "Invalid type for 'text.format': expected an object.",
    param: "text.format"
  }],
  ["a format type it does not take", responses({ text: { format: { type: "xml" } } }), {
    message: "Invalid value: \"xml\". Supported values are: 'text', 'json_object' and 'json_schema'.",
    param: "text.format.type",
    code: "invalid_value"
  }],
  [
    "a Chat Completions json_schema format",
    responses({ text: { format: { type: "json_schema", json_schema: { name: "x", schema: {} } } } }),
    { message: "Missing required parameter: 'text.format.name'.", param: "text.format.name" }
  ],
  ["a json_schema format without schema", responses({ text: { format: { type: "json_schema", name: "x" } } }), {
    message: "Missing required parameter: 'text.format.schema'.",
    param: "text.format.schema"
  }],
  ["temperature of another type", responses({ temperature: "x" }), {
    message: "Invalid type for 'temperature': expected a number, but got a string instead.",
    param: "temperature"
  }],
  ["store of another type", responses({ store: "x" }), {
    message: "Invalid type for 'store': expected a boolean, but got a string instead.",
    param: "store"
  }]
]

/** A Messages body with `fields` over a minimal one. */
const claudeBody = { model: "m", max_tokens: 5, messages: hi }
const claude = (fields: Readonly<Record<string, unknown>>) => ({ ...claudeBody, ...fields })
const turns = (messages: unknown) => claude({ messages })
const hiTurn = hi[0]
const toolUse = { type: "tool_use", id: "t1", name: "b", input: {} }

/** A body and the error it gets: Anthropic's message (as pydantic words a field) and the field. */
const badMessages: ReadonlyArray<readonly [string, unknown, Readonly<Record<string, string>>]> = [
  ["not an object", [1], { message: "The request body must be a JSON object, got array" }],
  ["no model", { messages: hi, max_tokens: 5 }, { message: "model: Field required", param: "model" }],
  ["a model of another type", { model: 1, messages: hi, max_tokens: 5 }, {
    message: "model: Input should be a valid string",
    param: "model"
  }],
  ["no max_tokens", { model: "m", messages: hi }, { message: "max_tokens: Field required", param: "max_tokens" }],
  ["max_tokens of another type", claude({ max_tokens: "5" }), {
    message: "max_tokens: Input should be an integer of at least 1, got \"5\"",
    param: "max_tokens"
  }],
  ["max_tokens 0", claude({ max_tokens: 0 }), {
    message: "max_tokens: Input should be an integer of at least 1, got 0",
    param: "max_tokens"
  }],
  ["max_tokens 1.5", claude({ max_tokens: 1.5 }), {
    message: "max_tokens: Input should be an integer of at least 1, got 1.5",
    param: "max_tokens"
  }],
  ["no messages", { model: "m", max_tokens: 5 }, { message: "messages: Field required", param: "messages" }],
  ["messages of another type", turns("x"), { message: "messages: Input should be a valid list", param: "messages" }],
  ["no message", turns([]), { message: "messages: at least one message is required", param: "messages" }],
  ["a message of another type", turns([1]), {
    message: "messages.0: Input should be a valid dictionary",
    param: "messages.0"
  }],
  ["a role it does not take", turns([{ role: "robot", content: "x" }]), {
    message: "messages.0.role: Input should be 'user' or 'assistant'",
    param: "messages.0.role"
  }],
  ["a system role", turns([{ role: "system", content: "x" }]), {
    message:
      "messages.0.role: Input should be 'user' or 'assistant' (use the top-level `system` parameter for a system prompt)",
    param: "messages.0.role"
  }],
  ["no content", turns([{ role: "user" }]), {
    message: "messages.0.content: Field required",
    param: "messages.0.content"
  }],
  ["content of another type", turns([{ role: "user", content: 5 }]), {
    message: "messages.0.content: Input should be a valid string or list, got number",
    param: "messages.0.content"
  }],
  ["empty user content", turns([{ role: "user", content: [] }]), {
    message: "messages.0: all messages must have non-empty content except for the optional final assistant message",
    param: "messages.0.content"
  }],
  ["a text block without text", turns([{ role: "user", content: [{ type: "text", text: 5 }] }]), {
    message: "messages.0.content.0.text: Input should be a valid string",
    param: "messages.0.content.0.text"
  }],
  ["a block of an unknown type", turns([{ role: "user", content: [{ type: "video" }] }]), {
    message:
      "messages.0.content.0: Input tag 'video' found using 'type' does not match any of the expected tags: 'text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'",
    param: "messages.0.content.0.type"
  }],
  ["a block of another type", turns([{ role: "user", content: [5] }]), {
    message: "messages.0.content.0: Input should be an object with a type",
    param: "messages.0.content.0"
  }],
  [
    "a tool_use in a user turn",
    turns([{ role: "user", content: [{ type: "tool_use", id: "a", name: "b", input: {} }] }]),
    {
      message: "messages.0.content.0.type: tool_use blocks are only allowed in assistant messages",
      param: "messages.0.content.0.type"
    }
  ],
  [
    "a tool_result in an assistant turn",
    turns([hiTurn, { role: "assistant", content: [{ type: "tool_result", tool_use_id: "a" }] }]),
    {
      message: "messages.1.content.0.type: tool_result blocks are only allowed in user messages",
      param: "messages.1.content.0.type"
    }
  ],
  ["a tool_result without its id", turns([{ role: "user", content: [{ type: "tool_result" }] }]), {
    message: "messages.0.content.0.tool_use_id: Field required",
    param: "messages.0.content.0.tool_use_id"
  }],
  [
    "a tool_result content of another type",
    turns([{ role: "user", content: [{ type: "tool_result", tool_use_id: "x", content: 5 }] }]),
    {
      message: "messages.0.content.0.content: Input should be a valid string or list",
      param: "messages.0.content.0.content"
    }
  ],
  [
    "a tool_use without input object",
    turns([hiTurn, { role: "assistant", content: [{ type: "tool_use", id: "a", name: "b", input: 5 }] }]),
    { message: "messages.1.content.0.input: Input should be a valid dictionary", param: "messages.1.content.0.input" }
  ],
  [
    "a tool_use without id",
    turns([hiTurn, { role: "assistant", content: [{ type: "tool_use", name: "b", input: {} }] }]),
    { message: "messages.1.content.0.id: Field required", param: "messages.1.content.0.id" }
  ],
  [
    "a thinking in a user turn",
    turns([{ role: "user", content: [{ type: "thinking", thinking: "x", signature: "y" }] }]),
    {
      message: "messages.0.content.0.type: thinking blocks are only allowed in assistant messages",
      param: "messages.0.content.0.type"
    }
  ],
  [
    "a thinking without its text",
    turns([hiTurn, { role: "assistant", content: [{ type: "thinking", signature: "y" }] }]),
    { message: "messages.1.content.0.thinking: Field required", param: "messages.1.content.0.thinking" }
  ],
  [
    "a thinking with a forged signature",
    turns([hiTurn, { role: "assistant", content: [{ type: "thinking", thinking: "x", signature: "forged" }] }]),
    {
      message: "messages.1.content.0: Invalid `signature` in `thinking` block",
      param: "messages.1.content.0.signature"
    }
  ],
  [
    "a redacted thinking without data",
    turns([hiTurn, { role: "assistant", content: [{ type: "redacted_thinking" }] }]),
    { message: "messages.1.content.0.data: Field required", param: "messages.1.content.0.data" }
  ],
  ["an orphan tool_use", turns([hiTurn, { role: "assistant", content: [toolUse] }]), {
    message: "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: t1.",
    param: "messages.1"
  }],
  ["a tool_use answered by text", turns([hiTurn, { role: "assistant", content: [toolUse] }, hiTurn]), {
    message:
      "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: t1. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
    param: "messages.1"
  }],
  ["system of another type", claude({ system: 5 }), {
    message: "system: Input should be a valid string or list",
    param: "system"
  }],
  ["a system block not text", claude({ system: [{ type: "image" }] }), {
    message: "system.0: Input should be a text block",
    param: "system.0"
  }],
  ["thinking of another type", claude({ thinking: 5 }), {
    message: "thinking: Input should be an object",
    param: "thinking"
  }],
  ["thinking enabled without budget", claude({ thinking: { type: "enabled" } }), {
    message: "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    param: "thinking.budget_tokens"
  }],
  ["thinking budget too small", claude({ max_tokens: 5000, thinking: { type: "enabled", budget_tokens: 10 } }), {
    message: "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    param: "thinking.budget_tokens"
  }],
  [
    "thinking budget above max_tokens",
    claude({ max_tokens: 2000, thinking: { type: "enabled", budget_tokens: 2000 } }),
    { message: "`max_tokens` must be greater than `thinking.budget_tokens`", param: "max_tokens" }
  ],
  ["thinking of an unknown type", claude({ thinking: { type: "weird" } }), {
    message:
      "thinking: Input tag 'weird' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive', 'between_tools'",
    param: "thinking.type"
  }],
  ["thinking first missing", {
    ...claudeBody,
    max_tokens: 4000,
    thinking: { type: "enabled", budget_tokens: 1024 },
    messages: [hiTurn, { role: "assistant", content: [toolUse] }, {
      role: "user",
      content: [{ type: "tool_result", tool_use_id: "t1", content: "x" }]
    }]
  }, {
    message:
      "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.",
    param: "messages.1.content.0.type"
  }],
  ["tools of another type", claude({ tools: 5 }), { message: "tools: Input should be a valid list", param: "tools" }],
  ["a tool without a name", claude({ tools: [{}] }), {
    message: "tools.0.name: Field required",
    param: "tools.0.name"
  }],
  ["a tool without input_schema", claude({ tools: [{ name: "x" }] }), {
    message: "tools.0.input_schema: Field required",
    param: "tools.0.input_schema"
  }],
  ["tool_choice of another type", claude({ tool_choice: 5 }), {
    message: "tool_choice: Input should be an object",
    param: "tool_choice"
  }],
  ["tool_choice tool without name", claude({ tool_choice: { type: "tool" } }), {
    message: "tool_choice.tool.name: Field required",
    param: "tool_choice.name"
  }],
  [
    "tool_choice naming no tool",
    claude({ tools: [{ name: "f", input_schema: {} }], tool_choice: { type: "tool", name: "g" } }),
    { message: "tool_choice: tool 'g' is not in tools", param: "tool_choice.name" }
  ],
  ["tool_choice without tools", claude({ tool_choice: { type: "auto" } }), {
    message: "tool_choice.auto may only be specified while providing tools",
    param: "tool_choice"
  }],
  ["tool_choice none with empty tools", claude({ tools: [], tool_choice: { type: "none" } }), {
    message: "tool_choice.none may only be specified while providing tools",
    param: "tool_choice"
  }],
  [
    "disable_parallel_tool_use on a none choice",
    claude({
      tools: [{ name: "f", input_schema: {} }],
      tool_choice: { type: "none", disable_parallel_tool_use: true }
    }),
    {
      message: "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted",
      param: "tool_choice.disable_parallel_tool_use"
    }
  ],
  [
    "a tool forced with thinking on",
    claude({
      max_tokens: 4096,
      thinking: { type: "enabled", budget_tokens: 1024 },
      tools: [{ name: "f", input_schema: {} }],
      tool_choice: { type: "any" }
    }),
    { message: "Thinking may not be enabled when tool_choice forces tool use.", param: "tool_choice" }
  ],
  ["tool_choice of an unknown type", claude({ tool_choice: { type: "bad" } }), {
    message:
      "tool_choice: Input tag 'bad' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'",
    param: "tool_choice.type"
  }],
  ["output_config of another type", claude({ output_config: 5 }), {
    message: "output_config: Input should be an object",
    param: "output_config"
  }],
  ["output_config format not json_schema", claude({ output_config: { format: { type: "xml" } } }), {
    message:
      "output_config.format: Input tag 'xml' found using 'type' does not match any of the expected tags: 'json_schema'",
    param: "output_config.format.type"
  }],
  ["output_config format without schema", claude({ output_config: { format: { type: "json_schema" } } }), {
    message: "output_config.format.schema: Field required",
    param: "output_config.format.schema"
  }],
  ["stream of another type", claude({ stream: "yes" }), {
    message: "stream: Input should be a valid boolean",
    param: "stream"
  }],
  ["stop_sequences of another type", claude({ stop_sequences: "x" }), {
    message: "stop_sequences: Input should be a valid list",
    param: "stop_sequences"
  }],
  ["a stop sequence of another type", claude({ stop_sequences: [1] }), {
    message: "stop_sequences.0: Input should be a valid string",
    param: "stop_sequences.0"
  }],
  ["temperature of another type", claude({ temperature: "x" }), {
    message: "temperature: Input should be a valid number",
    param: "temperature"
  }],
  ["temperature above 1", claude({ temperature: 1.5 }), {
    message: "temperature: Input should be less than or equal to 1",
    param: "temperature"
  }],
  ["a mid system not after a user message", {
    ...claudeBody,
    model: "claude-opus-4-8",
    messages: [{ role: "system", content: "x" }, hiTurn]
  }, { message: "messages.0: a system message must immediately follow a user message", param: "messages.0" }],
  ["a mid system followed by a user", {
    ...claudeBody,
    model: "claude-opus-4-8",
    messages: [hiTurn, { role: "system", content: "x" }, hiTurn]
  }, {
    message: "messages.1: a system message must be the last message or be followed by an assistant message",
    param: "messages.1"
  }],
  ["a mid system with an image", {
    ...claudeBody,
    model: "claude-opus-4-8",
    messages: [hiTurn, { role: "system", content: [{ type: "image", source: { type: "url", url: "u" } }] }]
  }, {
    message: "messages.1.content.0.type: image blocks are not allowed in system messages",
    param: "messages.1.content.0.type"
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
      expect(failed(decodeChat(body)), name).toEqual({
        _tag: "InvalidRequest",
        param: undefined,
        code: undefined,
        ...error
      })
    }
  })

  it("Chat Completions: DeepSeek's thinking model wants the reasoning of each tool turn of the loop in progress back", () => {
    // A conversation: a user's text, or a tool turn (its call answered) sent back with its reasoning or without.
    const segment = fc.oneof(fc.constant("user" as const), fc.boolean())
    fc.assert(fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), (segments) => {
      const messages: Array<Record<string, unknown>> = [{ role: "user", content: "go" }]
      segments.forEach((reasoned, n) => {
        if (reasoned === "user") return messages.push({ role: "user", content: `more ${n}` })
        messages.push(
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: `c${n}`, type: "function", function: { name: "f", arguments: "{}" } }],
            ...(reasoned ? { reasoning_content: "thought" } : {})
          },
          { role: "tool", tool_call_id: `c${n}`, content: "ok" }
        )
      })
      const lastUser = messages.map((message) => message.role).lastIndexOf("user")
      const bare = messages.findIndex((message, i) =>
        i > lastUser && message.role === "assistant" && message["reasoning_content"] === undefined
      )
      const body = { model: "deepseek-reasoner", messages, tools: f }
      // Another model takes the same conversation.
      read(decodeChat({ ...body, model: "deepseek-chat" }))
      if (bare < 0) return void read(decodeChat(body))
      expect(failed(decodeChat(body))).toMatchObject({
        message: `Missing \`reasoning_content\` field in the assistant message at message index ${bare}. For more ` +
          "information, please refer to https://api-docs.deepseek.com/guides/thinking_mode#tool-calls"
      })
    }))
  })

  it("Chat Completions: a body that fits is read, not refused", () => {
    const decoded = read(decodeChat({
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
    }))
    expect(decoded).toMatchObject({
      // 14 characters (the tool call's name and arguments too) and the tool's 34 (its name, and the parameters the
      // codec gives it, `{"type":"object","properties":{}}`), 12 tokens; an image by URL, OpenAI's 765.
      prompt: { model: "m", promptTokens: 777, lastUserText: "a", lastRole: "tool", toolResult: "r" },
      stream: true,
      requestedTokens: 784,
      extra: { includeUsage: true }
    })
  })

  it("OpenAI embeddings: each bad body gets OpenAI's error naming its field", () => {
    for (const [name, body, error] of badEmbeddings) {
      expect(failed(decodeEmbedding(body)), name).toEqual({
        _tag: "InvalidRequest",
        param: undefined,
        code: undefined,
        ...error
      })
    }
  })

  it("OpenAI embeddings: a body that fits is read as its inputs, one array of ids being one input", () => {
    expect(read(decodeEmbedding(embeddings({ input: ["a", "b"], dimensions: 8, encoding_format: "base64" })))).toEqual({
      model: "m",
      inputs: ["a", "b"],
      dimensions: 8,
      base64: true,
      single: false
    })
    const ids = Array.from({ length: 3000 }, (_, i) => i)
    expect(read(decodeEmbedding(embeddings({ input: ids, dimensions: null, encoding_format: null })))).toEqual({
      model: "m",
      inputs: [ids],
      dimensions: undefined,
      base64: false,
      single: false
    })
  })

  it("Responses: each bad body gets OpenAI's error naming its field", () => {
    for (const [name, body, error] of badResponses) {
      expect(failed(decodeResponses(body)), name).toEqual({
        _tag: "InvalidRequest",
        param: undefined,
        code: undefined,
        ...error
      })
    }
  })

  it("Responses: a body that fits is read, not refused, with what its reply echoes", () => {
    const loop = responses({
      instructions: "Be brief.",
      input: [
        inputText("Weather?"),
        { role: "assistant", content: [{ type: "output_text", text: "ok" }] },
        call,
        output
      ],
      tools: [{ type: "function", name: "get_weather", parameters: { type: "object" } }, { type: "web_search" }],
      tool_choice: { type: "function", name: "get_weather" },
      max_output_tokens: 20,
      parallel_tool_calls: false,
      stream: true,
      previous_response_id: "resp_1"
    })
    // 9 + 8 + 2 + 11 + 2 + 2 characters (the call's name and arguments too) and the function tool's 11 + 17 (its name
    // and parameters; a hosted tool has no definition in the prompt): 16 tokens.
    expect(read(decodeResponses(loop))).toMatchObject({
      prompt: {
        model: "m",
        promptTokens: 16,
        lastUserText: "Weather?",
        lastRole: "tool",
        toolResult: "21",
        toolChoice: { _tag: "Named", name: "get_weather" },
        parallelToolCalls: false,
        maxTokens: 20
      },
      stream: true,
      requestedTokens: 36,
      extra: { store: true, encryptedReasoning: false, summary: false, previous: "resp_1" },
      keeps: true,
      continues: "resp_1"
    })
    const replay = responses({
      reasoning: { effort: "low", summary: "auto" },
      include: ["reasoning.encrypted_content"],
      store: false,
      input: [
        inputText("hi"),
        { type: "reasoning", summary: [], encrypted_content: organization("simulator").seal("its reasoning") },
        call,
        output
      ],
      text: { format: { type: "json_schema", name: "x", schema: { type: "object" } } }
    })
    expect(read(decodeResponses(replay))).toMatchObject({
      prompt: { reasoning: true, responseSchema: { type: "object" }, lastRole: "tool" },
      extra: { store: false, encryptedReasoning: true, summary: true, effort: "low" },
      keeps: false
    })
  })

  it("Responses: encrypted content another organisation made, or nobody did, is refused as OpenAI refuses it", () => {
    fc.assert(fc.property(fc.string(), fc.string({ minLength: 1 }), fc.boolean(), (text, other, compaction) => {
      const own = organization("simulator").seal(text)
      const foreign = organization(`not ${other}`).seal(text)
      const item = (encrypted: string) =>
        compaction
          ? { type: "compaction", id: "cmp_0123456789", encrypted_content: encrypted }
          : { type: "reasoning", summary: [], encrypted_content: encrypted }
      const body = (encrypted: string) =>
        responses({ store: false, input: [inputText("hi"), item(encrypted), inputText("and?")] })
      expect(read(decodeResponses(body(own))).prompt.model).toBe("m")
      for (const encrypted of [foreign, foreign.slice(0, -2), `gAAAAB${text}`]) {
        expect(failed(decodeResponses(body(encrypted)))).toEqual({
          _tag: "InvalidRequest",
          param: undefined,
          code: "invalid_encrypted_content",
          message: `The encrypted content ${
            compaction
              ? "for item cmp_...6789"
              : encrypted.length <= 8
              ? encrypted
              : `${encrypted.slice(0, 4)}...${encrypted.slice(-4)}`
          } could not be verified. Reason: Encrypted content could not be decrypted or parsed.`
        })
      }
    }))
  })

  it("Anthropic Messages: each bad body gets Anthropic's error naming its field", () => {
    for (const [name, body, error] of badMessages) {
      expect(failed(decodeMessages(body)), name).toEqual({
        _tag: "InvalidRequest",
        param: undefined,
        code: undefined,
        ...error
      })
    }
  })

  it("Anthropic Messages: a body that fits is read, not refused; count_tokens reads its prompt without max_tokens", () => {
    const body = {
      model: "m",
      max_tokens: 2048,
      system: [{ type: "text", text: "Be brief." }],
      messages: [
        { role: "user", content: [{ type: "text", text: "a" }, { type: "image", source: { type: "url", url: "u" } }] },
        {
          role: "assistant",
          content: [{ type: "thinking", thinking: "t", signature: signatureOf("t") }, {
            type: "tool_use",
            id: "c",
            name: "f",
            input: {}
          }]
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "c", content: "r" }] }
      ],
      tools: [{ name: "f", input_schema: { type: "object" } }],
      tool_choice: { type: "auto", disable_parallel_tool_use: true },
      thinking: { type: "enabled", budget_tokens: 1024 },
      stream: true
    }
    // 9 + 1 + 1 + 2 + 1 characters (the call's name and input too), the thinking's 1 and the tool's 1 + 17: 9 tokens;
    // an image by URL, Anthropic's most, 1,600.
    const prompt = {
      model: "m",
      promptTokens: 1609,
      lastUserText: "a",
      lastRole: "tool",
      toolResult: "r",
      toolChoice: { _tag: "Auto" },
      parallelToolCalls: false,
      reasoning: true
    }
    expect(read(decodeMessages(body))).toMatchObject({ prompt, stream: true, requestedTokens: 1609 + 2048 })
    const { max_tokens: _, stream: __, ...counted } = body
    expect(read(decodeCount(counted))).toMatchObject({ prompt, stream: false, requestedTokens: 1609 })
  })

  it("Gemini: a function calling config, of any mode, without function declarations is refused", () => {
    const declared = { functionDeclarations: [{ name: "f" }] }
    for (const mode of ["AUTO", "ANY", "NONE"]) {
      const config = { functionCallingConfig: { mode } }
      for (const tools of [undefined, [], [{ googleSearch: {} }], [{ functionDeclarations: [] }]]) {
        const body = { contents: [{ role: "user", parts: [{ text: "hi" }] }], tools, toolConfig: config }
        expect(failed(decodeGemini(body, { model: "m" })), `${mode} ${JSON.stringify(tools)}`).toEqual({
          _tag: "InvalidRequest",
          message: "Function calling config is set without function_declarations.",
          param: "tool_config",
          code: undefined
        })
      }
      read(
        decodeGemini({ contents: [{ role: "user", parts: [{ text: "hi" }] }], tools: [declared], toolConfig: config })
      )
    }
  })

  it("Bedrock: a toolConfig without a tool is refused, with or without a choice", () => {
    const messages = [{ role: "user", content: [{ text: "hi" }] }]
    for (const toolConfig of [{ tools: [] }, { tools: [], toolChoice: { auto: {} } }]) {
      expect(failed(decodeConverse({ messages, toolConfig }, { modelId: "m" }))).toEqual({
        _tag: "InvalidRequest",
        message: "1 validation error detected: Value at 'toolConfig.tools' failed to satisfy constraint: Member must " +
          "have length greater than or equal to 1",
        param: "toolConfig.tools",
        code: undefined
      })
    }
    const tools = [{ toolSpec: { name: "f", inputSchema: { json: { type: "object" } } } }]
    read(decodeConverse({ messages, toolConfig: { tools, toolChoice: { any: {} } } }, { modelId: "m" }))
  })

  it("a service tier: each API takes the tiers its reference lists and refuses any other, naming the field", () => {
    const converse = (serviceTier: unknown) =>
      decodeConverse({ messages: [{ role: "user", content: [{ text: "hi" }] }], serviceTier }, { modelId: "m" })
    for (const tier of ["auto", "default", "flex", "scale", "priority", "fast"]) {
      read(decodeChat({ model: "m", messages: hi, service_tier: tier }))
      read(decodeResponses(responses({ service_tier: tier })))
    }
    for (const tier of ["auto", "standard_only"]) read(decodeMessages(claude({ service_tier: tier })))
    for (const type of ["priority", "default", "flex", "reserved"]) read(converse({ type }))
    const openAi = {
      _tag: "InvalidRequest",
      message: "Invalid value: \"standard_only\". Supported values are: 'auto', 'default', 'flex', 'scale', " +
        "'priority' and 'fast'.",
      param: "service_tier",
      code: "invalid_value"
    }
    expect(failed(decodeChat({ model: "m", messages: hi, service_tier: "standard_only" }))).toEqual(openAi)
    expect(failed(decodeResponses(responses({ service_tier: "standard_only" })))).toEqual(openAi)
    for (const tier of ["default", "priority", "flex"]) {
      expect(failed(decodeMessages(claude({ service_tier: tier }))), tier).toMatchObject({ param: "service_tier" })
    }
    for (const type of ["auto", "fast", "standard"]) {
      expect(failed(converse({ type })), type).toMatchObject({ param: "serviceTier.type" })
    }
  })

  it("Anthropic Messages: at most four cache_control blocks, the top-level one (automatic caching) among them", () => {
    const hinted = (count: number) =>
      Array.from({ length: count }, (_, i) => ({ type: "text", text: `t${i}`, cache_control: { type: "ephemeral" } }))
    const withBlocks = (count: number, top: boolean) =>
      claude({
        system: hinted(1),
        messages: [{ role: "user", content: hinted(count - 1) }],
        ...(top ? { cache_control: { type: "ephemeral" } } : {})
      })
    read(decodeMessages(withBlocks(4, false)))
    read(decodeMessages(withBlocks(3, true)))
    for (const [count, top] of [[5, false], [4, true]] as const) {
      expect(failed(decodeMessages(withBlocks(count, top)))).toEqual({
        _tag: "InvalidRequest",
        message: "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        param: "cache_control",
        code: undefined
      })
    }
  })

  it("Anthropic Messages: with thinking on, a temperature of 1 alone and a top_p of 0.95 or more", () => {
    const thinking = { type: "enabled", budget_tokens: 1024 }
    const thinks = (fields: Readonly<Record<string, unknown>>) => claude({ max_tokens: 2048, thinking, ...fields })
    read(decodeMessages(thinks({ temperature: 1, top_p: 0.95 })))
    read(decodeMessages(claude({ temperature: 0.5, top_p: 0.5 })))
    expect(failed(decodeMessages(thinks({ temperature: 0.5 })))).toMatchObject({
      message: "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.",
      param: "temperature"
    })
    expect(failed(decodeMessages(thinks({ top_p: 0.9 })))).toMatchObject({ param: "top_p" })
    expect(failed(decodeMessages(claude({ thinking: { type: "adaptive" }, temperature: 0 })))).toMatchObject({
      param: "temperature"
    })
  })

  it("Anthropic Messages: no top_k with thinking on", () => {
    const thinking = { type: "enabled", budget_tokens: 1024 }
    read(decodeMessages(claude({ top_k: 40 })))
    expect(failed(decodeMessages(claude({ max_tokens: 2048, thinking, top_k: 40 })))).toMatchObject({
      param: "top_k"
    })
  })

  it("Anthropic Messages: no empty message but the final assistant turn, no empty or white-space text block", () => {
    const user = (content: unknown) => ({ role: "user", content })
    const assistant = (content: unknown) => ({ role: "assistant", content })
    const text = (value: string) => ({ type: "text", text: value })
    for (const empty of ["", []]) {
      // A prefill of nothing, last, is taken.
      read(decodeMessages(turns([user("hi"), assistant(empty)])))
      for (const messages of [[user(empty)], [user("hi"), assistant(empty), user("go on")]]) {
        expect(failed(decodeMessages(turns(messages))), JSON.stringify(messages)).toMatchObject({
          message: expect.stringMatching(
            /all messages must have non-empty content except for the optional final assistant message|must be non-empty/
          )
        })
      }
    }
    const blanks = [["", "must be non-empty"], [" \n", "must contain non-whitespace text"]] as const
    for (const [blank, message] of blanks) {
      const results = [{ type: "tool_result", tool_use_id: "t1", content: [text(blank)] }]
      const loop = [user("hi"), assistant([{ type: "tool_use", id: "t1", name: "f", input: {} }]), user(results)]
      const prefill = [user("hi"), assistant([text(blank)])]
      for (const messages of [[user([text(blank), text("hi")])], [user(blank)], loop, prefill]) {
        expect(failed(decodeMessages(turns(messages)))).toMatchObject({
          message: `messages: text content blocks ${message}`
        })
      }
    }
  })

  it("Bedrock: no message without content, no blank text in a message, a tool result or the system", () => {
    const hi = { role: "user", content: [{ text: "hi" }] }
    for (const blank of ["", "  "]) {
      expect(failed(decodeConverse({ messages: [{ role: "user", content: [{ text: blank }] }] }, { modelId: "m" })))
        .toMatchObject({ param: "messages.0.content.0" })
      expect(failed(decodeConverse({ messages: [hi], system: [{ text: blank }] }, { modelId: "m" })))
        .toMatchObject({ param: "system.0" })
      const loop = [
        hi,
        { role: "assistant", content: [{ toolUse: { toolUseId: "t1", name: "f", input: {} } }] },
        { role: "user", content: [{ toolResult: { toolUseId: "t1", content: [{ text: blank }] } }] }
      ]
      const toolConfig = { tools: [{ toolSpec: { name: "f", inputSchema: { json: { type: "object" } } } }] }
      expect(failed(decodeConverse({ messages: loop, toolConfig }, { modelId: "m" })))
        .toMatchObject({ param: "messages.2.content.0.toolResult.content.0" })
    }
    expect(failed(decodeConverse({ messages: [{ role: "user", content: [] }] }, { modelId: "m" }))).toMatchObject({
      message:
        "The content field in the Message object at messages.0 is empty. Add a ContentBlock object to the content " +
        "field and try again."
    })
  })

  it("Gemini: no part with an empty text, but one that carries a thought signature", () => {
    const ask = (parts: ReadonlyArray<unknown>) =>
      decodeGemini({ contents: [{ role: "user", parts: [{ text: "hi" }] }, { role: "model", parts }] }, { model: "m" })
    expect(failed(ask([{ text: "" }]))).toMatchObject({
      message:
        "Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again.",
      param: "contents[1].parts[0].text"
    })
    read(ask([{ text: "", thoughtSignature: "c2ln" }]))
    read(ask([{ text: " " }]))
  })

  it("Anthropic Messages: Claude Opus 4.1 and the models after it take a temperature or a top_p, not both", () => {
    const both = { temperature: 0.5, top_p: 0.9 }
    for (const model of ["claude-opus-4-1", "claude-sonnet-4-5-20250929", "claude-haiku-4-5", "claude-opus-4-8"]) {
      expect(failed(decodeMessages(claude({ model, ...both }))), model).toMatchObject({
        message: "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
      })
      read(decodeMessages(claude({ model, temperature: 0.5 })))
      read(decodeMessages(claude({ model, top_p: 0.9 })))
    }
    for (const model of ["claude-sonnet-4-20250514", "claude-opus-4-0", "claude-3-5-haiku-latest", "m"]) {
      read(decodeMessages(claude({ model, ...both })))
    }
  })

  it("stop sequences: Chat Completions takes four at most, Gemini five", () => {
    const stops = (count: number) => Array.from({ length: count }, (_, i) => `s${i}`)
    read(decodeChat({ model: "m", messages: hi, stop: stops(4) }))
    expect(failed(decodeChat({ model: "m", messages: hi, stop: stops(5) }))).toEqual({
      _tag: "InvalidRequest",
      message:
        "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length 5 " +
        "instead.",
      param: "stop",
      code: "array_above_max_length"
    })
    const gemini = (count: number) =>
      decodeGemini(
        { contents: [{ role: "user", parts: [{ text: "hi" }] }], generationConfig: { stopSequences: stops(count) } },
        { model: "m" }
      )
    read(gemini(5))
    expect(failed(gemini(6))).toMatchObject({ param: "generation_config.stop_sequences" })
  })

  it(
    "Anthropic Messages and Bedrock: a breakpoint of an hour only before every shorter one (tools, system, " +
      "messages; the top-level one last)",
    () => {
      const lifetime = fc.constantFrom<string | undefined>(undefined, "5m", "1h")
      const inOrder = (ttls: ReadonlyArray<string | undefined>) =>
        ttls.every((ttl, i) => ttl !== "1h" || ttls.slice(0, i).every((before) => before === "1h"))
      fc.assert(fc.property(
        fc.array(lifetime, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (ttls, automatic) => {
          const [tool, system, ...parts] = ttls
          const control = (ttl: string | undefined) =>
            ttl === undefined ? { type: "ephemeral" } : { type: "ephemeral", ttl }
          const texts = ["u0", ...parts.map((_, i) => `u${i + 1}`)]
          // The top-level breakpoint (automatic caching) takes the last part's place.
          const top = automatic && parts.length > 0
          const claudeBody = claude({
            tools: [{ name: "f", input_schema: { type: "object" }, cache_control: control(tool) }],
            ...(system === undefined && ttls.length < 2
              ? {}
              : { system: [{ type: "text", text: "s", cache_control: control(system) }] }),
            messages: [{
              role: "user",
              content: texts.map((text, i) => ({
                type: "text",
                text,
                ...(i > 0 && !(top && i === texts.length - 1) ? { cache_control: control(parts[i - 1]) } : {})
              }))
            }],
            ...(top ? { cache_control: control(parts.at(-1)) } : {})
          })
          const point = (ttl: string | undefined) => ({
            cachePoint: ttl === undefined ? { type: "default" } : { type: "default", ttl }
          })
          const converse = {
            toolConfig: {
              tools: [{ toolSpec: { name: "f", inputSchema: { json: { type: "object" } } } }, point(tool)]
            },
            ...(ttls.length < 2 ? {} : { system: [{ text: "s" }, point(system)] }),
            messages: [{
              role: "user",
              content: [{ text: "u0" }, ...parts.flatMap((ttl, i) => [{ text: `u${i + 1}` }, point(ttl)])]
            }]
          }
          const claudeRead = decodeMessages(claudeBody)
          const converseRead = decodeConverse(converse, { modelId: "anthropic.claude-sonnet-4-5-20250929-v1:0" })
          if (inOrder(ttls)) {
            read(claudeRead)
            read(converseRead)
          } else {
            expect(failed(claudeRead)).toEqual({
              _tag: "InvalidRequest",
              message: "A ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that " +
                "blocks are processed in the following order: `tools`, `system`, `messages`.",
              param: "cache_control",
              code: undefined
            })
            expect(failed(converseRead)).toMatchObject({ _tag: "InvalidRequest", param: "cachePoint" })
          }
        }
      ))
    }
  )

  it("Bedrock: a temperature and a topP from 0 to 1", () => {
    const messages = [{ role: "user", content: [{ text: "hi" }] }]
    read(decodeConverse({ messages, inferenceConfig: { temperature: 1, topP: 1 } }, { modelId: "m" }))
    for (const name of ["temperature", "topP"]) {
      expect(failed(decodeConverse({ messages, inferenceConfig: { [name]: 1.5 } }, { modelId: "m" })))
        .toMatchObject({ param: `inferenceConfig.${name}` })
    }
  })

  it("Bedrock: tool calls or results in the turns need a toolConfig", () => {
    const loop = [
      { role: "user", content: [{ text: "hi" }] },
      { role: "assistant", content: [{ toolUse: { toolUseId: "t1", name: "f", input: {} } }] },
      { role: "user", content: [{ toolResult: { toolUseId: "t1", content: [{ text: "done" }] } }] }
    ]
    expect(failed(decodeConverse({ messages: loop }, { modelId: "m" }))).toEqual({
      _tag: "InvalidRequest",
      message: "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
      param: "toolConfig",
      code: undefined
    })
    const tools = [{ toolSpec: { name: "f", inputSchema: { json: { type: "object" } } } }]
    read(decodeConverse({ messages: loop, toolConfig: { tools } }, { modelId: "m" }))
  })

  it("Ollama: each bad body gets Ollama's error naming its field", () => {
    for (const [name, body, error] of badOllamaChats) {
      expect(failed(Ollama.format.decode(body, {})), name).toEqual({
        _tag: "InvalidRequest",
        param: undefined,
        code: undefined,
        ...error
      })
    }
  })

  it("Ollama: a body that fits is read, not refused", () => {
    const decoded = read(Ollama.format.decode({
      model: "m",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "a", images: ["iVBORw0KGgo="] },
        { role: "assistant", content: "", tool_calls: [{ function: { name: "f", arguments: { x: 1 } } }] },
        { role: "tool", content: "r", tool_name: "f" }
      ],
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
      options: { num_predict: 7 },
      think: "high",
      format: "json"
    }, {}))
    expect(decoded).toMatchObject({
      // 9 + 1 + 1 + 7 + 1 characters (the call's name and arguments too) and the tool's 1 + 17, 10 tokens; an image
      // of no dimensions one can read (a PNG's signature alone) at OpenAI's 765 (bytes of no image type would count as
      // a document's, a token a byte).
      prompt: { model: "m", promptTokens: 775, lastUserText: "a", lastRole: "tool", toolResult: "r", reasoning: true },
      stream: true,
      requestedTokens: 782
    })
  })

  // The prompt tokens a request's decoder counts, or its error.
  const promptTokens = (decoded: Result.Result<{ readonly prompt: { readonly promptTokens: number } }, unknown>) =>
    read(decoded).prompt.promptTokens

  it("a PDF counts its pages at 258 tokens, in a user turn and a tool result alike, in every dialect", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), (pages) => {
      const data = pdfOf(pages).toString("base64")
      const pageTokens = 258 * pages
      // Anthropic: a `document` block in a turn, and in a `tool_result`, against the same text without it.
      const claudeTool = (content: ReadonlyArray<unknown>) =>
        claude({
          messages: [hiTurn, { role: "assistant", content: [toolUse] }, {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: "t1", content }]
          }]
        })
      const document = { type: "document", source: { type: "base64", media_type: "application/pdf", data } }
      const note = { type: "text", text: "Filed." }
      const claudeTurn = (content: ReadonlyArray<unknown>) => claude({ messages: [{ role: "user", content }] })
      expect(
        promptTokens(decodeMessages(claudeTool([note, document]))) - promptTokens(decodeMessages(claudeTool([note])))
      )
        .toBe(pageTokens)
      expect(
        promptTokens(decodeMessages(claudeTurn([note, document]))) - promptTokens(decodeMessages(claudeTurn([note])))
      )
        .toBe(pageTokens)
      // Gemini: `inlineData` in a turn, and in a function response's `parts`.
      const inline = { inlineData: { mimeType: "application/pdf", data } }
      const call = { role: "model", parts: [{ functionCall: { name: "b", args: {} }, thoughtSignature: "s" }] }
      const geminiTool = (parts: ReadonlyArray<unknown>) => ({
        contents: [{ role: "user", parts: [{ text: "hi" }] }, call, {
          role: "user",
          parts: [{ functionResponse: { name: "b", response: { ok: true }, parts } }]
        }]
      })
      const geminiTurn = (parts: ReadonlyArray<unknown>) => ({
        contents: [{ role: "user", parts: [{ text: "hi" }, ...parts] }]
      })
      expect(promptTokens(decodeGemini(geminiTool([inline]))) - promptTokens(decodeGemini(geminiTool([])))).toBe(
        pageTokens
      )
      expect(promptTokens(decodeGemini(geminiTurn([inline]))) - promptTokens(decodeGemini(geminiTurn([])))).toBe(
        pageTokens
      )
      // Bedrock: a `document` block in a turn, and in a `toolResult`.
      const block = { document: { format: "pdf", name: "report", source: { bytes: data } } }
      const converseTool = (content: ReadonlyArray<unknown>) => ({
        toolConfig: { tools: [{ toolSpec: { name: "b", inputSchema: { json: { type: "object" } } } }] },
        messages: [
          { role: "user", content: [{ text: "hi" }] },
          { role: "assistant", content: [{ toolUse: { toolUseId: "t1", name: "b", input: {} } }] },
          { role: "user", content: [{ toolResult: { toolUseId: "t1", content: [{ text: "Filed." }, ...content] } }] }
        ]
      })
      const converseTurn = (content: ReadonlyArray<unknown>) => ({
        messages: [{ role: "user", content: [{ text: "hi" }, ...content] }]
      })
      const params = { modelId: "m" }
      expect(
        promptTokens(decodeConverse(converseTool([block]), params)) -
          promptTokens(decodeConverse(converseTool([]), params))
      ).toBe(pageTokens)
      expect(
        promptTokens(decodeConverse(converseTurn([block]), params)) -
          promptTokens(decodeConverse(converseTurn([]), params))
      ).toBe(pageTokens)
    }))
  })
})
