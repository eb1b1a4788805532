/**
 * What the gateway serves, built once at start from a `provider.json`: each
 * deployment's `Llm` (with its key pool and limiter) built once, a router over
 * every model (addressed by deployment, model or group name) and one per named
 * router of the `router` section, all over those same `Llm`s, so a key's load
 * and cooldowns are the same whichever name a request uses. A request's
 * `model` is resolved to one of them by a map lookup.
 */
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Llm from "../../Llm.js"
import type { OptionsError } from "../../OptionsError.js"
import type * as ProviderConfig from "../../ProviderConfig.js"
import * as Router from "../../Router.js"

/** Where a request's `model` goes: the service to call and the address to give it (none for a named router). */
export interface Target {
  readonly llm: Llm.Service
  readonly address: string | undefined
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
  /** The router over every deployment: its status counts every call made through it. */
  readonly status: Router.Service["status"]
  /** Whether some deployment can take a call now: its breaker not open, and a key not disabled. */
  readonly ready: Effect.Effect<boolean>
}

type Deployment = Router.Deployment<OptionsError, HttpClient.HttpClient>

export const make = (
  config: ProviderConfig.ProviderConfig
): Effect.Effect<Engine, OptionsError | ProviderConfig.ProviderConfigError, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function*() {
    const everything = yield* Router.fromConfig(config)
    // Built once, shared by every router below.
    const built = new Map<string, Layer.Layer<Llm.Llm>>()
    for (const deployment of everything.deployments) {
      built.set(deployment.name, Layer.succeedContext(yield* Layer.build(deployment.llm)))
    }
    const shared = (options: Router.Options<Deployment>): Router.Options<Router.Deployment> => ({
      ...options,
      deployments: options.deployments.map((deployment) => ({ ...deployment, llm: built.get(deployment.name)! }))
    })
    const all = yield* Router.make(shared(everything))
    const targets = new Map<string, Target>()
    const models: Array<ModelEntry> = []
    for (const name of Object.keys(config.routers)) {
      const router = yield* Router.make(shared(yield* Router.fromConfigNamed(config, name)))
      targets.set(name, { llm: router, address: undefined })
      models.push({ id: name, ownedBy: "router" })
    }
    const address = (name: string, ownedBy: string) => {
      // A router's name wins over a model of the same name; each name is listed once.
      if (targets.has(name)) return
      targets.set(name, { llm: all, address: name })
      models.push({ id: name, ownedBy })
    }
    for (const deployment of everything.deployments) address(deployment.name, deployment.provider ?? "gateway")
    for (const deployment of everything.deployments) address(deployment.model, deployment.provider ?? "gateway")
    for (const deployment of everything.deployments) {
      for (const group of deployment.groups ?? []) address(group, "group")
    }
    const ready = Effect.map(all.status, (status) =>
      Object.values(status.details).some((load) =>
        load.cooldown.state !== "open" && (load.keys.length === 0 || load.keys.some((key) => key.disabled === null))
      ))
    return { resolve: (model) => targets.get(model), balanced: { llm: all, address: undefined }, models, status: all.status, ready }
  })
