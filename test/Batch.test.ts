import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Batch from "../src/Batch.js"
import type * as ChatRequest from "../src/ChatRequest.js"
import type { ChatResponse } from "../src/ChatResponse.js"
import { reconcile } from "../src/internal/batch/reconcile.js"
import { customIdPattern } from "../src/internal/wire/batch.js"
import * as KeyPool from "../src/KeyPool.js"
import * as LlmError from "../src/LlmError.js"
import * as Message from "../src/Message.js"
import type { OptionsError } from "../src/OptionsError.js"
import * as Pricing from "../src/Pricing.js"
import type * as ProviderClient from "../src/ProviderClient.js"
import * as ProviderClientTag from "../src/ProviderClient.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as AzureOpenAi from "../src/providers/AzureOpenAi.js"
import * as Bedrock from "../src/providers/Bedrock.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAiChat from "../src/providers/OpenAiChat.js"
import * as Vertex from "../src/providers/Vertex.js"
import * as SimulatedBedrock from "../src/simulator/Bedrock.js"
import * as Simulator from "../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { eventually } from "./utils/eventually.js"
import { limiterLayerInMemory, registryInMemory } from "./utils/memoryStores.js"

const key = "sk-test-batch-0001"
// Long bounds: the tests move the TestClock while a request is on the wire.
const limits = { timeout: "1 day", headersTimeout: "1 day" } as const

interface Dialect {
  readonly name: string
  readonly model: string
  /** How a batch the provider refuses fails: after its creation (`BatchError`), or at it (Anthropic's 400). */
  readonly refusedAs?: "BatchError" | "InvalidRequestError"
  readonly client: (
    url: string,
    headers: Record<string, string>
  ) => Layer.Layer<ProviderClient.ProviderClient, OptionsError, HttpClient.HttpClient>
}

/** A Bedrock client whose batches go to the simulator's control plane and S3, signed with its test credentials. */
const bedrockClient = (url: string, headers: Record<string, string>) =>
  Bedrock.layer({
    baseUrl: url,
    region: "us-east-1",
    headers,
    ...limits,
    batch: {
      roleArn: "arn:aws:iam::123456789012:role/batch-inference",
      inputUri: "s3://batch-input/requests/",
      outputUri: "s3://batch-output/results",
      endpoint: url,
      s3Endpoint: `${url}/s3`
    }
  }).pipe(Layer.provide(Layer.succeed(Bedrock.Credentials, () => Promise.resolve(SimulatedBedrock.testCredentials))))

/** A Vertex client whose batches go to the simulator's jobs and Cloud Storage, with a credential giving the key. */
const vertexClient = (url: string, headers: Record<string, string>) =>
  Vertex.layer({
    project: "my-proj",
    location: "us-central1",
    baseUrl: url,
    headers,
    ...limits,
    batch: { inputUri: "gs://batch-input/requests/", outputUri: "gs://batch-output/results", storageEndpoint: url }
  }).pipe(Layer.provide(Layer.succeed(Vertex.Credential, { getAccessToken: () => Promise.resolve({ token: key }) })))

const dialects: ReadonlyArray<Dialect> = [
  {
    name: "OpenAI files and batches",
    model: "gpt-4o-mini",
    refusedAs: "BatchError",
    client: (url, headers) => OpenAiChat.layer({ baseUrl: `${url}/v1`, headers, ...limits })
  },
  {
    name: "Azure OpenAI's global batch (v1 API)",
    model: "gpt-4o-mini",
    refusedAs: "BatchError",
    client: (url, headers) => AzureOpenAi.layer({ baseUrl: url, batches: true, headers, ...limits })
  },
  {
    name: "Azure OpenAI's global batch (a dated API version)",
    model: "gpt-4o-mini",
    refusedAs: "BatchError",
    client: (url, headers) =>
      AzureOpenAi.layer({ baseUrl: url, apiVersion: "2024-10-21", batches: true, headers, ...limits })
  },
  {
    name: "Anthropic Message Batches",
    model: "claude-haiku-4-5",
    refusedAs: "InvalidRequestError",
    client: (url, headers) => Anthropic.layer({ baseUrl: url, headers, ...limits })
  },
  {
    name: "Gemini batch mode",
    model: "gemini-2.5-flash",
    refusedAs: "BatchError",
    client: (url, headers) => Gemini.layer({ baseUrl: url, headers, ...limits })
  },
  {
    name: "Bedrock batch inference",
    model: "anthropic.claude-haiku-4-5-20251001-v1:0",
    refusedAs: "BatchError",
    client: bedrockClient
  },
  {
    name: "Vertex AI batch prediction",
    model: "gemini-2.5-flash",
    refusedAs: "BatchError",
    client: vertexClient
  }
]

const requests = (count: number): ReadonlyArray<ChatRequest.Input> =>
  Array.from({ length: count }, (_, index) => ({ messages: [Message.user(`Question ${index}`)] }))

function layerOf(
  client: Layer.Layer<ProviderClient.ProviderClient, OptionsError, HttpClient.HttpClient>,
  model: string
) {
  return Batch.layer({ model, poll: "1 second" }).pipe(
    Layer.provide(client),
    Layer.provide(KeyPool.layer({ providerId: "batch", keys: [key] })),
    Layer.provide(registryInMemory),
    Layer.provide(limiterLayerInMemory({ capacity: 1_000, refillRate: 1_000 })),
    Layer.provide(UndiciHttpClient.layer())
  )
}

/** Runs `work` with a simulator and a `Batch` over `dialect`, the TestClock moved a second at a time until it ends. */
function withBatch<A, E>(
  dialect: Dialect,
  headers: Record<string, string>,
  work: Effect.Effect<A, E, Batch.Batch>,
  server: Simulator.Options["server"] = "node",
  known: ReadonlyArray<string> = [dialect.model]
) {
  return Effect.scoped(Effect.gen(function*() {
    const sim = yield* Simulator.make({
      apiKeys: [key, SimulatedBedrock.testCredentials.accessKeyId],
      models: known,
      server
    })
    const fiber = yield* Effect.forkChild(
      Effect.provide(work, layerOf(dialect.client(sim.url, headers), dialect.model))
    )
    yield* eventually(
      "the batch to end",
      Effect.andThen(TestClock.adjust("1 second"), Effect.sync(() => fiber.pollUnsafe())),
      (exit) => exit !== undefined
    )
    return yield* Fiber.join(fiber)
  }))
}

function successes(outcomes: ReadonlyArray<Batch.Outcome>) {
  return outcomes.map((outcome) => Result.isSuccess(outcome) ? outcome.success : undefined)
}

function failureTags(outcomes: ReadonlyArray<Batch.Outcome>) {
  return outcomes.map((outcome) => Result.isFailure(outcome) ? outcome.failure._tag : "ok")
}

describe.each(dialects)("Batch over the simulator's $name", (dialect) => {
  it.effect("answers every request in order, each at the batch price", () =>
    Effect.gen(function*() {
      const outcomes = yield* withBatch(dialect, {}, Batch.run(requests(3)))
      const replies = successes(outcomes)
      expect(replies).toHaveLength(3)
      const price = Pricing.lookup(dialect.model)!
      for (const reply of replies) {
        expect(reply).toBeDefined()
        expect(reply!.usage.serviceTier).toBe(Pricing.batchTier)
        const standard = Pricing.cost(price, { ...reply!.usage, serviceTier: undefined })!
        expect(reply!.cost).toBeCloseTo(standard / 2, 12)
      }
    }))

  it.effect("streams each line, with the provider's progress before them", () =>
    Effect.gen(function*() {
      const events = yield* withBatch(
        dialect,
        { [Simulator.batchFaultHeader]: "slow=3000" },
        Stream.runCollect(Batch.events(requests(4)))
      )
      const progress = events.filter((event): event is Batch.Progress => event._tag === "Progress")
      const lines = events.filter((event): event is Batch.Line => event._tag === "Line")
      expect(progress[0]!.state).toBe("running")
      expect(progress.at(-1)).toMatchObject({ state: "completed", total: 4, succeeded: 4, failed: 0 })
      // Counted as the batch goes: never down, and some polls saw it part done.
      const done = progress.map((p) => p.succeeded + p.failed)
      expect(done).toEqual([...done].sort((a, b) => a - b))
      expect(done.some((count) => count > 0 && count < 4)).toBe(true)
      expect(lines.map((line) => line.index).sort()).toEqual([0, 1, 2, 3])
    }))

  it.effect("gives a failed line its typed error, a missing one BatchLineError, a repeated one once", () =>
    Effect.gen(function*() {
      const faults = { [Simulator.batchFaultHeader]: "fail=1,missing=2,repeat=0+3" }
      const outcomes = yield* withBatch(dialect, faults, Batch.run(requests(4)))
      expect(failureTags(outcomes)).toEqual(["ok", "ProviderUnavailableError", "BatchLineError", "ok"])
      const missing = outcomes[2]!
      expect(Result.isFailure(missing) && missing.failure).toMatchObject({
        _tag: "BatchLineError",
        reason: "missing",
        index: 2,
        model: dialect.model
      })
    }))

  it.effect("types a line of a model the provider does not know ModelNotFoundError, as a call of it is", () =>
    Effect.gen(function*() {
      const outcomes = yield* withBatch(dialect, {}, Batch.run(requests(2)), "node", ["some-other-model"])
      expect(failureTags(outcomes)).toEqual(["ModelNotFoundError", "ModelNotFoundError"])
      expect(Result.isFailure(outcomes[0]!) && outcomes[0].failure).toMatchObject({ model: dialect.model })
    }))

  it.effect("gives the lines an expired batch never ran BatchLineError of reason expired", () =>
    Effect.gen(function*() {
      const outcomes = yield* withBatch(dialect, { [Simulator.batchFaultHeader]: "expire" }, Batch.run(requests(4)))
      expect(failureTags(outcomes)).toEqual(["ok", "ok", "BatchLineError", "BatchLineError"])
      expect(outcomes.slice(2).map((outcome) => Result.isFailure(outcome) && outcome.failure)).toMatchObject([
        { reason: "expired", index: 2 },
        { reason: "expired", index: 3 }
      ])
    }))
})

describe.each(dialects)("Batch refused by the simulator's $name", (dialect) => {
  it.effect("fails the batch with the provider's refusal, typed, and no line", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        withBatch(dialect, { [Simulator.batchFaultHeader]: "refuse" }, Batch.run(requests(2)))
      )
      expect(error._tag).toBe(dialect.refusedAs)
      expect(error).toMatchObject(
        dialect.refusedAs === "BatchError"
          ? { reason: "refused", model: dialect.model, detail: expect.stringContaining("refuse asked") }
          : { model: dialect.model }
      )
    }))
})

describe("Batch without a provider batch API", () => {
  it.effect("runs the requests as calls, with the same result shape at the standard price", () =>
    Effect.gen(function*() {
      const dialect: Dialect = {
        name: "an OpenAI-compatible server",
        model: "gpt-4o-mini",
        client: (url, headers) => OpenAiChat.layer({ baseUrl: `${url}/v1`, provider: "local", headers, ...limits })
      }
      const events = yield* withBatch(dialect, {}, Stream.runCollect(Batch.events(requests(3))))
      const lines = events.filter((event): event is Batch.Line => event._tag === "Line")
      expect(lines.map((line) => line.index).sort()).toEqual([0, 1, 2])
      for (const line of lines) {
        const reply = Result.getOrThrow(line.result)
        expect(reply.usage.serviceTier).toBeUndefined()
        expect(reply.cost).toBe(Pricing.cost(Pricing.lookup("gpt-4o-mini"), reply.usage))
      }
      expect(events.at(-1)).toMatchObject({ _tag: "Progress", state: "completed", total: 3, succeeded: 3 })
    }))
})

describe("Batch's result files", () => {
  // Each line's fate in the result file: answered, failed, missing, or written more than once.
  const fates = fc.integer({ min: 1, max: 6 }).chain((count) =>
    fc.record({
      dialect: fc.constantFrom(...dialects),
      fates: fc.array(fc.constantFrom("ok", "fail", "missing", "repeat"), { minLength: count, maxLength: count })
    })
  )

  it("gives each request one outcome whatever lines the file misses, repeats or fails", () =>
    fc.assert(
      fc.asyncProperty(fates, ({ dialect, fates }) => {
        const indices = (fate: string) => fates.flatMap((f, index) => f === fate ? [index] : []).join("+")
        const faults = [["fail", indices("fail")], ["missing", indices("missing")], ["repeat", indices("repeat")]]
          .filter(([, list]) => list !== "")
          .map(([name, list]) => `${name}=${list}`)
          .join(",")
        const headers = faults === "" ? {} : { [Simulator.batchFaultHeader]: faults }
        return Effect.runPromise(
          withBatch(dialect, headers, Batch.run(requests(fates.length))).pipe(
            Effect.map((outcomes) => {
              expect(failureTags(outcomes)).toEqual(
                fates.map((fate) =>
                  fate === "fail" ? "ProviderUnavailableError" : fate === "missing" ? "BatchLineError" : "ok"
                )
              )
              const ids = successes(outcomes).flatMap((reply) => reply === undefined ? [] : [reply.id])
              expect(new Set(ids).size).toBe(ids.length)
            }),
            Effect.provide(TestClock.layer())
          )
        )
      }),
      { numRuns: 40 }
    ))

  // The same lines in any order, with or without their custom ids (Gemini's inlined responses may carry none).
  const files = fc.integer({ min: 1, max: 8 }).chain((count) =>
    fc.record({
      count: fc.constant(count),
      lines: fc.array(
        fc.record({ index: fc.integer({ min: 0, max: count + 1 }), failed: fc.boolean() }),
        { maxLength: 3 * count }
      ),
      keyed: fc.boolean(),
      state: fc.constantFrom<ProviderClient.BatchState>("completed", "expired", "cancelled")
    })
  )

  it("reconciles lines in any order: the first of a custom id counts, an unknown one is dropped", () =>
    fc.assert(fc.property(files, ({ count, keyed, lines, state }) => {
      const customIds = Array.from({ length: count }, (_, index) => `line-${index}`)
      const read: Array<ProviderClient.BatchLine> = lines.map(({ failed, index }, position) => ({
        customId: keyed ? `line-${index}` : undefined,
        position: keyed ? position : index,
        outcome: failed
          ? Result.fail(new LlmError.ProviderUnavailableError({ provider: "p", model: "m", detail: `${position}` }))
          : Result.succeed({ id: `${position}` } as ChatResponse)
      }))
      const outcomes = reconcile(
        { provider: "p", model: "m", batchId: "b", customIds, state },
        read,
        (_, response) => response
      )
      expect(outcomes).toHaveLength(count)
      for (const [index, outcome] of outcomes.entries()) {
        const first = lines.findIndex((line) => line.index === index)
        if (first < 0) {
          expect(Result.isFailure(outcome) && outcome.failure).toMatchObject({
            _tag: "BatchLineError",
            index,
            reason: state === "completed" ? "missing" : state
          })
        } else if (lines[first]!.failed) {
          expect(Result.isFailure(outcome) && outcome.failure).toMatchObject({ detail: `${first}` })
        } else {
          expect(Result.isSuccess(outcome) && outcome.success.id).toBe(`${first}`)
        }
      }
    })))
})

describe("Batch interrupted", () => {
  it.effect("cancels the provider's batch, so it runs and bills no more of it", () =>
    Effect.scoped(Effect.gen(function*() {
      const dialect = dialects[3]!
      const sim = yield* Simulator.make({ apiKeys: [key], models: [dialect.model] })
      let batchId: string | undefined
      const headers = { [Simulator.batchFaultHeader]: "slow=600000" }
      const fiber = yield* Effect.forkChild(
        Batch.events(requests(3)).pipe(
          Stream.runForEach((event) => Effect.sync(() => event._tag === "Progress" && (batchId = event.batchId))),
          Effect.provide(layerOf(dialect.client(sim.url, headers), dialect.model))
        )
      )
      yield* eventually(
        "the batch to be created",
        Effect.andThen(TestClock.adjust("1 second"), Effect.sync(() => batchId)),
        (id) => id !== undefined
      )
      yield* Fiber.interrupt(fiber)
      const answer = yield* Effect.promise(() =>
        fetch(`${sim.url}/v1/messages/batches/${batchId}`, { headers: { "x-api-key": key } }).then((r) => r.json())
      )
      expect(answer).toMatchObject({ processing_status: "ended", request_counts: { canceled: 3, succeeded: 0 } })
    })))
})

/** A cloud's batch job as its API shows it, read or stopped by its id (Bedrock's ARN, Vertex's name). */
interface Cloud {
  readonly dialect: Dialect
  readonly job: (url: string, id: string) => Promise<unknown>
  readonly stop: (url: string, id: string) => Promise<unknown>
  /** What a job stopped before any line ran shows of itself. */
  readonly stopped: Record<string, unknown>
}

const bearer = { authorization: `Bearer ${key}` }
const bedrockJob = (url: string, jobArn: string) => `${url}/model-invocation-job/${encodeURIComponent(jobArn)}`

const clouds: ReadonlyArray<Cloud> = [
  {
    dialect: dialects.find((d) => d.name === "Bedrock batch inference")!,
    job: (url, id) => fetch(bedrockJob(url, id), { headers: bearer }).then((r) => r.json()),
    stop: (url, id) =>
      fetch(`${bedrockJob(url, id)}/stop`, { method: "POST", headers: bearer, body: "{}" }).then((r) => r.text()),
    stopped: { status: "Stopped", processedRecordCount: 0, totalRecordCount: 3 }
  },
  {
    dialect: dialects.find((d) => d.name === "Vertex AI batch prediction")!,
    job: (url, id) => fetch(`${url}/v1/${id}`, { headers: bearer }).then((r) => r.json()),
    stop: (url, id) =>
      fetch(`${url}/v1/${id}:cancel`, { method: "POST", headers: bearer, body: "{}" }).then((r) => r.json()),
    stopped: {
      state: "JOB_STATE_CANCELLED",
      completionStats: { successfulCount: "0", failedCount: "0", incompleteCount: "3" }
    }
  }
]

describe.each(clouds)("Batch over $dialect.name, ended early", ({ dialect, job, stop, stopped }) => {
  function simulator() {
    return Simulator.make({ apiKeys: [key, SimulatedBedrock.testCredentials.accessKeyId], models: [dialect.model] })
  }

  it.effect("reads a job that expired before it began, with no results file, as every line expired", () =>
    Effect.gen(function*() {
      // One line: the expired job runs none of it, and writes no results.
      const outcomes = yield* withBatch(dialect, { [Simulator.batchFaultHeader]: "expire" }, Batch.run(requests(1)))
      expect(Result.isFailure(outcomes[0]!) && outcomes[0].failure).toMatchObject({
        _tag: "BatchLineError",
        reason: "expired",
        index: 0
      })
    }))

  it.effect("runs over the simulator's platform server too, which reads an upload's body as the plain listener does", () =>
    Effect.gen(function*() {
      const outcomes = yield* withBatch(dialect, {}, Batch.run(requests(2)), "platform")
      expect(failureTags(outcomes)).toEqual(["ok", "ok"])
    }))

  it.effect("gives the lines a job stopped mid-way never ran BatchLineError of reason cancelled", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* simulator()
      const events: Array<Batch.Event> = []
      const fiber = yield* Effect.forkChild(
        Batch.events(requests(4)).pipe(
          Stream.runForEach((event) => Effect.sync(() => events.push(event))),
          Effect.provide(layerOf(dialect.client(sim.url, { [Simulator.batchFaultHeader]: "slow=8000" }), dialect.model))
        )
      )
      // Stopped by someone else once half its lines have run (two of four, eight seconds for the four).
      yield* eventually(
        "half the job to run",
        Effect.andThen(TestClock.adjust("1 second"), Effect.sync(() => events.at(-1))),
        (event) => event?._tag === "Progress" && event.succeeded >= 2
      )
      const jobId = (events[0] as Batch.Progress).batchId!
      yield* Effect.promise(() => stop(sim.url, jobId))
      yield* eventually(
        "the batch to end",
        Effect.andThen(TestClock.adjust("1 second"), Effect.sync(() => fiber.pollUnsafe())),
        (exit) => exit !== undefined
      )
      const lines = events.filter((event): event is Batch.Line => event._tag === "Line")
      const cancelled = lines.filter((line) => Result.isFailure(line.result))
      expect(lines).toHaveLength(4)
      expect(cancelled.length).toBeGreaterThan(0)
      for (const line of cancelled) {
        expect(Result.isFailure(line.result) && line.result.failure).toMatchObject({
          _tag: "BatchLineError",
          reason: "cancelled",
          batchId: jobId,
          index: line.index
        })
      }
      expect(events.filter((event) => event._tag === "Progress").at(-1)).toMatchObject({ state: "cancelled" })
    })))

  it.effect("stops the job when its consumer leaves, so the cloud runs and bills no more of it", () =>
    Effect.scoped(Effect.gen(function*() {
      const sim = yield* simulator()
      let jobId: string | undefined
      const fiber = yield* Effect.forkChild(
        Batch.events(requests(3)).pipe(
          Stream.runForEach((event) => Effect.sync(() => event._tag === "Progress" && (jobId = event.batchId))),
          Effect.provide(
            layerOf(dialect.client(sim.url, { [Simulator.batchFaultHeader]: "slow=600000" }), dialect.model)
          )
        )
      )
      yield* eventually(
        "the job to be created",
        Effect.andThen(TestClock.adjust("1 second"), Effect.sync(() => jobId)),
        (id) => id !== undefined
      )
      yield* Fiber.interrupt(fiber)
      expect(yield* Effect.promise(() => job(sim.url, jobId!))).toMatchObject(stopped)
    })))
})

describe("Batch over Vertex AI's batch prediction, its lines named by labels", () => {
  const dialect = dialects.find((d) => d.name === "Vertex AI batch prediction")!

  /** A job of a request under each custom id, run to its end: each custom id its results name, and its outcome. */
  const linesOf = (customIds: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const { batch } = yield* ProviderClientTag.ProviderClient
      const credentials = ProviderClientTag.credentials(key)
      const questions = customIds.map((customId) => ({ customId, request: { messages: [Message.user("Hi")] } }))
      const submitted = yield* batch!.submit(questions, dialect.model, credentials)
      const ended = yield* eventually(
        "the job to end",
        Effect.andThen(TestClock.adjust("1 second"), batch!.retrieve(submitted.id, dialect.model, credentials)),
        (status) => status.state !== "running"
      )
      const lines = yield* batch!.results(ended, dialect.model, credentials)
      expect(lines.map((line) => line.customId).sort()).toEqual([...customIds].sort())
      for (const line of lines) expect(typeof line.outcome !== "string" && Result.isSuccess(line.outcome)).toBe(true)
    })
  // Every custom id the batch APIs take (the gateway passes its clients' own), several to a batch, none twice.
  const batches = fc.uniqueArray(fc.stringMatching(customIdPattern), { minLength: 1, maxLength: 5 })

  it("gives each line back under the custom id it was submitted with, whatever its case, underscores or length", () =>
    fc.assert(
      fc.asyncProperty(batches, (customIds) =>
        Effect.runPromise(
          Effect.scoped(Effect.gen(function*() {
            const sim = yield* Simulator.make({ apiKeys: [key], models: [dialect.model] })
            const client = Layer.provide(dialect.client(sim.url, {}), UndiciHttpClient.layer())
            return yield* Effect.provide(linesOf(customIds), client)
          })).pipe(Effect.provide(TestClock.layer()))
        )),
      { numRuns: 25 }
    ))
})

describe("Batch's polls", () => {
  it.effect("tries a poll again after a failure that can pass, the batch's lines still read", () =>
    Effect.gen(function*() {
      let failures = 0
      const dialect = dialects[0]!
      // The client's first two polls answered 503, as a provider's bad moment.
      const flaky: Dialect = {
        ...dialect,
        client: (url, headers) =>
          Layer.effect(
            ProviderClientTag.ProviderClient,
            Effect.map(ProviderClientTag.ProviderClient, (client): ProviderClient.Service => ({
              ...client,
              batch: {
                ...client.batch!,
                retrieve: (id, model, credentials) =>
                  Effect.suspend(() =>
                    failures++ < 2
                      ? Effect.fail(
                        new LlmError.ProviderUnavailableError({ provider: client.provider, model, detail: "503" })
                      )
                      : client.batch!.retrieve(id, model, credentials)
                  )
              }
            }))
          ).pipe(Layer.provide(dialect.client(url, headers)))
      }
      const outcomes = yield* withBatch(flaky, {}, Batch.run(requests(2)))
      expect(failures).toBeGreaterThan(2)
      expect(failureTags(outcomes)).toEqual(["ok", "ok"])
    }))
})
