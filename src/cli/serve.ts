/**
 * `effect-llm-router serve`: the gateway as a process, over a provider.json or else the built-in simulator (saying so),
 * so `npx effect-llm-router serve` answers at once. SIGINT or SIGTERM stop accepting and let calls in flight finish
 * within the grace period, then exit 0; SIGHUP reloads the provider.json (`Gateway.Service.reload`; one sent while
 * starting, once it serves). Logs are JSON lines on stderr (`Logger.formatJson`), keyless, batched per window
 * (`logLines.ts`).
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Logger from "effect/Logger"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Path from "node:path"
import * as Gateway from "../Gateway.js"
import { configurationProblems } from "../internal/gateway/server.js"
import { describe } from "../internal/persistence/database.js"
import { loadChecked } from "../internal/providerConfig/gatewayProblems.js"
import type { OptionsError } from "../OptionsError.js"
import * as ProviderConfig from "../ProviderConfig.js"
import * as UndiciHttpClient from "../UndiciHttpClient.js"
import * as AdminToken from "./adminToken.js"
import { builtInSimulator, secretsOf } from "./chatSource.js"
import { type Io, runParsed, withEnv } from "./io.js"
import { jsonLines } from "./logLines.js"
import * as PidFile from "./pidFile.js"
import {
  noArgumentFlags,
  portFlag,
  positiveIntegerFlag,
  programName,
  secondsFlag,
  serveUsage,
  UsageError
} from "./usage.js"

const string = { type: "string" } as const

const flags = {
  config: string,
  host: string,
  port: string,
  "max-body-bytes": string,
  "grace-period": string,
  data: string
} as const

interface Args {
  readonly config: string | undefined
  /** Where the SQLite database is kept when the config names no Postgres. */
  readonly data: string
  readonly options: Omit<Gateway.Options, "config">
}

const parse = (argv: ReadonlyArray<string>, env: Io["env"]): Result.Result<Args | "help", UsageError> =>
  Result.gen(function*() {
    const values = yield* noArgumentFlags("serve", argv, flags)
    if (values === "help") return values
    const port = yield* portFlag(values.port)
    const maxBodyBytes = yield* positiveIntegerFlag("max-body-bytes", values["max-body-bytes"])
    const gracePeriod = yield* secondsFlag("grace-period", values["grace-period"])
    return {
      config: values.config,
      data: AdminToken.dataDirectory(values.data, env),
      options: {
        port: port ?? Gateway.defaultPort,
        ...(values.host !== undefined ? { host: values.host } : {}),
        ...(maxBodyBytes !== undefined ? { maxBodyBytes } : {}),
        ...(gracePeriod !== undefined ? { gracePeriod: Duration.millis(gracePeriod * 1000) } : {})
      }
    }
  })

/**
 * What the gateway serves with no config beyond the simulator's chat models (the names the README and docs/gateway.md
 * use): an embedding model named as in OpenAI's embeddings API reference, a router over the chat models, and
 * `agentModels`.
 */
const simulatedEmbeddingModel = "text-embedding-3-small"
const simulatedRouter = "main"

/**
 * The models coding agents call on their own besides the one they are told to use (docs/agents.md): Gemini CLI's
 * compression, loop detection, edit fixer, web tools, classifier and summaries, by the names it resolves with a Gemini
 * API key. With no config they are groups of the first chat model, so an agent told to use a simulator model works.
 */
const agentModels = [
  "gemini-3.1-pro-preview-customtools",
  "gemini-3.1-pro-preview",
  "gemini-3-pro-preview",
  "gemini-3-flash-preview",
  "gemini-3.5-flash-lite",
  "gemini-3.1-flash-lite"
]

/**
 * A configuration over the built-in simulator started here (a deployment per model, a router over its chat models),
 * and the line saying so, printed once the gateway listens.
 */
const simulated = Effect.gen(function*() {
  // Loaded only here, as `chat` does: a configured gateway never starts one.
  const Simulator = yield* Effect.promise(() => import("../simulator/Simulator.js"))
  const chatModels = Simulator.defaultModels
  const simulator = yield* Simulator.make({ ...builtInSimulator, models: [...chatModels, simulatedEmbeddingModel] })
  const notice = `${programName}: no provider configured; serving the built-in simulator at ${simulator.url} ` +
    `(its models: ${chatModels.join(", ")}, the router ${simulatedRouter} over them, ` +
    `${simulatedEmbeddingModel} for embeddings, and the models coding agents call on their own as groups of ` +
    `${chatModels[0]}; ` +
    `pass --config FILE for real providers)\n`
  const config = yield* ProviderConfig.fromJson(
    {
      simulator: [...chatModels, simulatedEmbeddingModel].map((model) => ({
        model_name: model,
        base_url: `${simulator.url}/v1`,
        api_keys: ["sk-simulator"],
        ...(model === chatModels[0] ? { groups: agentModels } : {})
      })),
      router: { [simulatedRouter]: { deployments: chatModels.map((model) => `simulator/${model}`) } }
    },
    "the built-in simulator's configuration"
  )
  return { config, notice }
})

/**
 * What the gateway serves of `config`, its keys kept among `secrets`: its database, or the SQLite file in the data
 * directory.
 */
const served = (
  config: ProviderConfig.ProviderConfig,
  args: Args,
  secrets: Array<Redacted.Redacted<string>>
): Gateway.Config & { readonly database: Gateway.Database } => {
  secrets.push(...secretsOf(config))
  for (const key of [...(config.gateway?.keys ?? []), ...(config.gateway?.adminKeys ?? [])]) secrets.push(key.key)
  const clientSecret = config.gateway?.oidc?.clientSecret
  if (clientSecret !== undefined) secrets.push(clientSecret)
  if (config.database !== undefined && "postgres" in config.database) secrets.push(config.database.postgres)
  if (config.store !== undefined && Redacted.isRedacted(config.store.redis)) secrets.push(config.store.redis)
  return {
    ...ProviderConfig.gatewayConfig(config),
    database: config.database ?? { sqlite: Path.join(args.data, "gateway.db") }
  }
}

/**
 * The SIGHUPs the process gets while the scope is open, those not yet taken kept as one; Node's default (ending the
 * process) is replaced. Taken before the gateway starts, so one sent while it starts is a reload once it serves.
 */
const hangups = Effect.gen(function*() {
  const queue = yield* Queue.sliding<void>(1)
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      const hangup = () => Queue.offerUnsafe(queue, undefined)
      process.on("SIGHUP", hangup)
      return hangup
    }),
    (hangup) => Effect.sync(() => process.off("SIGHUP", hangup))
  )
  return queue
})

/**
 * The provider.json at `path`, refused naming every problem of the file and every one the gateway would find building
 * it, else served with `args`' options after `started` (none at start); problems named by path, keys masked.
 */
const load = (path: string, args: Args, started: Gateway.Config | undefined) =>
  loadChecked(path, (config) => {
    // Its keys kept among `secrets` once it is served, not for each check.
    const checked = served(config, args, [])
    // Its deployments apart from the store: a check connects to nothing.
    const { deployments } = ProviderConfig.gatewayConfig({ ...config, store: undefined })
    return configurationProblems({ ...checked, deployments }, { ...args.options, config: started ?? checked })
  }).pipe(Effect.provide(NodeFileSystem.layer))

const serve = (args: Args, io: Io, secrets: Array<Redacted.Redacted<string>>) =>
  Effect.gen(function*() {
    const hangup = yield* hangups
    // Written before the gateway starts, removed once it has stopped: a signal sent to it meanwhile is the gateway's.
    const pidFile = yield* PidFile.hold(args.data).pipe(Effect.provide(NodeFileSystem.layer))
    const file = args.config
    const { config, notice } = file === undefined
      ? yield* simulated
      : { config: yield* load(file, args, undefined), notice: "" }
    const gatewayConfig = served(config, args, secrets)
    // A reload's check builds the configuration read with the client the gateway has.
    const client = yield* HttpClient.HttpClient
    // The admin API is never open: without an admin key in provider.json, the data directory's token is one.
    const token = (config.gateway?.adminKeys ?? []).length > 0
      ? undefined
      : yield* AdminToken.ensure(args.data).pipe(Effect.provide(NodeFileSystem.layer))
    if (token !== undefined) secrets.push(token)
    const gateway = yield* Gateway.make({
      config: gatewayConfig,
      ...args.options,
      // The token is also what the gateway proves it holds, for the commands that would send it (`adminApi.ts`).
      ...(token === undefined ? {} : { adminKeys: [{ name: AdminToken.keyName, key: token }], instanceSecret: token }),
      // A reload reads the file again, with the environment it started with.
      ...(file === undefined
        ? {}
        : {
          source: load(file, args, gatewayConfig).pipe(
            Effect.map((next) => served(next, args, secrets)),
            Effect.provideService(HttpClient.HttpClient, client)
          )
        }),
      logRequests: true
    }).pipe(
      // The gateway's own options are the flags' (host, port): a usage error. Any other module's is the configuration's
      // (a deployment its adapter refuses, an optional peer dependency missing): exit 1, the entry named, no usage.
      Effect.catchTag(
        "OptionsError",
        (error): Effect.Effect<never, UsageError | OptionsError> =>
          error.module === "Gateway" && !error.option.startsWith("config")
            ? Effect.fail(new UsageError({ reason: error.message }))
            : Effect.fail(error)
      )
    )
    // A refused reload is logged by the gateway, and the running configuration stays.
    yield* Effect.forkScoped(Stream.runForEach(Stream.fromQueue(hangup), () => Effect.ignore(gateway.reload)))
    io.stdout(`${gateway.url}\n`)
    io.stderr(notice)
    const keys = gateway.keys.filter((key) => !key.admin).map((key) => key.name)
    const uncredentialed = Object.entries(yield* gateway.unavailableCredentials)
    io.stderr(
      `${programName}: gateway listening at ${gateway.url} (OpenAI-compatible base URL ${gateway.url}/v1), ` +
        (!gateway.keysRequired
          ? gatewayConfig.keys?.allowKeyless !== true
            ? `on ${gateway.host} only: no gateway keys are configured. `
            : `on ${gateway.host}: no gateway keys, and gateway.allow_keyless serves every request without one. `
          : `on ${gateway.host}; every request but /health, /ready and the dashboard needs a gateway key (${
            keys.length === 0 ? "none is configured: make them with the admin API" : keys.join(", ")
          }). `) +
        `Dashboard: ${gateway.url}/dashboard (its data, /metrics and the admin API take an admin key` +
        (token === undefined
          ? ": one of provider.json's gateway.admin_keys)"
          : `: the token in ${AdminToken.pathIn(args.data)}, which keys, teams and spend read there)`) +
        `. Models: ${gateway.models.join(", ")}. Data: ${describe(gatewayConfig.database)}.` +
        (uncredentialed.length === 0
          ? ""
          : ` No working credential (their calls answered 503 credential_unavailable until it gives a token): ${
            uncredentialed.map(([name, detail]) => `${name} (${detail})`).join("; ")
          }.`) +
        ` Ctrl-C to stop; its process id is in ${pidFile} (SIGHUP reloads the provider.json, SIGTERM stops).\n`
    )
    return yield* Effect.never
  })

/**
 * Runs `serve`: prints the gateway's URL as the first stdout line, then serves until interrupted. Gives 2 for bad
 * flags (a host beyond loopback included), 1 when the configuration is wrong or the address is taken.
 */
export const run = (argv: ReadonlyArray<string>, io: Io): Effect.Effect<number> =>
  runParsed(
    io,
    "serve",
    serveUsage,
    Effect.fromResult(parse(argv, io.env)),
    // Every key of the configuration goes among `secrets`, scrubbed from whatever is printed.
    (args, secrets) =>
      serve(args, io, secrets).pipe(
        Effect.scoped,
        Effect.provide(UndiciHttpClient.layer()),
        withEnv(io),
        Effect.provide(Logger.layer([jsonLines(io)]))
      )
  )
