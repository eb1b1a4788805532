/**
 * What the commands that call a running gateway's admin API share (`keys`, `teams`, `spend`): where the admin key
 * comes from, one request with it, its JSON answer, budget flags, and the error of a gateway unreachable or refusing.
 */
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { randomBytes, timingSafeEqual } from "node:crypto"
import { buildConnector, Client } from "undici"
import { defaultPort } from "../Gateway.js"
import { messageOf } from "../internal/errorText.js"
import { type Connection, endpointText, proofOf } from "../internal/gateway/identity/instance.js"
import { definedFields } from "../internal/json.js"
import type { OptionsError } from "../OptionsError.js"
import * as UndiciHttpClient from "../UndiciHttpClient.js"
import * as AdminToken from "./adminToken.js"
import { ExitCode, type Io, runParsed } from "./io.js"
import * as LoginStore from "./loginStore.js"
import { failUsage, noArgumentFlags, numberFlag, parseFlags, UsageError } from "./usage.js"

/**
 * The variable the admin key is read from, never a flag (a flag would show in the process list and shell history).
 */
export const adminKeyVariable = "EFFECT_LLM_ROUTER_ADMIN_KEY"

/** The flags every admin command takes besides its own: the gateway, serve's data directory, JSON, help. */
export const commonFlags = { url: { type: "string" }, data: { type: "string" }, json: { type: "boolean" } } as const

/** An admin command's arguments: its `action`, and what every admin command reads. */
export interface Parsed<Action> {
  readonly action: Action
  readonly url: string
  /** The data directory of the `serve` whose token is the admin key, unless the environment gives one. */
  readonly data: string | undefined
  readonly json: boolean
}

/**
 * The gateway could not be reached, or refused the request: `status` is its HTTP status when it answered, `detail`
 * its message or the transport's.
 */
export class GatewayRequestError extends Schema.TaggedError<GatewayRequestError>()("GatewayRequestError", {
  url: Schema.String,
  status: Schema.optional(Schema.Number),
  detail: Schema.String
}) {
  override get message() {
    const login = `effect-llm-router login --url ${this.url}`
    const hint = this.status === 401
      ? ` (the credential sent was not taken: sign in (again) with ${login}, set ${adminKeyVariable} to one of ` +
        `the gateway's admin keys, or give serve's --data with --data)`
      : this.status === 403
      ? ` (the credential sent may not do this: sign in as someone whose roles do with ${login}, or set ` +
        `${adminKeyVariable} to one of the gateway's admin keys)`
      : ""
    return this.status === undefined
      ? `The gateway at ${this.url} could not be reached: ${this.detail} (start one with effect-llm-router serve, or ` +
        `give its address with --url)`
      : `The gateway at ${this.url} answered ${this.status}: ${this.detail}${hint}`
  }
}

/** The gateway `--url` names (trailing `/` dropped), by default the local `serve`'s; not http(s) is a usage error. */
export const gatewayUrl = (flag: string | undefined): Result.Result<string, UsageError> => {
  if (flag === undefined) return Result.succeed(`http://127.0.0.1:${defaultPort}`)
  if (!/^https?:\/\/[^/]/.test(flag)) {
    return failUsage(`--url needs an http:// or https:// URL, got "${flag}"`)
  }
  return Result.succeed(flag.replace(/\/+$/, ""))
}

/** An action's verb and the flags' values, as `parseActions` read them for `flags`, and its checks of the rest. */
export interface ActionFlags<O extends Parameters<typeof parseFlags>[1]> {
  readonly verb: string | undefined
  readonly values: Result.Result.Success<ReturnType<typeof parseFlags<O>>>["values"]
  /** The one argument, or the `UsageError` saying the action needs `what` (`the key's ID`). */
  readonly argument: (what: string) => Result.Result<string, UsageError>
  /** Fails with the `UsageError` naming the first of the command's own flags given that `allowed` does not list. */
  readonly onlyFor: (allowed: ReadonlyArray<string>) => Result.Result<void, UsageError>
}

/**
 * The arguments of an admin command with actions (`keys`, `teams`): `"help"`, or the `action` made of the verb, its one
 * argument and the flags, with what every action takes (URL, `--data`, `--json`). `list` takes nothing of its own;
 * `action` gives `undefined` for a verb it does not have, which `verbs` then lists.
 */
export const parseActions = <const O extends Parameters<typeof parseFlags>[1], Action>(
  command: string,
  verbs: string,
  argv: ReadonlyArray<string>,
  flags: O,
  action: (flags: ActionFlags<O>) => Result.Result<Action | undefined, UsageError>
): Result.Result<Parsed<Action | { readonly verb: "list" }> | "help", UsageError> =>
  Result.gen(function*() {
    const { positionals, values } = yield* parseFlags(argv, flags)
    const given: { readonly help?: boolean; readonly url?: string; readonly data?: string; readonly json?: boolean } =
      values
    if (given.help === true) return "help" as const
    const [verb, argument, ...rest] = positionals
    if (rest.length > 0) return yield* failUsage(`unexpected argument "${rest[0]}"`)
    const url = yield* gatewayUrl(given.url)
    const own = Object.keys(flags).filter((flag) => !(flag in commonFlags))
    const onlyFor = (allowed: ReadonlyArray<string>) => strayFlag(`${command} ${verb}`, values, own, allowed)
    if (verb === "list") {
      if (argument !== undefined) return yield* failUsage(`${command} list takes no argument, got "${argument}"`)
      yield* onlyFor([])
    }
    const chosen = verb === "list" ? { verb } as const : yield* action({
      verb,
      values,
      onlyFor,
      argument: (what) =>
        argument === undefined ? failUsage(`${command} ${verb} needs ${what}`) : Result.succeed(argument)
    })
    if (chosen === undefined) {
      return yield* failUsage(
        verb === undefined ? `${command} needs an action: ${verbs}` : `unknown ${command} action "${verb}" (${verbs})`
      )
    }
    return { url, data: given.data, json: given.json === true, action: chosen }
  })

/** The flags of a command that talks to one gateway and takes no arguments (`login`, `logout`, `spend`). */
export const gatewayCommandFlags = <const O extends Parameters<typeof noArgumentFlags>[2]>(
  command: string,
  argv: ReadonlyArray<string>,
  flags: O
) =>
  Result.gen(function*() {
    const values = yield* noArgumentFlags(command, argv, flags)
    if (values === "help") return values
    const common: { readonly url?: string } = values
    const url = yield* gatewayUrl(common.url)
    return { values, url }
  })

// The names of this machine's loopback, as a URL's `hostname` gives them.
const loopbackNames: ReadonlySet<string> = new Set(["127.0.0.1", "localhost", "[::1]"])

// A client of one gateway that never opens a second connection, and the connection it opened, once it has. Only the
// first connection is ever used: once it closes, each request fails rather than go out on a connection no proof covers.
const pinnedClient = (url: string) => {
  let opened: Connection | "closed" | undefined
  const connect = buildConnector({})
  const pinned: buildConnector.connector = (options, callback) => {
    if (opened !== undefined) {
      opened = "closed"
      return callback(
        new Error(
          "the connection on which the gateway proved it is the serve holding the admin token closed, and the token " +
            "goes on no other: run the command again"
        ),
        null
      )
    }
    connect(options, (...result) => {
      // A connection refused is `callback(error)` alone.
      const socket = result[0] === null ? result[1] : undefined
      if (socket !== undefined) {
        opened = socket.localAddress === undefined || socket.localPort === undefined ||
            socket.remoteAddress === undefined || socket.remotePort === undefined
          ? "closed"
          : {
            gateway: { address: socket.remoteAddress, port: socket.remotePort },
            caller: { address: socket.localAddress, port: socket.localPort }
          }
      }
      callback(...result)
    })
  }
  return Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => new Client(new URL(url).origin, { connect: pinned })),
      (client) => Effect.promise(() => client.destroy())
    ),
    (client) => ({
      http: UndiciHttpClient.fromDispatcher(client),
      connection: () => typeof opened === "object" ? opened : undefined
    })
  )
}

/**
 * A client of the gateway at `url` for sending it `token`, once it proved it is the `serve` holding the token on the
 * very connection the client keeps: the HMAC of a fresh challenge and both TCP ends as the gateway sees them, which a
 * relaying process cannot give (docs/cli.md, "Which gateway gets the token"). No other connection is opened.
 */
export const provenClient = Effect.fnUntraced(function*(url: string, token: Redacted.Redacted<string>) {
  const challenge = randomBytes(32).toString("base64url")
  const refused = (why: string) =>
    new GatewayRequestError({
      url,
      detail: `it did not prove it is the serve whose admin token this is (${why}), so the token was not sent: ` +
        "another process may hold the address or relay to serve; give the address serve listens on with --url, " +
        "or serve's --data with --data"
    })
  const pinned = yield* pinnedClient(url)
  const { answer } = yield* requestJson(
    { url, key: undefined, method: "GET", path: `/admin/instance?challenge=${challenge}` },
    Schema.Struct({ proof: Schema.String }),
    "its instance proof"
  ).pipe(
    Effect.provideService(HttpClient.HttpClient, pinned.http),
    // Unreached, it is sent nothing either way: said as for any request.
    Effect.mapError((error) => error.status === undefined ? error : refused(`it answered ${error.status}`))
  )
  const connection = pinned.connection()
  if (connection === undefined) return yield* refused("its connection closed")
  const expected = Buffer.from(proofOf(token, challenge, connection), "hex")
  const given = Buffer.from(answer.proof, "hex")
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return yield* refused(
      `its proof is not of this token on the connection made to ${endpointText(connection.gateway)}`
    )
  }
  return pinned.http
})

/** What a command sends to a gateway: the credential (none: it has none to send), and the client it goes by. */
export interface Access {
  readonly key: Redacted.Redacted<string> | undefined
  /** For serve's token, the one connection on which the gateway proved it holds it (`provenClient`). */
  readonly http: HttpClient.HttpClient
}

/**
 * The one place the credential is decided: the environment's admin key, else the login's access token for `url`
 * (refreshed: `LoginStore`), else, for a gateway on loopback, `serve`'s token from `data` over a proven connection
 * (`provenClient`). That token is never sent elsewhere: a gateway on another machine has its own.
 */
export const adminAccess = (
  io: Io,
  url: string,
  data: string | undefined
): Effect.Effect<
  Access,
  AdminToken.AdminTokenError | LoginStore.LoginError | GatewayRequestError | OptionsError,
  Scope.Scope
> => {
  const anywhere = (key: Redacted.Redacted<string> | undefined) =>
    Effect.map(UndiciHttpClient.make(), (http): Access => ({ key, http }))
  const variable = io.env[adminKeyVariable]
  if (variable !== undefined && variable !== "") return anywhere(Redacted.make(variable))
  const directory = AdminToken.dataDirectory(data, io.env)
  return Effect.flatMap(LoginStore.accessToken(directory, url), (token) => {
    if (token !== undefined) return anywhere(token)
    if (!loopbackNames.has(new URL(url).hostname)) return anywhere(undefined)
    return Effect.flatMap(
      AdminToken.read(directory),
      (kept): Effect.Effect<Access, GatewayRequestError | OptionsError, Scope.Scope> =>
        kept === undefined ? anywhere(undefined) : Effect.map(provenClient(url, kept), (http) => ({ key: kept, http }))
    )
  })
}

/** Why a command has no admin key, and where it would find one. */
export const noAdminKey = (command: string, data: string | undefined, io: Io): string =>
  `${command} needs an admin key: set ${adminKeyVariable}, sign in with login, or, for a gateway on this machine, ` +
  `start it with serve ` +
  `(its token is kept in ${AdminToken.pathIn(AdminToken.dataDirectory(data, io.env))}; give its --data with --data)`

// Control characters: a terminal's escape codes among them.
// eslint-disable-next-line no-control-regex
const control = /[\u0000-\u001f\u007f-\u009f]/g

/**
 * Gateway text (a name, a message) made safe for a terminal: control characters as JSON escapes, so a name cannot move
 * the cursor, recolour the terminal or break a table's columns.
 */
export const printable = (text: string): string =>
  text.replace(control, (character) => JSON.stringify(character).slice(1, -1))

/** A table's row of `cells`, each printable, tab-separated. */
export const tabbed = (cells: ReadonlyArray<string>): string => cells.map(printable).join("\t")

/** `text` made printable on a line of stderr of its own: what a command says it did. */
export const say = (io: Io, text: string): void => io.stderr(`${printable(text)}\n`)

// The gateway's error message, from its OpenAI-shaped error JSON, or the body's start; printable.
const detailOf = (text: string): string => {
  try {
    const message = (JSON.parse(text) as { readonly error?: { readonly message?: unknown } }).error?.message
    if (typeof message === "string") return printable(message)
  } catch {
    // Not JSON: its start below.
  }
  return printable(text.slice(0, 200))
}

/** One request of a command to the admin API. */
export interface Request {
  readonly url: string
  readonly key: Redacted.Redacted<string> | undefined
  readonly method: "GET" | "POST" | "PATCH" | "DELETE"
  readonly path: string
  readonly body?: unknown
}

// A refused or closed connection says so only in the cause; the transport error's message names just the request.
function transportDetail(error: HttpClientError.HttpClientError): string {
  const cause = error.reason._tag === "TransportError" && error.reason.cause !== undefined
    ? messageOf(error.reason.cause)
    : ""
  return cause === "" ? error.message : cause
}

// `method path` on the gateway, its status and text, when it answered with a success (2xx).
const exchange = (options: Request): Effect.Effect<
  { readonly status: number; readonly text: string },
  GatewayRequestError,
  HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    let outgoing = HttpClientRequest.make(options.method)(`${options.url}${options.path}`)
    if (options.key !== undefined) outgoing = HttpClientRequest.bearerToken(outgoing, Redacted.value(options.key))
    if (options.body !== undefined) outgoing = HttpClientRequest.bodyJsonUnsafe(outgoing, options.body)
    const failed = (status: number | undefined, detail: string) =>
      new GatewayRequestError({ url: options.url, ...(status === undefined ? {} : { status }), detail })
    const response = yield* Effect.mapError(client.execute(outgoing), (error) =>
      failed(undefined, transportDetail(error)))
    const text = yield* Effect.mapError(response.text, (error) =>
      failed(response.status, error.message))
    if (response.status < 200 || response.status >= 300) return yield* failed(response.status, detailOf(text))
    return { status: response.status, text }
  })

/**
 * `method path` decoded by `schema`, with the whole JSON (`--json` prints fields beyond the schema's too). An answer
 * not JSON or not of that shape (another server on the address, a proxy's page, a body cut short) is a
 * `GatewayRequestError` naming `what` was expected.
 */
export const requestJson = <S extends Schema.Codec<unknown, unknown>>(
  options: Request,
  schema: S,
  what: string
): Effect.Effect<
  { readonly text: string; readonly answer: S["Type"]; readonly whole: Record<string, unknown> },
  GatewayRequestError,
  HttpClient.HttpClient
> =>
  Effect.flatMap(
    exchange(options),
    ({ status, text }) =>
      Effect.mapBoth(Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(text), {
        onFailure: () => notTheApi(options.url, status, what, text),
        onSuccess: (answer) => ({ text, answer, whole: JSON.parse(text) as Record<string, unknown> })
      })
  )

// A success whose body is not the admin API's `what`.
const notTheApi = (url: string, status: number, what: string, text: string) =>
  new GatewayRequestError({
    url,
    status,
    detail: `not the admin API's ${what} (is a gateway of this version at that address?): ${
      text.trim() === "" ? "an empty body" : detailOf(text)
    }`
  })

/** The same for an answer in JSON lines, each line decoded by `schema` (none: no rows). */
export const requestJsonLines = <S extends Schema.Codec<unknown, unknown>>(
  options: Request,
  schema: S,
  what: string
): Effect.Effect<string, GatewayRequestError, HttpClient.HttpClient> =>
  Effect.flatMap(exchange(options), ({ status, text }) => {
    const decode = Schema.decodeUnknownResult(Schema.fromJsonString(schema))
    const lines = text.split("\n").filter((line) => line.trim() !== "")
    return lines.every((line) => Result.isSuccess(decode(line)))
      ? Effect.succeed(text)
      : Effect.fail(notTheApi(options.url, status, what, text))
  })

/**
 * The requests an admin command makes of what the admin API keeps at `/admin/{noun}s` (keys, teams), each one `item`
 * decodes, a row of the list's `header`: at `parsed.url` with `key`, each printing the gateway's whole JSON on stdout
 * with `--json`, and saying what it did on stderr.
 */
export const recordsClient = <S extends Schema.Codec<{ readonly name: string }, unknown>>(
  records: {
    readonly noun: string
    readonly item: S
    readonly header: string
    readonly row: (item: S["Type"]) => string
  },
  parsed: { readonly url: string; readonly json: boolean },
  key: Redacted.Redacted<string>,
  io: Io
) => {
  const path = `/admin/${records.noun}s`
  /** The request `method` of the records, or of the one `id` (then `suffix`, an action of it), with `body`. */
  const request = (method: Request["method"], id?: string, body?: unknown, suffix = ""): Request => ({
    url: parsed.url,
    key,
    method,
    path: id === undefined ? path : `${path}/${encodeURIComponent(id)}${suffix}`,
    body
  })
  const printed = (whole: unknown, text: string) => io.stdout(`${parsed.json ? JSON.stringify(whole) : text}\n`)
  return {
    request,
    /** The list: a tab-separated table. */
    list: Effect.map(
      requestJson(request("GET"), Schema.Struct({ data: Schema.Array(records.item) }), `list of ${records.noun}s`),
      ({ answer: { data }, whole }) => printed(whole.data, [records.header, ...data.map(records.row)].join("\n"))
    ),
    /**
     * What a `POST` of `body` makes at the records, or at the record `id`'s `suffix` (a rotation): `made.shown` (a key,
     * an id) alone on its stdout line, so a script can take it. Gives the answer, for what the command then says.
     */
    make: <M extends Schema.Codec<unknown, unknown>>(
      made: { readonly item: M; readonly what: string; readonly shown: (item: M["Type"]) => string },
      body: unknown,
      id?: string,
      suffix?: string
    ): Effect.Effect<M["Type"], GatewayRequestError, HttpClient.HttpClient> =>
      Effect.map(requestJson(request("POST", id, body, suffix), made.item, made.what), ({ answer, whole }) => {
        printed(whole, made.shown(answer))
        return answer
      }),
    /** A `PATCH` of the record `id`; on stderr, what was updated. */
    update: (id: string, body: unknown) =>
      Effect.map(
        requestJson(request("PATCH", id, body), records.item, `${records.noun} updated`),
        ({ answer, whole }) => {
          if (parsed.json) io.stdout(`${JSON.stringify(whole)}\n`)
          say(io, `updated the ${records.noun} ${answer.name} (id ${id}).`)
        }
      ),
    /**
     * A `DELETE` of the record `id` (`done`: revoked, deleted), done only when the gateway answers `{ deleted: true }`:
     * any other success (another server's page on the address) is a `GatewayRequestError`.
     */
    remove: (id: string, done: string) =>
      Effect.map(
        requestJson(
          request("DELETE", id),
          Schema.Struct({ deleted: Schema.Literal(true) }),
          `${records.noun} ${done}`
        ),
        () => say(io, `${done} the ${records.noun} ${id}.`)
      )
  }
}

const ago = /^(\d+(?:\.\d+)?)([hd])$/

/** A time flag as the API takes it (Unix seconds or ISO 8601), `Nh`/`Nd` read as that long before `now`. */
export const timeFlag = (
  name: string,
  text: string | undefined,
  now: number
): Result.Result<string | undefined, UsageError> => {
  if (text === undefined) return Result.succeed(undefined)
  const relative = ago.exec(text)
  if (relative !== null) {
    return Result.succeed(String((now - Number(relative[1]) * (relative[2] === "h" ? 3.6e6 : 8.64e7)) / 1000))
  }
  if (/^\d+(\.\d+)?$/.test(text) || Number.isFinite(Date.parse(text))) return Result.succeed(text)
  return failUsage(`--${name} needs an ISO 8601 time, Unix seconds, or a time ago such as 24h or 7d, got "${text}"`)
}

/**
 * `rows` as a table's lines, each ending in a newline: columns two spaces apart, the first `left` aligned left, the
 * rest right.
 */
export const aligned = (rows: ReadonlyArray<ReadonlyArray<string>>, left: number): string => {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) =>
    row.map((cell, column) => column < left ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)).join("  ")
      .trimEnd() + "\n"
  ).join("")
}

/** A budget as the admin API shows it, as a table cell: `$20/1d`, or `-` for none. */
export const budgetCell = (budget: { readonly limit: number; readonly period: string } | null | undefined): string =>
  budget === null || budget === undefined ? "-" : `$${budget.limit}/${budget.period}`

/** A key's or team's MCP tools as a table cell; `null` or empty allows no tool, so `none` (docs/mcp.md). */
export const toolsCell = (tools: ReadonlyArray<string> | null | undefined): string =>
  tools === null || tools === undefined || tools.length === 0 ? "none" : tools.join(",")

/** `--budget` and `--period` as the admin API's `budget` field (`undefined` when neither is given). */
export const budgetFlags = (
  values: { readonly budget?: string | undefined; readonly period?: string | undefined }
): Result.Result<{ readonly limit: number; readonly period: string } | undefined, UsageError> =>
  Result.gen(function*() {
    const limit = yield* numberFlag("budget", values.budget, { min: 0, expected: "0 or more US dollars" })
    if (values.period !== undefined && limit === undefined) {
      return yield* failUsage("--period goes with --budget")
    }
    return limit === undefined ? undefined : { limit, period: values.period ?? "month" }
  })

type Field = readonly [flag: string, value: unknown, clearing?: string]

/**
 * A record's field as a flag gives it (`--expires-at` sets `expires_at`), with the flag that clears it (`null`) if
 * any; or the `Result` of reading it.
 */
export type RecordField = Field | Result.Result<Field, UsageError>

/**
 * The body of a `create` or `update` from `fields` in order and the clearing flags among `values`, fields left as they
 * are omitted. A value with its clearing flag is a `UsageError`, as is nothing to change where `needs` says so.
 */
export const recordBody = (
  values: Record<string, unknown>,
  fields: ReadonlyArray<RecordField>,
  needs?: string
): Result.Result<Record<string, unknown>, UsageError> =>
  Result.gen(function*() {
    const body: Record<string, unknown> = {}
    for (const field of fields) {
      const [flag, value, clearing = ""] = Result.isResult(field) ? yield* field : field
      const cleared = values[clearing] === true
      if (cleared && value !== undefined) return yield* failUsage(`--${clearing} does not go with --${flag}`)
      body[flag.replaceAll("-", "_")] = cleared ? null : value
    }
    const defined = definedFields(body)
    if (needs === undefined || Object.keys(defined).length > 0) return defined
    return yield* failUsage(needs)
  })

/** Fails with the `UsageError` naming the first flag among `flags` that `values` gives but `allowed` does not list. */
export const strayFlag = (
  command: string,
  values: Record<string, unknown>,
  flags: ReadonlyArray<string>,
  allowed: ReadonlyArray<string>
): Result.Result<void, UsageError> => {
  const stray = flags.find((flag) => values[flag] !== undefined && !allowed.includes(flag))
  return stray === undefined
    ? Result.void
    : failUsage(`${command} does not take --${stray}`)
}

/**
 * `use` with the admin key `adminAccess` decides (none: `undefined`), kept among `secrets`, over the client it goes by.
 */
export const withAdminAccess = <A, E>(
  io: Io,
  args: { readonly url: string; readonly data: string | undefined },
  secrets: Array<Redacted.Redacted<string>>,
  use: (key: Redacted.Redacted<string> | undefined) => Effect.Effect<A, E, HttpClient.HttpClient>
) =>
  Effect.flatMap(adminAccess(io, args.url, args.data), ({ http, key }) => {
    if (key !== undefined) secrets.push(key)
    return Effect.provideService(use(key), HttpClient.HttpClient, http)
  })

/**
 * Runs an admin command: its usage for `help`, else `perform` with the admin key against `parsed.url`; exit code 2 for
 * bad flags or no admin key, 1 refused or unreachable.
 */
export const runCommand = <P extends { readonly url: string; readonly data: string | undefined }, E>(
  command: string,
  usageText: string,
  io: Io,
  parsed: Result.Result<P | "help", UsageError>,
  perform: (parsed: P, key: Redacted.Redacted<string>, io: Io) => Effect.Effect<void, E, HttpClient.HttpClient>
): Effect.Effect<number> =>
  runParsed(
    io,
    command,
    usageText,
    Effect.fromResult(parsed),
    (args, secrets) =>
      withAdminAccess(io, args, secrets, (key): Effect.Effect<number, E | UsageError, HttpClient.HttpClient> =>
        key === undefined
          ? Effect.fail(new UsageError({ reason: noAdminKey(command, args.data, io) }))
          : Effect.as(perform(args, key, io), ExitCode.ok))
  )
