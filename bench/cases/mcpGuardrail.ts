/**
 * What a webhook guardrail costs an MCP tool call, side by side in one run: the gateway's tool-call guardrails
 * (`internal/gateway/mcp/guardrails.ts`: the arguments checked, then the result) with (a) a webhook written for one
 * text, posted once a string, as every webhook was before `batch`, and (b) the same webhook taking a list
 * (`batch: true`), posted once a direction. The call's arguments hold 11 strings and numbers, its result 6 (a text
 * block and `structuredContent`). The webhook is a loopback `node:http` server in this process that passes every
 * text, so the CPU a call counts its side too. For each side: the p50 time a call's checks take, the CPU a call and
 * the posts a call; (b) as a ratio to (a).
 *
 *   npm run bench -- guardrail-mcp
 *
 * BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONCURRENCY and BENCH_WARMUP_SECONDS as `main.ts` reads them.
 */
import * as McpSchema from "effect/ai/McpSchema"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Guardrail from "../../src/Guardrail.js"
import { checkArguments, checkResult } from "../../src/internal/gateway/mcp/guardrails.js"
import type { OptionsError } from "../../src/OptionsError.js"
import { median, round2 } from "../stats.js"

export const mcpGuardrailCaseName = "guardrail-mcp-tool-call"

export interface McpGuardrailSide {
  readonly side: string
  readonly calls: number
  readonly posts_per_call: number
  readonly p50_ms: number
  readonly cpu_us: number
  readonly p50_ratio: number
  readonly cpu_ratio: number
}

export interface McpGuardrailResult {
  readonly name: typeof mcpGuardrailCaseName
  readonly argument_texts: number
  readonly result_texts: number
  readonly sides: ReadonlyArray<McpGuardrailSide>
}

export interface McpGuardrailOptions {
  readonly seconds: number
  readonly rounds: number
  readonly warmupSeconds: number
  readonly concurrency: number
  readonly runtime: ManagedRuntime.ManagedRuntime<HttpClient.HttpClient, OptionsError>
}

// A lookup's arguments (11 texts) and its result (6 texts), as an agent's CRM tool might send and get.
const payload = {
  query: "open tickets of the customer named in the last message",
  customer: { name: "Ada Lovelace", id: 4711, region: "eu-west" },
  fields: ["subject", "status", "owner", "updated"],
  filter: { status: "open", since: "2026-11-01", limit: 25 }
}
const argumentTexts = 11

const result = new McpSchema.CallToolResult({
  content: [{ type: "text", text: "2 open tickets: T-1 (printer), T-2 (invoice)" }],
  structuredContent: {
    tickets: [{ id: "T-1", subject: "printer jams" }, { id: "T-2", subject: "invoice is wrong" }],
    total: 2
  }
})
const resultTexts = 6

/** A webhook passing every text, one text a post or a list; its posts counted. */
function webhookServer(): Promise<{ readonly url: string; readonly posts: () => number; readonly close: () => void }> {
  let posts = 0
  const server = Http.createServer((req, res) => {
    let body = ""
    req.on("data", (data: Buffer) => body += data.toString("utf8"))
    req.on("end", () => {
      posts++
      const parsed = JSON.parse(body) as { readonly texts?: ReadonlyArray<string> }
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify(
        parsed.texts === undefined ? { verdict: "pass" } : { verdicts: parsed.texts.map(() => ({ verdict: "pass" })) }
      ))
    })
  })
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/check`,
        posts: () => posts,
        close: () => server.close()
      }))
  )
}

interface Round {
  readonly calls: number
  readonly posts: number
  readonly p50: number
  readonly cpuMicros: number
}

/** `concurrency` loops of tool calls' checks through `chain` for `millis`; the round's figures. */
async function measure(
  runtime: McpGuardrailOptions["runtime"],
  chain: ReadonlyArray<Guardrail.Guardrail>,
  hook: { readonly posts: () => number },
  millis: number,
  concurrency: number
): Promise<Round> {
  const times: Array<number> = []
  const oneCall = Effect.gen(function*() {
    const started = performance.now()
    yield* checkArguments(chain, payload)
    yield* checkResult(chain, result)
    times.push(performance.now() - started)
  })
  const deadline = performance.now() + millis
  const loop = Effect.whileLoop({ while: () => performance.now() < deadline, body: () => oneCall, step: () => {} })
  const postsBefore = hook.posts()
  const cpuBefore = process.cpuUsage()
  await runtime.runPromise(Effect.all(Array.from({ length: concurrency }, () => loop), { concurrency: "unbounded" }))
  const cpu = process.cpuUsage(cpuBefore)
  return {
    calls: times.length,
    posts: hook.posts() - postsBefore,
    p50: median(times),
    cpuMicros: (cpu.user + cpu.system) / times.length
  }
}

export async function measureMcpGuardrail(options: McpGuardrailOptions): Promise<McpGuardrailResult> {
  const hook = await webhookServer()
  try {
    const made = (batch: boolean) =>
      options.runtime.runPromise(
        Guardrail.webhook({ name: "policy", url: hook.url, batch, on: ["toolArguments", "toolResult"] })
      )
    const sides = [
      { side: "one post a string", chain: [await made(false)] },
      { side: "batch", chain: [await made(true)] }
    ]
    for (const { chain } of sides) {
      await measure(options.runtime, chain, hook, options.warmupSeconds * 1000, options.concurrency)
    }
    const rounds: Array<Array<Round>> = sides.map(() => [])
    for (let i = 0; i < options.rounds; i++) {
      const line: Array<string> = []
      for (const [s, { chain, side }] of sides.entries()) {
        const round = await measure(options.runtime, chain, hook, options.seconds * 1000, options.concurrency)
        rounds[s]!.push(round)
        line.push(
          `${side} p50 ${round.p50.toFixed(2)} ms, ${round.cpuMicros.toFixed(0)} us CPU, ` +
            `${(round.posts / round.calls).toFixed(1)} posts a call (${round.calls})`
        )
      }
      console.log(`${mcpGuardrailCaseName} round ${i + 1}: ${line.join("; ")}`)
    }
    const figures = rounds.map((side) => ({
      calls: side.reduce((sum, round) => sum + round.calls, 0),
      posts: side.reduce((sum, round) => sum + round.posts, 0),
      p50: median(side.map((round) => round.p50)),
      cpu: median(side.map((round) => round.cpuMicros))
    }))
    const single = figures[0]!
    return {
      name: mcpGuardrailCaseName,
      argument_texts: argumentTexts,
      result_texts: resultTexts,
      sides: figures.map((figure, s) => ({
        side: sides[s]!.side,
        calls: figure.calls,
        posts_per_call: round2(figure.posts / figure.calls),
        p50_ms: round2(figure.p50),
        cpu_us: round2(figure.cpu),
        p50_ratio: round2(figure.p50 / single.p50),
        cpu_ratio: round2(figure.cpu / single.cpu)
      }))
    }
  } finally {
    hook.close()
  }
}
