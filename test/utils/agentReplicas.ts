/**
 * The agents' session through replicas: the scratch directory (`home`, `work` holding `hello.txt`); two simulators
 * playing the session's scenario, each an organisation of its own (what one encrypts the other refuses), behind
 * recorders of the bodies they get; two `serve` replicas on one Redis, each with a data directory of its own, whose
 * model is a router over a deployment of the backend's API on each simulator (`lowest-latency`, which tries a
 * deployment it has not measured first, so only the session's pin keeps a session on one); and a balancer in front of
 * the replicas, each request and each socket to the next in turn.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Serve from "../../src/cli/serve.js"
import { canonicalJson } from "../../src/internal/json.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import {
  agentKey,
  type AgentRuns,
  type Backend,
  endings,
  modelTurns,
  scratchWorkspace,
  sessionFile,
  sessionResult
} from "./agentSession.js"
import { balancer } from "./balancer.js"
import { awaitFirstLine, recorder, startInProcess } from "./cliHarness.js"
import { redisServer } from "./redisServer.js"
import { providerFile } from "./serveCluster.js"

/** The agent's set-up: its model, the backend's API, the session. */
export interface ReplicasSetup {
  /** The scratch directory's name's prefix. */
  readonly label: string
  readonly model: string
  /** The model each deployment calls upstream, when the backend serves `model` as another (default: `model`). */
  readonly upstream?: string
  readonly backend: Backend
  /** The session's scenario, given the workspace's path. */
  readonly scenario: (work: string) => Simulator.Scenario
}

/**
 * The replicas over the two deployments: the balancer (its `url` the agent's), `restart` (each replica stopped and
 * started again on its port over its data, one after the other, as a rolling restart), the simulators, the bodies each
 * deployment was sent, and the replicas' logs.
 */
export const agentReplicas = (setup: ReplicasSetup) =>
  Effect.gen(function*() {
    const { dir, home, work } = yield* scratchWorkspace(`${setup.label}-${setup.backend}`)
    fs.writeFileSync(path.join(work, sessionFile.name), sessionFile.text)
    const scenario = setup.scenario(work)
    const redis = yield* redisServer
    const providerKey = `sk-provider-${setup.label}-0001`
    const upstream = setup.upstream ?? setup.model
    const simulators = [
      yield* Simulator.make({ apiKeys: [providerKey], models: [upstream], scenario }),
      yield* Simulator.make({ apiKeys: [providerKey], models: [upstream], scenario })
    ]
    const recorded = [yield* recorder(simulators[0]!.url), yield* recorder(simulators[1]!.url)]
    const openAi = setup.backend === "chat-completions" || setup.backend === "responses"
    const deployment = (at: number) => [{
      model_name: upstream,
      api: setup.backend,
      // The recorder's URL is its `/v1`; the other APIs are reached at its root.
      base_url: openAi ? recorded[at]!.baseUrl : recorded[at]!.baseUrl.replace(/\/v1$/, ""),
      api_keys: [providerKey],
      max_retries: 0
    }]
    const model = setup.model
    const file = yield* providerFile({
      one: deployment(0),
      two: deployment(1),
      router: { [model]: { deployments: [`one/${upstream}`, `two/${upstream}`], strategy: "lowest-latency" } },
      store: { redis: redis.url, on_unavailable: "fail-closed", command_timeout: 5 },
      gateway: { keys: [{ name: "agent", key: agentKey }] }
    })
    const start = (at: number, port: number) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const serving = yield* startInProcess((io) =>
          Serve.run(["--config", file, "--port", String(port), "--data", path.join(dir, `data-${at}`)], io)
        ).pipe(Scope.provide(scope))
        const url = yield* awaitFirstLine(serving, "serve's first line (its URL)")
        return { url, serving, stop: Scope.close(scope, Exit.void) }
      })
    const running = [yield* start(0, 0), yield* start(1, 0)]
    yield* Effect.addFinalizer(() => Effect.forEach(running, (replica) => replica.stop, { discard: true }))
    const urls = running.map((replica) => replica.url)
    const restart = Effect.forEach([0, 1], (at) =>
      Effect.gen(function*() {
        yield* running[at]!.stop
        running[at] = yield* start(at, Number(new URL(urls[at]!).port))
      }), { discard: true })
    const balanced = yield* balancer(urls)
    return {
      dir,
      home,
      work,
      scenario,
      balanced,
      restart,
      simulators,
      recorded,
      log: () => running.map((replica, at) => `replica ${at}:\n${replica.serving.stderr()}`).join("\n")
    }
  })

/** A session `agentReplicas` set up. */
export type AgentReplicas = Effect.Success<ReturnType<typeof agentReplicas>>

/**
 * The session played by the agent through the replicas and checked: the first task answered with its ending and
 * `hello.txt` fixed; both replicas restarted; the resumed task answered and the file's second line there; both replicas
 * sent some of its requests; every scripted turn played once (none refused and played again). The requests each
 * deployment's simulator got.
 */
export const playAcrossReplicas = (replicas: AgentReplicas, runs: Omit<AgentRuns, "whole">) =>
  Effect.gen(function*() {
    const task = Effect.fnUntraced(function*(args: ReadonlyArray<string>, ending: string, file: string) {
      const ran = yield* runs.run(args)
      expect(ran.code, `${runs.agent}'s stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\n${replicas.log()}`).toBe(0)
      const answer = runs.answer ?? ((stdout: string) => stdout.trim())
      expect(answer(ran.stdout), `${runs.agent}'s stderr:\n${ran.stderr}`).toBe(ending)
      expect(fs.readFileSync(path.join(replicas.work, sessionFile.name), "utf8")).toBe(file)
    })
    yield* task(runs.first, endings.first, "hello, world\n")
    yield* replicas.restart
    yield* task(runs.resumed, endings.resumed, sessionResult)
    expect(replicas.balanced.requests.every((count) => count > 0), `${replicas.balanced.requests}`).toBe(true)
    const counts = yield* Effect.forEach(replicas.simulators, (simulator) => simulator.requestCount)
    expect(counts[0]! + counts[1]!, replicas.log()).toBe(modelTurns(replicas.scenario).length)
    return counts
  })

/** A Gemini content's part, as far as its calls' signatures go. */
interface GeminiPart {
  readonly functionCall?: { readonly name: string; readonly args?: unknown }
  readonly thoughtSignature?: string
}

/** The first function call part of each model content of a Gemini request `body`: the one its API wants signed. */
const firstCalls = (body: Record<string, unknown>): ReadonlyArray<GeminiPart> =>
  (body["contents"] as ReadonlyArray<{ readonly role?: string; readonly parts: ReadonlyArray<GeminiPart> }>)
    .filter((content) => content.role === "model")
    .flatMap((content) => content.parts.filter((part) => part.functionCall !== undefined).slice(0, 1))

/** A Converse message's content block, as far as its reasoning's signature goes. */
interface BedrockBlock {
  readonly reasoningContent?: { readonly reasoningText?: { readonly signature?: string } }
}

/** The content blocks of the messages of an Anthropic Messages or Bedrock Converse `body`. */
const blocks = (body: Record<string, unknown>) =>
  (body["messages"] as ReadonlyArray<{ readonly content: unknown }>)
    .flatMap((message) =>
      Array.isArray(message.content) ? message.content as ReadonlyArray<Record<string, unknown>> : []
    )

/**
 * The thinking a request `body` sends back to a deployment, as each API carries it: a Responses input's reasoning
 * items' encrypted content, an Anthropic message's thinking blocks' signatures, a Converse message's reasoning
 * signatures, the thought signature of the first call of each Gemini model content.
 */
export const thinkingSentBack = {
  "chat-completions": (body: Record<string, unknown>): ReadonlyArray<unknown> =>
    (body["messages"] as ReadonlyArray<Record<string, unknown>>)
      .filter((message) => message["role"] === "assistant" && message["reasoning_content"] !== undefined)
      .map((message) => message["reasoning_content"]),
  responses: (body: Record<string, unknown>): ReadonlyArray<unknown> =>
    (body["input"] as ReadonlyArray<Record<string, unknown>>)
      .filter((item) => item["type"] === "reasoning")
      .map((item) => item["encrypted_content"]),
  anthropic: (body: Record<string, unknown>): ReadonlyArray<unknown> =>
    blocks(body).filter((block) => block["type"] === "thinking").map((block) => block["signature"]),
  bedrock: (body: Record<string, unknown>): ReadonlyArray<unknown> =>
    (blocks(body) as ReadonlyArray<BedrockBlock>).flatMap((block) =>
      block.reasoningContent?.reasoningText === undefined ? [] : [block.reasoningContent.reasoningText.signature]
    ),
  gemini: (body: Record<string, unknown>): ReadonlyArray<unknown> =>
    firstCalls(body).map((part) => part.thoughtSignature)
} as const

/**
 * What a deployment's thinking looks like when it comes back: OpenAI's encrypted content (a Fernet token), a signature,
 * DeepSeek's text.
 */
export const thinkingForm = {
  "chat-completions": /\S/,
  responses: /^gAAAAB/,
  anthropic: /^\S+$/,
  bedrock: /^\S+$/,
  // The model's own, not a stand-in the Gemini API takes unchecked (its thought signatures page names two).
  gemini: /^(?!skip_thought_signature_validator$|context_engineering_is_the_way_to_go$)\S+$/
} as const

/**
 * The session's requests all sent to one deployment (none of it moved), which was sent its thinking back as it made it
 * (`counts`: the requests each simulator got, as `playAcrossReplicas` gives them). The bodies that deployment got.
 */
export const keptWithItsDeployment = (
  replicas: AgentReplicas,
  counts: ReadonlyArray<number>,
  backend: Backend
) => {
  expect(counts.filter((count) => count > 0), replicas.log()).toHaveLength(1)
  const bodies = replicas.recorded[counts[0]! > 0 ? 0 : 1]!.bodies
  const sent = bodies.flatMap(thinkingSentBack[backend])
  expect(sent.length).toBeGreaterThan(0)
  const edited = backend === "gemini" ? editedCalls(replicas.scenario, bodies) : 0
  const own = sent.filter((content) => typeof content === "string" && thinkingForm[backend].test(content))
  expect(own.length, "thinking sent back but as the deployment made it").toBe(sent.length - edited)
  return bodies
}

/**
 * The first calls of Gemini model contents in `bodies` that a client sent back with arguments none of the scenario's
 * calls of that name has (Claude Code adds `replace_all: false` to its Edit's), all with a stand-in: the signature
 * the model made was for other arguments, so the gateway sends the one the Gemini API docs name for a call it did not
 * sign.
 */
const editedCalls = (scenario: Simulator.Scenario, bodies: ReadonlyArray<Record<string, unknown>>): number => {
  const made = new Set(
    scenario.turns.flatMap((turn) => turn.toolCalls ?? []).map((call) =>
      canonicalJson([call.name, call.arguments ?? {}])
    )
  )
  const edited = bodies.flatMap(firstCalls).filter(({ functionCall }) =>
    !made.has(canonicalJson([functionCall!.name, functionCall!.args ?? {}]))
  )
  for (const part of edited) expect(part.thoughtSignature).toBe("skip_thought_signature_validator")
  return edited.length
}
