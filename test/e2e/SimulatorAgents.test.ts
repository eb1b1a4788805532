/**
 * The simulator as a coding agent's partner, in every wire format it speaks, each through its official client over
 * loopback (`openai` for Chat Completions and Responses, `@anthropic-ai/sdk`, `@google/genai`; Ollama, which has
 * none here, by `fetch`): JSON mode answers JSON, a tool call fills the tool's required arguments only, typed by its
 * schema, the user's text names the tool (a request that names none is answered in text), a tool result is answered
 * in text, and `output=loop` calls again.
 */
import Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import { type Content, GoogleGenAI } from "@google/genai"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import OpenAI from "openai"
import * as Simulator from "../../src/simulator/Simulator.js"

const key = "sk-simulator-agents-0001"
const model = "gpt-4o-mini"

/** A tool of every JSON Schema type, two of its properties (and one of its nested object's) optional. */
const tripParameters = {
  type: "object",
  properties: {
    city: { type: "string" },
    nights: { type: "integer", minimum: 2 },
    budget: { type: "number" },
    refundable: { type: "boolean" },
    cabin: { type: "string", enum: ["economy", "business"] },
    stops: { type: "array", items: { type: "string" } },
    traveller: {
      type: "object",
      properties: { name: { type: "string" }, age: { type: "integer" }, email: { type: "string" } },
      required: ["name", "age"]
    },
    notes: { type: "string" },
    flexible: { type: "boolean" }
  },
  required: ["city", "nights", "budget", "refundable", "cabin", "stops", "traveller"]
}

/** What a model fills in: the required arguments, each of its type, and none of the optional ones. */
const tripArguments = {
  city: "sim",
  nights: 2,
  budget: 1,
  refundable: true,
  cabin: "economy",
  stops: ["sim"],
  traveller: { name: "sim", age: 1 }
}

const listParameters = { type: "object", properties: { path: { type: "string" } }, required: ["path"] }

/** One turn of a conversation, asked in one wire format. */
interface Ask {
  readonly userText: string
  /** Offer the tools (`plan_trip`, then `list_files`). */
  readonly tools?: boolean
  /** Ask for any JSON object (JSON mode). */
  readonly json?: boolean
  /** The conversation goes on after the model called `plan_trip` and the tool answered `toolOutput`. */
  readonly toolOutput?: string
  readonly fault?: string
  /** A system (Responses: developer) message after the user's, as coding agents add notes. */
  readonly note?: string
}

/** What the model answered: its text and its tool calls, arguments parsed. */
interface Answer {
  readonly text: string
  readonly calls: ReadonlyArray<{ readonly name: string; readonly arguments: unknown }>
}

interface Wire {
  readonly name: string
  readonly ask: (sim: Simulator.Simulator, ask: Ask) => Promise<Answer>
}

const faultHeaders = (ask: Ask): Record<string, string> =>
  ask.fault === undefined ? {} : { [Simulator.faultHeader]: ask.fault }

const callId = "call_trip_0001"

const openAiChat: Wire = {
  name: "OpenAI chat completions",
  ask: async (sim, ask) => {
    const client = new OpenAI({ apiKey: key, baseURL: `${sim.url}/v1`, maxRetries: 0 })
    const messages: Array<OpenAI.Chat.ChatCompletionMessageParam> = [{ role: "user", content: ask.userText }]
    if (ask.toolOutput !== undefined) {
      messages.push(
        {
          role: "assistant",
          content: null,
          tool_calls: [{
            id: callId,
            type: "function",
            function: { name: "plan_trip", arguments: JSON.stringify(tripArguments) }
          }]
        },
        { role: "tool", tool_call_id: callId, content: ask.toolOutput }
      )
    }
    if (ask.note !== undefined) messages.push({ role: "system", content: ask.note })
    const completion = await client.chat.completions.create({
      model,
      messages,
      ...(ask.tools === true
        ? {
          tools: [
            { type: "function", function: { name: "plan_trip", parameters: tripParameters } },
            { type: "function", function: { name: "list_files", parameters: listParameters } }
          ]
        }
        : {}),
      ...(ask.json === true ? { response_format: { type: "json_object" } } : {})
    }, { headers: faultHeaders(ask) })
    const message = completion.choices[0]!.message
    return {
      text: message.content ?? "",
      calls: (message.tool_calls ?? []).flatMap((call) =>
        call.type === "function" ? [{ name: call.function.name, arguments: JSON.parse(call.function.arguments) }] : []
      )
    }
  }
}

const openAiResponses: Wire = {
  name: "OpenAI responses",
  ask: async (sim, ask) => {
    const client = new OpenAI({ apiKey: key, baseURL: `${sim.url}/v1`, maxRetries: 0 })
    const input: Array<OpenAI.Responses.ResponseInputItem> = [{ role: "user", content: ask.userText }]
    if (ask.toolOutput !== undefined) {
      input.push(
        { type: "function_call", call_id: callId, name: "plan_trip", arguments: JSON.stringify(tripArguments) },
        { type: "function_call_output", call_id: callId, output: ask.toolOutput }
      )
    }
    if (ask.note !== undefined) input.push({ role: "developer", content: ask.note })
    const response = await client.responses.create({
      model,
      input,
      store: false,
      ...(ask.tools === true
        ? {
          tools: [
            { type: "function", name: "plan_trip", parameters: tripParameters, strict: false },
            { type: "function", name: "list_files", parameters: listParameters, strict: false }
          ]
        }
        : {}),
      ...(ask.json === true ? { text: { format: { type: "json_object" } } } : {})
    }, { headers: faultHeaders(ask) })
    return {
      text: response.output_text,
      calls: response.output.flatMap((item) =>
        item.type === "function_call" ? [{ name: item.name, arguments: JSON.parse(item.arguments) }] : []
      )
    }
  }
}

const anthropic: Wire = {
  name: "Anthropic messages",
  ask: async (sim, ask) => {
    const client = new Anthropic({ apiKey: key, baseURL: sim.url, maxRetries: 0 })
    const messages: Array<Anthropic.MessageParam> = [{ role: "user", content: ask.userText }]
    if (ask.toolOutput !== undefined) {
      messages.push(
        { role: "assistant", content: [{ type: "tool_use", id: callId, name: "plan_trip", input: tripArguments }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: callId, content: ask.toolOutput }] }
      )
    }
    const message = await client.messages.create({
      model,
      max_tokens: 1024,
      messages,
      ...(ask.tools === true
        ? {
          tools: [
            { name: "plan_trip", input_schema: tripParameters as Anthropic.Tool.InputSchema },
            { name: "list_files", input_schema: listParameters as Anthropic.Tool.InputSchema }
          ]
        }
        : {}),
      // Anthropic has no JSON mode without a schema: its structured outputs take one.
      ...(ask.json === true
        ? { output_config: { format: { type: "json_schema", schema: { type: "object", properties: {} } } } }
        : {})
    }, { headers: faultHeaders(ask) })
    return {
      text: message.content.flatMap((block) => (block.type === "text" ? [block.text] : [])).join(""),
      calls: message.content.flatMap((block) =>
        block.type === "tool_use" ? [{ name: block.name, arguments: block.input }] : []
      )
    }
  }
}

const gemini: Wire = {
  name: "Gemini generateContent",
  ask: async (sim, ask) => {
    const client = new GoogleGenAI({
      apiKey: key,
      apiVersion: "v1beta",
      httpOptions: { baseUrl: sim.url, headers: faultHeaders(ask), retryOptions: { attempts: 1 } }
    })
    const contents: Array<Content> = [{ role: "user", parts: [{ text: ask.userText }] }]
    if (ask.toolOutput !== undefined) {
      contents.push(
        {
          role: "model",
          parts: [{ functionCall: { name: "plan_trip", args: tripArguments }, thoughtSignature: "c2ln" }]
        },
        { role: "user", parts: [{ functionResponse: { name: "plan_trip", response: { output: ask.toolOutput } } }] }
      )
    }
    const response = await client.models.generateContent({
      model,
      contents,
      config: {
        ...(ask.tools === true
          ? {
            tools: [{
              functionDeclarations: [
                { name: "plan_trip", parametersJsonSchema: tripParameters },
                { name: "list_files", parametersJsonSchema: listParameters }
              ]
            }]
          }
          : {}),
        ...(ask.json === true ? { responseMimeType: "application/json" } : {})
      }
    })
    return {
      text: response.text ?? "",
      calls: (response.functionCalls ?? []).map((call) => ({ name: call.name ?? "", arguments: call.args }))
    }
  }
}

const ollama: Wire = {
  name: "Ollama chat",
  ask: async (sim, ask) => {
    const messages: Array<unknown> = [{ role: "user", content: ask.userText }]
    if (ask.toolOutput !== undefined) {
      messages.push(
        { role: "assistant", content: "", tool_calls: [{ function: { name: "plan_trip", arguments: tripArguments } }] },
        { role: "tool", content: ask.toolOutput }
      )
    }
    if (ask.note !== undefined) messages.push({ role: "system", content: ask.note })
    const response = await fetch(`${sim.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...faultHeaders(ask) },
      body: JSON.stringify({
        model,
        messages,
        stream: false,
        ...(ask.tools === true
          ? {
            tools: [
              { type: "function", function: { name: "plan_trip", parameters: tripParameters } },
              { type: "function", function: { name: "list_files", parameters: listParameters } }
            ]
          }
          : {}),
        ...(ask.json === true ? { format: "json" } : {})
      })
    })
    const body = await response.json() as {
      readonly message: {
        readonly content: string
        readonly tool_calls?: ReadonlyArray<
          { readonly function: { readonly name: string; readonly arguments: unknown } }
        >
      }
    }
    return {
      text: body.message.content,
      calls: (body.message.tool_calls ?? []).map(({ function: { arguments: args, name } }) => ({
        name,
        arguments: args
      }))
    }
  }
}

const wires: ReadonlyArray<Wire> = [openAiChat, openAiResponses, anthropic, gemini, ollama]

class Fixture extends Context.Service<Fixture, Simulator.Simulator>()("test/SimulatorAgentsFixture") {}

const fixture = Layer.effect(Fixture, Simulator.make({ apiKeys: [key], replyTokens: 6 }))

const asked = (wire: Wire, ask: Ask) =>
  Effect.gen(function*() {
    const sim = yield* Fixture
    return yield* Effect.promise(() => wire.ask(sim, ask))
  })

layer(fixture)("The simulator as an agent's partner", (it) => {
  for (const wire of wires) {
    it.effect(`${wire.name}: JSON mode answers one JSON object of words`, () =>
      Effect.gen(function*() {
        const answer = yield* asked(wire, { userText: "Describe Paris in JSON.", json: true })
        const value = JSON.parse(answer.text)
        expect(typeof value).toBe("object")
        expect(answer.calls).toEqual([])
        // Anthropic's schema has no properties to fill; JSON mode's object holds the words.
        if (wire !== anthropic) expect(value.answer).toMatch(/^[A-Z][a-z]+( [a-z]+)*\.$/)
      }))

    it.effect(`${wire.name}: a tool call fills the required arguments, typed, and leaves the optional ones out`, () =>
      Effect.gen(function*() {
        const answer = yield* asked(wire, { userText: "Plan a trip to Lyon with plan_trip.", tools: true })
        expect(answer.calls).toEqual([{ name: "plan_trip", arguments: tripArguments }])
      }))

    it.effect(`${wire.name}: a request that names no tool is answered in text, though tools are offered`, () =>
      Effect.gen(function*() {
        const answer = yield* asked(wire, { userText: "Plan a trip to Lyon.", tools: true })
        expect(answer.calls).toEqual([])
        expect(answer.text.length).toBeGreaterThan(0)
      }))

    it.effect(`${wire.name}: the tool the user's text names last is the one called`, () =>
      Effect.gen(function*() {
        const answer = yield* asked(wire, {
          userText: "Do not plan_trip yet. Use list_files to see what is here.",
          tools: true
        })
        expect(answer.calls).toEqual([{ name: "list_files", arguments: { path: "sim" } }])
      }))

    it.effect(`${wire.name}: after a tool result it answers in text; output=loop calls a tool again`, () =>
      Effect.gen(function*() {
        const ask: Ask = { userText: "Plan a trip to Lyon.", tools: true, toolOutput: "booked 3 nights" }
        const answer = yield* asked(wire, ask)
        expect(answer.calls).toEqual([])
        expect(answer.text).toMatch(/^The tool returned .*booked 3 nights/)
        const looping = yield* asked(wire, { ...ask, fault: "output=loop" })
        expect(looping.calls).toEqual([{ name: "plan_trip", arguments: tripArguments }])
      }))
  }

  // The wires with a system role among the messages (Anthropic's takes one only for the models that do).
  for (const wire of [openAiChat, openAiResponses, ollama]) {
    it.effect(`${wire.name}: a system note after the user's request is an instruction, not the turn's end`, () =>
      Effect.gen(function*() {
        const answer = yield* asked(wire, { userText: "Plan a trip with plan_trip.", tools: true, note: "Be brief." })
        expect(answer.calls).toEqual([{ name: "plan_trip", arguments: tripArguments }])
        const after = yield* asked(wire, { userText: "Plan a trip.", tools: true, toolOutput: "done", note: "Brief." })
        expect(after.text).toMatch(/^The tool returned done/)
      }))
  }

  it("output=loop parses; an unknown output mode names the three", () => {
    expect(Simulator.decodeFault("output=loop")).toEqual(Result.succeed({ _tag: "Output", mode: "loop" }))
    expect(Simulator.decodeFault("output=forever")).toEqual(
      Result.fail(`"output" needs nonconforming or text or loop, got "forever"`)
    )
  })
})
