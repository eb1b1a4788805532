/**
 * Reading a configuration: a parsed JSON value or a `provider.json` file decoded into a `ProviderConfig`, every bad
 * path and missing `env:` variable listed in one `ProviderConfigError`, every unknown field logged as a warning; the
 * file's key values (`api_keys`, `headers`) masked in both.
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type * as KeyPool from "../../KeyPool.js"
import { maskKey } from "../../LlmError.js"
import {
  type Issue,
  KeyEntry,
  type ModelConfig,
  ModelEntry,
  type ProviderConfig,
  ProviderConfigError,
  ProviderFile,
  RouterEntry
} from "../../ProviderConfig.js"
import * as Presets from "../../providers/Presets.js"
import { publisherOf } from "../clouds/vertex/definition.js"
import { definedFields, isJsonObject } from "../json.js"
import * as Steps from "../steps.js"
import {
  AdminKeyEntry,
  GatewayEntry,
  KeyEntry as GatewayKeyEntry,
  type KeyIndexes,
  type ReadSecret,
  resolve as resolveGateway
} from "./gateway.js"
import { GuardrailsEntry, resolve as resolveGuardrails, unknownNames } from "./guardrails.js"
import { McpServersEntry, resolve as resolveMcp } from "./mcp.js"
import * as internalRouter from "./router.js"
import { maxBytes, protoName, shapeIssues } from "./shape.js"
import { isRedisUrl, StoreEntry, toOptions } from "./store.js"
import { type UnknownField, unknownFields } from "./unknownFields.js"

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (out, key) => (typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`),
    ""
  )

// A key as written: `env:NAME` read through `Config`, or the key itself.
const readSecret: ReadSecret = (text, path) => {
  if (!text.startsWith("env:")) return Effect.succeed(Redacted.make(text))
  const name = text.slice("env:".length)
  return Config.Redacted(name).pipe(
    Effect.mapError(() => [{ path, message: `the environment variable ${name} is not set` }])
  )
}

// `store.redis`, written or `env:NAME`: a URL that may hold a password, so `Redacted`, and a redis one either way.
const readRedis = (text: string): Effect.Effect<Redacted.Redacted<string>, ReadonlyArray<typeof Issue.Type>> =>
  Effect.flatMap(readSecret(text, "store.redis"), (url) =>
    isRedisUrl(Redacted.value(url))
      ? Effect.succeed(url)
      : Effect.fail([{
        path: "store.redis",
        message: `the environment variable ${text.slice("env:".length)} holds no redis:// or rediss:// URL`
      }]))

/**
 * The one key of an entry without `api_keys`: the cloud credential's identity (Vertex's project, Bedrock's AWS profile
 * or default chain, the Azure resource Entra ID signs in to), so a refusal disables no other project, profile or
 * resource; `none` for a server that checks no key. Never sent, and no secret (not masked).
 */
const standInKey = (api: string, entry: ModelConfig["entry"]): string => {
  switch (api) {
    case "vertex":
      return `google-credential:project/${entry.project ?? ""}`
    case "bedrock":
      return `aws-credential:${entry.profile === undefined ? "default-chain" : `profile/${entry.profile}`}`
    case "azure":
      return `entra-id:${entry.base_url ?? ""}`
    default:
      return "none"
  }
}

const keyOptions = (entry: typeof KeyEntry.Type, key: Redacted.Redacted<string>): KeyPool.KeyOptions =>
  typeof entry === "string"
    ? { key }
    : { key, ...definedFields({ weight: entry.weight, maxConcurrency: entry.max_concurrency }) }

/**
 * An entry's keys read a chunk at a time, other fibers run between. A key whose variable is unset stands as written
 * (`env:NAME`) so the rest of its entry is still checked; the unset variable is an issue, so it is never served.
 */
function readKeys(
  entries: ReadonlyArray<typeof KeyEntry.Type>,
  at: string
): Effect.Effect<{
  readonly keys: Array<KeyPool.KeyOptions>
  readonly issues: Array<typeof Issue.Type>
  readonly unset: Array<string>
}> {
  return Effect.gen(function*() {
    const keys: Array<KeyPool.KeyOptions> = []
    const issues: Array<typeof Issue.Type> = []
    const unset: Array<string> = []
    for (let from = 0; from < entries.length; from += keyChunk) {
      if (from > 0) yield* Effect.yieldNow
      for (let k = from; k < Math.min(entries.length, from + keyChunk); k++) {
        const entry = entries[k]!
        const text = typeof entry === "string" ? entry : entry.key
        // A key written in the file is taken as it is; only an `env:` one asks `Config` (unset, it stands as written).
        if (text.startsWith("env:")) {
          const path = `${at}.api_keys[${k}]`
          const read = yield* Effect.result(readSecret(text, path))
          if (Result.isSuccess(read)) {
            keys.push(keyOptions(entry, read.success))
            continue
          }
          issues.push(...read.failure)
          unset.push(path)
        }
        keys.push(keyOptions(entry, Redacted.make(text)))
      }
    }
    return { keys, issues, unset }
  })
}

/** The fields of a batch group each cloud's batches take, beside the prefixes both take. */
const batchFields = {
  bedrock: ["role_arn", "endpoint", "s3_endpoint", "timeout_hours"],
  vertex: ["storage_endpoint"]
} as const

/** What is wrong with an entry's batch group for its `api`: a cloud without batch jobs, the other cloud's field. */
function batchIssues(
  batch: NonNullable<ModelEntry["batch"]>,
  api: string,
  keyed: boolean,
  at: string
): ReadonlyArray<{ readonly path: string; readonly message: string }> {
  if (api !== "bedrock" && api !== "vertex") {
    return [{ path: `${at}.batch`, message: `is for the bedrock and vertex apis, not ${api}` }]
  }
  if (api === "bedrock" && keyed) {
    return [{
      path: `${at}.batch`,
      message: "a batch's files go to S3, which takes SigV4, not Bedrock API keys; leave api_keys out"
    }]
  }
  const other = api === "bedrock" ? "vertex" : "bedrock"
  return [
    ...(["input_uri", "output_uri", ...(api === "bedrock" ? ["role_arn"] as const : [])] as const).flatMap((field) =>
      batch[field] === undefined ? [{ path: `${at}.batch.${field}`, message: "is missing" }] : []
    ),
    ...batchFields[other].flatMap((field) =>
      batch[field] === undefined
        ? []
        : [{ path: `${at}.batch.${field}`, message: `is for the ${other} api, not ${api}` }]
    )
  ]
}

// Every leaf issue with its path; a missing field reads "is missing", as the messages of this module do.
const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1({
  leafHook: (issue) => issue._tag === "MissingKey" ? "is missing" : SchemaIssue.defaultLeafHook(issue)
})

const pathKey = (segment: PropertyKey | { readonly key: PropertyKey }): PropertyKey =>
  typeof segment === "object" ? segment.key : segment

// `offset`: where an array decoded is in the whole one (a chunk of a key list), added to its index in the path.
const toIssues =
  (prefix: ReadonlyArray<PropertyKey>, offset: number) =>
  (error: Schema.SchemaError): ReadonlyArray<typeof Issue.Type> =>
    formatIssues(error.issue).issues.map((issue) => {
      const [first, ...rest] = (issue.path ?? []).map(pathKey)
      const at = typeof first === "number" ? [first + offset] : first === undefined ? [] : [first]
      return { path: formatPath([...prefix, ...at, ...rest]), message: issue.message }
    })

// Built per call, not at load: `ProviderConfig.ts`, defining the schemas, imports this module before its body runs.
const decode = <S extends Schema.Top>(schema: S, json: unknown, prefix: ReadonlyArray<PropertyKey>, offset = 0) =>
  Schema.decodeUnknownEffect(schema, { errors: "all", onExcessProperty: "ignore" })(json).pipe(
    Effect.mapError(toIssues(prefix, offset)),
    Effect.result
  ) as Effect.Effect<Result.Result<S["Type"], ReadonlyArray<typeof Issue.Type>>>

// A key list longer than this is decoded apart from its entry, a chunk at a time (a step of `internal/steps.ts`) with
// other fibers run between: decoded in one go, a very long list holds the event loop (docs/performance.md).
const keyChunk = Steps.itemsPerStep

/** A long `api_keys` list of the entry `provider[index]`, its first key left to the entry's decode. */
interface LongKeyList {
  readonly provider: string
  readonly index: number
  readonly keys: ReadonlyArray<unknown>
}

/** The providers' JSON with each long `api_keys` list cut to its first key, and the lists cut. */
function withoutLongKeyLists(
  providers: unknown
): { readonly json: unknown; readonly lists: ReadonlyArray<LongKeyList> } {
  if (!isJsonObject(providers)) return { json: providers, lists: [] }
  const lists: Array<LongKeyList> = []
  const json: Record<string, unknown> = {}
  for (const [provider, entries] of Object.entries(providers)) {
    json[provider] = !Array.isArray(entries) ? entries : entries.map((entry: unknown, index) => {
      if (!isJsonObject(entry) || !Array.isArray(entry.api_keys) || entry.api_keys.length <= keyChunk) return entry
      lists.push({ provider, index, keys: entry.api_keys })
      return { ...entry, api_keys: entry.api_keys.slice(0, 1) }
    })
  }
  return { json, lists }
}

/**
 * The keys of a long list past its first, decoded a chunk at a time, their issues and unknown fields at their place.
 */
function decodeKeyList(list: LongKeyList): Effect.Effect<{
  readonly keys: Result.Result<ReadonlyArray<typeof KeyEntry.Type>, ReadonlyArray<typeof Issue.Type>>
  readonly unknown: ReadonlyArray<UnknownField>
}> {
  return Effect.gen(function*() {
    const prefix = [list.provider, list.index, "api_keys"]
    const keys: Array<typeof KeyEntry.Type> = []
    const issues: Array<typeof Issue.Type> = []
    const unknown: Array<UnknownField> = []
    for (let offset = 1; offset < list.keys.length; offset += keyChunk) {
      yield* Effect.yieldNow
      const chunk = list.keys.slice(offset, offset + keyChunk)
      // A chunk of keys written as plain non-empty strings is what its decode would give back, with no unknown field:
      // taken as it is, it makes no object for a key (the decode makes dozens, which the collector then copies).
      if (chunk.every(isKeyText)) {
        keys.push(...chunk)
        continue
      }
      for (const field of unknownFields(Schema.Array(KeyEntry), chunk, prefix)) {
        const [index, ...rest] = field.path.slice(prefix.length)
        unknown.push({ ...field, path: [...prefix, Number(index) + offset, ...rest] })
      }
      const decoded = yield* decode(Schema.Array(KeyEntry), chunk, prefix, offset)
      if (Result.isSuccess(decoded)) keys.push(...decoded.success)
      else issues.push(...decoded.failure)
    }
    return { keys: issues.length > 0 ? Result.fail(issues) : Result.succeed(keys), unknown }
  })
}

/**
 * The providers' entries as decoded, each at its index in the file; `undefined` where an entry does not decode (its
 * issues are named by the file's decode), so what does decode is still checked and every problem named at once.
 */
type DecodedEntries = Readonly<Record<string, ReadonlyArray<ModelEntry | undefined>>>

/** The file decoded with its long key lists put back whole (an entry whose list does not decode left undecoded). */
function withKeyLists(
  file: DecodedEntries,
  lists: ReadonlyArray<LongKeyList>,
  rests: ReadonlyArray<Result.Result<ReadonlyArray<typeof KeyEntry.Type>, unknown>>
): DecodedEntries {
  if (lists.length === 0) return file
  const out: Record<string, Array<ModelEntry | undefined>> = {}
  for (const [provider, entries] of Object.entries(file)) out[provider] = [...entries]
  lists.forEach((list, i) => {
    const entry = out[list.provider]?.[list.index]
    const rest = rests[i]!
    if (entry === undefined) return
    out[list.provider]![list.index] = Result.isSuccess(rest)
      ? { ...entry, api_keys: [...(entry.api_keys ?? []), ...rest.success] }
      : undefined
  })
  return out
}

/**
 * What each value of the JSON object `json` decodes to alone by `decodeOne`, by its key (none when `json` is not an
 * object); a value it gives `undefined` for is left out.
 */
const eachAlone = <A>(json: unknown, decodeOne: (value: unknown) => Effect.Effect<A | undefined>) =>
  Effect.map(
    Effect.forEach(
      Object.entries(isJsonObject(json) ? json : {}),
      ([key, value]) => Effect.map(decodeOne(value), (decoded) => [key, decoded] as const)
    ),
    (decoded) => Object.fromEntries(decoded.filter((entry): entry is readonly [string, A] => entry[1] !== undefined))
  )

// An entry decoded alone: `undefined` when it does not decode.
const decodeAlone = <S extends Schema.Top>(schema: S, json: unknown) =>
  Effect.map(decode(schema, json, []), Result.getOrUndefined)

/** The entries of the providers' JSON that decode alone, when the whole does not: each at its index. */
const decodeEach = (providers: unknown): Effect.Effect<DecodedEntries> =>
  eachAlone(
    providers,
    (entries) =>
      Array.isArray(entries)
        ? Effect.forEach(entries, (entry) => decodeAlone(ModelEntry, entry))
        : Effect.succeed(undefined)
  )

/**
 * The `gateway` section decoded with its `keys` and `admin_keys` apart, each key alone: its issues, and the section of
 * what decodes (its keys alone when its other fields do not), with where each key kept is in the file.
 */
function decodeGateway(json: unknown): Effect.Effect<{
  readonly issues: ReadonlyArray<typeof Issue.Type>
  readonly section: GatewayEntry
  readonly indexes: KeyIndexes
}> {
  return Effect.gen(function*() {
    const { admin_keys, keys, ...rest } = isJsonObject(json) ? json : { keys: undefined, admin_keys: undefined }
    const whole = yield* decode(GatewayEntry, isJsonObject(json) ? rest : json, ["gateway"])
    const issues = Result.isFailure(whole) ? [...whole.failure] : []
    const list = <S extends Schema.Top>(schema: S, items: unknown, field: "keys" | "admin_keys") =>
      Effect.gen(function*() {
        const kept: Array<{ readonly entry: S["Type"]; readonly index: number }> = []
        if (items === undefined) return kept
        if (!Array.isArray(items)) {
          const refused = yield* decode(Schema.Array(schema), items, ["gateway", field])
          if (Result.isFailure(refused)) issues.push(...refused.failure)
          return kept
        }
        for (const [index, item] of items.entries()) {
          const one = yield* decode(schema, item, ["gateway", field, index])
          if (Result.isSuccess(one)) kept.push({ entry: one.success, index })
          else issues.push(...one.failure)
        }
        return kept
      })
    const gatewayKeys = yield* list(GatewayKeyEntry, keys, "keys")
    const adminKeys = yield* list(AdminKeyEntry, admin_keys, "admin_keys")
    return {
      issues,
      section: {
        ...(Result.isSuccess(whole) ? whole.success : {}),
        ...(keys === undefined ? {} : { keys: gatewayKeys.map(({ entry }) => entry) }),
        ...(admin_keys === undefined ? {} : { admin_keys: adminKeys.map(({ entry }) => entry) })
      },
      indexes: { keys: gatewayKeys.map(({ index }) => index), admin_keys: adminKeys.map(({ index }) => index) }
    }
  })
}

/** The routers of the `router` JSON that decode alone, when the whole section does not. */
const decodeRouters = (json: unknown) => eachAlone(json, (entry) => decodeAlone(RouterEntry, entry))

/**
 * The names a router may give of the entries that do not decode (`provider/model_name` and `model_name`): their own
 * issues name them, and a router that lists one is not refused for it too.
 */
function undecodedNames(providers: unknown, decoded: DecodedEntries): ReadonlySet<string> {
  const names = new Set<string>()
  for (const { entry, index, provider } of jsonEntries(providers)) {
    const name = isJsonObject(entry) ? entry.model_name : undefined
    if (decoded[provider]?.[index] === undefined && typeof name === "string") names.add(`${provider}/${name}`).add(name)
  }
  return names
}

// Each entry of the providers' JSON as written, with its provider and its index (a provider not a list has none).
const jsonEntries = (providers: unknown) =>
  Object.entries(isJsonObject(providers) ? providers : {}).flatMap(([provider, entries]) =>
    Array.isArray(entries) ? entries.map((entry: unknown, index) => ({ provider, entry, index })) : []
  )

/** Each issue once: a key's unset variable is named by the file's reading and by its entry's. */
function distinct(issues: ReadonlyArray<typeof Issue.Type>): ReadonlyArray<typeof Issue.Type> {
  const seen = new Set<string>()
  return issues.filter((issue) => {
    const key = `${issue.path}\u0000${issue.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

// A key entry written as its key alone, which `KeyEntry` takes as it is.
const isKeyText = (item: unknown): item is string => typeof item === "string" && item.length > 0

// A key entry's text (a string, or an object's `key`), when it names an environment variable.
const envText = (item: unknown): string | undefined => {
  const text = typeof item === "string" ? item : isJsonObject(item) ? item.key : undefined
  return typeof text === "string" && text.startsWith("env:") ? text : undefined
}

// Every `env:` key of a file as written, under the path its read names (`readKey`, the gateway's keys): what can
// still be read of a file whose schema refused it, so its unset variables are listed with the schema's issues.
const envKeys = (providers: unknown, gateway: unknown): Array<{ readonly text: string; readonly path: string }> => {
  const out: Array<{ readonly text: string; readonly path: string }> = []
  const collect = (items: unknown, path: (index: number) => string) => {
    if (!Array.isArray(items)) return
    items.forEach((item, index) => {
      const text = envText(item)
      if (text !== undefined) out.push({ text, path: path(index) })
    })
  }
  for (const { entry, index, provider } of jsonEntries(providers)) {
    if (isJsonObject(entry)) collect(entry.api_keys, (k) => `${provider}[${index}].api_keys[${k}]`)
  }
  for (const at of ["keys", "admin_keys"]) {
    if (isJsonObject(gateway)) collect(gateway[at], (i) => `gateway.${at}[${i}].key`)
  }
  const oidc = isJsonObject(gateway) ? gateway["oidc"] : undefined
  const secret = isJsonObject(oidc) ? envText(oidc["client_secret"]) : undefined
  if (secret !== undefined) out.push({ text: secret, path: "gateway.oidc.client_secret" })
  return out
}

// The issues of the keys `read` could not read.
const unread = <A>(read: ReadonlyArray<Result.Result<A, ReadonlyArray<typeof Issue.Type>>>) =>
  read.flatMap((key) => key._tag === "Failure" ? key.failure : [])

// Headers whose values are credentials.
const secretHeader = /authorization|key|token|secret|cookie/i

// Every string of `json` that is, or may hold, a key: inside `api_keys`, a `key` field, a `client_secret`, an `env`
// and credential headers, `env:` names and short words (a keyless model's stand-in `none`) aside.
const secretsOf = (json: unknown, inside = false, out: Array<string> = []): Array<string> => {
  if (typeof json === "string") {
    if (inside && json.length >= 8 && !json.startsWith("env:")) out.push(json)
  } else if (Array.isArray(json)) {
    for (const item of json) secretsOf(item, inside, out)
  } else if (isJsonObject(json)) {
    for (const [name, value] of Object.entries(json)) {
      if (name === "headers" && isJsonObject(value)) {
        for (const [header, text] of Object.entries(value)) secretsOf(text, inside || secretHeader.test(header), out)
      } else {
        secretsOf(
          value,
          inside || name === "api_keys" || name === "key" || name === "api_key" || name === "env" ||
            name === "client_secret",
          out
        )
      }
    }
  }
  return out
}

// The text with every secret masked (`maskKey`), longest first so a key inside another is not half masked.
const masker = (secrets: ReadonlyArray<string>) => {
  // Sorted at the first text masked: a file that decodes masks none, and sorting many keys takes a while.
  let longestFirst: ReadonlyArray<string> | undefined
  return (text: string): string =>
    (longestFirst ??= [...secrets].sort((a, b) => b.length - a.length)).reduce(
      (out, secret) => out.split(secret).join(maskKey(secret)),
      text
    )
}

/** What is wrong with an entry for its `api`: a field of another api, one its api needs, keys it takes none of. */
function entryIssues(entry: ModelEntry, at: string): Array<typeof Issue.Type> {
  const issues: Array<typeof Issue.Type> = []
  const api = entry.api ?? "chat-completions"
  const issue = (field: string, message: string) => issues.push({ path: `${at}.${field}`, message })
  // Each of `fields` written for an entry of another api than `forApi`.
  const foreign = (forApi: string, ...fields: ReadonlyArray<keyof ModelEntry>) => {
    for (const field of fields) {
      if (entry[field] !== undefined && api !== forApi) {
        issue(field, `is for the ${forApi} api, not ${api}`)
      }
    }
  }
  const preset = entry.preset === undefined ? undefined : Presets.presets[entry.preset]
  if (preset !== undefined && api !== "chat-completions") {
    issue("preset", `presets are for the chat-completions api, not ${api}`)
  } else if (preset !== undefined && preset.baseUrl === undefined && entry.base_url === undefined) {
    issue("base_url", `the ${preset.name} preset needs base_url (the server's root, /v1 included)`)
  }
  if (typeof entry.prefill === "string" && api !== "chat-completions") {
    issue(
      "prefill",
      `"${entry.prefill}" asks a chat-completions server to go on; for the ${api} api, expected true or false`
    )
  }
  foreign("azure", "deployment", "api_version")
  if (api === "azure" && entry.base_url === undefined) {
    issue("base_url", "the azure api needs base_url (the resource's endpoint, https://RESOURCE.openai.azure.com)")
  }
  foreign("vertex", "location", "publisher")
  if (api === "vertex") {
    for (const field of ["project", "location"] as const) {
      if (entry[field] === undefined) {
        issue(field, `the vertex api needs ${field} (the Google Cloud ${field})`)
      }
    }
    if (entry.api_keys !== undefined) {
      issue("api_keys", "the vertex api signs in with Application Default Credentials, not keys; leave api_keys out")
    }
  }
  foreign("bedrock", "region")
  if (api === "bedrock" && entry.region === undefined && entry.base_url === undefined) {
    issue("region", "the bedrock api needs region (us-east-1) or base_url")
  }
  foreign("bedrock", "profile")
  if (api === "bedrock" && entry.profile !== undefined && entry.api_keys !== undefined) {
    issue("profile", "a profile signs with SigV4, Bedrock API keys need none; give one of profile and api_keys")
  }
  if (entry.batch !== undefined) issues.push(...batchIssues(entry.batch, api, entry.api_keys !== undefined, at))
  foreign("responses", "store")
  const claude = api === "anthropic" || api === "bedrock" ||
    (api === "vertex" && publisherOf(entry, entry.model_name) === "anthropic")
  if (entry.cache_conversations !== undefined && !claude) {
    issue(
      "cache_conversations",
      `is for Claude (the anthropic or bedrock api, or vertex with publisher anthropic), not ${api}` +
        (api === "vertex" ? " with publisher google" : "")
    )
  }
  // An Azure entry without keys authenticates with Microsoft Entra ID, a Vertex one with Google's credentials, a
  // Bedrock one with SigV4.
  const keyless = api === "ollama" || api === "azure" || api === "vertex" || api === "bedrock" ||
    (preset !== undefined && !preset.needsKey)
  if (entry.api_keys === undefined && !keyless) {
    issue("api_keys", "expected at least one key")
  }
  return issues
}

/**
 * The providers' entries read, each checked for its api, its keys read (`readKeys`) and its name checked unique in its
 * provider: the providers' models, their issues and the paths of their keys whose variable is unset.
 */
function readProviders(file: DecodedEntries): Effect.Effect<{
  readonly providers: Record<string, Record<string, ModelConfig>>
  readonly issues: Array<typeof Issue.Type>
  readonly unsetKeys: Array<string>
}> {
  return Effect.gen(function*() {
    const providers: Record<string, Record<string, ModelConfig>> = {}
    const issues: Array<typeof Issue.Type> = []
    const unsetKeys: Array<string> = []
    for (const [provider, entries] of Object.entries(file)) {
      const models: Record<string, ModelConfig> = {}
      for (const [index, entry] of entries.entries()) {
        if (entry === undefined) continue
        const at = `${provider}[${index}]`
        issues.push(...entryIssues(entry, at))
        const { issues: unreadKeys, keys: read, unset } = yield* readKeys(
          entry.api_keys ?? [standInKey(entry.api ?? "chat-completions", entry)],
          at
        )
        issues.push(...unreadKeys)
        unsetKeys.push(...unset)
        if (entry.model_name === "__proto__") {
          issues.push({ path: `${at}.model_name`, message: protoName })
        } else if (Object.hasOwn(models, entry.model_name)) {
          issues.push({ path: `${at}.model_name`, message: `${entry.model_name} is listed twice` })
        }
        models[entry.model_name] = { provider, entry, keys: read }
      }
      providers[provider] = models
    }
    return { providers, issues, unsetKeys }
  })
}

/** Every guardrail named in the file (by an entry, a router, the gateway, a gateway key, an MCP server) not defined. */
function unknownGuardrailIssues(named: {
  readonly guardrails: Readonly<Record<string, unknown>>
  readonly file: DecodedEntries
  readonly routers: Readonly<Record<string, typeof RouterEntry.Type>>
  readonly gateway: { readonly section: GatewayEntry; readonly indexes: KeyIndexes } | undefined
  readonly mcpServers: McpServersEntry
}): Array<typeof Issue.Type> {
  const { file, gateway, guardrails, mcpServers, routers } = named
  const issues: Array<typeof Issue.Type> = []
  const check = (names: ReadonlyArray<string> | undefined, at: string) =>
    issues.push(...unknownNames(guardrails, names, `${at}.guardrails`))
  for (const [provider, entries] of Object.entries(file)) {
    entries.forEach((entry, index) => check(entry?.guardrails, `${provider}[${index}]`))
  }
  for (const [name, router] of Object.entries(routers)) check(router.guardrails, `router.${name}`)
  check(gateway?.section.guardrails, "gateway")
  for (const [name, server] of Object.entries(mcpServers)) check(server.guardrails, `mcp_servers.${name}`)
  gateway?.section.keys?.forEach((key, index) => check(key.guardrails, `gateway.keys[${gateway.indexes.keys[index]}]`))
  return issues
}

/** The `store` section's connections read (its Postgres and Redis URLs): the configuration's parts and their issues. */
function readStore(entry: typeof StoreEntry.Type | undefined): Effect.Effect<{
  readonly config: Pick<ProviderConfig, "store" | "database">
  readonly issues: ReadonlyArray<typeof Issue.Type>
}> {
  return Effect.gen(function*() {
    const sql = entry?.sql === undefined ? undefined : yield* Effect.result(readSecret(entry.sql, "store.sql"))
    const redis = entry?.redis === undefined ? undefined : yield* Effect.result(readRedis(entry.redis))
    return {
      config: definedFields({
        store: entry !== undefined && redis?._tag === "Success" ? toOptions(entry, redis.success) : undefined,
        database: sql?._tag === "Success" ? { postgres: sql.success } : undefined
      }),
      issues: [...(sql?._tag === "Failure" ? sql.failure : []), ...(redis?._tag === "Failure" ? redis.failure : [])]
    }
  })
}

// Each field the schemas do not know logged as a warning, its path masked, with the known field it may misspell.
function warnUnknownFields(
  source: string,
  mask: (text: string) => string,
  fields: ReadonlyArray<UnknownField>
): Effect.Effect<void> {
  return Effect.forEach(fields, (field) => {
    const path = mask(formatPath(field.path))
    const hint = field.suggestion === undefined ? "" : ` (did you mean ${field.suggestion}?)`
    return Effect.logWarning(`${source}: ${path}: unknown field, ignored${hint}`).pipe(
      Effect.annotateLogs({ source, path })
    )
  }, { discard: true })
}

// Each gateway key or client secret written in the file itself logged as a warning: the file then holds a secret.
function warnLiteralSecrets(source: string, paths: ReadonlyArray<string>): Effect.Effect<void> {
  return Effect.forEach(paths, (path) =>
    Effect.logWarning(
      `${source}: ${path}: a ${path.endsWith("client_secret") ? "client secret" : "gateway key"} written in the ` +
        "file; prefer env:NAME, so the file holds no secret"
    ).pipe(Effect.annotateLogs({ source, path })), { discard: true })
}

/** Where each entry read is in the file, by its deployment's name (`provider/model_name`): `provider[index]`. */
function entryPlaces(file: DecodedEntries): Map<string, string> {
  const entries = new Map<string, string>()
  for (const [provider, list] of Object.entries(file)) {
    list.forEach((entry, index) => {
      if (entry !== undefined) entries.set(`${provider}/${entry.model_name}`, `${provider}[${index}]`)
    })
  }
  return entries
}

/** Where the parts of a configuration read are in its file, for naming what is found of them later. */
export interface Places {
  /** Each entry read, by its deployment's name (`provider/model_name`): `provider[index]`. */
  readonly entries: ReadonlyMap<string, string>
  /** Where each gateway key and admin key read is in the file (`gateway.keys[2]`), in `config.gateway`'s order. */
  readonly keys: ReadonlyArray<string>
  readonly adminKeys: ReadonlyArray<string>
  /** The names of the entries that do not decode (`provider/model_name` and `model_name`): their issues name them. */
  readonly unread: ReadonlySet<string>
  /** The parts read without an entry they list (`router.main`, listing one that does not decode). */
  readonly partial: ReadonlySet<string>
  /**
   * The keys whose variable is unset (`gateway.keys[0].key`, `sim[0].api_keys[1]`), read as written (`env:NAME`): the
   * rest of their part is read, so what the gateway finds of it is named beside the unset variable.
   */
  readonly unsetKeys: ReadonlySet<string>
}

/** A configuration read: what of it reads, every problem of its file (keys masked), and where its parts are. */
export interface Read {
  readonly config: ProviderConfig
  readonly issues: ReadonlyArray<typeof Issue.Type>
  readonly places: Places
  /** The file's keys masked in a text. */
  readonly mask: (text: string) => string
}

/**
 * A configuration read from a parsed JSON value, whatever its problems: its parts that decode, checked for their
 * references, rules and `env:` variables, and every problem found. Only a value whose shape cannot be walked fails.
 */
export const read = (
  json: unknown,
  source = "the provider configuration"
): Effect.Effect<Read, ProviderConfigError> =>
  Effect.gen(function*() {
    // Each walk of a file apart from the others, other fibers run between them: a file of many keys takes a while.
    yield* Effect.yieldNow
    // Before anything walks it: the masking and the decoding below recurse.
    const shape = shapeIssues(json)
    if (shape.length > 0) {
      return yield* new ProviderConfigError({
        source,
        issues: shape.map((issue) => ({ path: formatPath(issue.path), message: issue.message }))
      })
    }
    yield* Effect.yieldNow
    const mask = masker(secretsOf(json))
    const failure = (issues: ReadonlyArray<typeof Issue.Type>) =>
      new ProviderConfigError({
        source,
        issues: issues.map((issue) => ({ path: mask(issue.path), message: mask(issue.message) }))
      })
    // Every key but `router`, `store`, `gateway`, `mcp_servers` and `guardrails` is a provider.
    const isObject = isJsonObject(json)
    const {
      gateway: gatewayJson,
      guardrails: guardrailsJson,
      mcp_servers: mcpJson,
      router: routerJson,
      store: storeJson,
      ...providersJson
    } = isObject
      ? json as Record<string, unknown>
      : {}
    const cut = withoutLongKeyLists(isObject ? providersJson : json)
    yield* Effect.yieldNow
    const unknown = [
      ...unknownFields(ProviderFile, cut.json, []),
      ...unknownFields(Schema.Record(Schema.String, RouterEntry), routerJson ?? {}, ["router"]),
      ...(storeJson === undefined ? [] : unknownFields(StoreEntry, storeJson, ["store"])),
      ...(gatewayJson === undefined ? [] : unknownFields(GatewayEntry, gatewayJson, ["gateway"])),
      ...(mcpJson === undefined ? [] : unknownFields(McpServersEntry, mcpJson, ["mcp_servers"])),
      ...(guardrailsJson === undefined ? [] : unknownFields(GuardrailsEntry, guardrailsJson, ["guardrails"]))
    ]
    yield* Effect.yieldNow
    const decoded = yield* decode(ProviderFile, cut.json, [])
    const keyLists = yield* Effect.forEach(cut.lists, decodeKeyList)
    yield* warnUnknownFields(source, mask, [...unknown, ...keyLists.flatMap((list) => list.unknown)])
    const section = yield* decode(Schema.Record(Schema.String, RouterEntry), routerJson ?? {}, ["router"])
    const store = storeJson === undefined ? undefined : yield* decode(StoreEntry, storeJson, ["store"])
    const gatewaySection = gatewayJson === undefined ? undefined : yield* decodeGateway(gatewayJson)
    const mcpSection = mcpJson === undefined ? undefined : yield* decode(McpServersEntry, mcpJson, ["mcp_servers"])
    const guardrailsSection = guardrailsJson === undefined
      ? undefined
      : yield* decode(GuardrailsEntry, guardrailsJson, ["guardrails"])
    // The issues of every part that does not decode; the parts that do are checked below all the same, so that every
    // problem of the file is named at once, its fields' and its cross-references' alike.
    const issues: Array<typeof Issue.Type> = [decoded, section, store, mcpSection, guardrailsSection]
      .flatMap((result) => result?._tag === "Failure" ? result.failure : [])
    issues.push(...gatewaySection?.issues ?? [])
    for (const list of keyLists) if (Result.isFailure(list.keys)) issues.push(...list.keys.failure)
    if (issues.length > 0) {
      const unset = yield* Effect.all(
        envKeys(isObject ? providersJson : json, gatewayJson).map(({ path, text }) => readSecret(text, path)),
        { mode: "result" }
      )
      issues.push(...unread(unset))
    }
    const file = withKeyLists(
      Result.getOrUndefined(decoded) ?? (yield* decodeEach(cut.json)),
      cut.lists,
      keyLists.map((list) => list.keys)
    )
    const undecoded = undecodedNames(cut.json, file)
    const routerSection = Result.getOrUndefined(section) ?? (yield* decodeRouters(routerJson))
    const guardrailsRead = guardrailsSection && Result.getOrUndefined(guardrailsSection)
    const mcpServers = mcpSection && Result.getOrUndefined(mcpSection)
    // What names of guardrails may be listed: the section's, read from its JSON when it does not decode.
    const guardrailNames = guardrailsRead ?? (isJsonObject(guardrailsJson) ? guardrailsJson : {})
    const { issues: entryIssues, providers, unsetKeys } = yield* readProviders(file)
    issues.push(...entryIssues)
    const { issues: routerIssues, routers } = internalRouter.resolve(routerSection, providers, undecoded)
    issues.push(...routerIssues)
    const gateway = gatewaySection === undefined
      ? undefined
      : yield* resolveGateway(gatewaySection.section, readSecret, gatewaySection.indexes)
    if (gateway !== undefined) issues.push(...gateway.issues)
    yield* warnLiteralSecrets(source, gateway?.literals ?? [])
    const mcp = mcpServers === undefined ? undefined : yield* resolveMcp(mcpServers, readSecret)
    if (mcp !== undefined) issues.push(...mcp.issues)
    // The guardrails read, and every name listed of them checked against the section.
    const guardrails = yield* resolveGuardrails(guardrailsRead ?? {}, readSecret)
    issues.push(...guardrails.issues)
    issues.push(...unknownGuardrailIssues({
      guardrails: guardrailNames,
      file,
      routers: routerSection,
      gateway: gatewaySection,
      mcpServers: mcpServers ?? {}
    }))
    const storeRead = yield* readStore(store && Result.getOrUndefined(store))
    issues.push(...storeRead.issues)
    const config: ProviderConfig = {
      providers,
      routers,
      ...storeRead.config,
      ...(gateway !== undefined ? { gateway: gateway.keys } : {}),
      ...(mcp !== undefined ? { mcpServers: mcp.servers } : {}),
      ...(guardrailsSection !== undefined ? { guardrails: guardrails.guardrails } : {})
    }
    return {
      config,
      issues: failure(distinct(issues)).issues,
      places: {
        entries: entryPlaces(file),
        keys: gateway?.paths.keys ?? [],
        adminKeys: gateway?.paths.adminKeys ?? [],
        unread: undecoded,
        unsetKeys: new Set([...unsetKeys, ...gateway?.unset ?? []]),
        partial: new Set(
          Object.entries(routerSection).flatMap(([name, entry]) =>
            entry.deployments.some((wanted) => undecoded.has(wanted)) ? [`router.${name}`] : []
          )
        )
      },
      mask
    }
  })

/** Decodes a configuration from a parsed JSON value, or fails naming every problem. `source` names it in errors. */
export const fromJson = (
  json: unknown,
  source = "the provider configuration"
): Effect.Effect<ProviderConfig, ProviderConfigError> =>
  Effect.flatMap(
    read(json, source),
    ({ config, issues }) =>
      issues.length > 0 ? Effect.fail(new ProviderConfigError({ source, issues })) : Effect.succeed(config)
  )

/**
 * A JSON syntax error without the text V8 quotes around it (`..."[sk-secret-"... is not valid JSON`), which may be
 * part of a key: the line and column instead.
 */
const syntaxError = (text: string, error: Error): string => {
  const quoted = /^(.*?),? (?:\.\.\.)?"([\s\S]*)"(?:\.\.\.)? is not valid JSON$/.exec(error.message)
  if (quoted === null) return error.message
  const at = text.indexOf(quoted[2]!)
  if (at < 0) return quoted[1]!
  const before = text.slice(0, at)
  return `${quoted[1]} near line ${before.split("\n").length} column ${at - before.lastIndexOf("\n")}`
}

/** A `provider.json` file's JSON, or the problem of a file too large, unreadable or not JSON. */
const readJson = Effect.fnUntraced(
  function*(path: string): Effect.fn.Return<unknown, ProviderConfigError, FileSystem.FileSystem> {
    const fs = yield* FileSystem.FileSystem
    const fileIssue = (message: string) => new ProviderConfigError({ source: path, issues: [{ path: "", message }] })
    const { size } = yield* Effect.mapError(fs.stat(path), (error) => fileIssue(error.message))
    if (size > maxBytes) return yield* fileIssue(`${size} bytes, more than the ${maxBytes} a provider.json may have`)
    const text = yield* Effect.mapError(fs.readFileString(path), (error) => fileIssue(error.message))
    return yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) => fileIssue(`not valid JSON: ${syntaxError(text, error as Error)}`)
    })
  }
)

/** Reads and decodes a `provider.json` file. */
export const load = Effect.fnUntraced(
  function*(path: string): Effect.fn.Return<ProviderConfig, ProviderConfigError, FileSystem.FileSystem> {
    return yield* fromJson(yield* readJson(path), path)
  }
)

/** Reads a `provider.json` file whatever its problems (`read`). */
export const readFile = Effect.fnUntraced(
  function*(path: string): Effect.fn.Return<Read, ProviderConfigError, FileSystem.FileSystem> {
    return yield* read(yield* readJson(path), path)
  }
)
