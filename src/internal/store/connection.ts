/**
 * The connection behind a `Store`: a node-redis client (`NodeRedis`) built in the background, so a store whose Redis
 * is down at start-up still builds, and commands fail fast while Redis is away instead of queueing until it returns.
 * Scripts (`Redis.script` descriptors) run by `EVALSHA`, by `EVAL` when Redis does not know them yet. Commands are
 * bounded by `commandTimeout` on the `Clock`'s watchdog (one bound for all in flight, `InFlight`, which `TestClock`
 * moves), not node-redis' per-command `AbortSignal.timeout`, which fires after the reply too and costs more than the
 * command (docs/performance.md).
 */
import type * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { constVoid } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Redis from "effect/persistence/Redis"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { hash } from "node:crypto"
import type * as Store from "../../Store.js"
import type { Bound, Connection } from "../../Store.js"
import { publishMillis, type StoreUnavailableError } from "../../Store.js"
import { argsOf } from "../persistence/script.js"
import { unavailable as storeUnavailable } from "../persistence/unavailable.js"
import { type Bound as WatchedBound, type Watchdog, watchdogOf } from "../time/watchdog.js"

// Host and port only: a URL may hold a password.
/**
 * The Redis URL of `options`, plain or `Redacted` there: for the client only, never to show (it may hold a password).
 */
export const urlOf = (options: Store.Options): string =>
  Redacted.isRedacted(options.redis) ? Redacted.value(options.redis) : options.redis

const addressOf = (url: string): string => {
  try {
    const parsed = new URL(url)
    return parsed.host === "" ? parsed.protocol : parsed.host
  } catch {
    return "an unparsable address"
  }
}

const reasonOf = (cause: unknown): string =>
  cause instanceof Error ? (cause.message === "" ? cause.name : cause.message) : String(cause)

type Client = NodeRedis.NodeRedis["Service"]["client"]

type AnyScript = Redis.Script<{ readonly params: ReadonlyArray<unknown>; readonly result: unknown }>

// A command sent: once it ends (its reply, or why it has none), handed to its waiter as `ended` makes it; until then in
// its connection's commands in flight, with its deadline and its neighbours there.
class Sent {
  linked = false
  due = 0
  prev: Sent | undefined = undefined
  next: Sent | undefined = undefined
  done = false
  reply: unknown = undefined
  reason: string | undefined = undefined
  resume: ((effect: Effect.Effect<unknown, StoreUnavailableError>) => void) | undefined = undefined
  constructor(
    readonly inFlight: InFlight,
    readonly ended: (sent: Sent) => Effect.Effect<unknown, StoreUnavailableError>
  ) {}
  end(reply: unknown, reason: string | undefined) {
    if (this.done) return
    this.done = true
    this.reply = reply
    this.reason = reason
    this.inFlight.remove(this)
    const resume = this.resume
    if (resume === undefined) return
    this.resume = undefined
    resume(this.ended(this))
  }
  readonly onReply = (reply: unknown) => this.end(reply, undefined)
  readonly onFailure = (cause: unknown) => this.end(undefined, reasonOf(cause))
  // The waiter went away (interrupted): nobody is told, and the command no longer counts as in flight.
  abandon() {
    this.resume = undefined
    this.inFlight.remove(this)
  }
}

// A connection's commands awaiting replies, in the order sent (so by deadline), each failed `millis` after it was
// sent: one bound on the `Clock`'s watchdog, looked at when the oldest is due, not one per command; none while idle.
class InFlight {
  first: Sent | undefined = undefined
  last: Sent | undefined = undefined
  release: (() => void) | undefined = undefined
  expiring = false
  constructor(readonly watchdog: Watchdog, readonly millis: number, readonly noReply: string) {}
  add(sent: Sent) {
    sent.due = this.watchdog.clock.currentTimeMillisUnsafe() + this.millis
    sent.linked = true
    sent.prev = this.last
    if (this.last === undefined) this.first = sent
    else this.last.next = sent
    this.last = sent
    this.release ??= this.watchdog.keep(this.bound, constVoid)
  }
  remove(sent: Sent) {
    if (!sent.linked) return
    sent.linked = false
    if (sent.prev === undefined) this.first = sent.next
    else sent.prev.next = sent.next
    if (sent.next === undefined) this.last = sent.prev
    else sent.next.prev = sent.prev
    sent.prev = undefined
    sent.next = undefined
    // While the bound is being looked at, it ends itself (`expire`).
    if (this.first === undefined && this.release !== undefined && !this.expiring) {
      this.release()
      this.release = undefined
    }
  }
  // Fails the commands past their deadline, oldest first; then the next one's deadline, or the bound ends.
  readonly bound: WatchedBound<"idle"> = {
    check: (now) => {
      this.expiring = true
      while (this.first !== undefined && this.first.due <= now) this.first.end(undefined, this.noReply)
      this.expiring = false
      if (this.first !== undefined) return this.first.due
      this.release = undefined
      return "idle"
    }
  }
}

// How a command goes out on `client`: its reply to `onReply`, its failure to `onFailure`.
type Send = (client: Client, onReply: (reply: unknown) => void, onFailure: (cause: unknown) => void) => void

// Runs `script` (of SHA1 `sha`) with `args` on `client`, as `Send` does.
type RunScript = (
  client: Client,
  script: AnyScript,
  sha: string,
  args: ReadonlyArray<string>,
  onReply: (reply: unknown) => void,
  onFailure: (cause: unknown) => void
) => void

// A command: two words, then `args`.
const headed = (first: string, second: string, args: ReadonlyArray<string>): Array<string> => {
  const command = new Array<string>(args.length + 2)
  command[0] = first
  command[1] = second
  for (let i = 0; i < args.length; i++) command[i + 2] = args[i]!
  return command
}

/**
 * The store's client's per-command settings: commands fail at once while it reconnects, and node-redis keeps no
 * timeout of its own (`InFlight` bounds each): never a hang.
 */
export const commandSettings = { disableOfflineQueue: true, commandOptions: { timeout: 0 } } as const

const shas = new WeakMap<{ readonly lua: string }, string>()

const shaOf = (script: { readonly lua: string }): string => {
  let sha = shas.get(script)
  if (sha === undefined) shas.set(script, sha = hash("sha1", script.lua, "hex"))
  return sha
}

const isNoScript = (cause: unknown) => cause instanceof Error && cause.message.startsWith("NOSCRIPT")

// node-redis (and its many modules) is loaded by the first store that connects, so a program that shares nothing,
// `chat` among them, does not pay for loading it.
const loadNodeRedis = Effect.promise(() => import("@effect/platform-node/NodeRedis"))

/**
 * How a connection runs scripts: those Redis has run for it by SHA1 (`EVALSHA`), the others whole (`EVAL`, which loads
 * them), so a posted script is never sent again behind later commands. A reconnection forgets them (`forget`: Redis
 * may have restarted empty); a NOSCRIPT (a `SCRIPT FLUSH`) sends the script again whole.
 */
function scriptRunner(): { readonly run: RunScript; readonly forget: () => void } {
  const loaded = new Set<string>()
  // By EVAL, which loads the script.
  const whole: RunScript = (connected, script, sha, args, onReply, onFailure) => {
    connected.sendCommand(headed("EVAL", script.lua, args)).then((reply) => {
      loaded.add(sha)
      onReply(reply)
    }, onFailure)
  }
  const run: RunScript = (connected, script, sha, args, onReply, onFailure) => {
    if (!loaded.has(sha)) return whole(connected, script, sha, args, onReply, onFailure)
    connected.sendCommand(headed("EVALSHA", sha, args)).then(onReply, (cause: unknown) => {
      if (!isNoScript(cause)) return onFailure(cause)
      loaded.delete(sha)
      whole(connected, script, sha, args, onReply, onFailure)
    })
  }
  return { run, forget: () => loaded.clear() }
}

/** One attempt to connect to `url`, the client's connection in a scope of its own within `connections`. */
function connectIn(connections: Scope.Scope, url: string, commandTimeout: number) {
  return Effect.flatMap(
    Effect.zip(loadNodeRedis, Scope.fork(connections)),
    ([NodeRedisModule, child]) =>
      Effect.map(
        Effect.onExit(
          Layer.buildWithScope(
            NodeRedisModule.layer({
              url,
              ...commandSettings,
              socket: {
                connectTimeout: Math.max(commandTimeout, 1000),
                reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 1000)
              }
            }),
            child
          ),
          (exit) => Exit.isFailure(exit) ? Scope.close(child, exit) : Effect.void
        ).pipe(
          // node-redis warns at every reconnect attempt; the store logs an outage once, in `run`.
          Effect.provideService(References.MinimumLogLevel, "Error")
        ),
        (context): Client => Context.get(context, NodeRedisModule.NodeRedis).client
      )
  )
}

/** Connects in a fiber of the current scope; the store is usable at once. */
export const make = Effect.fnUntraced(
  function*(options: Store.Options): Effect.fn.Return<Store.Store, never, Scope.Scope> {
    const url = urlOf(options)
    const address = addressOf(url)
    const onUnavailable = options.onUnavailable ?? "fail-closed"
    const publish = publishMillis(options)
    const commandTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.commandTimeout ?? "500 millis"))
    const scope = yield* Effect.scope
    let client: Client | undefined
    const { forget, run: runScript } = scriptRunner()
    // The outage is logged once, and its end; the first connection gets a grace period before it counts as one.
    let down = false
    let starting = true

    // The connections' scope, forked now: closed after whatever is built on this store after it (a gateway's
    // configurations), whose finalizers may still write to Redis, though a connection is made later.
    const connections = yield* Scope.fork(scope)
    const connect = Effect.map(connectIn(connections, url, commandTimeout), (connected) => {
      client = connected
      client.on("ready", forget)
    })
    yield* Effect.forkIn(Effect.retry(connect, Schedule.spaced("1 second")), scope)
    yield* Effect.forkIn(
      Effect.andThen(
        Effect.sleep(Duration.millis(Math.max(commandTimeout, 1000))),
        Effect.sync(() => {
          starting = false
        })
      ),
      scope
    )

    const unavailable = (reason: string) => {
      const error = storeUnavailable(address, reason)
      if (down || (starting && client === undefined)) return Effect.fail(error)
      down = true
      const then = onUnavailable === "fail-open"
        ? "each instance keeps its share of the limits locally until it returns"
        : "calls fail until it returns"
      return Effect.andThen(
        Effect.logWarning(`Shared store: Redis at ${address} is unavailable (${reason}); ${then}`),
        Effect.fail(error)
      )
    }

    // What a command ended with, as its waiter resumes: the reply, or `StoreUnavailableError` (logged at an outage's
    // first failure); made when handed to the waiter, so a waiter logs the outage.
    const ended = (sent: Sent): Effect.Effect<unknown, StoreUnavailableError> => {
      if (sent.reason !== undefined) return unavailable(sent.reason)
      if (!down) return Effect.succeed(sent.reply)
      down = false
      return Effect.as(Effect.logInfo(`Shared store: Redis at ${address} is back; limits are shared again`), sent.reply)
    }

    const watchdog = yield* Effect.withFiber((fiber) => Effect.succeed(watchdogOf(fiber)))
    const inFlight = new InFlight(watchdog, commandTimeout, `no reply within ${commandTimeout} ms`)

    // Sends at once; the store's commands in flight bound the wait for the reply.
    const begin = (send: Send): Sent => {
      const sent = new Sent(inFlight, ended)
      const connected = client
      if (connected === undefined || !connected.isReady) {
        sent.end(undefined, "not connected")
        return sent
      }
      inFlight.add(sent)
      send(connected, sent.onReply, sent.onFailure)
      return sent
    }

    // The reply of a command `begin` sent: at once when it is in by the time the wait runs (a started command's
    // wait may run well after its reply came), else when it comes. The reply is of the type its sender says.
    const wait = <A>(sent: Sent): Effect.Effect<A, StoreUnavailableError> =>
      Effect.suspend(() =>
        sent.done ? ended(sent) : Effect.callback<unknown, StoreUnavailableError>((resume) => {
          sent.resume = resume
          return Effect.sync(() => sent.abandon())
        })
      ) as Effect.Effect<A, StoreUnavailableError>

    const request = <A>(send: Send) => Effect.suspend(() => wait<A>(begin(send)))

    const post = (script: AnyScript, sha: string, args: ReadonlyArray<string>) =>
      Effect.sync(() => {
        if (client !== undefined && client.isReady) runScript(client, script, sha, args, constVoid, constVoid)
      })

    const connection: Connection = {
      prefix: options.prefix ?? "effect-llm-router",
      onUnavailable,
      instances: options.instances ?? 1,
      leaseTtlMillis: Duration.toMillis(Duration.fromInputUnsafe(options.leaseTtl ?? "10 seconds")),
      publishPeriodMillis: publish.period,
      publishTtlMillis: publish.ttl,
      scope,
      eval: (script) => (...params) =>
        request((connected, onReply, onFailure) =>
          runScript(connected, script, shaOf(script), argsOf(script, params), onReply, onFailure)
        ),
      post: (script) => (...params) => post(script, shaOf(script), argsOf(script, params)),
      send: (...args) =>
        request((client, onReply, onFailure) => {
          client.sendCommand(args).then(onReply, onFailure)
        }),
      bind: <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
        script: Redis.Script<Config>
      ): Bound<Config["result"]> => {
        const sha = shaOf(script)
        const send = (args: ReadonlyArray<string>): Send => (connected, onReply, onFailure) =>
          runScript(connected, script, sha, args, onReply, onFailure)
        return {
          eval: (args) => request(send(args)),
          start: (args) => Effect.sync(() => wait<Config["result"]>(begin(send(args)))),
          post: (args) => post(script, sha, args)
        }
      }
    }
    return { address, onUnavailable, connection }
  }
)
