/**
 * How the agents' session tests run each agent CLI headless against a session's `serve` (`agentSession`), in the
 * session's workspace, with a scratch home and its gateway key: a function from the agent's arguments to its run; and
 * Codex's environment, which every Codex test runs it with.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { claudeCodeEnv } from "./agentAgainstServe.js"
import { agentKey, type AgentSession } from "./agentSession.js"
import { agentEnv, spawnProcess } from "./cliHarness.js"
import { opencodeConfigured } from "./opencodeConfig.js"
import { codexBin } from "./pinnedCli.js"

/** An agent run `timeoutMs` at most: long enough for a loaded machine's session. */
const timeoutMs = 240_000

/** How Claude Code is run: the tools it may use, the environment added, its `--model`, its prompt on stdin. */
export interface ClaudeCodeRunOptions {
  /** Default its Read, Edit and Bash. */
  readonly tools?: string
  readonly env?: Record<string, string>
  /** Default the session's model (a `[1m]` after it asks for the 1M-token window). */
  readonly model?: string
  /** Default none: the prompt is an argument. */
  readonly stdin?: string
}

/** Claude Code (`claude -p`) as `options` say. */
export const claudeCodeRun = (
  claude: string,
  session: AgentSession,
  { env = {}, model = session.model, stdin, tools = "Read,Edit,Bash" }: ClaudeCodeRunOptions = {}
) =>
(args: ReadonlyArray<string>) =>
  spawnProcess(process.execPath, [claude, "-p", ...args, "--model", model, "--allowedTools", tools], {
    cwd: session.work,
    env: {
      ...claudeCodeEnv({ home: session.home, dir: session.dir, url: session.url, agentKey, model: session.model }),
      ...env
    },
    ...(stdin === undefined ? {} : { stdin }),
    timeoutMs
  })

/**
 * Gemini CLI, its tools run without asking (`--approval-mode yolo`), at `serve`'s Gemini routes; `stdin`, when given,
 * goes before its `-p` prompt.
 */
export const geminiCliRun = (gemini: string, session: AgentSession, stdin?: string) => (args: ReadonlyArray<string>) =>
  spawnProcess(process.execPath, [gemini, "--skip-trust", "--approval-mode", "yolo", ...args], {
    cwd: session.work,
    env: {
      ...agentEnv(),
      HOME: session.home,
      TMPDIR: session.dir,
      GEMINI_API_KEY: agentKey,
      GOOGLE_GEMINI_BASE_URL: session.url,
      GEMINI_TELEMETRY_ENABLED: "false"
    },
    ...(stdin === undefined ? {} : { stdin }),
    timeoutMs
  })

/**
 * Codex's environment: its home and the user's `home` (the login shell it runs commands in reads no dotfile of the
 * machine's); `gatewayKey`, when given, in `GATEWAY_KEY` too, for a provider of its own.
 */
export const codexEnv = (home: string, gatewayKey?: string): Record<string, string> => ({
  ...agentEnv(),
  HOME: home,
  CODEX_HOME: home,
  ...(gatewayKey === undefined ? {} : { GATEWAY_KEY: gatewayKey })
})

/** The gateway key saved by `codex login --with-api-key`, for its built-in provider. */
export const codexLogin = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const login = yield* spawnProcess(process.execPath, [codexBin, "login", "--with-api-key"], {
      env,
      stdin: `${agentKey}\n`,
      timeoutMs: 60_000
    })
    expect(login.code, login.stderr).toBe(0)
  })

/**
 * `codex exec` with `args`, no sandbox (the scripted commands change the file, in a directory of the test's own);
 * `stdin`, when given, is its prompt where `args` name it `-`.
 */
export const codexExec =
  (session: Pick<AgentSession, "work">, env: Record<string, string>, stdin?: string) => (args: ReadonlyArray<string>) =>
    spawnProcess(process.execPath, [
      codexBin,
      "exec",
      ...args,
      "--skip-git-repo-check",
      "--dangerously-bypass-approvals-and-sandbox"
    ], { cwd: session.work, env, ...(stdin === undefined ? {} : { stdin }), timeoutMs })

/** How opencode is pointed at the session's `serve`. */
export interface OpencodeRunOptions {
  /** The model's own settings in its `opencode.json` (its `limit`, its `options`). Default none. */
  readonly modelSettings?: object
  /** The provider package and the URL it is given. Default `@ai-sdk/openai-compatible` at `serve`'s `/v1`. */
  readonly npm?: "@ai-sdk/openai-compatible" | "@ai-sdk/anthropic"
  readonly baseUrl?: string
}

/** opencode (`opencode run`), configured for the session's model at `serve` as `options` say. */
export const opencodeRun = (
  program: string,
  session: Pick<AgentSession, "home" | "work" | "url" | "model">,
  options: OpencodeRunOptions = {}
) => {
  const env = opencodeConfigured({
    home: session.home,
    work: session.work,
    baseUrl: options.baseUrl ?? `${session.url}/v1`,
    model: session.model,
    ...(options.npm === undefined ? {} : { npm: options.npm }),
    ...(options.modelSettings === undefined ? {} : { modelSettings: options.modelSettings }),
    key: agentKey
  })
  return (args: ReadonlyArray<string>) => spawnProcess(program, ["run", ...args], { cwd: session.work, env, timeoutMs })
}

/** opencode's answer: the last line it printed. */
export const opencodeAnswer = (stdout: string) => stdout.trim().split("\n").at(-1) ?? ""
