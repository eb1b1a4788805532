/**
 * opencode's WebSocket transport through `serve` (`opencode run`, pinned by `test/utils/pinnedCli.ts`): its built-in
 * `openai` provider (`@ai-sdk/openai`, the Responses API at the gateway's `/v1`), the gateway key its stored login, and
 * that provider's experimental transport on (`OPENCODE_EXPERIMENTAL_WEBSOCKETS`), which sends a streamed call of a
 * session (its `x-session-affinity` header) over one socket to `/v1/responses` (OpenAI's Responses API WebSocket mode)
 * but its session's title (marked by its title header), which it streams over HTTP. The long scripted session
 * (`test/utils/agentSession.ts`) over a deployment of each backend API: every turn answered, its tools run, its context
 * compacted, the session resumed by `opencode run --continue` after `serve` was restarted, the gateway's recorded
 * spend the simulator's bill; each run's calls on its socket, every upgrade answered 101, and no call of the session's
 * over HTTP but its title.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { opencodeAnswer } from "../utils/agentRuns.js"
import { opencodeLimit, opencodeScenario } from "../utils/agentScenarios.js"
import {
  agentKey,
  type AgentSession,
  agentSession,
  type Backend,
  backends,
  playSession,
  prompts
} from "../utils/agentSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import { opencodeConfigured } from "../utils/opencodeConfig.js"
import { opencode, orSkip } from "../utils/pinnedCli.js"

const model = "gpt-4o-mini"

// An opencode run's bound, and a test's (two runs): the session's tool loop is slow on a loaded machine.
const runFor = 420_000
const testFor = 2 * runFor + 60_000

/** A line of `serve`'s request log: what it annotates, and the fiber that logged it. */
interface Logged {
  readonly annotations: Record<string, unknown>
  readonly fiberId: string
}

/** `serve`'s log lines of requests to `/v1/responses`. */
const responsesLogged = (log: string): ReadonlyArray<Logged> =>
  log.split("\n").filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Logged)
    .filter((line) => line.annotations["path"] === "/v1/responses")

/**
 * opencode run in the session and checked: its socket's upgrade answered 101 (a socket's line is written as it
 * closes), and no call over HTTP but its title, asked at the session's first prompt. A socket's requests are logged by
 * the socket's fiber, each as a `POST`; a `POST` of another fiber came over HTTP.
 */
const overSocket = (program: string, session: AgentSession) => {
  const env = opencodeConfigured({
    home: session.home,
    work: session.work,
    baseUrl: `${session.url}/v1`,
    model: session.model,
    modelSettings: { limit: opencodeLimit },
    key: agentKey,
    openAi: { webSocket: true }
  })
  return (args: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const ran = yield* spawnProcess(program, ["run", ...args], { cwd: session.work, env, timeoutMs: runFor })
      // A run that failed is reported by the session's checks, with what it printed.
      if (ran.code !== 0) return ran
      const sockets = yield* eventually(
        "serve's log line of opencode's socket",
        Effect.sync(() => responsesLogged(session.log()).filter((line) => line.annotations["method"] === "GET")),
        (lines) => lines.length > 0
      )
      expect(sockets.map((line) => line.annotations["status"]), session.log()).toEqual(sockets.map(() => 101))
      const carried = new Set(sockets.map((line) => line.fiberId))
      const overHttp = responsesLogged(session.log())
        .filter((line) => line.annotations["method"] === "POST" && !carried.has(line.fiberId))
      expect(overHttp.length, session.log()).toBe(args.includes("--continue") ? 0 : 1)
      return ran
    })
}

const sessionOn = (backend: Backend) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const program = yield* opencode.pipe(orSkip(ctx))
    const session = yield* agentSession({ label: "opencode-ws", model, backend, scenario: opencodeScenario })
    yield* playSession(session, {
      agent: "opencode",
      run: overSocket(program, session),
      first: [prompts.first],
      resumed: ["--continue", prompts.resumed],
      answer: opencodeAnswer
    })
  }).pipe(Effect.scoped)

describe.concurrent("opencode's long session through serve, over its WebSocket", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: opencode run over its WebSocket to /v1/responses compacts, resumes after serve restarts, ` +
        "billed as simulated",
      sessionOn(backend),
      testFor
    )
  }
})
