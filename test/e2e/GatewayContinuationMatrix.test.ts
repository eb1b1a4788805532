/**
 * The failover suite's join through `serve`'s gateway, with the official `openai` client: a stream cut between words
 * (early and mid-way), at a sentence's end (after 40 words), inside a word, after a comma, and after a full stop that
 * a new line follows, continued on a fallback that goes on from the cut, one that starts its answer again, and one
 * that repeats the last words sent; streamed and not (24 cases). Whatever the cut and the fallback, the client reads one answer, word for word: the part sent
 * before the cut, then the fallback's continuation as a fallback that goes on from the cut gives it.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { answerTo, continuedFrom, question } from "../utils/continuationTurns.js"
import { gatewayClients } from "../utils/gatewayClients.js"
import { testAdmins } from "../utils/gatewayHarness.js"

const key = "sk-continue-matrix-0001"

class Fixture extends Context.Service<Fixture, { readonly openAi: OpenAI }>()("test/GatewayContinuationMatrix") {}

// A primary's own text, sent in pieces of at most four characters (the simulator's `x-simulator-reply`): a cut can
// fall inside a word, after a comma, or after a full stop that a new line follows.
const written = "Hello, world.\nThe quickest foxes jump"

// The cuts: after `reset` chunks of a reply of `tokens` words, or of `written`; `ends` tells the part sent before.
const cuts = {
  early: { reset: 3, tokens: 12, ends: /[a-z]$/ },
  midway: { reset: 8, tokens: 12, ends: /[a-z]$/ },
  sentence: { reset: 41, tokens: 40, ends: /\.$/ },
  inWord: { reset: 2, reply: written, ends: /^Hell$/ },
  comma: { reset: 3, reply: written, ends: /^Hello,$/ },
  line: { reset: 5, reply: written, ends: /^Hello, world\.$/ }
} as const
// The fallbacks: how each answers a continuation turn (the simulator's `continuation=<mode>`).
const modes = ["continue", "restart", "repeat"] as const

type Cut = keyof typeof cuts

// A deployment of `model` on the simulator over chat completions with the simulator's `headers`.
const deployment = (simulator: Simulator.Simulator, model: string, headers: Record<string, string>) => [{
  model_name: model,
  base_url: `${simulator.url}/v1`,
  api_keys: [key],
  max_retries: 0,
  headers
}]

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [key] })
    const providers: Record<string, unknown> = {}
    const router: Record<string, unknown> = {}
    for (const [cut, shape] of Object.entries(cuts)) {
      providers[cut] = deployment(simulator, "gpt-4o-mini", {
        "x-simulator-fault": `reset=${shape.reset}`,
        ...("reply" in shape
          ? { "x-simulator-reply": encodeURIComponent(shape.reply) }
          : { "x-simulator-reply-tokens": String(shape.tokens) })
      })
    }
    for (const mode of modes) {
      providers[mode] = deployment(simulator, "sim-large", {
        "x-simulator-fault": `continuation=${mode}`,
        "x-simulator-reply-tokens": "20"
      })
      for (const cut of Object.keys(cuts)) {
        router[`${cut}-then-${mode}`] = {
          deployments: [`${cut}/gpt-4o-mini`, `${mode}/sim-large`],
          strategy: "priority",
          cooldown: { failures: 100 }
        }
      }
    }
    const config = yield* ProviderConfig.fromJson({ ...providers, router })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      adminKeys: testAdmins
    })
    return { openAi: gatewayClients(gateway.url).openai }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

// The question streamed to `model`: the text the primary sent before its cut (the chunks naming its model) and all.
const streamed = (openAi: OpenAI, model: string) =>
  Effect.promise(async () => {
    const stream = await openAi.chat.completions.create({
      model,
      messages: [{ role: "user", content: question }],
      stream: true
    })
    let before = ""
    let text = ""
    let primary = true
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content ?? ""
      primary = primary && chunk.model === "gpt-4o-mini"
      if (primary) before += delta
      text += delta
    }
    return { before, text }
  })

// The simulator's words: letters, the last of a sentence with its full stop; none glued to the next.
const wordsOf = (text: string) => text.trim().split(/\s+/)
const word = /^[A-Za-z]+\.?$/

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway: a stream cut anywhere and continued by any fallback gives the client one answer, word for word",
  (it) => {
    for (const cut of Object.keys(cuts) as ReadonlyArray<Cut>) {
      for (const mode of modes) {
        it.effect(`streamed: cut ${cut}, a fallback that does "${mode}"`, () =>
          Effect.gen(function*() {
            const { openAi } = yield* Fixture
            const { before, text } = yield* streamed(openAi, `${cut}-then-${mode}`)
            expect(before).toMatch(cuts[cut].ends)
            // What a fallback that goes on from the cut adds, asked the continuation turn the gateway asks.
            const rest = yield* continuedFrom(openAi, "continue/sim-large", before)
            expect(text).toBe(before + rest)
            expect(wordsOf(text)).toHaveLength(wordsOf(before).length + wordsOf(rest).length)
            expect(wordsOf(rest).every((each) => word.test(each))).toBe(true)
            if (cut === "sentence") expect(wordsOf(before)).toHaveLength(40)
          }))
      }
    }
    for (const cut of Object.keys(cuts) as ReadonlyArray<Cut>) {
      it.effect(`not streamed: cut ${cut}, the fallback's whole answer`, () =>
        Effect.gen(function*() {
          const { openAi } = yield* Fixture
          const text = yield* answerTo(openAi, `${cut}-then-restart`)
          expect(text).toBe(yield* answerTo(openAi, "restart/sim-large"))
          expect(wordsOf(text)).toHaveLength(20)
          expect(wordsOf(text).every((each) => word.test(each))).toBe(true)
        }))
    }
  }
)
