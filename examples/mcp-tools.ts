/**
 * A tool loop whose tools come from an MCP server, model and server both the
 * built-in simulator's (its `/mcp` serves `add`, `echo` and `weather`). First
 * with `effect/ai`: `McpClient.toolkit` turns the server's tools into a
 * `Toolkit`, and a `Chat` over `Llm.languageModel` calls them until the model
 * answers in text. Then the same tools in this library's own loop: each MCP
 * tool's name, description and input schema are a `Message.ToolDefinition`
 * as they are, and a call goes back through `McpClient.callTool`. Last, a
 * server that fails its tools (`x-simulator-mcp-fault: error`): the failure
 * reaches the program as an `McpClientError`.
 *
 *   npx node --import tsx examples/mcp-tools.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Llm, Message, OpenAiChat } from "effect-llm-router"
import { Simulator } from "effect-llm-router/testing"
import { Chat, McpClient, McpProtocol } from "effect/ai"
import type * as McpSchema from "effect/ai/McpSchema"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Provider from "./_provider.js"

/** A connection to an MCP server over Streamable HTTP, with extra headers when given. */
function mcpServer(url: string, headers: Record<string, string> = {}) {
  return McpClient.layerHttp({
    name: "mcp-tools-example",
    version: "1.0.0",
    protocol: McpProtocol.v2025_11_25,
    url: `${url}/mcp`,
    headers
  })
}

/** effect/ai's loop: the model calls the server's tools until it answers in text. */
const effectAiLoop = Effect.gen(function*() {
  const toolkit = yield* McpClient.toolkit(yield* McpClient.McpClient)
  const chat = yield* Chat.fromPrompt([{ role: "user", content: "What is the weather in Lisbon?" }])
  for (let turn = 0; turn < 5; turn++) {
    const response = yield* chat.generateText({ prompt: [], toolkit })
    for (const result of response.toolResults) {
      yield* Console.log(`effect/ai: ${result.name} -> ${JSON.stringify(result.result)}`)
    }
    if (response.toolCalls.length === 0) return yield* Console.log(`effect/ai: answer: ${response.text}`)
  }
  return yield* Effect.die(new Error("no answer after 5 turns"))
})

/** An MCP tool as this library's tool definition: the same name, description and JSON Schema. */
function toolDefinition(tool: McpSchema.Tool): Message.ToolDefinition {
  return {
    name: tool.name,
    parameters: tool.inputSchema,
    ...(tool.description !== undefined ? { description: tool.description } : {})
  }
}

/** This library's loop (as examples/tool-loop.ts) over the MCP server's tools. */
const llmLoop = Effect.gen(function*() {
  const client = yield* McpClient.McpClient
  const tools = yield* client.listTools()
  const messages: Array<Message.Message> = [Message.user("What is the weather in Oslo?")]
  for (let turn = 0; turn < 5; turn++) {
    const reply = yield* Llm.chat({ messages, tools: tools.map(toolDefinition) })
    messages.push(Message.fromResponse(reply))
    if (reply.toolCalls.length === 0) return yield* Console.log(`Llm: answer: ${reply.text}`)
    for (const call of reply.toolCalls) {
      const tool = tools.find((candidate) => candidate.name === call.name)
      if (tool === undefined) return yield* Effect.die(new Error(`the model called an unknown tool: ${call.name}`))
      const result = yield* client.callTool({ tool, arguments: JSON.parse(call.arguments) })
      const text = result.content.flatMap((block) => (block.type === "text" ? [block.text] : [])).join("\n")
      yield* Console.log(`Llm: ${call.name}(${call.arguments}) -> ${text}`)
      messages.push(Message.toolResult(call, text))
    }
  }
  return yield* Effect.die(new Error("no answer after 5 turns"))
})

/** A server whose every tool fails: effect/ai's toolkit fails the turn with the server's result. */
const failingTool = effectAiLoop.pipe(
  Effect.catchTag("McpClientError", (error) => Console.log(`a failing server: ${error.reason._tag}`))
)

const program = Effect.gen(function*() {
  const sim = yield* Simulator.make({ replyTokens: 8 })
  yield* Console.error(`mcp-tools: using the built-in simulator at ${sim.url} (its model and its /mcp)`)
  const model = Llm.languageModel({ model: "sim-small" })
  const llm = Provider.llmOver(OpenAiChat.layer({ baseUrl: `${sim.url}/v1`, model: "sim-small" }))
  yield* effectAiLoop.pipe(Effect.provide(Layer.mergeAll(model.pipe(Layer.provide(llm)), mcpServer(sim.url))))
  yield* llmLoop.pipe(Effect.provide(Layer.mergeAll(llm, mcpServer(sim.url))))
  yield* failingTool.pipe(
    Effect.provide(
      Layer.mergeAll(model.pipe(Layer.provide(llm)), mcpServer(sim.url, { [Simulator.mcpFaultHeader]: "error" }))
    )
  )
}).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))

NodeRuntime.runMain(program)
