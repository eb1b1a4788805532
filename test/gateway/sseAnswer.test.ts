import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Pull from "effect/Pull"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SseAnswer from "../../src/internal/gateway/chatAnswer.js"
import { Drain } from "../../src/internal/gateway/drain.js"
import * as Errors from "../../src/internal/gateway/errorAnswer.js"
import * as Metrics from "../../src/internal/gateway/observe/metrics.js"
import * as Request from "../../src/internal/gateway/request/context.js"
import type { Batch } from "../../src/internal/transport/chunkSource.js"
import { wirePath } from "../../src/internal/wire/openAiChat/codec.js"
import { errorEvent, errors, streamEncoder } from "../../src/internal/wire/openAiChat/writer.js"
import { type LlmError, StreamTruncatedError } from "../../src/LlmError.js"
import { finish, text } from "../utils/encoderChunks.js"

const failures: SseAnswer.Failures = Errors.failures(() => 0, errors, wirePath)

const hello: Batch = [{ _tag: "TextDelta", text: "Hello" }]
const whole: Batch = [{ _tag: "TextDelta", text: "Hello" }, finish()]
const truncated = new StreamTruncatedError({ provider: "p", model: "m", detail: "cut" })

// The rest of a stream: each of `outcomes` in turn (a batch, a failure, or the end), then the end.
const pullOf = (
  outcomes: ReadonlyArray<Batch | LlmError | Cause.Done>
): { pull: Pull.Pull<Batch, LlmError>; pulls: () => number } => {
  let pulls = 0
  const pull = Effect.suspend((): Pull.Pull<Batch, LlmError> => {
    const outcome = outcomes[pulls++]
    if (outcome === undefined || Cause.isDone(outcome)) return Cause.done()
    return Array.isArray(outcome) ? Effect.succeed(outcome as Batch) : Effect.fail(outcome as LlmError)
  })
  return { pull, pulls: () => pulls }
}

// The answer to a stream that opened with `first`, its request's outcome, its drain and what it ended at once (`endNow`).
const answerOf = (first: Batch, rest: Pull.Pull<Batch, LlmError>) =>
  Effect.gen(function*() {
    const context = Request.make({
      id: "id-1",
      method: "POST",
      url: "/v1/chat/completions",
      start: 0,
      caller: undefined,
      payload: false
    })
    const tally = Metrics.makeMetrics(Effect.die("unused"), () => 0).tally("/v1/chat/completions", 0)
    const drain = new Drain()
    const endedNow: Array<string> = []
    const response = SseAnswer.answer({
      encoder: streamEncoder("chatcmpl-id-1", "m", 1, false),
      first,
      rest,
      context,
      failures,
      tally,
      headers: { "cache-control": "no-cache", "x-request-id": "id-1" },
      scope: yield* Scope.make(),
      drain,
      endNow: (last) => endedNow.push(last === undefined ? "" : text(last))
    })
    return { response, outcome: context.outcome, drain, endedNow }
  })

// `answerOf`, with the body's text (a stream's collected).
const answered = (first: Batch, rest: Pull.Pull<Batch, LlmError>) =>
  Effect.gen(function*() {
    const { outcome, response } = yield* answerOf(first, rest)
    return { response, outcome, body: yield* bodyText(response) }
  })

const bodyText = (response: HttpServerResponse.HttpServerResponse) => {
  const body = response.body
  if (body._tag !== "Stream") return Effect.die(`unexpected body ${body._tag}`)
  return Effect.map(Stream.runCollect(Stream.orDie(body.stream)), (chunks) => chunks.map(text).join(""))
}

describe("the gateway's SSE answer", () => {
  it.effect("a first batch holding the Finish is one write of a stream body, which ends with the stream's end", () =>
    Effect.gen(function*() {
      const rest = pullOf([])
      const { outcome, response } = yield* answerOf(whole, rest.pull)
      // Nothing of the rest is pulled before the body's writer asks.
      expect(rest.pulls()).toBe(0)
      if (response.body._tag !== "Stream") return expect.unreachable(`a ${response.body._tag} body`)
      expect(response.headers).toMatchObject({
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        "x-request-id": "id-1"
      })
      const writes = yield* Stream.runCollect(Stream.orDie(response.body.stream))
      expect(writes).toHaveLength(1)
      const body = text(writes[0]!)
      expect(body).toContain(`"content":"Hello"`)
      expect(body).toContain(`"finish_reason":"stop"`)
      expect(body.endsWith("data: [DONE]\n\n")).toBe(true)
      expect(rest.pulls()).toBe(1)
      expect(outcome.deployment).toBe("p/m")
    }))

  it.effect(
    "a first batch holding the Finish whose end is not in hand goes out at once, the body ended when the end comes",
    () =>
      Effect.gen(function*() {
        const end = yield* Deferred.make<void>()
        let pulls = 0
        const rest = Effect.suspend((): Pull.Pull<Batch, LlmError> => {
          pulls++
          return Effect.andThen(Deferred.await(end), Cause.done())
        })
        const { response } = yield* answerOf(whole, rest)
        if (response.body._tag !== "Stream") return expect.unreachable(`a ${response.body._tag} body`)
        const chunks = yield* Stream.toPull(Stream.orDie(response.body.stream))
        // The answer is not held back by an upstream that keeps its body open.
        const answer = text((yield* chunks)[0]!)
        expect(answer).toContain(`"content":"Hello"`)
        expect(answer.endsWith("data: [DONE]\n\n")).toBe(true)
        const next = yield* Effect.forkChild(Effect.flip(chunks), { startImmediately: true })
        expect(pulls).toBe(1)
        yield* Deferred.succeed(end, undefined)
        expect(yield* Fiber.join(next)).toSatisfy(Cause.isDone)
        expect(pulls).toBe(1)
      }).pipe(Effect.timeout("10 seconds"))
  )

  it.effect("a first batch without the Finish is a stream body of each batch as it comes", () =>
    Effect.gen(function*() {
      const { body, response } = yield* answered(hello, pullOf([[finish()]]).pull)
      expect(response.body._tag).toBe("Stream")
      expect(response.headers).toMatchObject({ "content-type": "text/event-stream", "x-request-id": "id-1" })
      expect(body).toContain(`"content":"Hello"`)
      expect(body.endsWith("data: [DONE]\n\n")).toBe(true)
    }))

  it.effect("a batch after the Finish is written too, nothing dropped", () =>
    Effect.gen(function*() {
      const { body, response } = yield* answered(whole, pullOf([[{ _tag: "TextDelta", text: "late" }]]).pull)
      expect(response.body._tag).toBe("Stream")
      expect(body).toContain("[DONE]")
      expect(body).toContain(`"content":"late"`)
    }))

  it.effect("a failure after the Finish ends the stream with an error event", () =>
    Effect.gen(function*() {
      const { body, outcome, response } = yield* answered(whole, pullOf([truncated]).pull)
      expect(response.body._tag).toBe("Stream")
      expect(body).toContain(`"content":"Hello"`)
      expect(body.trimEnd().split("\n\n").at(-1)).toMatch(/^data: \{"error":/)
      expect(outcome.error).toBe("StreamTruncatedError")
    }))

  it.effect("cut while its writer waits on the upstream, a stream ends at once with its shutdown error event", () =>
    Effect.gen(function*() {
      const { drain, endedNow, outcome, response } = yield* answerOf(hello, Effect.never)
      if (response.body._tag !== "Stream") return expect.unreachable(`a ${response.body._tag} body`)
      const chunks = yield* Stream.toPull(Stream.orDie(response.body.stream))
      expect(text((yield* chunks)[0]!)).toContain(`"content":"Hello"`)
      yield* Effect.forkChild(chunks, { startImmediately: true })
      yield* drain.cut
      expect(endedNow).toEqual([errorEvent(Errors.shutdown)])
      expect(outcome.error).toBe("ServerShutdown")
    }).pipe(Effect.timeout("10 seconds")))

  it.effect("cut between pulls, a stream writes its shutdown error event at its next pull, then ends", () =>
    Effect.gen(function*() {
      const more = pullOf([[{ _tag: "TextDelta", text: "more" }]])
      const { drain, endedNow, outcome, response } = yield* answerOf(hello, more.pull)
      if (response.body._tag !== "Stream") return expect.unreachable(`a ${response.body._tag} body`)
      const chunks = yield* Stream.toPull(Stream.orDie(response.body.stream))
      expect(text((yield* chunks)[0]!)).toContain(`"content":"Hello"`)
      yield* drain.cut
      expect(endedNow).toEqual([])
      expect(text((yield* chunks)[0]!)).toBe(errorEvent(Errors.shutdown))
      expect(yield* Effect.flip(chunks)).toSatisfy(Cause.isDone)
      expect(outcome.error).toBe("ServerShutdown")
    }).pipe(Effect.timeout("10 seconds")))

  it.effect("cut once its whole answer went out, a stream ends with no error event", () =>
    Effect.gen(function*() {
      const { drain, endedNow, outcome, response } = yield* answerOf(whole, Effect.never)
      if (response.body._tag !== "Stream") return expect.unreachable(`a ${response.body._tag} body`)
      const chunks = yield* Stream.toPull(Stream.orDie(response.body.stream))
      expect(text((yield* chunks)[0]!).endsWith("data: [DONE]\n\n")).toBe(true)
      yield* Effect.forkChild(chunks, { startImmediately: true })
      yield* drain.cut
      expect(endedNow).toEqual([""])
      expect(outcome.error).toBeUndefined()
    }).pipe(Effect.timeout("10 seconds")))
})
