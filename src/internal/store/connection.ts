/**
 * The connection behind a `Store`: a node-redis client (through
 * `@effect/platform-node`'s `NodeRedis` layer) built in the background, so a
 * store whose Redis is down at start-up still builds, and commands that fail
 * fast while Redis is away instead of queueing until it returns.
 *
 * Scripts are `effect/persistence` `Redis.script` descriptors, run here by
 * `EVALSHA` of their SHA1 (computed once), and by `EVAL` when Redis does not
 * know them yet. Each command is bounded by `commandTimeout` with one timer of
 * the store's instead of node-redis' own per-command timeout (an
 * `AbortSignal.timeout` each, firing after the reply too, which costs more
 * than the command itself: docs/performance.md).
 */
import type * as NodeRedis from "@effect/platform-node/NodeRedis"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Redis from "effect/persistence/Redis"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import type * as Store from "../../Store.js"
import { StoreUnavailableError } from "../../Store.js"

const typeId = Symbol.for("effect-llm-router/Store")

/** What the shared limiter and pool run their scripts through. */
export interface Connection {
  readonly prefix: string
  readonly onUnavailable: "fail-open" | "fail-closed"
  readonly instances: number
  readonly leaseTtlMillis: number
  /** The store's scope: fibers that serve it (lease renewals) live as long as its connection. */
  readonly scope: Scope.Scope
  /**
   * Runs a script. Fails with `StoreUnavailableError` when Redis is not
   * connected, or the command failed or outlived `commandTimeout`; logs the
   * first failure of an outage and the return.
   */
  readonly eval: <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
    script: Redis.Script<Config>
  ) => (...params: Config["params"]) => Effect.Effect<Config["result"], StoreUnavailableError>
  /**
   * Runs a script without waiting for its reply: for a write whose loss an
   * expiry already covers (a lease's release: the lease lapses within its TTL
   * anyway). Sent at once, so the commands this instance sends after it see
   * its effect; a failure, or Redis away, drops it.
   */
  readonly post: <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
    script: Redis.Script<Config>
  ) => (...params: Config["params"]) => Effect.Effect<void>
  /** Sends one command, failing as `eval` does. */
  readonly send: <A>(...args: ReadonlyArray<string>) => Effect.Effect<A, StoreUnavailableError>
  /** A script for a caller that builds its arguments once (`Bound`). */
  readonly bind: <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
    script: Redis.Script<Config>
  ) => Bound<Config["result"]>
}

/**
 * A script run with arguments already strings: the number of keys, then the
 * keys and the other arguments, as `Redis.script` lists them.
 */
export interface Bound<A> {
  /** As `Connection.eval`. */
  readonly eval: (args: ReadonlyArray<string>) => Effect.Effect<A, StoreUnavailableError>
  /**
   * Sends the command when run, and returns the wait for its reply (as
   * `eval` fails), to run once: commands started together go out in one
   * write, and their round trips overlap.
   */
  readonly start: (args: ReadonlyArray<string>) => Effect.Effect<Effect.Effect<A, StoreUnavailableError>>
  /** As `Connection.post`. */
  readonly post: (args: ReadonlyArray<string>) => Effect.Effect<void>
}

/** The `Store` value with its connection under a symbol, out of the public type. */
type Impl = Store.Store & { readonly [typeId]: Connection }

/** The connection of a store `Store.make` built. */
export const connectionOf = (store: Store.Store): Connection => (store as Impl)[typeId]

// Host and port only: a URL may hold a password.
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

// A command sent: how it ended (its reply, or why it has none) once it has,
// handed to its waiter as the effect `ended` makes of it.
class Sent<A> {
  done = false
  reply: unknown = undefined
  reason: string | undefined = undefined
  timer: ReturnType<typeof setTimeout> | undefined = undefined
  resume: ((effect: Effect.Effect<A, StoreUnavailableError>) => void) | undefined = undefined
  constructor(readonly ended: (sent: Sent<A>) => Effect.Effect<A, StoreUnavailableError>) {}
  end(reply: unknown, reason: string | undefined) {
    if (this.done) return
    this.done = true
    this.reply = reply
    this.reason = reason
    clearTimeout(this.timer)
    const resume = this.resume
    if (resume === undefined) return
    this.resume = undefined
    resume(this.ended(this))
  }
  // The waiter went away (interrupted): nobody is told, and the timer stops.
  abandon() {
    this.resume = undefined
    clearTimeout(this.timer)
  }
}

const shas = new WeakMap<{ readonly lua: string }, string>()

const shaOf = (script: { readonly lua: string }): string => {
  let sha = shas.get(script)
  if (sha === undefined) {
    sha = createHash("sha1").update(script.lua).digest("hex")
    shas.set(script, sha)
  }
  return sha
}

const isNoScript = (cause: unknown) => cause instanceof Error && cause.message.startsWith("NOSCRIPT")

// node-redis (and its many modules) is loaded by the first store that connects, so a program that
// shares nothing, the command line's `chat` among them, does not pay for loading it.
const loadNodeRedis = Effect.promise(() => import("@effect/platform-node/NodeRedis"))

/** Connects in a fiber of the current scope; the store is usable at once. */
export const make = (options: Store.Options): Effect.Effect<Store.Store, never, Scope.Scope> =>
  Effect.gen(function*() {
    const address = addressOf(options.redis)
    const onUnavailable = options.onUnavailable ?? "fail-closed"
    const commandTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.commandTimeout ?? "500 millis"))
    const scope = yield* Effect.scope
    let client: Client | undefined
    // The scripts this connection has seen Redis run: sent by SHA1 (`EVALSHA`), the others whole
    // (`EVAL`, which loads them), so a posted script is never sent again behind later commands.
    // A reconnection forgets them (Redis may have restarted empty); a NOSCRIPT (a `SCRIPT FLUSH`)
    // sends the script again whole.
    const loaded = new Set<string>()
    // The outage is logged once, and its end; the first connection gets a grace period before it counts as one.
    let down = false
    let starting = true

    const connect = Effect.flatMap(Effect.zip(loadNodeRedis, Scope.fork(scope)), ([NodeRedisModule, child]) =>
      Effect.flatMap(
        Effect.onExit(
          Layer.buildWithScope(
            NodeRedisModule.layer({
              url: options.redis,
              // Fail commands at once while reconnecting; `request` bounds each: never a hang.
              disableOfflineQueue: true,
              commandOptions: { timeout: 0 },
              socket: { connectTimeout: Math.max(commandTimeout, 1000), reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 1000) }
            }),
            child
          ),
          (exit) => Exit.isFailure(exit) ? Scope.close(child, exit) : Effect.void
        ).pipe(
          // node-redis warns at every reconnect attempt; the store logs an outage once, in `run`.
          Effect.provideService(References.MinimumLogLevel, "Error")
        ),
        (context) =>
          Effect.sync(() => {
            client = Context.get(context, NodeRedisModule.NodeRedis).client
            client.on("ready", () => loaded.clear())
          })
      ))
    yield* Effect.forkIn(Effect.retry(connect, Schedule.spaced("1 second")), scope)
    yield* Effect.forkIn(
      Effect.andThen(Effect.sleep(Duration.millis(Math.max(commandTimeout, 1000))), Effect.sync(() => {
        starting = false
      })),
      scope
    )

    const unavailable = (reason: string) => {
      const error = new StoreUnavailableError({ address, reason })
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

    // What a command ended with, as the effect its waiter resumes with: the
    // reply, or `StoreUnavailableError` (logged at an outage's first failure);
    // made when handed to the waiter, so an outage is logged by a waiter.
    const ended = <A>(sent: Sent<A>): Effect.Effect<A, StoreUnavailableError> => {
      if (sent.reason !== undefined) return unavailable(sent.reason)
      if (!down) return Effect.succeed(sent.reply as A)
      down = false
      return Effect.as(Effect.logInfo(`Shared store: Redis at ${address} is back; limits are shared again`), sent.reply as A)
    }

    const noReply = `no reply within ${commandTimeout} ms`
    const expire = <A>(sent: Sent<A>) => sent.end(undefined, noReply)

    // Sends at once; a timer of the store's bounds the wait for the reply.
    const begin = <A>(send: (client: Client) => Promise<unknown>): Sent<A> => {
      const sent = new Sent<A>(ended)
      const connected = client
      if (connected === undefined || !connected.isReady) {
        sent.end(undefined, "not connected")
        return sent
      }
      sent.timer = setTimeout(expire, commandTimeout, sent)
      send(connected).then((reply) => sent.end(reply, undefined), (cause) => sent.end(undefined, reasonOf(cause)))
      return sent
    }

    // The reply of a command `begin` sent: at once when it is in, else when it comes.
    const wait = <A>(sent: Sent<A>): Effect.Effect<A, StoreUnavailableError> =>
      sent.done ? ended(sent) : Effect.callback<A, StoreUnavailableError>((resume) => {
        sent.resume = resume
        return Effect.sync(() => sent.abandon())
      })

    const request = <A>(send: (client: Client) => Promise<unknown>) => Effect.suspend(() => wait<A>(begin(send)))

    // A script's arguments: the number of keys, then the keys and the other arguments, as strings.
    const argsOf = (script: AnyScript, params: ReadonlyArray<unknown>): ReadonlyArray<string> => {
      const args = script.params(...params)
      const out = new Array<string>(args.length + 1)
      out[0] = String(script.numberOfKeys(...params))
      for (let i = 0; i < args.length; i++) out[i + 1] = String(args[i])
      return out
    }

    const runScript = (connected: Client, script: AnyScript, sha: string, args: ReadonlyArray<string>): Promise<unknown> => {
      const whole = () =>
        connected.sendCommand(["EVAL", script.lua, ...args]).then((reply) => {
          loaded.add(sha)
          return reply
        })
      if (!loaded.has(sha)) return whole()
      return connected.sendCommand(["EVALSHA", sha, ...args]).catch((cause: unknown) => {
        if (!isNoScript(cause)) throw cause
        loaded.delete(sha)
        return whole()
      })
    }

    const ignore = () => {}

    const post = (script: AnyScript, sha: string, args: ReadonlyArray<string>) =>
      Effect.sync(() => {
        if (client !== undefined && client.isReady) runScript(client, script, sha, args).then(ignore, ignore)
      })

    const connection: Connection = {
      prefix: options.prefix ?? "effect-llm-router",
      onUnavailable,
      instances: options.instances ?? 1,
      leaseTtlMillis: Duration.toMillis(Duration.fromInputUnsafe(options.leaseTtl ?? "10 seconds")),
      scope,
      eval: (script) => (...params) => request((connected) => runScript(connected, script, shaOf(script), argsOf(script, params))),
      post: (script) => (...params) => post(script, shaOf(script), argsOf(script, params)),
      send: (...args) => request((client) => client.sendCommand(args)),
      bind: <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
        script: Redis.Script<Config>
      ): Bound<Config["result"]> => {
        const sha = shaOf(script)
        const send = (args: ReadonlyArray<string>) => (connected: Client) => runScript(connected, script, sha, args)
        return {
          eval: (args) => request(send(args)),
          start: (args) => Effect.sync(() => wait(begin<Config["result"]>(send(args)))),
          post: (args) => post(script, sha, args)
        }
      }
    }
    const store: Impl = { address, onUnavailable, [typeId]: connection }
    return store
  })
