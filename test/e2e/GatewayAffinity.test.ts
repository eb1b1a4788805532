/**
 * Session affinity through the gateway, with the official clients over loopback: two deployments of one model on the
 * simulator, three keys each, each behind a small proxy that notes which deployment and key every request reached
 * (and can answer 503 for its deployment, as a provider that is down). A session, however the client names it, stays
 * on one deployment and key; it moves when that deployment fails, and stays where it moved.
 */
import Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Http from "node:http"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"

const keys = ["sk-affinity-key-000001", "sk-affinity-key-000002", "sk-affinity-key-000003"]

/** Which deployment and key each request reached, and the deployments that answer 503. */
interface Seen {
  readonly requests: Array<{ readonly deployment: string; readonly key: string }>
  readonly down: Set<string>
}

const keyOf = (headers: Http.IncomingHttpHeaders): string =>
  String(headers["authorization"] ?? headers["x-api-key"] ?? "").replace(/^Bearer /, "")

/** A proxy to `target` that notes each request under `deployment`, or answers 503 while it is down. */
const observer = (target: string, deployment: string, seen: Seen) =>
  Effect.acquireRelease(
    Effect.callback<Http.Server>((resume) => {
      const server = Http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.once("end", () => {
          if (seen.down.has(deployment)) {
            res.writeHead(503, { "content-type": "application/json" })
            res.end(JSON.stringify({ error: { message: "down", type: "server_error" } }))
            return
          }
          seen.requests.push({ deployment, key: keyOf(req.headers) })
          const upstream = Http.request(`${target}${req.url ?? ""}`, {
            method: req.method ?? "POST",
            headers: { ...req.headers, host: new URL(target).host }
          }, (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers)
            answer.pipe(res)
          })
          upstream.on("error", () => res.destroy())
          upstream.end(Buffer.concat(chunks))
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

const portOf = (server: Http.Server) => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}

/** The gateway over deployments `one` and `two` of `gpt-4o-mini`, each through its observer; the clients. */
const served = Effect.gen(function*() {
  const simulator = yield* Simulator.make({ apiKeys: keys, replyTokens: 4 })
  const seen: Seen = { requests: [], down: new Set() }
  const deployment = (name: string) =>
    Effect.map(observer(simulator.url, name, seen), (server) => [{
      model_name: "gpt-4o-mini",
      base_url: `http://127.0.0.1:${portOf(server)}/v1`,
      api_keys: keys,
      max_retries: 0
    }])
  const config = yield* ProviderConfig.fromJson({ one: yield* deployment("one"), two: yield* deployment("two") })
  const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
  const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
  const anthropic = new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0 })
  return { gateway, seen, openai, anthropic }
})

const where = (seen: Seen) => seen.requests.map((request) => `${request.deployment} ${request.key}`)

/** Whether every request since `from` reached one deployment with one key; that one. */
const sameSince = (seen: Seen, from: number) => {
  const since = where(seen).slice(from)
  return { one: new Set(since).size === 1, at: since[0]! }
}

const chat = (
  openai: OpenAI,
  options: { readonly cacheKey?: string; readonly header?: string; readonly text?: string }
) =>
  Effect.promise(() =>
    openai.chat.completions.create(
      {
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: options.text ?? "Hello" }],
        ...(options.cacheKey === undefined ? {} : { prompt_cache_key: options.cacheKey })
      },
      options.header === undefined ? {} : { headers: { "x-session-id": options.header } }
    )
  )

/** A streamed chat of the session `cacheKey`, read to its end; its text. */
const streamed = (openai: OpenAI, cacheKey: string) =>
  Effect.promise(async () => {
    const stream = await openai.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hello" }],
      prompt_cache_key: cacheKey,
      stream: true
    })
    let text = ""
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
    return text
  })

describe("Gateway session affinity, with the official clients", () => {
  it.live("prompt_cache_key keeps a session on one deployment and key; it moves when that deployment fails", () =>
    Effect.gen(function*() {
      const { gateway, openai, seen } = yield* served
      // Calls without a session are spread over the deployments and keys.
      for (let i = 0; i < 12; i++) yield* chat(openai, {})
      expect(new Set(where(seen)).size).toBeGreaterThan(2)

      const start = seen.requests.length
      // Whole and streamed calls of the session, taking turns.
      for (let i = 0; i < 8; i++) {
        if (i % 2 === 0) yield* chat(openai, { cacheKey: "agent-session-1" })
        else expect((yield* streamed(openai, "agent-session-1")).length).toBeGreaterThan(0)
      }
      const pinned = sameSince(seen, start)
      expect(pinned.one).toBe(true)
      const [deployment] = pinned.at.split(" ")
      const status = yield* gateway.status
      expect(status.details[`${deployment}/gpt-4o-mini`]!.pinnedSessions).toBe(1)

      // Its deployment goes down: the call goes to the other one, and the session stays there once it is back.
      seen.down.add(deployment!)
      const moved = seen.requests.length
      const reply = yield* chat(openai, { cacheKey: "agent-session-1" })
      expect(reply.choices[0]!.message.content!.length).toBeGreaterThan(0)
      seen.down.clear()
      for (let i = 0; i < 5; i++) yield* chat(openai, { cacheKey: "agent-session-1" })
      const after = sameSince(seen, moved)
      expect(after.one).toBe(true)
      expect(after.at.split(" ")[0]).not.toBe(deployment)
      const counts = (yield* gateway.status).details
      expect(counts[`${deployment}/gpt-4o-mini`]!.pinnedSessions).toBe(0)
      expect(counts[`${after.at.split(" ")[0]}/gpt-4o-mini`]!.pinnedSessions).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("an x-session-id header, Anthropic's metadata.user_id and a long shared prefix each name a session", () =>
    Effect.gen(function*() {
      const { anthropic, openai, seen } = yield* served
      let start = seen.requests.length
      for (let i = 0; i < 6; i++) yield* chat(openai, { header: "header-session", text: `question ${i}` })
      expect(sameSince(seen, start).one).toBe(true)

      start = seen.requests.length
      for (let i = 0; i < 6; i++) {
        yield* Effect.promise(() =>
          anthropic.messages.create({
            model: "gpt-4o-mini",
            max_tokens: 16,
            metadata: { user_id: "claude-code-session" },
            messages: [{ role: "user", content: `question ${i}` }]
          })
        )
      }
      expect(sameSince(seen, start).one).toBe(true)

      // An agent's long system prompt and first message, then a growing conversation: one session.
      start = seen.requests.length
      const system = "You are a careful coding agent. ".repeat(200)
      const messages: Array<OpenAI.Chat.ChatCompletionMessageParam> = [
        { role: "system", content: system },
        { role: "user", content: "Fix the failing test." }
      ]
      for (let i = 0; i < 6; i++) {
        const reply = yield* Effect.promise(() => openai.chat.completions.create({ model: "gpt-4o-mini", messages }))
        messages.push({ role: "assistant", content: reply.choices[0]!.message.content ?? "" })
        messages.push({ role: "user", content: `And step ${i}?` })
      }
      expect(sameSince(seen, start).one).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("a Responses conversation continued by previous_response_id stays on one deployment and key", () =>
    Effect.gen(function*() {
      const { openai, seen } = yield* served
      const start = seen.requests.length
      let previous = yield* Effect.promise(() => openai.responses.create({ model: "gpt-4o-mini", input: "Hi" }))
      for (let i = 0; i < 6; i++) {
        const id = previous.id
        previous = yield* Effect.promise(() =>
          openai.responses.create({ model: "gpt-4o-mini", input: `Turn ${i}`, previous_response_id: id })
        )
      }
      expect(seen.requests.length - start).toBe(7)
      expect(sameSince(seen, start).one).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})
