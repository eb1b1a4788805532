/**
 * The help text, the version, and the error every command fails with when its flags are wrong (exit code 2).
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import { readFileSync } from "node:fs"
import { parseArgs, type ParseArgsConfig } from "node:util"
import { messageOf } from "../internal/errorText.js"

/**
 * The program's name as users type it.
 */
export const programName = "effect-llm-router"

export const chatUsage = `Usage: ${programName} chat [PROMPT] [options]

Sends PROMPT to a model and streams the reply to stdout. PROMPT is read from
stdin when it is omitted and stdin is not a terminal. With no --config,
--preset, --base-url or key (--key, or the API's variable below), a built-in
simulator answers, speaking the chosen --api.

Where the model comes from:
  --config FILE         a provider.json
  --router NAME         a router of FILE's "router" section; --model then
                        addresses one of its deployments, groups or models
  --provider NAME       the provider in FILE (default: the file's only one);
                        without --config, the name shown in errors and --json
  --model NAME          the model (default: the file's only one, or gpt-4o-mini
                        for OpenAI; needed with --preset or another --api)
  --fallback MODEL      a second model the call falls back to on any failure:
                        in FILE (provider/model_name, or model_name), else
                        another model of the same API
  --timeout SECONDS     the call's deadline: every attempt and the fallback,
                        to the reply's first chunk when streaming
  --headers-timeout SECONDS
                        how long an attempt waits for the response headers
                        (default 30)
  --first-token-timeout SECONDS
                        how long a stream waits for its first token
                        (default: none, --timeout bounds it)
  --idle-timeout SECONDS
                        how long a stream may send nothing (default 30)
                        These three fail the attempt with a TimeoutError of
                        their phase (retried, or the fallback's turn); with
                        --config they override every model's headers_timeout,
                        first_token_timeout and idle_timeout in FILE, its
                        router's deployments included
  --api API             the wire format: chat-completions (default),
                        responses, anthropic, gemini or ollama
  --preset NAME         an OpenAI-compatible provider (with chat-completions):
                        deepseek, openrouter, groq, together, vllm, ollama,
                        zhipu, dashscope; sets its base URL and quirks
  --base-url URL        the API root: /v1 included for chat-completions and
                        responses (default https://api.openai.com/v1), the
                        host root for anthropic, gemini and ollama (default
                        the provider's); overrides a preset's (vllm needs it)
  --key KEY             the API key (default: the variable below)
  --max-retries N       retries of failures worth retrying (default 3;
                        with --config, the file's max_retries)

The key's variable when --key is not given:
  chat-completions, responses  OPENAI_API_KEY
  anthropic                    ANTHROPIC_API_KEY
  gemini                       GEMINI_API_KEY
  ollama                       OLLAMA_API_KEY (none needed locally: give
                               --base-url http://localhost:11434 instead)
  --preset deepseek            DEEPSEEK_API_KEY
  --preset openrouter          OPENROUTER_API_KEY
  --preset groq                GROQ_API_KEY
  --preset together            TOGETHER_API_KEY
  --preset vllm                VLLM_API_KEY (optional)
  --preset ollama              OLLAMA_API_KEY (optional)
  --preset zhipu               ZHIPUAI_API_KEY (id.secret, sent as a signed JWT)
  --preset dashscope           DASHSCOPE_API_KEY

The request and the output:
  --system TEXT         a system message before the prompt
  --temperature N       sampling temperature, 0 to 2
  --max-tokens N        the most tokens to generate
  --no-stream           wait for the whole reply, then print it
  --json                print only the reply, as one JSON object; on failure
                        {"error": {"tag", "message", ...}} (and the stderr line)
  -h, --help            this help

Exit codes: 0 done, 1 the call failed (the first stderr line is
"<ErrorTag>: <message>"), 2 bad flags, 130 interrupted.
`

export const batchUsage = `Usage: ${programName} batch FILE --out RESULTS [options]

Sends every line of FILE (JSONL: an OpenAI Chat Completions body plus an
"id", a string or a number) to the model and appends each result to RESULTS,
one JSON line:
  {"id": ..., "response": {"text", "toolCalls", "usage", "cost", ...}}
  {"id": ..., "error": {"tag", "message", ...}}
Where the model's API has a batch API (OpenAI, Azure OpenAI with batches,
Anthropic, Gemini), the lines go as provider batches (one per model the lines
name), at the batch price: each batch's progress is a line on stderr as it is
polled, and the results are written in FILE's order as they come (when a batch
ends). Otherwise, or with --live, they run as calls, --concurrency at a time,
each result appended as it finishes: a bar on a terminal, a line every 5
seconds otherwise. A summary ends the run.
Run it again to resume: ids with a result in RESULTS are skipped. A line that
is not JSON, has no id, repeats an id, is not a chat body or is longer than
--max-line-bytes is reported on stderr with its number and skipped. Ctrl-C
stops at once (a provider batch running is cancelled); RESULTS keeps every
result finished so far, whole.

With no --config, --preset, --base-url or key, a built-in simulator answers,
as for chat, as calls. A line's "model" is the model asked for (through
--router: a deployment, group or model of it); --model is the default for
lines with none. --router, --fallback and --timeout choose or bound each call:
with them the lines run as calls.

  -o, --out FILE        the JSONL file results are appended to (needed)
  --live                run the lines as calls even where the API has batches
  --poll SECONDS        how often a provider batch is asked how it goes
                        (default 30)
  --concurrency N       calls at once (default 8)
  --max-line-bytes N    the longest line read, in bytes (default 8 MiB, the
                        gateway's largest request body); longer ones are
                        skipped unread
  --config FILE, --router NAME, --provider NAME, --model NAME,
  --fallback MODEL, --timeout SECONDS, --headers-timeout SECONDS,
  --first-token-timeout SECONDS, --idle-timeout SECONDS, --api API,
  --preset NAME, --base-url URL, --key KEY, --max-retries N
                        where the model comes from, as for chat (see
                        "${programName} help chat")
  -h, --help            this help

Exit codes: 0 every line seen to (results and typed errors in RESULTS, bad
lines reported), 1 FILE, RESULTS or the configuration cannot be used, or a
provider batch was refused, expired or was cancelled before all its lines ran
(named on stderr; the lines not run have a BatchLineError in RESULTS), 2 bad
flags, 130 interrupted.
`

export const simulateUsage = `Usage: ${programName} simulate [options]

Runs the local simulator (OpenAI Chat Completions at URL/v1, the other wire
formats beside it, an MCP server at URL/mcp) until Ctrl-C.
The first line on stdout is its URL.

  --host H                     interface to listen on (default 127.0.0.1)
  --port N                     port; 0 picks a free one (default 8787)
  --latency MS                 delay before any response's headers (default 0)
  --time-to-first-token MS     delay before a stream's first chunk (default 0)
  --tokens-per-second N        pacing of streamed tokens (default unlimited)
  --reply-tokens N             text tokens in a reply (default 16)
  --reasoning-tokens N         reasoning tokens when asked for (default 8)
  --keys K1,K2                 the accepted API keys (default: any)
  --models M1,M2               the known models (default: gpt-4o-mini, gpt-4o,
                               sim-small, sim-large)
  --context-window N           context window in tokens (default 128000)
  --requests-per-minute N      per-key rate limit (default unlimited)
  --fault SPEC                 a fault for every request, in the
                               x-simulator-fault grammar (e.g. status=503)
  --scenario FILE              a scripted session (JSON, docs/simulator.md)
                               played for every request, and named by the
                               file's base name for x-simulator-scenario
  -h, --help                   this help
`

export const serveUsage = `Usage: ${programName} serve [options]

Runs the gateway over the models and routers of a provider.json: OpenAI's
API (URL/v1/chat/completions, /v1/responses, /v1/embeddings, /v1/models,
/v1/batches), Anthropic's (/v1/messages), Gemini's
(/v1beta/models/MODEL:generateContent) and MCP (/mcp: the tools of the
provider.json's MCP servers); /health, /ready, /metrics in Prometheus text
and a live /dashboard. It serves until Ctrl-C or SIGTERM, which stop
accepting and let calls in flight finish within the grace period. SIGHUP (or
POST /admin/reload) reads the provider.json again and serves it, calls in
flight finishing as they began; a file that does not load is refused and the
running one stays. Its process id is in serve.pid of its data directory while
it runs: signal that one (under npx, the process a shell started is npm's,
which passes on neither signal). The first line on stdout is its URL.
With no --config, it serves a built-in simulator and says so. Each request is
logged as a JSON line on stderr.
/metrics, the dashboard's data and the admin API (/admin/...) always take an
admin key, whatever the provider.json says of gateway keys: one of its
gateway.admin_keys, else the admin token serve makes at its first start, the
file admin-token of its data directory (--data), which keys, teams and spend
read there by themselves. The dashboard page asks for it.

  --config FILE            a provider.json; a request's model names one of its
                           routers, a deployment (provider/model_name), a model
                           or a group
  --host H                 interface to listen on (default 127.0.0.1); beyond
                           loopback (0.0.0.0) every request needs a gateway
                           key (provider.json's gateway section, or one made
                           with keys create); on loopback, a request naming
                           another Host is refused
  --port N                 port; 0 picks a free one (default 4000)
  --max-body-bytes N       the largest request body; larger get 413
                           (default 8388608)
  --grace-period SECONDS   how long calls in flight may take to finish on
                           shutdown (default 20)
  --data DIR               the gateway's data directory: its SQLite database
                           (gateway.db) of keys, spend and the request log,
                           unless the provider.json's store names a Postgres,
                           and, when provider.json names no admin key, the
                           admin token (admin-token, made at first start)
                           (default $XDG_DATA_HOME/effect-llm-router, else
                           ~/.local/share/effect-llm-router)
  -h, --help               this help
`

// The options and exit codes of the commands that manage a gateway through its admin API (`keys`, `teams`).
const adminOptions = `Options:
  --url URL             the gateway (default http://127.0.0.1:4000)
  --data DIR            the data directory of serve, whose admin-token file
                        is read for a gateway on loopback (default: serve's)
  --json                print the gateway's JSON answer instead
  -h, --help            this help

Exit codes: 0 done, 1 the gateway refused or could not be reached (the first
stderr line is "<ErrorTag>: <message>"), 2 bad flags or no admin key.
`

export const keysUsage = `Usage: ${programName} keys ACTION [options]

Manages the keys a running gateway made at run time (it needs a database:
serve --data, or provider.json's "store": {"sql": ...}), through its admin
API. The admin key is read from EFFECT_LLM_ROUTER_ADMIN_KEY, else a login's
access token for the gateway (login), else, for a gateway on this machine,
the token serve keeps in its data directory.

Actions:
  create NAME           make a key; it is printed once, alone on stdout
    --team ID           in a team (teams create makes one): its budget
                        binds the key too
    --models A,B        the model names it may call (default: every one)
    --tools A,B         the MCP tools it may use at /mcp: names or globs
                        (files__read, calc__*; default: none); in a team,
                        only those the team's --tools allow too
    --budget DOLLARS    US dollars it may spend per --period
    --period PERIOD     month (default), or a duration such as "1 day"
    --expires-at SECS   when it stops working, in Unix seconds
  list                  the keys: made here and provider.json's (read-only),
                        never the keys themselves
  update ID             change a key made here
    --name NAME         a new name
    --team ID           move it into a team; --no-team: out of its team
    --models A,B        new model names; --all-models: every one
    --tools A,B         new MCP tools; --no-tools: none
    --budget DOLLARS    a new budget (with --period, default month);
                        --no-budget: none
    --expires-at SECS   a new expiry; --no-expiry: none
  revoke ID             refuse the key from now on (every instance within
                        about a second)
  rotate ID             a new key for ID, printed once, alone on stdout
    --grace SECONDS     how long the old key keeps working (default 3600;
                        0: not at all)

${adminOptions}`

export const teamsUsage = `Usage: ${programName} teams ACTION [options]

Manages the teams of a running gateway (it needs a database: serve --data, or
provider.json's "store": {"sql": ...}), through its admin API. A key in a
team (keys create --team ID) is bound by the team's budget besides its own.
The admin key is read from EFFECT_LLM_ROUTER_ADMIN_KEY, else a login's access
token for the gateway (login), else, for a gateway on this machine, the token
serve keeps in its data directory.

Actions:
  create NAME           make a team; its id is printed alone on stdout
    --budget DOLLARS    US dollars its keys may spend together per --period
    --period PERIOD     month (default), or a duration such as "1 day"
    --tools A,B         the MCP tools its keys may use, as far as their own
                        --tools allow: names or globs (default: none, so its
                        keys list no tool)
  list                  the teams: id, name, budget and tools
  show ID               a team's budget, its spend this period, its tools
                        and its keys
  update ID             change a team
    --name NAME         a new name
    --budget DOLLARS    a new budget (with --period, default month)
    --no-budget         no budget any more
    --tools A,B         new MCP tools
    --no-tools          no MCP tool any more
  delete ID             delete a team that has no keys left (revoke them or
                        move them to another team first)

${adminOptions}`

export const spendUsage = `Usage: ${programName} spend [options]

Prints a running gateway's spend from its request log (GET /admin/spend):
calls (of models and MCP tools), cost and tokens per group over a time
range, the costliest first, and their total; then, apart, how many other
requests there were (MCP protocol messages, file uploads, batch reads).
The admin key is read from EFFECT_LLM_ROUTER_ADMIN_KEY,
else a login's access token for the gateway (login), else, for a gateway on
this machine, the token serve keeps in its data directory.

  --url URL                the gateway's URL (what serve prints first; default
                           http://127.0.0.1:4000)
  --data DIR               the data directory of serve, whose admin-token
                           file is read for a gateway on loopback (default:
                           serve's)
  --group-by GROUP         key, team, model (default) or deployment
  --from TIME              the range's start: an ISO 8601 time, Unix
                           seconds, or a time ago such as 24h or 7d
                           (default: the log's start)
  --to TIME                the range's end, excluded (default: now)
  --json                   print the gateway's JSON answer as it is
  -h, --help               this help

Exit codes: 0 done, 1 the gateway could not be reached or refused (the
first stderr line is "<ErrorTag>: <message>"), 2 bad flags.
`

export const auditUsage = `Usage: ${programName} audit [list] [options]
       ${programName} audit verify [--config FILE] [--data DIR] [--anchor FILE]

list (the default) prints a running gateway's admin audit log
(GET /admin/audit), newest first: who did what to which object, when, from
where and with what outcome. The admin key is read as spend reads it.

  --url URL                the gateway's URL (default http://127.0.0.1:4000)
  --data DIR               the data directory of serve, whose admin-token
                           file is read for a gateway on loopback
  --actor NAME             rows of this actor only (an admin key's name)
  --action ACTION          rows of this action only ("POST /admin/keys")
  --from TIME              rows at or after: ISO 8601, Unix seconds, or a time
                           ago such as 24h or 7d
  --to TIME                rows before this time
  --limit N                at most N rows (default 50 in the table)
  --jsonl                  every row as a JSON line, as the gateway exports it

verify reads the gateway's database itself (provider.json's store.sql, else
the SQLite file of the data directory, as serve finds it) and walks the
chain of digests: it prints the first row edited, deleted or moved and exits
1, or the rows read and the head's digest.

  --config FILE            the provider.json serve runs with
  --data DIR               serve's data directory (default: serve's)
  --anchor FILE            the heads and bases serve wrote outside the
                           database (gateway.audit.anchor): the chain must
                           hold each, or it was rewritten or cut short, and
                           start after a base, or its start was deleted
  -h, --help               this help

Exit codes: 0 done (verify: the chain is intact), 1 the gateway or the
database could not be read or refused, or verify found the chain broken, 2
bad flags.
`

export const loginUsage = `Usage: ${programName} login [--issuer URL --client-id ID] [options]

Signs you in for a gateway whose admin API takes sign-on (provider.json's
gateway.oidc), with the issuer's device authorization grant (RFC 8628): it
prints an address and a code (on stderr); open the address in any browser,
enter the code and approve. The tokens are kept in the data directory
(logins.json, mode 0600) and never printed; keys, teams and spend then act
as you on that gateway, refreshing the access token as it expires. Needs the
optional package openid-client (npm install openid-client).

The issuer, the client and the scopes are the gateway's when it publishes them
(GET /admin/oidc, from provider.json's gateway.oidc and its cli_client_id);
the flags override them.

  --url URL             the gateway's URL (default http://127.0.0.1:4000)
  --issuer URL          the gateway's OpenID Connect issuer (default: the
                        one the gateway publishes)
  --client-id ID        the issuer's public client for the command line, with
                        the device grant allowed (not the gateway's client;
                        default: the one the gateway publishes)
  --scope SCOPES        the scopes asked for, space- or comma-separated
                        (default: the gateway's scopes and offline_access
                        when it publishes them, else "openid email
                        offline_access"; add what your issuer needs to put
                        your groups and the gateway's audience in the
                        access token)
  --data DIR            the data directory (default
                        $XDG_DATA_HOME/effect-llm-router)
  -h, --help            this help

Exit codes: 0 logged in, 1 denied, expired or the issuer refused (the first
stderr line is "<ErrorTag>: <message>"), 2 bad flags.
`

export const logoutUsage = `Usage: ${programName} logout [options]

Forgets your login for a gateway, revoking it at the issuer first when the
issuer publishes a revocation endpoint.

  --url URL             the gateway's URL (default http://127.0.0.1:4000)
  --data DIR            the data directory (default
                        $XDG_DATA_HOME/effect-llm-router)
  -h, --help            this help

Exit codes: 0 logged out (or not logged in), 1 the file could not be
written, 2 bad flags.
`

/**
 * The top-level usage: each command and what it does, in a line; a command's options are its own usage
 * (`<command> --help`).
 */
export const usage = `Usage: ${programName} COMMAND [options]

Commands:
  chat [PROMPT]        ask a model; the reply streams to stdout
  batch FILE           run a JSONL file of requests, resumably (--out RESULTS)
  serve                run the gateway until Ctrl-C
  simulate             run the local simulator until Ctrl-C
  keys ACTION          make, list, update, revoke or rotate a running gateway's keys
  teams ACTION         make, list, show, update or delete a running gateway's teams
  spend                a running gateway's spend by key, team, model or deployment
  audit [verify]       a running gateway's admin audit log, or verify its chain
  login / logout       sign in for a gateway (device code), or forget the login
  --version            the version

A command's options: ${programName} COMMAND --help (or ${programName} help COMMAND).
`

/**
 * Where the usage of `command` is, as a usage error ends: its `--help`, or the top-level one's without a command.
 */
export const helpHint = (command: string | undefined): string =>
  `Run "${programName}${command === undefined ? "" : ` ${command}`} --help" for ${
    command === undefined ? "the commands" : "its usage"
  }.`

/**
 * The package's version, read from `package.json` next to `src/` or `dist/`.
 */
export const version = (): string => {
  const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8")
  return (JSON.parse(text) as { readonly version: string }).version
}

/**
 * Flags that cannot be run: the command prints `reason`, then its usage, and exits with code 2.
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly reason: string }> {}

/**
 * A `UsageError` of `reason`, as a failed `Result`.
 */
export const failUsage = (reason: string): Result.Result<never, UsageError> => Result.fail(new UsageError({ reason }))

/**
 * Joins a negative number to the string flag before it (`--idle-timeout -1` to `=-1`): no flag here is a dash and a
 * digit, so it is the flag's value, and its check then names what is wrong with it.
 */
const joinNegatives = (argv: ReadonlyArray<string>, options: NonNullable<ParseArgsConfig["options"]>) => {
  const out: Array<string> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const next = argv[i + 1]
    if (
      arg.startsWith("--") && options[arg.slice(2)]?.type === "string" && next !== undefined && /^-[\d.]/.test(next)
    ) {
      out.push(`${arg}=${next}`)
      i++
    } else {
      out.push(arg)
    }
    if (arg === "--") return [...out, ...argv.slice(i + 1)]
  }
  return out
}

/**
 * Why `argv` does not parse, in the command's own words (flag named, value quoted whole): Node's messages differ in
 * style and may leave a quote open. Read from a lenient parse's tokens; `undefined` when none is wrong.
 */
const flagProblem = (argv: ReadonlyArray<string>, options: NonNullable<ParseArgsConfig["options"]>) => {
  const { tokens } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: false, tokens: true })
  for (const token of tokens) {
    if (token.kind !== "option") continue
    const type = options[token.name]?.type
    const flag = token.rawName
    if (type === undefined) return `unknown option "${flag}" (an argument that starts with a dash goes after --)`
    if (type === "boolean" && token.value !== undefined) return `${flag} takes no value, got "${token.value}"`
    if (type === "string" && token.value === undefined) return `${flag} needs a value`
    if (type === "string" && token.inlineValue === false && token.value!.startsWith("-")) {
      return `${flag} needs a value, got "${token.value}" (write ${flag}=${token.value} if that is the value)`
    }
  }
  return undefined
}

/** The flag every command takes besides its own. */
const helpFlag = { help: { type: "boolean", short: "h" } } as const
type Help = typeof helpFlag

/**
 * `util.parseArgs` in strict mode, over `flags` and `--help`; what it refuses is a `UsageError` with a one-line reason
 * in the command's words.
 */
export const parseFlags = <const O extends NonNullable<ParseArgsConfig["options"]>>(
  argv: ReadonlyArray<string>,
  flags: O
): Result.Result<{
  readonly values: ReturnType<typeof parseArgs<{ options: O & Help; allowPositionals: true; strict: true }>>["values"]
  readonly positionals: ReadonlyArray<string>
}, UsageError> => {
  const options = { ...flags, ...helpFlag }
  const args = joinNegatives(argv, options)
  try {
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true })
    return Result.succeed({ values: parsed.values, positionals: parsed.positionals })
  } catch (error) {
    return failUsage(flagProblem(args, options) ?? messageOf(error).split("\n", 1)[0]!)
  }
}

/**
 * The flags of a command that takes no arguments (`serve`, `simulate`, `login`...): `"help"` for `--help`, else its
 * flags' values, or the `UsageError` naming what is wrong.
 */
export const noArgumentFlags = <const O extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  argv: ReadonlyArray<string>,
  options: O
) =>
  Result.gen(function*() {
    const { positionals, values } = yield* parseFlags(argv, options)
    const common: { readonly help?: boolean } = values
    if (common.help === true) return "help" as const
    if (positionals.length > 0) {
      return yield* failUsage(`${command} takes no arguments, got "${positionals.join(" ")}"`)
    }
    return values
  })

/**
 * A flag's value as a finite number, or failing with a `UsageError` naming the flag.
 */
export const numberFlag = (
  name: string,
  text: string | undefined,
  check: { readonly integer?: boolean; readonly min?: number; readonly max?: number; readonly expected: string }
): Result.Result<number | undefined, UsageError> => {
  if (text === undefined) return Result.succeed(undefined)
  const value = text.trim() === "" ? Number.NaN : Number(text)
  const ok = Number.isFinite(value) &&
    (check.integer !== true || Number.isInteger(value)) &&
    (check.min === undefined || value >= check.min) &&
    (check.max === undefined || value <= check.max)
  return ok
    ? Result.succeed(value)
    : failUsage(`--${name} needs ${check.expected}, got "${text}"`)
}

/** `--port`'s value, a port from 0 to 65535, or a `UsageError`. */
export const portFlag = (text: string | undefined): Result.Result<number | undefined, UsageError> =>
  numberFlag("port", text, { integer: true, min: 0, max: 65535, expected: "a port from 0 to 65535" })

/**
 * A flag's value as a positive number of seconds, or a `UsageError` naming the flag.
 */
export const secondsFlag = (name: string, text: string | undefined): Result.Result<number | undefined, UsageError> =>
  numberFlag(name, text, { min: Number.MIN_VALUE, expected: "a positive number of seconds" })

/**
 * A flag's value as a positive integer, or a `UsageError` naming the flag.
 */
export const positiveIntegerFlag = (
  name: string,
  text: string | undefined
): Result.Result<number | undefined, UsageError> =>
  numberFlag(name, text, { integer: true, min: 1, expected: "a positive integer" })

/**
 * A comma-separated list flag, blanks dropped.
 */
export const listFlag = (text: string | undefined): ReadonlyArray<string> | undefined =>
  text === undefined ? undefined : text.split(",").map((item) => item.trim()).filter((item) => item !== "")
