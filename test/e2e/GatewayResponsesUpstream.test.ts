/**
 * A Responses deployment behind the gateway's `/v1/responses` gets its own ids back: with `store` on it, a follow-up
 * naming the gateway's `previous_response_id` reaches it as that deployment's own `previous_response_id` and only the
 * new input, while the client sees the gateway's ids only. A follow-up that fails over to a chat-completions
 * deployment, one whose upstream no longer knows the id (404), and a chat-completions deployment behind send the
 * whole conversation. The official `openai` client over loopback; a proxy in front of each deployment's simulator
 * notes what every request carried and what the simulator answered, and can answer 503 for its deployment.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { create, events } from "../utils/responsesHarness.js"

const key = "sk-upstream-ids-key-000001"

/** A request a deployment's proxy passed on: its body, and the simulator's status and answer. */
interface Passed {
  readonly deployment: string
  readonly body: Record<string, unknown>
  readonly status: number
  readonly answer: string
}

/** What the proxies saw, the deployments that answer 503, and the simulator each deployment's proxy sends to. */
interface Upstreams {
  readonly passed: Array<Passed>
  readonly down: Set<string>
  readonly targets: Map<string, string>
}

/** A proxy for `deployment` to its target in `upstreams`, noting each request, or answering 503 while it is down. */
const proxy = (deployment: string, upstreams: Upstreams) =>
  Effect.acquireRelease(
    Effect.callback<Http.Server>((resume) => {
      const server = Http.createServer((req, res) => {
        let text = ""
        req.setEncoding("utf8")
        req.on("data", (chunk: string) => text += chunk)
        req.once("end", () => {
          if (upstreams.down.has(deployment)) {
            res.writeHead(503, { "content-type": "application/json" })
            res.end(JSON.stringify({ error: { message: "down", type: "server_error" } }))
            return
          }
          fetch(`${upstreams.targets.get(deployment)!}${req.url ?? ""}`, {
            method: req.method ?? "POST",
            headers: { "content-type": "application/json", authorization: String(req.headers["authorization"]) },
            body: text
          }).then(async (upstream) => {
            const answer = await upstream.text()
            upstreams.passed.push({
              deployment,
              body: JSON.parse(text) as Record<string, unknown>,
              status: upstream.status,
              answer
            })
            res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "" })
            res.end(answer)
          }).catch(() => res.destroy())
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as { port: number }).port}/v1`))

/**
 * The gateway over `up` (a Responses deployment with `store`) and `chat` (a chat-completions one) of one model, each
 * behind its proxy, and the `openai` client.
 */
const served = Effect.gen(function*() {
  const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 6 })
  const upstreams: Upstreams = {
    passed: [],
    down: new Set(),
    targets: new Map([["up", simulator.url], ["chat", simulator.url]])
  }
  const config = yield* ProviderConfig.fromJson({
    up: [{
      model_name: "gpt-4o-mini",
      api: "responses",
      store: true,
      base_url: yield* proxy("up", upstreams),
      api_keys: [key],
      max_retries: 0
    }],
    chat: [{ model_name: "gpt-4o-mini", base_url: yield* proxy("chat", upstreams), api_keys: [key], max_retries: 0 }]
  })
  const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
  const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
  return { client, upstreams }
})

/** A test's body, in a scope, over undici. */
const run = <A, E>(body: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) =>
  Effect.scoped(body).pipe(Effect.provide(UndiciHttpClient.layer()))

/** The simulator's own id of the response it answered (whole, or in its stream's events). */
const upstreamId = (passed: Passed): string => /"id":"(resp_[^"]+)"/.exec(passed.answer)![1]!

/** The input items' roles and texts (a string content, or its parts' texts). */
const inputOf = (body: Record<string, unknown>) =>
  (body["input"] as Array<{ role?: string; type?: string; content?: Array<{ text: string }> }>).map((item) =>
    `${item.role ?? item.type}: ${(item.content ?? []).map((part) => part.text).join("")}`
  )

describe("Gateway /v1/responses: a Responses deployment's own ids passed through", () => {
  it.live("a follow-up reaches the deployment as its own previous_response_id with only the new input", () =>
    run(Effect.gen(function*() {
      const { client, upstreams } = yield* served
      const first = yield* create(client, { model: "up/gpt-4o-mini", instructions: "Be brief.", input: "Hello there" })
      const second = yield* create(client, {
        model: "up/gpt-4o-mini",
        instructions: "Be brief.",
        previous_response_id: first.id,
        input: "And then?"
      })
      const [one, two] = upstreams.passed
      expect(one!.body["previous_response_id"]).toBeUndefined()
      expect(one!.body["store"]).toBe(true)
      expect(two!.status).toBe(200)
      expect(two!.body["previous_response_id"]).toBe(upstreamId(one!))
      expect(inputOf(two!.body)).toEqual(["user: And then?"])
      // `instructions` is not carried over by the API: sent every turn.
      expect(two!.body["instructions"]).toBe("Be brief.")
      // The client sees the gateway's ids only.
      expect(second.previous_response_id).toBe(first.id)
      expect([first.id, second.id]).not.toContain(upstreamId(one!))
      expect(second.id).not.toBe(upstreamId(two!))
      expect(second.output_text).not.toBe("")

      // Streamed, each turn continues the one before by the deployment's id.
      const third = yield* events(client, { model: "up/gpt-4o-mini", previous_response_id: second.id, input: "More" })
      const done = third[third.length - 1]!
      if (done.type !== "response.completed") return expect(done.type).toBe("response.completed")
      expect(done.response.id).not.toBe(upstreamId(upstreams.passed[2]!))
      yield* create(client, { model: "up/gpt-4o-mini", previous_response_id: done.response.id, input: "Last" })
      const [, , streamed, fourth] = upstreams.passed
      expect(streamed!.body["stream"]).toBe(true)
      expect(streamed!.body["previous_response_id"]).toBe(upstreamId(two!))
      expect(inputOf(streamed!.body)).toEqual(["user: More"])
      expect(fourth!.body["previous_response_id"]).toBe(upstreamId(streamed!))
      expect(inputOf(fourth!.body)).toEqual(["user: Last"])
    })))

  it.live("a follow-up that fails over to a chat-completions deployment sends the whole conversation", () =>
    run(Effect.gen(function*() {
      const { client, upstreams } = yield* served
      upstreams.down.add("chat")
      const first = yield* create(client, { model: "gpt-4o-mini", input: "Hello there" })
      upstreams.down.clear()
      upstreams.down.add("up")
      const second = yield* create(client, { model: "gpt-4o-mini", previous_response_id: first.id, input: "And then?" })
      expect(second.status).toBe("completed")
      const [one, two] = upstreams.passed
      expect([one!.deployment, two!.deployment]).toEqual(["up", "chat"])
      const messages = two!.body["messages"] as Array<{ role: string; content: string }>
      expect(messages.map((message) => message.role)).toEqual(["user", "assistant", "user"])
      expect(messages[0]!.content).toBe("Hello there")
      expect(messages[1]!.content).toBe(first.output_text)
      expect(two!.body["previous_response_id"]).toBeUndefined()

      // Back on the Responses deployment, a turn that continues the chat-completions one is sent whole too.
      upstreams.down.clear()
      upstreams.down.add("chat")
      yield* create(client, { model: "gpt-4o-mini", previous_response_id: second.id, input: "Last" })
      const three = upstreams.passed[2]!
      expect(three.deployment).toBe("up")
      expect(three.body["previous_response_id"]).toBeUndefined()
      expect(inputOf(three.body)).toEqual([
        "user: Hello there",
        `assistant: ${first.output_text}`,
        "user: And then?",
        `assistant: ${second.output_text}`,
        "user: Last"
      ])
    })))

  it.live("an id the deployment no longer knows (404) is sent again with the whole conversation", () =>
    run(Effect.gen(function*() {
      const { client, upstreams } = yield* served
      const first = yield* create(client, { model: "up/gpt-4o-mini", input: "Hello there" })
      // The deployment's upstream lost what it kept (a restart, or its responses expired).
      const fresh = yield* Simulator.make({ apiKeys: [key], replyTokens: 6 })
      upstreams.targets.set("up", fresh.url)
      for (const stream of [false, true]) {
        const from = upstreams.passed.length
        const params = { model: "up/gpt-4o-mini", previous_response_id: first.id, input: "And then?" }
        const text = stream
          ? yield* Effect.map(events(client, params), (seen) => seen[seen.length - 1]!.type)
          : yield* Effect.map(create(client, params), (response) => response.status)
        expect(text).toBe(stream ? "response.completed" : "completed")
        const [gone, whole] = upstreams.passed.slice(from)
        expect(gone!.status).toBe(404)
        expect(gone!.answer).toContain("previous_response_not_found")
        expect(whole!.status).toBe(200)
        expect(whole!.body["previous_response_id"]).toBeUndefined()
        expect(inputOf(whole!.body)).toEqual([
          "user: Hello there",
          `assistant: ${first.output_text}`,
          "user: And then?"
        ])
      }
    })))

  it.live("a chat-completions deployment behind gets the whole conversation, as before", () =>
    run(Effect.gen(function*() {
      const { client, upstreams } = yield* served
      const first = yield* create(client, { model: "chat/gpt-4o-mini", input: "Hello there" })
      yield* create(client, { model: "chat/gpt-4o-mini", previous_response_id: first.id, input: "And then?" })
      const two = upstreams.passed[1]!
      expect(two.deployment).toBe("chat")
      const messages = two.body["messages"] as Array<{ role: string; content: string }>
      expect(messages.map((message) => `${message.role}: ${message.content}`)).toEqual([
        "user: Hello there",
        `assistant: ${first.output_text}`,
        "user: And then?"
      ])
    })))
})
