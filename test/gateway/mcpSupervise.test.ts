/**
 * The supervision of an MCP server's connection (`internal/gateway/mcp/supervise.ts`) on a `TestClock`: restarts
 * after an exponential backoff capped at 30 seconds, the status `Down` meanwhile, the backoff started afresh after a
 * connection stayed up a minute; a server down from the start opened on the same backoff; a connection another took
 * the place of followed, not restarted; an idle connection pinged on its interval, one that does not answer ended and
 * opened again, none pinged while down; and a server's stderr log (`stderr.ts`): lines cut, secrets masked, a flood
 * limited.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/testing/TestClock"
import * as Credentials from "../../src/internal/gateway/mcp/credentials.js"
import * as Stderr from "../../src/internal/gateway/mcp/stderr.js"
import * as Supervise from "../../src/internal/gateway/mcp/supervise.js"
import { maskKey } from "../../src/LlmError.js"

interface Fake {
  readonly id: number
  readonly ended: Deferred.Deferred<string>
  closed: boolean
}

// A supervision of fake connections: `failing` opens fail before one succeeds; every open's time is kept.
const fakes = Effect.fnUntraced(function*(failing: { count: number }) {
  const opens: Array<number> = []
  const connections: Array<Fake> = []
  const reports: Array<string> = []
  const make = Effect.gen(function*() {
    const fake: Fake = { id: connections.length, ended: yield* Deferred.make<string>(), closed: false }
    connections.push(fake)
    return fake
  })
  const supervision: Supervise.Supervision<Fake> = {
    open: Effect.gen(function*() {
      opens.push(Number(yield* Effect.clockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe()))))
      if (failing.count > 0) {
        failing.count -= 1
        return yield* Effect.fail("spawn failed")
      }
      return yield* make
    }),
    ended: (connection) => connection.ended,
    close: (connection) => Effect.sync(() => void (connection.closed = true)),
    report: ({ reason, retryIn }) => Effect.sync(() => void reports.push(`${reason} ${Duration.toMillis(retryIn)}`))
  }
  return { opens, connections, reports, supervision, first: yield* make }
})

// `fake`'s first connection, supervised: its status.
const supervised = (fake: Effect.Success<ReturnType<typeof fakes>>) =>
  Effect.gen(function*() {
    const status = yield* Ref.make<Supervise.Status<Fake>>({ _tag: "Up", connection: fake.first })
    yield* Supervise.supervise(status, fake.supervision)
    return status
  })

// Lets the supervising fiber run up to its next wait.
const settle = Effect.yieldNow.pipe(Effect.repeat({ times: 20 }))

describe("supervise", () => {
  it.effect("restarts after 0.5 s, 1 s, 2 s ... capped at 30 s; Down meanwhile, Up with the new connection", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({ count: 8 })
      const status = yield* supervised(fake)
      expect((yield* Ref.get(status))._tag).toBe("Up")
      yield* Deferred.succeed(fake.first.ended, "exited with code 3")
      yield* settle
      expect(yield* Ref.get(status)).toEqual({ _tag: "Down", reason: "exited with code 3" })
      expect(fake.first.closed).toBe(true)
      // Nine opens: eight fail, the ninth succeeds; each after its delay (the clock moved 100 ms at a time).
      while (fake.opens.length < 9) {
        yield* TestClock.adjust("100 millis")
        yield* settle
      }
      const delays = fake.opens.map((time, index) => time - (index === 0 ? 0 : fake.opens[index - 1]!))
      expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
      expect(fake.reports[0]).toBe("exited with code 3 500")
      expect(fake.reports[1]).toBe("spawn failed 1000")
      const now = yield* Ref.get(status)
      expect(now._tag === "Up" && now.connection.id).toBe(1)
    }).pipe(Effect.scoped))

  it.effect("a server down from the start is opened after 0.5 s, 1 s, 2 s ...; Down meanwhile, then Up", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({ count: 3 })
      const status = yield* Ref.make<Supervise.Status<Fake>>({ _tag: "Down", reason: "could not be reached" })
      yield* Supervise.supervise(status, fake.supervision)
      yield* settle
      expect(fake.opens).toEqual([])
      while (fake.opens.length < 4) {
        yield* TestClock.adjust("100 millis")
        yield* settle
        if (fake.opens.length < 4) expect((yield* Ref.get(status))._tag).toBe("Down")
      }
      expect(fake.opens).toEqual([500, 1500, 3500, 7500])
      expect(fake.reports).toEqual([
        "could not be reached 500",
        "spawn failed 1000",
        "spawn failed 2000",
        "spawn failed 4000"
      ])
      const now = yield* Ref.get(status)
      // The fake's first connection (id 0) was never handed over: the one opened is the second made.
      expect(now._tag === "Up" && now.connection.id).toBe(1)
      // It ends like any other and is opened again.
      yield* Deferred.succeed(fake.connections[1]!.ended, "exited with code 1")
      yield* settle
      expect(yield* Ref.get(status)).toEqual({ _tag: "Down", reason: "exited with code 1" })
    }).pipe(Effect.scoped))

  it.effect("a connection that stayed up a minute starts the backoff afresh; a shorter one does not", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({ count: 0 })
      yield* supervised(fake)
      const endAndRestart = (index: number, after: Duration.Input) =>
        Effect.gen(function*() {
          yield* TestClock.adjust(after)
          const before = fake.opens.length
          yield* Deferred.succeed(fake.connections[index]!.ended, "exited with code 1")
          yield* settle
          const ended = Number(yield* Effect.clockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe())))
          while (fake.opens.length === before) {
            yield* TestClock.adjust("100 millis")
            yield* settle
          }
          return fake.opens[fake.opens.length - 1]! - ended
        })
      // Quick ends: 500, 1000, 2000. After a minute up: 500 again.
      expect(yield* endAndRestart(0, "1 second")).toBe(500)
      expect(yield* endAndRestart(1, "1 second")).toBe(1000)
      expect(yield* endAndRestart(2, "1 second")).toBe(2000)
      expect(yield* endAndRestart(3, "61 seconds")).toBe(500)
    }).pipe(Effect.scoped))

  it.effect("an up connection is pinged every interval; one that does not answer within 10 s is down, then reopened", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({ count: 0 })
      const pinged: Array<number> = []
      const dead = new Set<number>()
      const now = Effect.clockWith((clock) => Effect.succeed(clock.currentTimeMillisUnsafe()))
      const status = yield* Ref.make<Supervise.Status<Fake>>({ _tag: "Up", connection: fake.first })
      yield* Supervise.supervise(status, {
        ...fake.supervision,
        ping: {
          every: Duration.seconds(30),
          send: (connection) =>
            Effect.flatMap(now, (at) => {
              pinged.push(at)
              return dead.has(connection.id) ? Effect.never : Effect.void
            })
        }
      })
      yield* settle
      for (let step = 0; step < 3; step++) {
        yield* TestClock.adjust("30 seconds")
        yield* settle
      }
      expect(pinged).toEqual([30_000, 60_000, 90_000])
      expect((yield* Ref.get(status))._tag).toBe("Up")

      // The server stops answering: the next ping waits 10 s, then the connection has ended.
      dead.add(0)
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect((yield* Ref.get(status))._tag).toBe("Up")
      yield* TestClock.adjust("9 seconds")
      yield* settle
      expect((yield* Ref.get(status))._tag).toBe("Up")
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(yield* Ref.get(status)).toEqual({
        _tag: "Down",
        reason: "it did not answer a ping (no answer within 10s)"
      })
      expect(fake.first.closed).toBe(true)
      // Opened again after the backoff's first delay, then pinged on.
      yield* TestClock.adjust("500 millis")
      yield* settle
      const reopened = yield* Ref.get(status)
      expect(reopened._tag === "Up" && reopened.connection.id).toBe(1)
      expect(fake.opens).toEqual([130_500])
      // The next ping an interval after the unanswered one gave up.
      yield* TestClock.adjust("30 seconds")
      yield* settle
      expect(pinged).toEqual([30_000, 60_000, 90_000, 120_000, 160_000])
    }).pipe(Effect.scoped))

  it.effect("a connection down is not pinged; an interval shorter than 10 s bounds its ping's wait", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({ count: 100 })
      let pings = 0
      const status = yield* Ref.make<Supervise.Status<Fake>>({ _tag: "Up", connection: fake.first })
      yield* Supervise.supervise(status, {
        ...fake.supervision,
        ping: {
          every: Duration.seconds(2),
          send: () => Effect.andThen(Effect.sync(() => void (pings += 1)), Effect.never)
        }
      })
      yield* settle
      yield* TestClock.adjust("2 seconds")
      yield* settle
      yield* TestClock.adjust("2 seconds")
      yield* settle
      expect(yield* Ref.get(status)).toEqual({ _tag: "Down", reason: "it did not answer a ping (no answer within 2s)" })
      expect(pings).toBe(1)
      // Every open fails from here: a minute down, and no ping sent.
      for (let step = 0; step < 60; step++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      expect((yield* Ref.get(status))._tag).toBe("Down")
      expect(pings).toBe(1)
    }).pipe(Effect.scoped))

  it.effect("a connection that another took the place of (a session expired) is not restarted: the new one is followed", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({ count: 0 })
      const status = yield* supervised(fake)
      yield* settle
      // A call opened a new connection in place of the first, then ended the first.
      const replacing = yield* Effect.orDie(fake.supervision.open)
      yield* Ref.set(status, { _tag: "Up", connection: replacing })
      yield* Deferred.succeed(fake.first.ended, "its session expired")
      yield* settle
      yield* TestClock.adjust("1 minute")
      yield* settle
      expect(fake.opens).toEqual([0])
      expect(fake.reports).toEqual([])
      expect(yield* Ref.get(status)).toEqual({ _tag: "Up", connection: replacing })
      // The new one, ended (its server went down), is closed and opened again after the backoff.
      yield* Deferred.succeed(replacing.ended, "it did not answer")
      yield* settle
      expect(yield* Ref.get(status)).toEqual({ _tag: "Down", reason: "it did not answer" })
      expect(replacing.closed).toBe(true)
      yield* TestClock.adjust("500 millis")
      yield* settle
      expect(fake.opens).toEqual([0, 60500])
      expect((yield* Ref.get(status))._tag).toBe("Up")
    }).pipe(Effect.scoped))

  it.effect("the scope's close stops the restarts", () =>
    Effect.gen(function*() {
      const fake = yield* fakes({ count: 100 })
      const fiber = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
        yield* supervised(fake)
        yield* Deferred.succeed(fake.first.ended, "exited")
        yield* Effect.sleep("5 seconds")
      })))
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(fiber)
      const opened = fake.opens.length
      yield* TestClock.adjust("10 minutes")
      expect(fake.opens.length).toBe(opened)
    }))
})

// The info lines logged while `effect` runs.
const logged = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const lines: Array<string> = []
    const logger = Logger.make((options) => {
      lines.push(Array.isArray(options.message) ? options.message.join(" ") : String(options.message))
    })
    return Effect.as(Effect.provide(effect, Logger.layer([logger])), lines)
  })

const bytes = (text: string) => new TextEncoder().encode(text)

describe("stderr log", () => {
  it.effect("line by line across chunks, a long line cut, every secret of env masked (also across a cut)", () =>
    Effect.gen(function*() {
      const secret = "sk-secret-value-42"
      const lines = yield* logged(Effect.scoped(Effect.gen(function*() {
        const log = yield* Stderr.make(
          "calc",
          Credentials.make({
            calc: { command: "calc", env: { TOKEN: Redacted.make(secret), MODE: Redacted.make("1") } }
          })
        )
        yield* log.write(bytes("starting on port 1"))
        yield* log.write(bytes(`234\nkey=${secret.slice(0, 5)}`))
        yield* log.write(bytes(`${secret.slice(5)} ok\n`))
        yield* log.write(bytes(`${"z".repeat(Stderr.maxLineChars - 3)}${secret}${"w".repeat(3000)}\nafter\n`))
        yield* log.write(bytes("unended"))
        yield* log.flush
      })))
      expect(lines.map((line) => line.replace("Gateway: the MCP server calc wrote to stderr: ", ""))).toEqual([
        "starting on port 1234",
        `key=${maskKey(secret)} ok`,
        `${"z".repeat(Stderr.maxLineChars - 3)}${maskKey(secret)}`.slice(0, Stderr.maxLineChars) + " [line cut]",
        "after",
        "unended"
      ])
      expect(lines.join("\n")).not.toContain(secret.slice(0, 8))
    }))

  it.effect("a flood is limited: a burst, then lines a second; what was dropped is counted in the next line", () =>
    Effect.gen(function*() {
      const lines = yield* logged(Effect.scoped(Effect.gen(function*() {
        const log = yield* Stderr.make("calc", Credentials.make({}))
        yield* log.write(bytes(Array.from({ length: 500 }, (_, index) => `flood ${index}\n`).join("")))
        yield* TestClock.adjust("1 second")
        yield* log.write(bytes("later\n"))
      })))
      expect(lines.length).toBe(Stderr.lineBurst + 1)
      expect(lines[Stderr.lineBurst - 1]).toContain(`flood ${Stderr.lineBurst - 1}`)
      expect(lines[Stderr.lineBurst]).toContain(`later (${500 - Stderr.lineBurst} earlier lines dropped`)
    }))
})
