/**
 * What the gateway serves, built once from a `provider.json`: each deployment's `Llm` (with its key pool and limiter),
 * a router over every model (by deployment, model or group name), one per named router, and one over the Responses
 * deployments of a target reaching both kinds (where hosted tools go), all over the same `Llm`s, so a key's load and
 * cooldowns are the same whichever name a request uses. A router continues a stream broken mid-way unless its
 * `mid_stream` says otherwise. With a store, one connection serves every limiter, pool, breaker and gateway key's
 * limit. A reload builds another engine on the same store (generations, `server.ts`).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import type * as Gateway from "../../Gateway.js"
import type { Guardrail } from "../../Guardrail.js"
import * as KeyPool from "../../KeyPool.js"
import type * as Llm from "../../Llm.js"
import type { OptionsError } from "../../OptionsError.js"
import * as Pricing from "../../Pricing.js"
import { type BatchApi, ProviderClient } from "../../ProviderClient.js"
import * as Router from "../../Router.js"
import type * as Store from "../../Store.js"
import * as OptionsErrors from "../optionsError.js"
import * as RouterSettings from "../router/settings.js"
import * as RouterStatus from "../router/status.js"
import * as ResponsesCodec from "../wire/openAiResponses/codec.js"
import * as Guardrails from "./guardrails.js"

/** Where a request's `model` goes: the service to call and the address to give it (none for a named router). */
export interface Target {
  readonly llm: Llm.Service
  readonly address: string | undefined
  /**
   * The most a token can cost through it: the highest input, cache write and output prices among the deployments its
   * calls can reach (its address's and its fallbacks'), for a budget's worst case; `undefined` when one has no price.
   */
  readonly price: Pricing.Price | undefined
  /**
   * The least reply limit a deployment its calls can reach sends (`leastMaxTokens`): a budget reserves a request's
   * `maxTokens` raised to it, the most output the call can then bill.
   */
  readonly leastMaxTokens: number
  /**
   * Whether every deployment its calls can reach serves one model over one API, so that its provider's count of a
   * prompt (`Llm.countTokens`, when not `estimated`) is the count each of them bills.
   */
  readonly sharedCount: boolean
  /** Whether every deployment its calls can reach (its address's and its fallbacks') speaks the Responses API. */
  readonly speaksResponses: boolean
  /**
   * For a target reaching deployments of both kinds, the same narrowed to those that speak the Responses API: where a
   * request with tools only that API runs goes (`responses/hosted.ts`).
   */
  readonly responses?: Target | undefined
  /** The names of the deployments its calls can reach: what a key limited to it is shown the load of. */
  readonly deployments: ReadonlyArray<string>
  /**
   * The guardrails its calls run, whoever calls: the gateway's, its router's and those of every deployment its calls
   * can reach (a call's chain is chosen before the router picks); a caller's are added per call.
   */
  readonly guardrails: ReadonlyArray<Guardrail>
}

/** What `GET /ready` tells: whether some deployment can take a call, and those whose credential gives no token. */
export interface Readiness {
  readonly ready: boolean
  readonly unavailableCredentials: Readonly<Record<string, string>>
}

/** One entry of `GET /v1/models`. */
export interface ModelEntry {
  readonly id: string
  readonly ownedBy: string
}

export interface Engine {
  /** The target of a request's `model`; `undefined` for a name the configuration does not have. */
  readonly resolve: (model: string) => Target | undefined
  /** The router over every deployment, for a call that names no model (`POST /llm/chat`). */
  readonly balanced: Target
  /** Every name a request may use, routers first, then deployments, models and groups. */
  readonly models: ReadonlyArray<ModelEntry>
  /**
   * Every deployment's status, counting the calls of every router (the one over every deployment and each named
   * one): their counts added up, a breaker shown as the most open of the routers' (`RouterStatus.combine`).
   */
  readonly status: Router.Service["status"]
  /**
   * Whether some deployment can take a call now (its breaker not open, a key not disabled, its cloud credential giving
   * a token), and the deployments whose credential gives none, with what it said.
   */
  readonly ready: Effect.Effect<Readiness>
  /** What a Responses request's hosted tools do for a model reaching another API (`Gateway.Keys.hostedTools`). */
  readonly hostedTools: Gateway.HostedTools
  /** The configuration's guardrails by name, built with it: what a key's and a team's names resolve to. */
  readonly guardrails: Guardrails.Named
  /** The guardrails every call runs (the `gateway` section's), where an MCP tool call's chain starts. */
  readonly gatewayGuardrails: ReadonlyArray<Guardrail>
  /** The deployment of `name` when its API has a batch API (`ProviderClient.batch`), with its key pool. */
  readonly batchDeployment: (name: string) => BatchDeployment | undefined
  /**
   * The key pool of the deployment of `name`, when its layer built one (a provider.json deployment's does): whose keys
   * sign the ids of a batch the gateway runs as calls (`batches/calls.ts`).
   */
  readonly keyPool: (name: string) => KeyPool.Service | undefined
}

/**
 * A batch API as the gateway's batches read it: a provider's (`ProviderClient.BatchApi`), or the gateway's own, which
 * runs a batch as calls over its database (`batches/calls.ts`), each step failing with `StoreUnavailableError` too
 * when that does not answer.
 */
export type GatewayBatchApi = {
  readonly [K in keyof BatchApi]: (
    ...args: Parameters<BatchApi[K]>
  ) => Effect.Effect<
    Effect.Success<ReturnType<BatchApi[K]>>,
    Effect.Error<ReturnType<BatchApi[K]>> | Store.StoreUnavailableError
  >
}

/** A deployment whose API has a batch API: what the gateway's `/v1/batches` passes a batch to. */
export interface BatchDeployment {
  readonly name: string
  /** Its provider's name (`ProviderClient.Service.provider`). */
  readonly provider: string
  /** The model its calls name. */
  readonly model: string
  readonly api: GatewayBatchApi
  readonly pool: KeyPool.Service
  /** Its price, or `undefined` when it has none. */
  readonly price: Pricing.Price | undefined
  /** The least reply limit it sends (`leastMaxTokens`). */
  readonly leastMaxTokens: number
}

type Deployment = Gateway.Deployment

/**
 * The deployments a call of `address` (`undefined`: the router's default, or all) may reach: those the address
 * names, then those of every fallback of the address or of a deployment reached, as far as they go.
 */
export function reachable<D extends Pick<Router.Deployment<unknown, unknown>, "name" | "model" | "groups">>(
  options: {
    readonly deployments: ReadonlyArray<D>
    readonly fallbacks?: Router.Options["fallbacks"]
    readonly model?: string | undefined
  },
  address: string | undefined
): ReadonlyArray<D> {
  const reached = new Set<D>()
  const seen = new Set<string>()
  const start = address ?? options.model
  const queue: Array<string> = []
  function reach(deployment: D) {
    if (reached.has(deployment)) return
    reached.add(deployment)
    queue.push(deployment.name)
  }
  if (start === undefined) options.deployments.forEach(reach)
  else queue.push(start)
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    if (seen.has(name)) continue
    seen.add(name)
    for (const deployment of options.deployments) {
      if (deployment.name === name || deployment.model === name || deployment.groups?.includes(name) === true) {
        reach(deployment)
      }
    }
    for (const fallback of options.fallbacks?.[name] ?? []) queue.push(fallback.to)
  }
  return [...reached]
}

/**
 * The highest of each price among `deployments` (input, cache writes, output, media, hosted tools' calls, audio, a
 * long-context tier past the lowest threshold, each service tier), a deployment at its own prices where it lacks a
 * tier; `undefined` when one has no price. URLs count as fetched when one deployment fetches them or does not say. The
 * context window is the largest, but none when a deployment that fetches URLs has none (what it fetches has no known
 * size), or when all speak the Responses API and one has none (its hosted tools' turns are bounded by its own window).
 */
export function worstPrice(
  deployments: ReadonlyArray<{ readonly price?: Pricing.Price | undefined; readonly api?: string | undefined }>
): Pricing.Price | undefined {
  const prices = deployments.flatMap(({ price }) => price === undefined ? [] : [price])
  if (prices.length === 0 || prices.length < deployments.length) return undefined
  const most = (read: (price: Pricing.Price) => number | undefined, fallback: number) =>
    Math.max(...prices.map((price) => read(price) ?? fallback))
  const windows = prices.flatMap(({ contextWindow }) => contextWindow === undefined ? [] : [contextWindow])
  // None once a deployment that fetches URLs has no window; and a request with hosted tools reaches only deployments
  // that all speak the Responses API (`responses/hosted.ts`).
  const windowless = prices.some((price) => price.contextWindow === undefined && price.mediaUrls !== "typed") ||
    (windows.length < prices.length && deployments.every(({ api }) => api === "responses"))
  const contextWindow = windowless ? 0 : Math.max(0, ...windows)
  const hostedToolCalls: Record<string, number> = {}
  for (const price of prices) {
    for (const [type, dollars] of Object.entries({ ...Pricing.defaultHostedToolCalls, ...price.hostedToolCalls })) {
      hostedToolCalls[type] = Math.max(hostedToolCalls[type] ?? 0, dollars)
    }
  }
  const above = Math.min(...prices.map((price) => price.longContext?.above ?? Infinity))
  const tiers = new Set(prices.flatMap((price) => Object.keys(price.serviceTiers ?? {})))
  return {
    ...dearest(prices),
    // Past the lowest threshold, each deployment at its long-context tier where it has one, else at its own prices.
    ...(above === Infinity ? {} : {
      longContext: { above, ...dearest(prices.map((price) => price.longContext ?? price)) }
    }),
    ...(tiers.size === 0 ? {} : {
      serviceTiers: Object.fromEntries(
        [...tiers].map((tier) => [tier, dearest(prices.map((price) => price.serviceTiers?.[tier] ?? price))])
      )
    }),
    imageTokens: most((price) => price.imageTokens, Pricing.defaultImageTokens),
    audioTokensPerSecond: most((price) => price.audioTokensPerSecond, Pricing.defaultAudioTokensPerSecond),
    videoTokensPerSecond: most((price) => price.videoTokensPerSecond, Pricing.defaultVideoTokensPerSecond),
    pdfPageTokens: most((price) => price.pdfPageTokens, Pricing.defaultPdfPageTokens),
    mediaUrls: prices.every((price) => price.mediaUrls === "typed") ? "typed" : "fetched",
    ...(contextWindow === 0 ? {} : { contextWindow }),
    hostedToolCalls
  }
}

/** The highest of each price of `all` (a cache read's counted as an input token's), their fallbacks applied. */
function dearest(all: ReadonlyArray<Pricing.TokenPrices>): Pricing.TokenPrices {
  const most = (read: (rates: Pricing.TokenPrices) => number) => Math.max(0, ...all.map(read))
  return {
    input: most((rates) => Math.max(rates.input, rates.cachedInput ?? 0)),
    cacheWrite: most((rates) => Pricing.cacheWritePrice(rates)),
    cacheWrite1h: most((rates) => Pricing.cacheWritePrice(rates, "1h")),
    output: most((rates) => rates.output),
    audioInput: most((rates) => Math.max(rates.audioInput ?? rates.input, rates.cachedAudioInput ?? 0)),
    audioOutput: most((rates) => rates.audioOutput ?? rates.output)
  }
}

/**
 * The least reply limit each API takes, where it has one: a smaller `maxTokens` is sent as it (OpenAI's Responses
 * reference: `max_output_tokens` of at least 16), so the call may bill that many output tokens.
 */
const leastReplyLimits: Readonly<Partial<Record<NonNullable<Deployment["api"]>, number>>> = {
  responses: ResponsesCodec.minMaxOutputTokens
}

/** The least reply limit any of `deployments` sends (one token where none has a least of its own). */
export function leastMaxTokens(deployments: ReadonlyArray<Pick<Deployment, "api">>): number {
  return Math.max(1, ...deployments.map(({ api }) => api === undefined ? 1 : leastReplyLimits[api] ?? 1))
}

/** What a target's reach says of it; guardrails `common` (the gateway's, its router's) and `guarded` by deployment. */
function reachOf(
  deployments: ReadonlyArray<Deployment>,
  common: ReadonlyArray<Guardrail>,
  guarded: ReadonlyMap<string, ReadonlyArray<Guardrail>>
): Pick<Target, "price" | "leastMaxTokens" | "sharedCount" | "speaksResponses" | "deployments" | "guardrails"> {
  const [first] = deployments
  return {
    price: worstPrice(deployments),
    leastMaxTokens: leastMaxTokens(deployments),
    sharedCount: first?.api !== undefined &&
      deployments.every((deployment) => deployment.model === first.model && deployment.api === first.api),
    deployments: deployments.map((deployment) => deployment.name),
    speaksResponses: deployments.length > 0 && deployments.every((deployment) => deployment.api === "responses"),
    guardrails: Guardrails.union(common, ...deployments.map((deployment) => guarded.get(deployment.name) ?? []))
  }
}

/** The guardrails each part of `config` names; each one not built, and each unknown name, is a problem at its field. */
function guardrailsOf(config: Gateway.Config, deployments: ReadonlyArray<Deployment>) {
  return Effect.gen(function*() {
    const built = yield* Effect.result(Guardrails.build(config.guardrails))
    const problems: Array<OptionsError> = []
    if (Result.isFailure(built)) problems.push(built.failure)
    // A name whose definition does not build is named once, for its definition, not again where it is listed.
    const named: Guardrails.Named = Result.isSuccess(built) ? built.success : new Map()
    const refused = new Set(Object.keys(config.guardrails ?? {}).filter((name) => !named.has(name)))
    function resolved(names: ReadonlyArray<string> | undefined, option: string): ReadonlyArray<Guardrail> {
      const found = Guardrails.resolve(named, names?.filter((name) => !refused.has(name)), option)
      if (Result.isSuccess(found)) return found.success
      problems.push(found.failure)
      return []
    }
    const gateway = resolved(config.keys?.guardrails, "config.keys.guardrails")
    const byDeployment = new Map<string, ReadonlyArray<Guardrail>>()
    for (const deployment of deployments) {
      byDeployment.set(deployment.name, resolved(deployment.guardrails, `deployments.${deployment.name}.guardrails`))
    }
    const byRouter = new Map<string, ReadonlyArray<Guardrail>>()
    for (const [name, router] of Object.entries(config.routers ?? {})) {
      byRouter.set(name, resolved(router.guardrails, `config.routers.${name}.guardrails`))
    }
    return { named, gateway, byDeployment, byRouter, problems }
  })
}

/**
 * What a configuration serves, by name, without building it: every name a request may use (a router's name winning)
 * and the deployments each reaches. The configuration's checks read it (`served`) where the engine could not be built.
 */
export interface Catalog {
  readonly models: ReadonlyArray<ModelEntry>
  /** The deployments a call of `name` may reach; `undefined` for a name the configuration does not have. */
  readonly reach: (name: string) => ReadonlyArray<Deployment> | undefined
  /** Each named router's options, its deployments those of its list the configuration has, in its order. */
  readonly routers: ReadonlyMap<string, Router.Options<Deployment>>
}

export function catalog(
  deployments: ReadonlyArray<Deployment>,
  routers: Gateway.Config["routers"]
): Catalog {
  const reaches = new Map<string, ReadonlyArray<Deployment>>()
  const models: Array<ModelEntry> = []
  const options = new Map<string, Router.Options<Deployment>>()
  for (const [name, named] of Object.entries(routers ?? {})) {
    const picked = named.deployments.flatMap((wanted) =>
      deployments.filter((deployment) => deployment.name === wanted).slice(0, 1)
    )
    const routerOptions = { ...named.options, deployments: picked }
    options.set(name, routerOptions)
    reaches.set(name, reachable(routerOptions, undefined))
    models.push({ id: name, ownedBy: "router" })
  }
  function address(name: string, ownedBy: string) {
    if (reaches.has(name)) return
    reaches.set(name, reachable({ deployments }, name))
    models.push({ id: name, ownedBy })
  }
  for (const deployment of deployments) address(deployment.name, deployment.provider ?? "gateway")
  for (const deployment of deployments) address(deployment.model, deployment.provider ?? "gateway")
  for (const deployment of deployments) for (const group of deployment.groups ?? []) address(group, "group")
  return { models, reach: (name) => reaches.get(name), routers: options }
}

/** What the keys' and callers' checks read of `catalog`: each name's worst price, and the guardrails' names. */
export function served(catalog: Catalog, guardrails: Gateway.Config["guardrails"]) {
  return {
    models: catalog.models,
    resolve: (model: string): Pick<Target, "price"> | undefined => {
      const reach = catalog.reach(model)
      return reach === undefined ? undefined : { price: worstPrice(reach) }
    },
    guardrails: new Map(Object.keys(guardrails ?? {}).map((name) => [name, name]))
  }
}

/** The problems of `routers`' lists: each name of a deployment the configuration does not have. */
function routerProblems(
  deployments: ReadonlyArray<Deployment>,
  routers: Gateway.Config["routers"]
): ReadonlyArray<OptionsError> {
  return Object.entries(routers ?? {}).flatMap(([name, named]) =>
    named.deployments.flatMap((wanted) =>
      deployments.some((deployment) => deployment.name === wanted)
        ? []
        : [OptionsErrors.make("Gateway", `config.routers.${name}.deployments`, wanted, "the name of a deployment")]
    )
  )
}

/** The problem of a named router's options (`Router.make` would refuse them), named under its name. */
function routerProblem(name: string, options: Router.Options<Deployment>): OptionsError | undefined {
  const problem = RouterSettings.invalid(options as Router.Options)
  return problem === undefined ? undefined : OptionsErrors.under(`config.routers.${name}.`, problem)
}

/**
 * Each of `deployments` built, by name, or the problem of each that does not build: its adapter's named by its entry,
 * as `ProviderConfig.clientLayer` names it, any other under `deployments.<name>`.
 */
function buildEach(deployments: ReadonlyArray<Deployment>) {
  return Effect.gen(function*() {
    const built = new Map<string, Layer.Layer<Llm.Llm>>()
    const batching = new Map<string, BatchDeployment>()
    const pools = new Map<string, KeyPool.Service>()
    const problems: Array<OptionsError> = []
    for (const deployment of deployments) {
      const layer = yield* Effect.result(Layer.build(deployment.llm))
      if (Result.isSuccess(layer)) {
        built.set(deployment.name, Layer.succeedContext(layer.success))
        const batch = batchDeploymentOf(deployment, layer.success)
        if (batch !== undefined) batching.set(deployment.name, batch)
        const pool = poolOf(layer.success)
        if (pool !== undefined) pools.set(deployment.name, pool)
      } else if (layer.failure.module.endsWith(`(${deployment.name})`)) problems.push(layer.failure)
      // Its key pool's or limiter's: named under the deployment, as the adapter's are by theirs.
      else problems.push(OptionsErrors.under(`deployments.${deployment.name}.`, layer.failure))
    }
    return { built, batching, pools, problems }
  })
}

/** The key pool the context a deployment's layer built holds, when it holds one. */
function poolOf(context: Context.Context<never>): KeyPool.Service | undefined {
  return Option.getOrUndefined(Context.getOption(context as Context.Context<KeyPool.KeyPool>, KeyPool.KeyPool))
}

/**
 * `deployment`'s batch API, when the context its layer built holds a client that has one and its key pool (a
 * provider.json deployment's does; an `Llm` given alone has neither).
 */
function batchDeploymentOf(deployment: Deployment, context: Context.Context<never>): BatchDeployment | undefined {
  const client = Context.getOption(context as Context.Context<ProviderClient>, ProviderClient)
  const pool = poolOf(context)
  if (client._tag === "None" || pool === undefined || client.value.batch === undefined) return undefined
  return {
    name: deployment.name,
    provider: client.value.provider,
    model: deployment.model,
    api: client.value.batch,
    pool,
    price: deployment.price ?? Pricing.lookup(deployment.model),
    leastMaxTokens: leastMaxTokens([deployment])
  }
}

/** The layer of a configuration's routers' stores, built with each configuration's engine (`stores.ts` chooses it). */
export class RouterStores
  extends Context.Service<RouterStores, Layer.Layer<Router.Stores>>()("effect-llm-router/gateway/RouterStores")
{}

/**
 * The engine of `config`, on the gateway's connected `store` (the config's is the gateway's to connect), its routers'
 * breakers and pins in the stores `RouterStores` builds.
 */
export function make(
  config: Gateway.Config,
  store: Store.Store | undefined
): Effect.Effect<Engine, OptionsError, HttpClient.HttpClient | Scope.Scope | RouterStores> {
  return Effect.gen(function*() {
    // A connected store: the deployments' limiters and pools, and every router's breakers, use it.
    const everything: Router.Options<Deployment> = { deployments: yield* config.deployments(store) }
    if (everything.deployments.length === 0) {
      return yield* OptionsErrors.make("Gateway", "config", "no models", "a configuration with at least one model")
    }
    // Session affinity is on unless a router's options turn it off, with at most `affinity_max_sessions` pins each; a
    // broken stream is continued unless told otherwise, since its client cannot restart a reply.
    const maxSessions = config.keys?.affinityMaxSessions
    function affinity(chosen: Router.Options["affinity"]): Router.Options["affinity"] {
      return chosen === false || maxSessions === undefined
        ? chosen ?? true
        : { maxSessions, ...(chosen === undefined || chosen === true ? {} : chosen) }
    }
    function settled(options: Router.Options<Deployment>): Router.Options<Deployment> {
      return { ...options, affinity: affinity(options.affinity), midStream: options.midStream ?? "continue" }
    }
    // Every problem of the deployments, the guardrails and the routers (their lists, then their options), at once.
    const names = catalog(everything.deployments, config.routers)
    const guarding = yield* guardrailsOf(config, everything.deployments)
    const { batching, built, pools, problems: refused } = yield* buildEach(everything.deployments)
    const problem = OptionsErrors.all([
      ...refused,
      ...guarding.problems,
      ...routerProblems(everything.deployments, config.routers),
      ...[...names.routers].map(([name, options]) =>
        // A router missing a deployment is named for it alone: its options are checked over the deployments it lists.
        options.deployments.length < (config.routers?.[name]?.deployments.length ?? 0)
          ? undefined
          : routerProblem(name, settled(options))
      )
    ])
    if (problem !== undefined) return yield* problem
    const reachOfGuarded = (deployments: ReadonlyArray<Deployment>, router?: string) =>
      reachOf(
        deployments,
        Guardrails.union(guarding.gateway, router === undefined ? [] : guarding.byRouter.get(router) ?? []),
        guarding.byDeployment
      )
    // Every router of this configuration keeps its breakers and pins in one store.
    const stores = yield* Layer.build(yield* RouterStores)
    function routerOf(options: Router.Options<Deployment>) {
      return Effect.provide(
        Router.make({
          ...settled(options),
          deployments: options.deployments.map((deployment) => ({ ...deployment, llm: built.get(deployment.name)! }))
        }),
        stores
      )
    }
    const all = yield* routerOf(everything)
    const targets = new Map<string, Target>()
    const statuses: Array<Effect.Effect<Router.Status>> = [all.status]
    // The routers over a target's Responses deployments, by the router narrowed and their names: one per set.
    const narrowed = new Map<string, Target>()
    // What a target reaching `reach` through a router of `options` ("" for the one over every deployment) says of it;
    // one reaching both kinds also gets a router over its Responses deployments: `options`' settings, no fallbacks.
    function reachThrough(router: string, options: Router.Options<Deployment>, reach: ReadonlyArray<Deployment>) {
      return Effect.gen(function*() {
        const reached = reachOfGuarded(reach, router === "" ? undefined : router)
        const speaking = reach.filter((deployment) => deployment.api === "responses")
        if (speaking.length === 0 || reached.speaksResponses) return reached
        const key = [router, ...speaking.map((deployment) => deployment.name)].join("\n")
        let responses = narrowed.get(key)
        if (responses === undefined) {
          const { fallbacks: _fallbacks, model: _model, ...settings } = options
          const narrow = yield* routerOf({ ...settings, deployments: speaking })
          statuses.push(narrow.status)
          responses = {
            llm: narrow,
            address: undefined,
            ...reachOfGuarded(speaking, router === "" ? undefined : router)
          }
          narrowed.set(key, responses)
        }
        return { ...reached, responses }
      })
    }
    for (const [name, options] of names.routers) {
      const router = yield* routerOf(options)
      statuses.push(router.status)
      const reached = yield* reachThrough(name, options, names.reach(name)!)
      targets.set(name, { llm: router, address: undefined, ...reached })
    }
    for (const { id } of names.models) {
      if (targets.has(id)) continue
      const reached = yield* reachThrough("", everything, names.reach(id)!)
      targets.set(id, { llm: all, address: id, ...reached })
    }
    const ready = Effect.map(
      Effect.all([all.status, all.unavailableCredentials], { concurrency: "unbounded" }),
      ([status, unavailableCredentials]): Readiness => ({
        ready: Object.entries(status.details).some(([name, load]) =>
          !Object.hasOwn(unavailableCredentials, name) && load.cooldown.state !== "open" &&
          (load.keys.length === 0 || load.keys.some((key) => key.disabled === null))
        ),
        unavailableCredentials
      })
    )
    return {
      resolve: (model) => targets.get(model),
      balanced: { llm: all, address: undefined, ...reachOfGuarded(reachable(everything, undefined)) },
      models: names.models,
      status: statuses.length === 1 ? all.status : Effect.map(Effect.all(statuses), RouterStatus.combine),
      ready,
      hostedTools: config.keys?.hostedTools ?? "omit",
      guardrails: guarding.named,
      gatewayGuardrails: guarding.gateway,
      batchDeployment: (name) => batching.get(name),
      keyPool: (name) => pools.get(name)
    }
  })
}
