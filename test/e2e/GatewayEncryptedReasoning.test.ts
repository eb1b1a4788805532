/**
 * Encrypted reasoning and compaction items across deployments and gateway instances, with the official `openai`
 * client over loopback: two Responses deployments of one model on two simulators (two organisations: what one
 * encrypts, the other refuses 400 `invalid_encrypted_content`, as OpenAI does), each behind a recorder of the bodies it
 * gets, under a router that would move a conversation (`lowest-latency`, which tries a deployment it has not measured
 * first), served by two gateway instances sharing Redis. A conversation replaying its encrypted items (`store: false`,
 * `include: ["reasoning.encrypted_content"]`, whole and streamed; a compaction item of the deployment's own) stays on
 * the deployment that made them, whichever instance serves it;
 * when that deployment is down the other answers without them; items no deployment of the gateway made are dropped
 * after the provider refuses them, and the call answered.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { recorder } from "../utils/cliHarness.js"
import { redisServer } from "../utils/redisServer.js"
import { create, events, promise, replayed } from "../utils/responsesHarness.js"
import { connected } from "../utils/sharedStore.js"

const providerKey = "sk-provider-encrypted-0001"
const gatewayKey = "gw-encrypted-reasoning-5d3b1f9e"
const model = "gpt-5-mini"

// Reasoning asked for, its encrypted content with it, and nothing kept upstream: the client carries the items.
const asked = {
  model: "main",
  store: false,
  reasoning: { effort: "low" },
  include: ["reasoning.encrypted_content"]
} satisfies Omit<OpenAI.Responses.ResponseCreateParamsNonStreaming, "input">

// Two simulators (organisations of their own), each in a scope of its own so that it can stop, behind recorders; the
// gateway configuration over both; what starts an instance of it on the shared Redis.
const setting = Effect.gen(function*() {
  const redis = yield* redisServer
  const scopes = [yield* Scope.make(), yield* Scope.make()]
  for (const scope of scopes) yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
  const simulatorIn = (scope: Scope.Scope) =>
    Scope.provide(
      Simulator.make({ apiKeys: [providerKey], models: [model], replyTokens: 6, reasoningTokens: 4 }),
      scope
    )
  const simulators = [yield* simulatorIn(scopes[0]!), yield* simulatorIn(scopes[1]!)]
  const recorded = [yield* recorder(simulators[0]!.url), yield* recorder(simulators[1]!.url)]
  const deployment = (baseUrl: string) => [{
    model_name: model,
    api: "responses",
    base_url: baseUrl,
    api_keys: [providerKey],
    max_retries: 0
  }]
  const file = ProviderConfig.gatewayConfig(
    yield* ProviderConfig.fromJson({
      one: deployment(recorded[0]!.baseUrl),
      two: deployment(recorded[1]!.baseUrl),
      router: { main: { deployments: [`one/${model}`, `two/${model}`], strategy: "lowest-latency" } }
    })
  )
  // No random share of picks: a deployment the instance has not measured yet is always tried first.
  const main = file.routers!["main"]!
  const config: Gateway.Config = {
    ...file,
    routers: { main: { ...main, options: { ...main.options, exploration: 0 } } }
  }
  const instance = Effect.gen(function*() {
    const gateway = yield* Gateway.make({
      config,
      port: 0,
      keys: [{ name: "agent", key: Redacted.make(gatewayKey) }],
      store: yield* connected(redis.url)
    })
    return new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: gatewayKey, maxRetries: 0 })
  })
  return { instance, recorded, stop: (deployment: number) => Scope.close(scopes[deployment]!, Exit.void) }
})

type Recorded = Effect.Success<typeof setting>["recorded"]

// The encrypted content of the reasoning and compaction items each recorder's deployment was sent, in order.
const sentContent = (recorded: Recorded) =>
  recorded.map((one) =>
    one.bodies.flatMap((body) =>
      (body["input"] as ReadonlyArray<Record<string, unknown>>)
        .map((item) => item["encrypted_content"])
        .filter((content) => typeof content === "string")
    )
  )

// The output items of a stream's events, as each closed (`response.output_item.done`), in that order.
const closedItems = (stream: ReadonlyArray<OpenAI.Responses.ResponseStreamEvent>) =>
  stream.flatMap((event) => event.type === "response.output_item.done" ? [event.item] : [])

// The number of requests each deployment was sent.
const counts = (recorded: Recorded) => recorded.map((one) => one.bodies.length)

const live = <A, E, R>(test: Effect.Effect<A, E, R>) =>
  Effect.scoped(test).pipe(Effect.provide(UndiciHttpClient.layer()))

describe("Gateway: encrypted reasoning across deployments and instances, with the official openai client", () => {
  it.live(
    "a conversation replaying its encrypted items stays on the deployment that made them, on either instance",
    () =>
      live(Effect.gen(function*() {
        const { instance, recorded, stop } = yield* setting
        const instances = [yield* instance, yield* instance]
        let input: Array<OpenAI.Responses.ResponseInputItem> = [{ role: "user", content: "Plan the refactoring." }]
        // Four turns, the instances taking turns, whole and streamed (the items read as each closes, as Codex keeps
        // them): each replays every item the turns before it got back.
        for (let turn = 0; turn < 4; turn++) {
          const client = instances[turn % 2]!
          const params = { ...asked, input }
          const response = turn < 2
            ? yield* create(client, params)
            : { output: closedItems(yield* events(client, params)) }
          const reasoning = response.output.find((item) => item.type === "reasoning") as
            | OpenAI.Responses.ResponseReasoningItem
            | undefined
          expect(reasoning?.encrypted_content, `turn ${turn}`).toEqual(expect.any(String))
          input = [...input, ...replayed(response.output), { role: "user", content: `And step ${turn}?` }]
        }
        // Compacted (passed to the deployment's own compaction), then a turn on its compacted output.
        const compacted = yield* promise(() => instances[1]!.responses.compact({ model: "main", input }))
        const compaction = compacted.output.at(-1) as unknown as OpenAI.Responses.ResponseCompactionItem
        expect(compaction.encrypted_content).toMatch(/^eo1\./)
        yield* create(instances[0]!, {
          ...asked,
          input: [...replayed(compacted.output), { role: "user", content: "Go on from there." }]
        })
        // Every call went to one deployment, and it got back, as it made it, each item it made: the turns' reasoning
        // (one, two, then three items), the four the compaction was sent, and the compaction item.
        const [first, second] = counts(recorded)
        expect([first, second].sort()).toEqual([0, 6])
        const made = first === 6 ? 0 : 1
        const sent = sentContent(recorded)[made]!
        expect(sent).toHaveLength(1 + 2 + 3 + 4 + 1)
        for (const content of sent) expect(content).toMatch(/^gAAAAB/)
        expect(sent.at(-1)).toBe(compaction.encrypted_content.slice(compaction.encrypted_content.indexOf(".", 4) + 1))

        // That deployment goes down: the other answers, the items it cannot read left out.
        const other = 1 - made
        yield* stop(made)
        const before = counts(recorded)
        const moved = yield* create(instances[1]!, { ...asked, input })
        expect(moved.output_text.length).toBeGreaterThan(0)
        expect(counts(recorded)[other]! - before[other]!).toBe(1)
        expect(sentContent(recorded)[other]).toEqual([])
        // And the conversation goes on there, given back what it makes now.
        input = [...input, ...replayed(moved.output), { role: "user", content: "Done?" }]
        yield* create(instances[0]!, { ...asked, input })
        expect(sentContent(recorded)[other]).toHaveLength(1)
      })),
    60_000
  )

  it.live(
    "items no deployment of the gateway made are dropped once the provider refuses them",
    () =>
      live(Effect.gen(function*() {
        const { instance, recorded } = yield* setting
        const client = yield* instance
        // Reasoning made by another organisation (another gateway's provider), replayed here.
        const elsewhere = yield* Simulator.make({ models: [model], reasoningTokens: 4 })
        const foreign = yield* promise(() =>
          new OpenAI({ baseURL: `${elsewhere.url}/v1`, apiKey: "sk-elsewhere", maxRetries: 0 }).responses.create({
            ...asked,
            model,
            input: "Plan the refactoring."
          })
        )
        const input: Array<OpenAI.Responses.ResponseInputItem> = [
          { role: "user", content: "Plan the refactoring." },
          ...replayed(foreign.output),
          { role: "user", content: "Go on." }
        ]
        for (const stream of [false, true]) {
          const before = counts(recorded)
          if (stream) {
            const events = yield* promise(async () => {
              const out: Array<string> = []
              for await (const event of await client.responses.create({ ...asked, input, stream: true })) {
                out.push(event.type)
              }
              return out
            })
            expect(events.at(-1)).toBe("response.completed")
          } else {
            expect((yield* create(client, { ...asked, input })).output_text.length).toBeGreaterThan(0)
          }
          // Two requests to the deployment: the items as they came, refused; then the call without them.
          const after = counts(recorded)
          expect(after[0]! + after[1]! - before[0]! - before[1]!).toBe(2)
        }
      })),
    60_000
  )
})
