/**
 * The router assembled: options checked, each deployment's layer built once, and the service over `routing.ts`,
 * `stream.ts` and `status.ts`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { hash } from "node:crypto"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import { type EmbeddingResponse, type Input as EmbeddingRequest, isTokens } from "../../Embedding.js"
import type * as Llm from "../../Llm.js"
import { InvalidRequestError, type LlmError } from "../../LlmError.js"
import type { OptionsError } from "../../OptionsError.js"
import type { Deployment, Options, Pins, Service } from "../../Router.js"
import * as Store from "../../Store.js"
import { viaShared } from "../store/deprecatedShared.js"
import * as Telemetry from "../telemetry.js"
import * as Breaker from "./breaker.js"
import * as Deployments from "./deployment.js"
import * as LearnedLimits from "./learnedLimits.js"
import { addressesOf, type Core, picker, run, type Sender } from "./routing.js"
import * as Settings from "./settings.js"
import * as Status from "./status.js"
import { chosen } from "./stores/chosen.js"
import * as StoresRedis from "./stores/redis/layer.js"
import type { AffinityStore, BreakerStore, LearnedLimitStore } from "./stores/tags.js"
import { chatStream } from "./stream.js"

const chatSender: Sender<ChatResponse> = {
  send: (state, routed) => state.llm.chat(routed),
  held: false,
  done: Telemetry.annotateResponse
}

// A count goes where a chat of the same request would, retried elsewhere and fallen back by the same rules.
const countSender: Sender<Llm.TokenCount> = {
  send: (state, routed) => state.llm.countTokens(routed),
  held: false
}

// `core` over the deployments `keep` keeps, every address still known (a fallback to one with none left goes on
// from there, as to one whose deployments are all cooling down).
const narrowed = (core: Core, keep: (state: Deployments.State) => boolean): Core => {
  const addresses = new Map<string, ReadonlyArray<Deployments.State>>()
  for (const [name, members] of core.addresses) addresses.set(name, members.filter(keep))
  return { ...core, addresses, everyone: core.everyone.filter(keep) }
}

// An embedding request whose address has no deployment that takes its input.
const cannotEmbed = (core: Core, request: EmbeddingRequest, tokens: boolean): InvalidRequestError => {
  const address = request.model ?? core.settings.model
  const members = address === undefined ? core.everyone : core.addresses.get(address)!
  const named = address === undefined ? "every deployment" : address
  const listed = members.map((state) =>
    `${state.name} (${state.embeddingInput === "none" ? "no embeddings API" : "text only"})`
  )
  return new InvalidRequestError({
    provider: Settings.provider,
    model: named,
    param: tokens ? "input" : "model",
    detail: tokens
      ? `the input is token ids, and no deployment of ${named} takes them (only OpenAI-compatible APIs do): ` +
        `${listed.join(", ")}; send the text`
      : `no deployment of ${named} can embed: ${listed.join(", ")}; name a model or group with an embedding model`
  })
}

const makeService = (
  options: Options,
  settings: Settings.Settings,
  states: ReadonlyArray<Deployments.State>,
  affinity: Pins | undefined
): Service => {
  const addresses = addressesOf(states)
  const core: Core = {
    settings,
    addresses,
    everyone: options.model === undefined ? states : addresses.get(options.model)!,
    pick: picker(settings),
    affinity
  }

  const chat = (request: ChatRequest): Effect.Effect<ChatResponse, LlmError> => run(core, request, chatSender, "chat")

  // Embeddings are routed by a chat's rules, only to the deployments whose client takes their input (texts, or token
  // ids); they weigh nothing for lowest cost or a budget, as `Pricing` prices chat tokens only.
  const textCore = narrowed(core, (state) => Deployments.embeds(state, false))
  const tokensCore = narrowed(core, (state) => Deployments.embeds(state, true))
  const embed = (request: EmbeddingRequest): Effect.Effect<EmbeddingResponse, LlmError> => {
    const tokens = isTokens(request)
    const embedding = tokens ? tokensCore : textCore
    const members = request.model === undefined ? embedding.everyone : embedding.addresses.get(request.model)
    if (members !== undefined && members.length === 0) return Effect.fail(cannotEmbed(core, request, tokens))
    const asChat: ChatRequest = request.model === undefined ? { messages: [] } : { messages: [], model: request.model }
    const sender: Sender<EmbeddingResponse> = {
      send: (state) => state.llm.embed(request.model === state.model ? request : { ...request, model: state.model }),
      held: false,
      done: Telemetry.annotateEmbedding
    }
    return run(embedding, asChat, sender, "embeddings")
  }

  const countTokens = (request: ChatRequest): Effect.Effect<Llm.TokenCount, LlmError> =>
    run(core, request, countSender, "count_tokens")

  return {
    chat,
    chatStream: chatStream(core),
    embed,
    countTokens,
    status: Status.make(options, states, affinity),
    unavailableCredentials: unavailableCredentials(states)
  }
}

/**
 * How long a credential's failure is kept before it is asked again: a readiness probe answers at once while a
 * credential gives nothing (Azure's default chain is slow to find no account), and a credential signed in since is seen
 * within this.
 */
export const credentialRecheckMillis = 5_000

/** `Router.Service.unavailableCredentials`: every deployment's credential asked at once, those that gave none. */
function unavailableCredentials(
  states: ReadonlyArray<Deployments.State>
): Effect.Effect<Readonly<Record<string, string>>> {
  const asked = states.flatMap((state) =>
    state.credential === undefined ? [] : [{ state, credential: state.credential }]
  )
  // The failures kept, by deployment: what the credential said, and until when (`Clock` milliseconds).
  const failed = new Map<string, { readonly detail: string; readonly until: number }>()
  return Effect.clockWith((clock) => {
    const now = clock.currentTimeMillisUnsafe()
    return Effect.map(
      Effect.forEach(asked, ({ credential, state }): Effect.Effect<ReadonlyArray<readonly [string, string]>> => {
        const kept = failed.get(state.name)
        if (kept !== undefined && now < kept.until) return Effect.succeed([[state.name, kept.detail]])
        return Effect.match(credential, {
          onFailure: (error) => {
            const detail = error.detail ?? error.message
            failed.set(state.name, { detail, until: now + credentialRecheckMillis })
            return [[state.name, detail]]
          },
          onSuccess: () => {
            failed.delete(state.name)
            return []
          }
        })
      }, { concurrency: "unbounded" }),
      (answers) => Object.fromEntries(answers.flat())
    )
  })
}

// Routers over the same deployments (one per instance) share their pins; routers of one process over different ones
// (a gateway's named routers) keep theirs apart, as in memory, so their counts add up.
const routerId = (names: ReadonlyArray<string>): string => hash("sha256", names.join("\n"), "base64url").slice(0, 16)

/** The stores a router requires (`chosen`). */
export type Stores = BreakerStore | LearnedLimitStore | AffinityStore

/** `Router.make`; with the deprecated `shared`, over its store's Redis layer, which provides the stores. */
export const make = <D extends Deployment<unknown, unknown>>(
  options: Options<D>
): Effect.Effect<Service, Layer.Error<D["llm"]> | OptionsError, Layer.Services<D["llm"]> | Scope.Scope | Stores> =>
  viaShared("Router", options, makeOverStores, (shared) =>
    "redis" in shared.store
      ? Effect.map(Store.make(shared.store), StoresRedis.layer)
      : Effect.succeed(StoresRedis.layer(shared.store)), { optional: true })

// A router over the stores it requires (`chosen`).
const makeOverStores = <D extends Deployment<unknown, unknown>>(
  options: Options<D>
): Effect.Effect<Service, Layer.Error<D["llm"]> | OptionsError, Layer.Services<D["llm"]> | Scope.Scope | Stores> =>
  Effect.gen(function*() {
    const problem = Settings.invalid(options as Options)
    if (problem !== undefined) return yield* Effect.fail(problem)
    const settings = Settings.resolve(options as Options)
    const built = yield* Effect.forEach(options.deployments, (deployment) =>
      Effect.map(
        Layer.build(deployment.llm as Layer.Layer<Llm.Llm, Layer.Error<D["llm"]>, Layer.Services<D["llm"]>>),
        (context): Deployments.Built => ({ deployment, context })
      ))
    // The stores are chosen once here; each deployment's breaker and learned limits are kept under its name.
    const { affinity, breakers, key, learned, own } = yield* chosen(options as Options)
    const learning = settings.learnedLimits
    const states = yield* Effect.forEach(built, (entry) => {
      const at = `${key}:${entry.deployment.name}`
      return Effect.map(
        Effect.all([
          breakers.breaker({ key: at, ...settings.cooldown }),
          learning === undefined ? Effect.undefined : LearnedLimits.make(learning, learned, at)
        ]),
        ([breaker, limits]) => Deployments.make(options as Options, entry, breaker, limits)
      )
    })
    if (!own.breakers) yield* Breaker.refresh(states)
    if (!own.learned) yield* LearnedLimits.refresh(states.flatMap((state) => state.learned ?? []))
    const names = states.map((state) => state.name)
    const pins = settings.affinity === undefined
      ? undefined
      : yield* affinity.pins({ key: `${key}:${routerId(names)}`, ...settings.affinity, deployments: names })
    return makeService(options as Options, settings, states, pins)
  })
