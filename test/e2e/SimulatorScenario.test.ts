/**
 * A scripted session (examples/session.scenario.json: 23 turns of tool calls, tool results, a compaction, text, and
 * faults with their retries) played by the simulator on every wire it speaks, whole and streamed, each through its
 * official client over loopback (`openai` for Chat Completions and Responses, `@anthropic-ai/sdk`, `@google/genai`,
 * `@aws-sdk/client-bedrock-runtime`; Ollama, which has none here, by `fetch`): the replies are the scripted ones in
 * order, each fault fails its request once and the retry goes on, and the usage each reports, cache reads and writes
 * included, is the script's in the client's own dialect. The twelve sessions run at once on one simulator.
 */
import Anthropic from "@anthropic-ai/sdk"
import {
  BedrockRuntimeClient,
  type ContentBlock,
  ConverseCommand,
  ConverseStreamCommand,
  type Message as BedrockMessage,
  type TokenUsage
} from "@aws-sdk/client-bedrock-runtime"
import { assert, describe, it } from "@effect/vitest"
import { type Content, GoogleGenAI, type Part } from "@google/genai"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import OpenAI from "openai"
import * as Simulate from "../../src/cli/simulate.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { awaitFirstLine, captureIo, startInProcess } from "../utils/cliHarness.js"
import { answered, answersInTurn, chat, scenarioKey } from "../utils/scenarioAnswers.js"

const key = scenarioKey
const model = "gpt-4o-mini"
const bedrockModel = "anthropic.claude-3-haiku-20240307-v1:0"

const scenarioJson: unknown = JSON.parse(
  fs.readFileSync(path.join(import.meta.dirname, "../../examples/session.scenario.json"), "utf8")
)
const scenario = Result.getOrThrow(Simulator.decodeScenario(scenarioJson))

type ToolName = "read_file" | "edit_file" | "run"

type ObjectSchema = {
  [name: string]: unknown
  type: "object"
  properties: Record<string, { type: "string" }>
  required: Array<string>
}

const toolSchemas: Record<ToolName, ObjectSchema> = {
  read_file: { type: "object", properties: { path: { type: "string" } }, required: ["path"] },
  edit_file: {
    type: "object",
    properties: { path: { type: "string" }, old: { type: "string" }, new: { type: "string" } },
    required: ["path", "old", "new"]
  },
  run: { type: "object", properties: { command: { type: "string" } }, required: ["command"] }
}

const toolNames: ReadonlyArray<ToolName> = ["read_file", "edit_file", "run"]

/** What a tool returns in this session: the file before its fix, then anything. */
const toolResult = (name: string, args: unknown): string =>
  name === "read_file" && (args as { path: string }).path === "hello.txt" ? "helo, world" : `ok: ${name}`

/** The usage a reply reported, in the library's sense (the whole prompt, the cache inside it); undefined: not sent. */
interface Usage {
  readonly input: number | undefined
  readonly output: number
  readonly cacheRead: number | undefined
  readonly cacheWrite: number | undefined
}

interface Call {
  readonly id: string
  readonly name: string
  readonly arguments: unknown
}

/** One reply as a client read it. */
interface Answer {
  readonly text: string
  readonly calls: ReadonlyArray<Call>
  readonly usage: Usage
  /** What the wire sends back for this turn when it is the assistant's (Gemini's parts, with their signatures). */
  readonly raw?: unknown
}

/** A message of the session, neutral: each wire writes it in its own shape. */
type Turn =
  | { readonly role: "user"; readonly text: string }
  | { readonly role: "assistant"; readonly answer: Answer }
  | { readonly role: "tool"; readonly call: Call; readonly text: string }

interface Ask {
  readonly history: ReadonlyArray<Turn>
  readonly stream: boolean
  readonly session: string
}

interface Wire {
  readonly name: string
  /** What its usage shows of the script's (`input` the whole prompt): the fields its dialect carries. */
  readonly shows: (usage: Required<Simulator.ScenarioUsage>) => Usage
  readonly ask: (sim: Simulator.Simulator, ask: Ask) => Promise<Answer>
}

const headersOf = (session: string): Record<string, string> => ({
  [Simulator.scenarioHeader]: "session",
  [Simulator.sessionHeader]: session
})

const parsed = (text: string): unknown => JSON.parse(text === "" ? "{}" : text)

const openAiChat: Wire = {
  name: "Chat Completions",
  shows: (u) => ({ input: u.input, output: u.output, cacheRead: u.cacheRead, cacheWrite: undefined }),
  ask: async (sim, { history, session, stream }) => {
    const client = new OpenAI({ apiKey: key, baseURL: `${sim.url}/v1`, maxRetries: 0 })
    const messages = history.map((turn): OpenAI.Chat.ChatCompletionMessageParam =>
      turn.role === "user"
        ? { role: "user", content: turn.text }
        : turn.role === "tool"
        ? { role: "tool", tool_call_id: turn.call.id, content: turn.text }
        : {
          role: "assistant",
          content: turn.answer.text === "" ? null : turn.answer.text,
          ...(turn.answer.calls.length === 0 ? {} : {
            tool_calls: turn.answer.calls.map((call) => ({
              id: call.id,
              type: "function" as const,
              function: { name: call.name, arguments: JSON.stringify(call.arguments) }
            }))
          })
        }
    )
    const body = {
      model,
      messages,
      tools: toolNames.map((name) => ({ type: "function" as const, function: { name, parameters: toolSchemas[name] } }))
    }
    const options = { headers: headersOf(session) }
    if (!stream) {
      const completion = await client.chat.completions.create(body, options)
      const message = completion.choices[0]!.message
      const usage = completion.usage!
      return {
        text: message.content ?? "",
        calls: (message.tool_calls ?? []).flatMap((call) =>
          call.type === "function"
            ? [{ id: call.id, name: call.function.name, arguments: parsed(call.function.arguments) }]
            : []
        ),
        usage: {
          input: usage.prompt_tokens,
          output: usage.completion_tokens,
          cacheRead: usage.prompt_tokens_details?.cached_tokens,
          cacheWrite: undefined
        }
      }
    }
    const chunks = await client.chat.completions.create(
      { ...body, stream: true, stream_options: { include_usage: true } },
      options
    )
    let text = ""
    const calls: Array<{ id: string; name: string; args: string }> = []
    let usage: OpenAI.CompletionUsage | undefined
    for await (const chunk of chunks) {
      const delta = chunk.choices[0]?.delta
      text += delta?.content ?? ""
      for (const call of delta?.tool_calls ?? []) {
        const at = calls[call.index] ??= { id: "", name: "", args: "" }
        at.id = call.id ?? at.id
        at.name = call.function?.name ?? at.name
        at.args += call.function?.arguments ?? ""
      }
      usage = chunk.usage ?? usage
    }
    return {
      text,
      calls: calls.map((call) => ({ id: call.id, name: call.name, arguments: parsed(call.args) })),
      usage: {
        input: usage!.prompt_tokens,
        output: usage!.completion_tokens,
        cacheRead: usage!.prompt_tokens_details?.cached_tokens,
        cacheWrite: undefined
      }
    }
  }
}

const openAiResponses: Wire = {
  name: "Responses",
  shows: (u) => ({ input: u.input, output: u.output, cacheRead: u.cacheRead, cacheWrite: undefined }),
  ask: async (sim, { history, session, stream }) => {
    const client = new OpenAI({ apiKey: key, baseURL: `${sim.url}/v1`, maxRetries: 0 })
    const input = history.flatMap((turn): Array<OpenAI.Responses.ResponseInputItem> =>
      turn.role === "user"
        ? [{ role: "user", content: turn.text }]
        : turn.role === "tool"
        ? [{ type: "function_call_output", call_id: turn.call.id, output: turn.text }]
        : [
          ...(turn.answer.text === "" ? [] : [{ role: "assistant" as const, content: turn.answer.text }]),
          ...turn.answer.calls.map((call) => ({
            type: "function_call" as const,
            call_id: call.id,
            name: call.name,
            arguments: JSON.stringify(call.arguments)
          }))
        ]
    )
    const body = {
      model,
      input,
      store: false,
      tools: toolNames.map((name) => ({
        type: "function" as const,
        name,
        parameters: toolSchemas[name],
        strict: false
      }))
    }
    const options = { headers: headersOf(session) }
    let response: OpenAI.Responses.Response | undefined
    if (stream) {
      const events = await client.responses.create({ ...body, stream: true }, options)
      for await (const event of events) {
        if (event.type === "response.completed") response = event.response
      }
    } else {
      response = await client.responses.create(body, options)
    }
    const usage = response!.usage!
    return {
      // Read from the items: a streamed response has no `output_text`, which the SDK adds to a whole one.
      text: response!.output.flatMap((item) =>
        item.type === "message"
          ? item.content.flatMap((part) => part.type === "output_text" ? [part.text] : [])
          : []
      ).join(""),
      calls: response!.output.flatMap((item) =>
        item.type === "function_call" ? [{ id: item.call_id, name: item.name, arguments: parsed(item.arguments) }] : []
      ),
      usage: {
        input: usage.input_tokens,
        output: usage.output_tokens,
        cacheRead: usage.input_tokens_details.cached_tokens,
        cacheWrite: undefined
      }
    }
  }
}

const anthropic: Wire = {
  name: "Anthropic Messages",
  shows: (u) => ({ input: u.input, output: u.output, cacheRead: u.cacheRead, cacheWrite: u.cacheWrite }),
  ask: async (sim, { history, session, stream }) => {
    const client = new Anthropic({ apiKey: key, baseURL: sim.url, maxRetries: 0 })
    const messages = history.map((turn): Anthropic.MessageParam =>
      turn.role === "user"
        ? { role: "user", content: turn.text }
        : turn.role === "tool"
        ? { role: "user", content: [{ type: "tool_result", tool_use_id: turn.call.id, content: turn.text }] }
        : {
          role: "assistant",
          content: [
            ...(turn.answer.text === "" ? [] : [{ type: "text" as const, text: turn.answer.text }]),
            ...turn.answer.calls.map((call) => ({
              type: "tool_use" as const,
              id: call.id,
              name: call.name,
              input: call.arguments
            }))
          ]
        }
    )
    // Parallel tool results go back in one user message, as the API asks.
    const merged: Array<Anthropic.MessageParam> = []
    for (const message of messages) {
      const last = merged[merged.length - 1]
      if (last !== undefined && last.role === "user" && message.role === "user" && Array.isArray(last.content)) {
        merged[merged.length - 1] = {
          role: "user",
          content: [...last.content, ...(message.content as Array<Anthropic.ContentBlockParam>)]
        }
      } else {
        merged.push(message)
      }
    }
    const body = {
      model,
      max_tokens: 1024,
      messages: merged,
      tools: toolNames.map((name) => ({ name, input_schema: toolSchemas[name] as Anthropic.Tool.InputSchema }))
    }
    const message = stream
      ? await client.messages.stream(body, { headers: headersOf(session) }).finalMessage()
      : await client.messages.create(body, { headers: headersOf(session) })
    const usage = message.usage
    const cacheRead = usage.cache_read_input_tokens ?? 0
    const cacheWrite = usage.cache_creation_input_tokens ?? 0
    return {
      text: message.content.flatMap((block) => block.type === "text" ? [block.text] : []).join(""),
      calls: message.content.flatMap((block) =>
        block.type === "tool_use" ? [{ id: block.id, name: block.name, arguments: block.input }] : []
      ),
      usage: { input: usage.input_tokens + cacheRead + cacheWrite, output: usage.output_tokens, cacheRead, cacheWrite }
    }
  }
}

const gemini: Wire = {
  name: "Gemini generateContent",
  shows: (u) => ({ input: u.input, output: u.output, cacheRead: u.cacheRead, cacheWrite: undefined }),
  ask: async (sim, { history, session, stream }) => {
    const client = new GoogleGenAI({
      apiKey: key,
      apiVersion: "v1beta",
      httpOptions: { baseUrl: sim.url, headers: headersOf(session), retryOptions: { attempts: 1 } }
    })
    const contents: Array<Content> = []
    for (const turn of history) {
      if (turn.role === "assistant") {
        // An empty text the stream ends on goes back no more than the SDK's chat sends it: Gemini refuses one.
        const parts = (turn.answer.raw as Array<Part>).filter((part) =>
          part.text !== "" || part.thoughtSignature !== undefined
        )
        contents.push({ role: "model", parts })
        continue
      }
      const part: Part = turn.role === "user"
        ? { text: turn.text }
        : { functionResponse: { name: turn.call.name, response: { output: turn.text } } }
      const last = contents[contents.length - 1]
      // A turn's function responses go back in one content.
      if (turn.role === "tool" && last?.role === "user" && last.parts?.[0]?.functionResponse !== undefined) {
        last.parts.push(part)
      } else {
        contents.push({ role: "user", parts: [part] })
      }
    }
    const request = {
      model,
      contents,
      config: {
        tools: [{ functionDeclarations: toolNames.map((name) => ({ name, parametersJsonSchema: toolSchemas[name] })) }]
      }
    }
    const parts: Array<Part> = []
    let usage: { promptTokenCount?: number; candidatesTokenCount?: number; cachedContentTokenCount?: number } = {}
    let thoughts = 0
    const read = (response: Awaited<ReturnType<typeof client.models.generateContent>>) => {
      parts.push(...(response.candidates?.[0]?.content?.parts ?? []))
      usage = response.usageMetadata ?? usage
      thoughts = response.usageMetadata?.thoughtsTokenCount ?? thoughts
    }
    if (stream) {
      for await (const response of await client.models.generateContentStream(request)) read(response)
    } else {
      read(await client.models.generateContent(request))
    }
    const calls = parts.flatMap((part, i) =>
      part.functionCall === undefined
        ? []
        : [{ id: `gemini_${i}`, name: part.functionCall.name ?? "", arguments: part.functionCall.args ?? {} }]
    )
    return {
      text: parts.flatMap((part) => part.text !== undefined && part.thought !== true ? [part.text] : []).join(""),
      calls,
      usage: {
        input: usage.promptTokenCount,
        output: (usage.candidatesTokenCount ?? 0) + thoughts,
        cacheRead: usage.cachedContentTokenCount ?? 0,
        cacheWrite: undefined
      },
      raw: parts
    }
  }
}

const bedrock: Wire = {
  name: "Bedrock Converse",
  shows: (u) => ({ input: u.input, output: u.output, cacheRead: u.cacheRead, cacheWrite: u.cacheWrite }),
  ask: async (sim, { history, session, stream }) => {
    const client = new BedrockRuntimeClient({
      endpoint: sim.url,
      region: "us-east-1",
      credentials: Simulator.bedrockCredentials,
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler()
    })
    client.middlewareStack.add((next) => (args) => {
      const request = args.request as { headers: Record<string, string> }
      Object.assign(request.headers, headersOf(session))
      return next(args)
    }, { step: "build" })
    const messages: Array<BedrockMessage> = []
    for (const turn of history) {
      const block: Array<ContentBlock> = turn.role === "user"
        ? [{ text: turn.text }]
        : turn.role === "tool"
        ? [{ toolResult: { toolUseId: turn.call.id, content: [{ text: turn.text }] } }]
        : [
          ...(turn.answer.text === "" ? [] : [{ text: turn.answer.text }]),
          ...turn.answer.calls.map((call): ContentBlock => ({
            toolUse: { toolUseId: call.id, name: call.name, input: call.arguments as never }
          }))
        ]
      const role = turn.role === "assistant" ? "assistant" : "user"
      const last = messages[messages.length - 1]
      if (last?.role === role) last.content = [...last.content!, ...block]
      else messages.push({ role, content: block })
    }
    const input = {
      modelId: bedrockModel,
      messages,
      toolConfig: {
        tools: toolNames.map((name) => ({ toolSpec: { name, inputSchema: { json: toolSchemas[name] as never } } }))
      }
    }
    let text = ""
    const calls: Array<{ id: string; name: string; args: string; input?: unknown }> = []
    let usage: TokenUsage | undefined
    if (stream) {
      const output = await client.send(new ConverseStreamCommand(input))
      let index = -1
      for await (const event of output.stream!) {
        const start = event.contentBlockStart?.start?.toolUse
        if (start !== undefined) {
          index = calls.push({ id: start.toolUseId!, name: start.name!, args: "" }) - 1
        }
        text += event.contentBlockDelta?.delta?.text ?? ""
        const piece = event.contentBlockDelta?.delta?.toolUse?.input
        if (piece !== undefined) calls[index]!.args += piece
        usage = event.metadata?.usage ?? usage
      }
    } else {
      const output = await client.send(new ConverseCommand(input))
      for (const block of output.output?.message?.content ?? []) {
        text += block.text ?? ""
        if (block.toolUse !== undefined) {
          calls.push({ id: block.toolUse.toolUseId!, name: block.toolUse.name!, args: "", input: block.toolUse.input })
        }
      }
      usage = output.usage
    }
    const cacheRead = usage?.cacheReadInputTokens ?? 0
    const cacheWrite = usage?.cacheWriteInputTokens ?? 0
    return {
      text,
      calls: calls.map((call) => ({ id: call.id, name: call.name, arguments: call.input ?? parsed(call.args) })),
      usage: {
        input: usage!.inputTokens! + cacheRead + cacheWrite,
        output: usage!.outputTokens!,
        cacheRead,
        cacheWrite
      }
    }
  }
}

interface OllamaLine {
  readonly message?: {
    readonly content?: string
    readonly tool_calls?: ReadonlyArray<{ readonly function: { readonly name: string; readonly arguments: unknown } }>
  }
  readonly prompt_eval_count?: number
  readonly eval_count?: number
}

const ollama: Wire = {
  name: "Ollama chat",
  // Ollama counts the prompt it evaluated: the whole prompt but its cached part.
  shows: (u) => ({ input: u.input - u.cacheRead, output: u.output, cacheRead: undefined, cacheWrite: undefined }),
  ask: async (sim, { history, session, stream }) => {
    const messages = history.map((turn) =>
      turn.role === "user"
        ? { role: "user", content: turn.text }
        : turn.role === "tool"
        ? { role: "tool", content: turn.text, tool_name: turn.call.name }
        : {
          role: "assistant",
          content: turn.answer.text,
          ...(turn.answer.calls.length === 0 ? {} : {
            tool_calls: turn.answer.calls.map((call) => ({
              function: { name: call.name, arguments: call.arguments }
            }))
          })
        }
    )
    const response = await fetch(`${sim.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headersOf(session) },
      body: JSON.stringify({
        model,
        messages,
        stream,
        tools: toolNames.map((name) => ({ type: "function", function: { name, parameters: toolSchemas[name] } }))
      })
    })
    if (!response.ok) throw new Error(`Ollama answered ${response.status}`)
    const lines = (await response.text()).split("\n").filter((line) => line !== "").map((line) =>
      JSON.parse(line) as OllamaLine
    )
    const done = lines[lines.length - 1]!
    return {
      text: lines.map((line) => line.message?.content ?? "").join(""),
      calls: lines.flatMap((line) => line.message?.tool_calls ?? []).map((call, i) => ({
        id: `ollama_${i}`,
        name: call.function.name,
        arguments: call.function.arguments
      })),
      // Ollama leaves a count of none out.
      usage: {
        input: done.prompt_eval_count ?? 0,
        output: done.eval_count ?? 0,
        cacheRead: undefined,
        cacheWrite: undefined
      }
    }
  }
}

const wires: ReadonlyArray<Wire> = [openAiChat, openAiResponses, anthropic, gemini, bedrock, ollama]

/** The user's requests of the session, in order; `compact` asks for a compaction and starts again from its summary. */
const userRequests: ReadonlyArray<string | "compact"> = [
  "Fix the greeting in hello.txt.",
  "Add a test for it.",
  "Show me the file.",
  "compact",
  "Now rename the file to greeting.txt.",
  "Run the whole suite.",
  "Summarise the diff in one line.",
  "Read both files.",
  "Stop here."
]

const compactionRequest = "Do NOT call any tools. Summarise the conversation so far for the engineer who takes over."

/** What happened to each request of a session: a failure, or the reply it read. */
type Played = { readonly failed: true } | { readonly failed: false; readonly answer: Answer }

/** A session played through `wire`: each request sent, sent again after a failure, the tools run, compacted once. */
async function playSession(sim: Simulator.Simulator, wire: Wire, stream: boolean): Promise<ReadonlyArray<Played>> {
  const session = `${wire.name}/${stream ? "streamed" : "whole"}`
  const played: Array<Played> = []
  let history: Array<Turn> = []
  let summary = ""
  const send = async (): Promise<Answer> => {
    for (let attempt = 0;; attempt++) {
      try {
        const answer = await wire.ask(sim, { history, stream, session })
        played.push({ failed: false, answer })
        return answer
      } catch (error) {
        if (attempt > 0) throw error
        played.push({ failed: true })
      }
    }
  }
  for (const request of userRequests) {
    if (request === "compact") {
      history.push({ role: "user", text: compactionRequest })
      summary = (await send()).text
      history = []
      continue
    }
    const text = summary === "" ? request : `Summary of the session so far: ${summary}\n\n${request}`
    summary = ""
    history.push({ role: "user", text })
    for (;;) {
      const answer = await send()
      history.push({ role: "assistant", answer })
      if (answer.calls.length === 0) break
      for (const call of answer.calls) {
        history.push({ role: "tool", call, text: toolResult(call.name, call.arguments) })
      }
    }
  }
  return played
}

/** What `script` says each request of a session reads: a failure, or a turn's text, calls and usage. */
function scripted(wire: Wire, script: Simulator.Scenario = scenario) {
  return script.turns.map((turn) =>
    turn.fault !== undefined ? { failed: true } : {
      failed: false,
      text: turn.text ?? "",
      calls: (turn.toolCalls ?? []).map((call) => ({ name: call.name, arguments: call.arguments ?? {} })),
      usage: wire.shows({
        input: 0,
        output: 0,
        cacheRead: 0,
        cacheWrite: 0,
        cacheWrite1h: 0,
        reasoning: 0,
        ...turn.usage
      })
    }
  )
}

function read(played: ReadonlyArray<Played>) {
  return played.map((entry) =>
    entry.failed ? { failed: true } : {
      failed: false,
      text: entry.answer.text,
      calls: entry.answer.calls.map((call) => ({ name: call.name, arguments: call.arguments })),
      usage: entry.answer.usage
    }
  )
}

describe("a scenario played on every wire", () => {
  it("the example scenario scripts at least 20 turns: tool calls, a tool result's, a compaction, text, faults", () => {
    const turns = scenario.turns
    assert.isAtLeast(turns.length, 20)
    assert.isTrue(turns.some((turn) => (turn.toolCalls ?? []).length > 0))
    assert.isTrue(turns.some((turn) => turn.when?.lastRole === "tool"))
    assert.isTrue(turns.some((turn) => turn.when?.compaction === true))
    assert.isTrue(turns.some((turn) => turn.fault?.startsWith("status=") === true))
    assert.isTrue(turns.some((turn) => turn.fault?.startsWith("reset=") === true))
  })

  it.live(
    "every wire, whole and streamed, at once: the scripted replies in order, the usage in its dialect",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const sim = yield* Simulator.make({
          apiKeys: [key, Simulator.bedrockCredentials.accessKeyId],
          models: [model, bedrockModel],
          scenarios: { session: scenario }
        })
        const sessions = wires.flatMap((wire) => [false, true].map((stream) => ({ wire, stream })))
        const results = yield* Effect.promise(() =>
          Promise.all(sessions.map(({ stream, wire }) => playSession(sim, wire, stream)))
        )
        for (const [i, { stream, wire }] of sessions.entries()) {
          assert.deepStrictEqual(read(results[i]!), scripted(wire), `${wire.name}, ${stream ? "streamed" : "whole"}`)
        }
      })),
    { timeout: 60_000 }
  )
})

/** What these tests read of a Chat Completions answer: a reply's text and usage, or an error's code and message. */
/** The session's first turn ("Hello", answered "First."), then the user's `text`: a compaction's ask, say. */
const afterFirst = (text: string) => ({
  model,
  messages: [{ role: "user", content: "Hello" }, { role: "assistant", content: "First." }, {
    role: "user",
    content: text
  }]
})

const tools = toolNames.map((name) => ({ type: "function", function: { name, parameters: toolSchemas[name] } }))

/** A script's replies played through `wire`: a new task after each text reply, each failure sent again, until done. */
async function playScript(
  sim: Simulator.Simulator,
  wire: Wire,
  stream: boolean,
  replies: number
): Promise<ReadonlyArray<Played>> {
  const played: Array<Played> = []
  const history: Array<Turn> = [{ role: "user", text: "Task 0." }]
  let answered = 0
  while (answered < replies) {
    let answer: Answer | undefined
    while (answer === undefined) {
      try {
        answer = await wire.ask(sim, { history, stream, session: "property" })
      } catch (error) {
        if (played.length > 64) throw error
        played.push({ failed: true })
      }
    }
    played.push({ failed: false, answer })
    answered++
    history.push({ role: "assistant", answer })
    for (const call of answer.calls) history.push({ role: "tool", call, text: `ok: ${call.name}` })
    if (answer.calls.length === 0) history.push({ role: "user", text: `Task ${answered}.` })
  }
  return played
}

const words = fc.array(fc.constantFrom("read", "the", "file", "edit", "it", "run", "tests", "done", "ok"), {
  minLength: 1,
  maxLength: 8
}).map((picked) => `${picked.join(" ")}.`)

const usage = fc.record({ read: fc.nat(5000), write: fc.nat(5000), rest: fc.nat(5000), output: fc.nat(500) }).map((
  { output, read, rest, write }
): Simulator.ScenarioUsage => ({ input: read + write + rest, output, cacheRead: read, cacheWrite: write }))

const call = fc.record({
  name: fc.constantFrom(...toolNames),
  arguments: fc.dictionary(fc.constantFrom("path", "old", "new", "command"), words, { maxKeys: 2 })
})

/** A turn of any kind: text, one or two tool calls, or a fault that fails its request. */
const turn: fc.Arbitrary<Simulator.ScenarioTurn> = fc.oneof(
  fc.record({ text: words, usage }),
  fc.record({ toolCalls: fc.array(call, { minLength: 1, maxLength: 2 }), usage }),
  fc.record({
    fault: fc.constantFrom("status=500", "status=503", "status=429;retry-after=0", "reset=0", "reset=2", "empty=502")
  })
)

describe("a scenario's places, faults and refusals", () => {
  it.live(
    "any script of text, tool calls and faults plays in order on any wire, whole or streamed",
    () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(turn, { minLength: 1, maxLength: 12 }).filter((turns) => turns.some((t) => t.fault === undefined)),
            // A wire by its index: a failure's counterexample names it, not its code.
            fc.integer({ min: 0, max: wires.length - 1 }),
            fc.boolean(),
            (turns, wireIndex, stream) =>
              Effect.runPromise(Effect.scoped(Effect.gen(function*() {
                // A script ends with a reply, so that its last fault has its retry.
                const script: Simulator.Scenario = {
                  turns: turns[turns.length - 1]!.fault === undefined
                    ? turns
                    : [...turns, { text: "Done.", usage: { input: 10, output: 2 } }]
                }
                const sim = yield* Simulator.make({
                  apiKeys: [key, Simulator.bedrockCredentials.accessKeyId],
                  models: [model, bedrockModel],
                  scenarios: { session: script }
                })
                const wire = wires[wireIndex]!
                const replies = script.turns.filter((t) => t.fault === undefined).length
                const played = yield* Effect.promise(() => playScript(sim, wire, stream, replies))
                assert.deepStrictEqual(read(played), scripted(wire, script), `${wire.name}, stream: ${stream}`)
              })))
          ),
          { numRuns: 48 }
        )
      ),
    { timeout: 120_000 }
  )

  it.live("a request is placed by its history alone: a new simulator answers the middle of a session", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* Simulator.make({ scenario })
      // Three assistant turns in, after the run's result: the fourth reply, whatever came before on this simulator.
      const answer = yield* Effect.promise(() =>
        chat(sim.url, {
          model,
          tools,
          messages: [
            { role: "user", content: "Fix the greeting in hello.txt." },
            ...["read_file", "edit_file", "run"].flatMap((name, i) => [
              {
                role: "assistant",
                content: null,
                tool_calls: [{ id: `c${i}`, type: "function", function: { name, arguments: "{}" } }]
              },
              { role: "tool", tool_call_id: `c${i}`, content: "ok" }
            ])
          ]
        })
      )
      assert.strictEqual(answer.status, 200)
      assert.strictEqual(answer.body.choices[0]!.message.content, "hello.txt now says hello, world.")
      assert.deepInclude(answer.body.usage, { prompt_tokens: 1340, completion_tokens: 9 })
    })))

  it.live("a Responses request continuing a kept response counts that response's turns as its history's", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* Simulator.make({
        scenario: { turns: [{ text: "One." }, { text: "Two." }, { text: "Three." }] }
      })
      const client = new OpenAI({ apiKey: key, baseURL: `${sim.url}/v1`, maxRetries: 0 })
      const replies = yield* Effect.promise(async () => {
        // A hosted tool offered, a reasoning effort asked for: the script's reply calls none, and reasons.
        const first = await client.responses.create({
          model,
          input: "a",
          tools: [{ type: "web_search" }],
          reasoning: { effort: "low" }
        })
        const second = await client.responses.create({ model, input: "b", previous_response_id: first.id })
        const third = await client.responses.create({ model, input: "c", previous_response_id: second.id })
        return [first, second, third]
      })
      assert.deepStrictEqual(replies.map((reply) => reply.output_text), ["One.", "Two.", "Three."])
      assert.deepStrictEqual(replies[0]!.output.map((item) => item.type), ["reasoning", "message"])
    })))

  it.live("a fault fails once a session: each session's first request gets it, its retry the turn after", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* Simulator.make({
        scenario: { turns: [{ fault: "status=503" }, { text: "After the fault." }] }
      })
      const messages = [{ role: "user", content: "Hello" }]
      // A session named by the header, by OpenAI's prompt_cache_key, by Anthropic's metadata.user_id.
      const asks: Record<string, () => Promise<string>> = {
        a: () => answered(chat(sim.url, { model, messages }, { [Simulator.sessionHeader]: "a" })),
        b: () => answered(chat(sim.url, { model, messages }, { [Simulator.sessionHeader]: "b" })),
        key: () => answered(chat(sim.url, { model, messages, prompt_cache_key: "conversation-1" })),
        user: () =>
          fetch(`${sim.url}/v1/messages`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01" },
            body: JSON.stringify({ model, max_tokens: 64, messages, metadata: { user_id: "session-1" } })
          }).then(async (response) => {
            const body = await response.json() as { readonly content?: ReadonlyArray<{ readonly text: string }> }
            return `${response.status}:${body.content?.[0]?.text ?? ""}`
          })
      }
      const seen = yield* Effect.promise(async () => {
        const out: Array<string> = []
        for (const session of ["a", "b", "key", "user", "a", "b", "key", "user", "a"]) {
          out.push(`${session}:${await asks[session]!()}`)
        }
        return out
      })
      assert.deepStrictEqual(seen, [
        "a:503:",
        "b:503:",
        "key:503:",
        "user:503:",
        "a:200:After the fault.",
        "b:200:After the fault.",
        "key:200:After the fault.",
        "user:200:After the fault.",
        "a:200:After the fault."
      ])
    })))

  it.live("a compaction request (no tool call allowed, a summary asked for) gets the compaction turn, and only it", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* Simulator.make({
        scenario: {
          turns: [
            { text: "First." },
            { when: { compaction: true }, text: "The summary." },
            { text: "After the summary." }
          ]
        }
      })
      const history = [{ role: "user", content: "Hello" }, { role: "assistant", content: "First." }]
      /** A request after the first turn: its system text, its last user text, and whether it offers the tools. */
      const asked = (system: string, user: string, offered: boolean) =>
        chat(sim.url, {
          model,
          ...(offered ? { tools } : {}),
          messages: [
            ...(system === "" ? [] : [{ role: "system", content: system }]),
            ...history,
            { role: "user", content: user }
          ]
        }).then(({ body }) => body.choices[0]!.message.content ?? "")
      // Compaction requests as agents word them: none offers a tool it may call.
      const compactions: ReadonlyArray<readonly [string, string, boolean]> = [
        // Codex: `tools: []` (none offered here, as Chat Completions refuses the empty list).
        ["", "You are performing a CONTEXT CHECKPOINT COMPACTION. Create a handoff summary for another LLM.", false],
        // Claude Code's /compact: the tools offered, calls ruled out in words.
        [
          "You are a helpful AI assistant tasked with summarizing conversations.",
          "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools. Your task is to create a detailed summary.",
          true
        ],
        // Gemini CLI's chat compression.
        ["You are the component that summarizes internal chat history into a given structure.", "Go.", false],
        ["", "Summarise it. Do not call tools.", true]
      ]
      // Not compactions: a tool that may be called, no summary asked for (one only held), or a title asked for.
      const others: ReadonlyArray<readonly [string, string, boolean]> = [
        ["", "Summarise the diff.", true],
        // opencode's title request.
        [
          "You are a title generator. You output ONLY a thread title. Nothing else.\n- you MUST use the same language " +
          "as the user message you are summarizing",
          "Generate a title for this conversation:",
          false
        ],
        ["", "Write a summary of the file.", true],
        ["", "Hello again.", false]
      ]
      const [compacted, answered, after] = yield* Effect.promise(() =>
        Promise.all([
          Promise.all(compactions.map(([system, user, offered]) => asked(system, user, offered))),
          Promise.all(others.map(([system, user, offered]) => asked(system, user, offered))),
          chat(sim.url, { model, messages: [{ role: "user", content: "Summary so far: The summary.\n\nGo on." }] })
        ])
      )
      assert.deepStrictEqual(compacted, compactions.map(() => "The summary."))
      for (const text of answered) assert.notInclude(["First.", "The summary.", "After the summary."], text)
      assert.strictEqual(after.body.choices[0]!.message.content, "After the summary.")
    })))

  it.live("a compaction that fails: its request fails once, its retry gets the summary, the session goes on", () =>
    Effect.scoped(Effect.gen(function*() {
      const compaction = afterFirst("Summarise the conversation so far.")
      const seen = yield* answersInTurn({
        turns: [
          { text: "First." },
          { when: { compaction: true }, fault: "status=500" },
          { when: { compaction: true }, text: "The summary." },
          { text: "After the summary." }
        ]
      }, [compaction, compaction, { model, messages: [{ role: "user", content: "Held: The summary. Go on." }] }])
      assert.deepStrictEqual(seen, ["500:", "200:The summary.", "200:After the summary."])
    })))

  it.live("a summary in <summary> tags places the session by the text inside them, which is what the agent keeps", () =>
    Effect.scoped(Effect.gen(function*() {
      // As Claude Code goes on: the summary without its tags, in a text of its own.
      const continued = "This session is being continued from a previous conversation.\n\nSummary:\nThe summary.\n"
      const seen = yield* answersInTurn({
        strict: true,
        turns: [
          { text: "First." },
          { when: { compaction: true }, text: "<summary>\nThe summary.\n</summary>" },
          { text: "After the summary." }
        ]
      }, [
        afterFirst("Create a detailed summary. Wrap it in <summary> tags."),
        { model, messages: [{ role: "user", content: continued }] },
        { model, messages: [{ role: "user", content: "The summary: none." }] }
      ])
      assert.deepStrictEqual(seen, ["200:<summary>\nThe summary.\n</summary>", "200:After the summary.", "200:First."])
    })))

  it.live("an explicit turn number places a turn, and the turns after it count on from it", () =>
    Effect.scoped(Effect.gen(function*() {
      const history = [
        { role: "user", content: "Summary so far: The summary." },
        { role: "assistant", content: "Got it." },
        { role: "user", content: "Go on." }
      ]
      const seen = yield* answersInTurn({
        strict: true,
        turns: [
          { text: "First." },
          { when: { compaction: true }, text: "The summary." },
          // As Gemini CLI goes on: the summary, the model's "Got it", then the user's request.
          { when: { turn: 1 }, text: "After the summary." },
          { text: "And after that." }
        ]
      }, [
        { model, messages: history },
        {
          model,
          messages: [...history, { role: "assistant", content: "After the summary." }, {
            role: "user",
            content: "And?"
          }]
        },
        { model, messages: history.slice(0, 1) }
      ])
      assert.deepStrictEqual(seen, ["200:After the summary.", "200:And after that.", "400:"])
    })))

  it.live("an unmatched request: the simulator's own reply, or a strict scenario's 400; an unknown name is a 400", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* Simulator.make({
        scenarios: {
          loose: { turns: [{ when: { contains: "magic" }, text: "Scripted." }] },
          strict: { strict: true, turns: [{ when: { contains: "magic" }, text: "Scripted." }] }
        }
      })
      const ask = { model, messages: [{ role: "user", content: "Hello" }] }
      const [loose, strict, unknown, matched] = yield* Effect.promise(() =>
        Promise.all([
          chat(sim.url, ask, { [Simulator.scenarioHeader]: "loose" }),
          chat(sim.url, ask, { [Simulator.scenarioHeader]: "strict" }),
          chat(sim.url, ask, { [Simulator.scenarioHeader]: "other" }),
          chat(sim.url, { model, messages: [{ role: "user", content: "Say the magic word" }] }, {
            [Simulator.scenarioHeader]: "strict"
          })
        ])
      )
      assert.strictEqual(loose.status, 200)
      assert.notStrictEqual(loose.body.choices[0]!.message.content, "Scripted.")
      assert.strictEqual(strict.status, 400)
      assert.strictEqual(strict.body.error.code, "scenario_unmatched")
      assert.include(strict.body.error.message, `No turn of the scenario "strict" answers this request`)
      assert.strictEqual(unknown.status, 400)
      assert.strictEqual(unknown.body.error.code, "unknown_scenario")
      assert.include(unknown.body.error.message, "loose, strict")
      assert.strictEqual(matched.body.choices[0]!.message.content, "Scripted.")
    })))

  it.live("a turn's tool call plays only where the request offers that tool", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* Simulator.make({
        scenario: { strict: true, turns: [{ toolCalls: [{ name: "deploy", arguments: { to: "prod" } }] }] }
      })
      const answer = yield* Effect.promise(() =>
        chat(sim.url, { model, tools, messages: [{ role: "user", content: "Go" }] })
      )
      assert.strictEqual(answer.status, 400)
      assert.strictEqual(answer.body.error.code, "scenario_unmatched")
    })))

  const bad = {
    strict: "yes",
    turns: [
      { text: 1, usage: { input: 10, cacheRead: 8, cacheWrite: 4 } },
      { toolCalls: [{ arguments: [] }], fault: "first-token=10" },
      { when: { turn: -1, lastRole: "system", compaction: true } },
      { fault: "status=503", delay: 5, usage: { output: 2, reasoning: 3, cacheWrite1h: 1 }, extra: true }
    ]
  }
  const badPaths = [
    "strict",
    "turns[0].text",
    "turns[0].usage.input",
    "turns[1].toolCalls[0].name",
    "turns[1].toolCalls[0].arguments",
    "turns[1].fault",
    "turns[2].when.turn",
    "turns[2].when.lastRole",
    "turns[2].text",
    "turns[3].extra",
    "turns[3].usage.cacheWrite1h",
    "turns[3].usage.reasoning",
    "turns[3].delay"
  ]

  it("a bad scenario is refused naming every bad path", () => {
    const read = Simulator.decodeScenario(bad)
    assert.isTrue(Result.isFailure(read))
    const lines = Result.isFailure(read) ? read.failure.split("\n") : []
    assert.deepStrictEqual(lines.map((line) => line.slice(0, line.indexOf(": "))).sort(), [...badPaths].sort())
    assert.include(lines.find((line) => line.startsWith("turns[1].fault"))!, "a turn's fault fails its request")
    assert.isTrue(Result.isFailure(Simulator.decodeScenario({ turns: [] })))
  })

  it.live("a bad scenario option fails the simulator's start with an OptionsError naming every bad path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Simulator.make({ scenarios: { broken: bad as unknown as Simulator.Scenario } }))
      )
      assert.strictEqual(error._tag, "OptionsError")
      if (error._tag !== "OptionsError") return
      const options = [error, ...(error.others ?? [])].map((problem) => problem.option).sort()
      assert.deepStrictEqual(options, badPaths.map((at) => `scenarios["broken"].${at}`).sort())
    }))
})

describe("simulate --scenario", () => {
  const written = (name: string, json: unknown) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scenario-"))
    const file = path.join(dir, name)
    fs.writeFileSync(file, typeof json === "string" ? json : JSON.stringify(json))
    return file
  }

  it.live("plays the file for every request, and under its base name", () =>
    Effect.gen(function*() {
      const file = written("greeting.scenario.json", { turns: [{ text: "Scripted hello." }] })
      const running = yield* startInProcess((io) => Simulate.run(["--port", "0", "--scenario", file], io))
      const url = yield* awaitFirstLine(running, "the simulator's first line (its URL)")
      const ask = { model, messages: [{ role: "user", content: "Hello" }] }
      const [byDefault, named] = yield* Effect.promise(() =>
        Promise.all([chat(url, ask), chat(url, ask, { [Simulator.scenarioHeader]: "greeting" })])
      )
      assert.strictEqual(byDefault.body.choices[0]!.message.content, "Scripted hello.")
      assert.strictEqual(named.body.choices[0]!.message.content, "Scripted hello.")
      yield* Fiber.interrupt(running.exited)
    }).pipe(Effect.scoped))

  it.live("a bad file exits 2 naming every bad path; one that is not JSON, its reason", () =>
    Effect.gen(function*() {
      for (
        const [file, expected] of [
          [written("bad.json", { turns: [{ text: 1, usage: { output: -1 } }] }), [
            "2 problems:",
            "turns[0].text: ",
            "turns[0].usage.output: "
          ]],
          [written("broken.json", "{ turns"), ["JSON"]],
          [path.join(os.tmpdir(), "no-such-scenario.json"), ["no-such-scenario.json"]]
        ] as const
      ) {
        const { io, result } = captureIo()
        const out = result(yield* Simulate.run(["--port", "0", "--scenario", file], io))
        assert.strictEqual(out.code, 2)
        assert.include(out.stderr, `--scenario "${file}": `)
        for (const text of expected) assert.include(out.stderr, text)
        // The problem, and where the usage is: not the usage itself.
        assert.include(out.stderr, "Run \"effect-llm-router simulate --help\" for its usage.")
        assert.notInclude(out.stderr, "Usage: effect-llm-router simulate")
      }
    }))
})
