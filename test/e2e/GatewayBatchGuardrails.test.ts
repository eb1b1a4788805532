/**
 * A batch's requests and results through the guardrails a call of its model runs (docs/batch.md, "Guardrails"), over
 * loopback with the official `openai` and `@anthropic-ai/sdk` clients against the simulator, on both batch paths (a
 * deployment with a batch API, and one whose batches the gateway runs as calls): a request holding a secret refuses
 * the batch at create, naming its custom id, with nothing sent upstream; a reply holding one is never served, each
 * line its error in the wire's own shape; an e-mail address is masked both ways. And a batch's lines reported past
 * their bound (a scenario's usage, as a provider counting more than it was asked to make) are charged its hold.
 */
import type Anthropic from "@anthropic-ai/sdk"
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type OpenAI from "openai"
import type * as Gateway from "../../src/Gateway.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  adminRead,
  anthropicClient,
  batchSimulator,
  create,
  instances,
  lineRows,
  messageResults,
  onSimulator,
  openAiClient,
  providerBatchOf,
  refusal,
  sqliteFile,
  upload
} from "../utils/batchGateways.js"
import { eventually } from "../utils/eventually.js"
import { recordingProxy } from "../utils/recordingProxy.js"

const secret = "AKIAIOSFODNN7EXAMPLE"
const email = "ada@example.com"
const leaky = `Here is the access key ${secret} for the bucket.`
const personal = `Write to ${email} today.`
const guardedKey = "gw-batch-guarded-6a8c0e2b4d1f3a5c"
const payerKey = "gw-batch-overbilled-3c5e7a9b1d2f4a6e"

/** A model of each reply on each path: a provider's batch API, or the gateway's calls. */
const models = {
  openai: { leaky: "leaky-batch", personal: "personal-batch" },
  anthropic: { leaky: "leaky-messages", personal: "personal-messages" },
  calls: { leaky: "leaky-calls", personal: "personal-calls" }
} as const

/** The scenario whose replies report a million output tokens, whatever the request's `max_tokens`. */
const overbilled = { turns: [{ text: "Counted past its bound.", usage: { output: 1_000_000 } }] }

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  /** The bodies the simulator was sent. */
  readonly upstream: ReadonlyArray<string>
}>()("test/GatewayBatchGuardrails") {}

const replying = (text: string) => ({ headers: { "x-simulator-reply": encodeURIComponent(text) } })

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* batchSimulator({
      models: [...Simulator.defaultModels, "gpt-4.1-mini", ...Object.values(models).flatMap(Object.values)],
      scenarios: { overbilled }
    })
    const proxy = yield* recordingProxy(simulator.url, "/")
    const openai = { base_url: `${proxy.url}/v1`, api_keys: onSimulator(simulator).api_keys, max_retries: 0 }
    const anthropic = { ...openai, api: "anthropic", base_url: proxy.url }
    const overbilling = { headers: { [Simulator.scenarioHeader]: "overbilled" } }
    const [gateway] = yield* instances({
      guardrails: {
        "no-secrets": { checks: ["secrets"], action: "block" },
        pii: { checks: ["email"], action: "mask" }
      },
      // OpenAI's provider and Anthropic's: their batch APIs.
      openai: [
        { model_name: models.openai.leaky, ...openai, ...replying(leaky) },
        { model_name: models.openai.personal, ...openai, ...replying(personal) },
        { model_name: "gpt-4o-mini", ...openai, ...overbilling }
      ],
      anthropic: [
        { model_name: models.anthropic.leaky, ...anthropic, ...replying(leaky) },
        { model_name: models.anthropic.personal, ...anthropic, ...replying(personal) }
      ],
      // An OpenAI-compatible server of another provider: no batch API, its batches run as calls.
      sim: [
        { model_name: models.calls.leaky, ...openai, ...replying(leaky) },
        { model_name: models.calls.personal, ...openai, ...replying(personal) },
        { model_name: "gpt-4.1-mini", ...openai, ...overbilling }
      ]
    }, {
      // A database: the request log, whose rows of a batch's lines are read below.
      database: yield* sqliteFile,
      keys: [
        { name: "guarded", key: Redacted.make(guardedKey), guardrails: ["no-secrets", "pii"] },
        {
          name: "payer",
          key: Redacted.make(payerKey),
          models: ["gpt-4o-mini", "gpt-4.1-mini"],
          budget: { limit: 1, period: "1 day" }
        }
      ]
    })
    return { gateway: gateway!, upstream: proxy.bodies }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

/** An input file of a line of `model` for each prompt, custom ids `req-<i>`. */
const inputOf = (model: string, prompts: ReadonlyArray<string>) =>
  prompts.map((content, i) =>
    JSON.stringify({
      custom_id: `req-${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model, max_tokens: 50, messages: [{ role: "user", content }] }
    })
  ).join("\n")

/** Message batch requests of `model`, one for each prompt, custom ids `req-<i>`. */
const requestsOf = (model: string, prompts: ReadonlyArray<string>) =>
  prompts.map((content, i) => ({
    custom_id: `req-${i}`,
    params: { model, max_tokens: 50, messages: [{ role: "user" as const, content }] }
  }))

/** The OpenAI batch `id` read until it completed: its output and error files' texts. */
const filesOf = (openai: OpenAI, id: string) =>
  Effect.gen(function*() {
    const done = yield* eventually(
      "the batch completed",
      Effect.promise(() => openai.batches.retrieve(id)),
      (read) => read.status === "completed",
      { every: "50 millis" }
    )
    const text = (file: string | null | undefined) =>
      file === null || file === undefined
        ? Effect.succeed("")
        : Effect.promise(() => openai.files.content(file).then((reply) => reply.text()))
    return { output: yield* text(done.output_file_id), errors: yield* text(done.error_file_id) }
  })

/** The message batch `id` read until it ended: its results. */
const resultsOf = (anthropic: Anthropic, id: string) =>
  Effect.andThen(
    eventually(
      "the batch ended",
      Effect.promise(() => anthropic.messages.batches.retrieve(id)),
      (read) => read.processing_status === "ended",
      { every: "50 millis" }
    ),
    messageResults(anthropic, id)
  )

const linesOf = (text: string) => text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line))

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway batches through the guardrails, over loopback with the official clients",
  (it) => {
    for (const path of ["openai", "calls"] as const) {
      const { leaky: leakyModel, personal: personalModel } = models[path]
      describe(`openai's batches of ${leakyModel}, ${personalModel}`, () => {
        it.effect("a request holding a secret refuses the batch at create, naming its custom id; nothing is sent", () =>
          Effect.gen(function*() {
            const { gateway, upstream } = yield* Fixture
            const openai = openAiClient(gateway, guardedKey)
            const listed = (yield* Effect.promise(() => openai.batches.list())).data.length
            const file = yield* upload(openai, inputOf(personalModel, ["Hello", `Use ${secret} please`]))
            const refused = yield* refusal(() => create(openai, file.id))
            expect(refused.status).toBe(400)
            expect(refused.code).toBe("guardrail_blocked")
            expect(refused.message).toContain("custom_id req-1")
            expect(refused.message).toContain(`Guardrail "no-secrets" blocked the request`)
            expect(refused.message).not.toContain(secret)
            expect(upstream.filter((body) => body.includes(secret))).toEqual([])
            expect((yield* Effect.promise(() => openai.batches.list())).data.length).toBe(listed)
          }))

        it.effect("a reply holding a secret is never served: each line is its error in the error file", () =>
          Effect.gen(function*() {
            const { gateway } = yield* Fixture
            const openai = openAiClient(gateway, guardedKey)
            const file = yield* upload(openai, inputOf(leakyModel, ["Hello", "Hi"]))
            const batch = yield* Effect.promise(() => create(openai, file.id))
            const { errors, output } = yield* filesOf(openai, batch.id)
            expect(output).toBe("")
            expect(errors).not.toContain(secret)
            const lines = linesOf(errors)
            expect(lines.map((line) => line.custom_id).sort()).toEqual(["req-0", "req-1"])
            for (const { response } of lines) {
              expect(response.status_code).toBe(400)
              expect(response.body.error.code).toBe("guardrail_blocked")
              expect(response.body.error.message).toContain(`Guardrail "no-secrets" blocked the reply`)
            }
          }))

        it.effect("an e-mail address is masked in what is sent and in the reply served", () =>
          Effect.gen(function*() {
            const { gateway, upstream } = yield* Fixture
            const openai = openAiClient(gateway, guardedKey)
            const asked = `Mail me at ${email}, from ${path}`
            const file = yield* upload(openai, inputOf(personalModel, [asked]))
            const batch = yield* Effect.promise(() => create(openai, file.id))
            const { errors, output } = yield* filesOf(openai, batch.id)
            expect(errors).toBe("")
            const [line] = linesOf(output)
            expect(line.response.body.choices[0].message.content).toBe("Write to [REDACTED:email] today.")
            const sent = upstream.filter((body) => body.includes(`from ${path}`))
            expect(sent.length).toBeGreaterThan(0)
            for (const body of sent) {
              expect(body).not.toContain(email)
              expect(body).toContain("[REDACTED:email]")
            }
          }))
      })
    }

    for (const path of ["anthropic", "calls"] as const) {
      const { leaky: leakyModel, personal: personalModel } = models[path]
      describe(`@anthropic-ai/sdk's message batches of ${leakyModel}, ${personalModel}`, () => {
        it.effect("a request holding a secret refuses the batch at create, naming its custom id; nothing is sent", () =>
          Effect.gen(function*() {
            const { gateway, upstream } = yield* Fixture
            const anthropic = anthropicClient(gateway, guardedKey)
            const listed = (yield* Effect.promise(() => anthropic.messages.batches.list())).data.length
            const refused = yield* refusal<InstanceType<typeof Anthropic.APIError>>(() =>
              anthropic.messages.batches.create({ requests: requestsOf(personalModel, ["Hello", `Use ${secret}`]) })
            )
            expect(refused.status).toBe(400)
            expect(refused.error).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })
            const { message } = (refused.error as { readonly error: { readonly message: string } }).error
            expect(message).toContain("custom_id req-1")
            expect(message).toContain(`Guardrail "no-secrets" blocked the request`)
            expect(message).not.toContain(secret)
            expect(upstream.filter((body) => body.includes(secret))).toEqual([])
            expect((yield* Effect.promise(() => anthropic.messages.batches.list())).data.length).toBe(listed)
          }))

        it.effect("a reply holding a secret is never served: each line is errored in the results", () =>
          Effect.gen(function*() {
            const { gateway } = yield* Fixture
            const anthropic = anthropicClient(gateway, guardedKey)
            const batch = yield* Effect.promise(() =>
              anthropic.messages.batches.create({ requests: requestsOf(leakyModel, ["Hello", "Hi"]) })
            )
            const results = yield* resultsOf(anthropic, batch.id)
            expect(JSON.stringify(results)).not.toContain(secret)
            expect(results.map((line) => line.custom_id).sort()).toEqual(["req-0", "req-1"])
            for (const { result } of results) {
              expect(result).toMatchObject({
                type: "errored",
                error: { type: "error", error: { type: "invalid_request_error" } }
              })
              if (result.type === "errored") {
                expect(result.error.error.message).toContain(`Guardrail "no-secrets" blocked the reply`)
              }
            }
          }))

        it.effect("an e-mail address is masked in what is sent and in the reply served", () =>
          Effect.gen(function*() {
            const { gateway, upstream } = yield* Fixture
            const anthropic = anthropicClient(gateway, guardedKey)
            const asked = `Mail me at ${email}, from ${path} messages`
            const batch = yield* Effect.promise(() =>
              anthropic.messages.batches.create({ requests: requestsOf(personalModel, [asked]) })
            )
            const [line] = yield* resultsOf(anthropic, batch.id)
            expect(line!.result.type).toBe("succeeded")
            if (line!.result.type === "succeeded") {
              expect(line!.result.message.content).toEqual([
                expect.objectContaining({ type: "text", text: "Write to [REDACTED:email] today." })
              ])
            }
            const sent = upstream.filter((body) => body.includes(`from ${path} messages`))
            expect(sent.length).toBeGreaterThan(0)
            for (const body of sent) {
              expect(body).not.toContain(email)
              expect(body).toContain("[REDACTED:email]")
            }
          }))
      })
    }

    // A key's budget as the dashboard reads it.
    const budgetOf = (gateway: Gateway.Service) =>
      Effect.map(
        adminRead<{ readonly budgets: ReadonlyArray<{ key: string; spent: number; reserved: number }> }>(
          gateway,
          "/dashboard/data"
        ),
        (data) => data.budgets.find((budget) => budget.key === "payer")!
      )

    for (const model of ["gpt-4o-mini", "gpt-4.1-mini"]) {
      it.effect(`a bounded line of ${model} reported past its bound is charged no more than its reservation`, () =>
        Effect.gen(function*() {
          const { gateway } = yield* Fixture
          const openai = openAiClient(gateway, payerKey)
          const before = yield* budgetOf(gateway)
          const file = yield* upload(openai, inputOf(model, ["Hello"]))
          const batch = yield* Effect.promise(() => create(openai, file.id))
          // Held from its create until it is settled: its one line's worst case, its prompt and 50 max_tokens.
          const reserved = (yield* budgetOf(gateway)).reserved - before.reserved
          expect(reserved).toBeGreaterThan(0)
          const settled = yield* eventually(
            "the batch settled",
            Effect.andThen(Effect.promise(() => openai.batches.retrieve(batch.id)), budgetOf(gateway)),
            (budget) => budget.spent > before.spent,
            { every: "50 millis" }
          )
          expect(settled.spent - before.spent).toBeCloseTo(reserved, 12)
          expect(settled.reserved).toBeCloseTo(before.reserved, 12)
          // Its row in the request log is what the provider reported: a million output tokens, past the hold.
          const [row] = yield* eventually(
            "the line's row",
            lineRows(gateway, providerBatchOf(batch.id)),
            (rows) => rows.length === 1
          )
          expect(row!.output_tokens).toBe(1_000_000)
          expect(row!.cost!).toBeGreaterThan(reserved)
        }))
    }
  }
)
