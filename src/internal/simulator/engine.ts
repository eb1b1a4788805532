/**
 * The engine: a request reduced to a {@link Plan}, independent of the HTTP server that writes it. Every route goes
 * through the same gate (fault header, key, rate limit), then a wire format decodes the body and renders the reply.
 */
import * as Result from "effect/Result"
import * as Http from "node:http"
import type { Usage } from "../../ChatResponse.js"
import * as Anthropic from "../../simulator/Anthropic.js"
import * as AzureOpenAi from "../../simulator/AzureOpenAi.js"
import * as Gemini from "../../simulator/Gemini.js"
import * as OpenAiChat from "../../simulator/OpenAiChat.js"
import * as Reply from "../../simulator/Reply.js"
import type { Fault } from "../../simulator/Simulator.js"
import * as Vertex from "../../simulator/Vertex.js"
import type { ApiError, Decoded, EmbeddingFormat, ReplyMeta, WireFormat } from "../../simulator/WireFormat.js"
import { makeBatches } from "./batch.js"
import { type Gate, json } from "./batchServer.js"
import type { Config } from "./config.js"
import {
  type Admitted,
  bodyPlan,
  faultHeader,
  faultStream,
  makeCachedParser,
  makeChaos,
  remembered,
  type ReplyFault
} from "./fault.js"
import { compactFormatOf } from "./openAiResponses/compact.js"
import { formatOf } from "./openAiResponses/format.js"
import * as Organization from "./openAiResponses/organization.js"
import { type Plan, streamPlan } from "./plan.js"
import { PromptCache } from "./promptCache.js"
import { makeRateLimit } from "./rateLimit.js"
import { invalid } from "./requestChecks.js"
import type { RouteInput } from "./routes.js"
import { Scenarios } from "./scenario.js"
import { StoredReplies } from "./storedReplies.js"
import { usageOf } from "./usage.js"

/** How many prompt prefixes the simulator's prompt cache holds: enough for a test's conversations, bounded. */
const promptCachePrefixes = 1024

/** How many replies the simulator keeps for later requests to continue, likewise. */
const keptReplies = 1024

const maskKey = (key: string): string => (key.length <= 8 ? "***" : `${key.slice(0, 3)}…${key.slice(-4)}`)

const htmlPage = (status: number): string => {
  const title = `${status} ${Http.STATUS_CODES[status] ?? "Error"}`
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n` +
    `<hr><center>simulator</center>\r\n</body>\r\n</html>\r\n`
}

const intHeader = (
  headers: Http.IncomingHttpHeaders,
  name: string,
  min: number,
  max: number
): Result.Result<number | undefined, ApiError> => {
  const value = headers[name]
  if (value === undefined) return Result.succeed(undefined)
  const text = (Array.isArray(value) ? value[0] ?? "" : value).trim()
  const n = Number(text)
  return /^\d+$/.test(text) && n >= min && n <= max
    ? Result.succeed(n)
    : Result.fail(invalid(`Invalid ${name} header "${text}": expected an integer from ${min} to ${max}.`, name))
}

/** A header's text, percent-decoded (`encodeURIComponent`'s form); an invalid escape is the request's error. */
const textHeader = (
  headers: Http.IncomingHttpHeaders,
  name: string
): Result.Result<string | undefined, ApiError> => {
  const value = headers[name]
  if (value === undefined) return Result.succeed(undefined)
  const text = Array.isArray(value) ? value.join(", ") : value
  try {
    return Result.succeed(decodeURIComponent(text))
  } catch {
    return Result.fail(
      invalid(`Invalid ${name} header: expected text, percent-encoded as encodeURIComponent writes it.`, name)
    )
  }
}

/** The per-request headers that shape a reply (`Simulator`'s), each absent when not sent; or the first bad one. */
const knobsOf = (headers: Http.IncomingHttpHeaders) =>
  Result.gen(function*() {
    const replyTokens = yield* intHeader(headers, "x-simulator-reply-tokens", 0, 100_000)
    const replyText = yield* textHeader(headers, "x-simulator-reply")
    const reasoningText = yield* textHeader(headers, "x-simulator-reasoning")
    const refusalText = yield* textHeader(headers, "x-simulator-refusal")
    const toolCalls = yield* intHeader(headers, "x-simulator-tool-calls", 1, 64)
    const cachedTokens = yield* intHeader(headers, "x-simulator-cached-tokens", 0, Number.MAX_SAFE_INTEGER)
    const cacheWriteTokens = yield* intHeader(headers, "x-simulator-cache-write-tokens", 0, Number.MAX_SAFE_INTEGER)
    return { replyTokens, replyText, reasoningText, refusalText, toolCalls, cachedTokens, cacheWriteTokens }
  })

const promptModel = (decoded: Decoded<unknown>): string => decoded.prompt.model

/** The first response header: the request id, under the format's name for it. */
const requestIdHeaders = (format: Gate, id: number): Record<string, string> => ({
  [format.requestIdHeader ?? "x-request-id"]: `req_sim${id}`
})

/**
 * `reply` as served at `tier` when `body` names no service tier (`service_tier`, OpenAI's and Anthropic's field) or
 * leaves it to the provider (`auto`), as a project whose default tier is `tier` is served; else as it was.
 */
function servedAt(reply: Reply.Reply, body: unknown, tier: string | undefined): Reply.Reply {
  if (tier === undefined) return reply
  const asked = typeof body === "object" && body !== null
    ? (body as { service_tier?: unknown }).service_tier
    : undefined
  if (asked !== undefined && asked !== null && asked !== "auto") return reply
  return { ...reply, usage: { ...reply.usage, serviceTier: tier } }
}

const errorPlan = (format: Gate, error: ApiError, headers: Record<string, string>): Plan => {
  const { body, headers: named, status } = format.renderError(error)
  if (named !== undefined) Object.assign(headers, named)
  if (error._tag === "RateLimited") {
    headers["retry-after"] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)))
    headers["retry-after-ms"] = String(Math.ceil(error.retryAfterMs))
  } else if (error._tag === "Injected") {
    const { code, retryAfter, status } = error.fault
    const seconds = retryAfter === "none"
      ? undefined
      : retryAfter ?? (status === 429 && code !== "insufficient_quota" ? 1 : undefined)
    if (seconds !== undefined) {
      headers["retry-after"] = String(Math.ceil(seconds))
      headers["retry-after-ms"] = String(Math.round(seconds * 1000))
    }
  }
  headers["content-type"] = "application/json"
  return { _tag: "Body", status, headers, body, delayMs: 0 }
}

/** The answer of a fault that replaces the reply with an error: in the format's error shape, a page, or nothing. */
const failedPlan = (
  format: Gate,
  fault: Extract<Fault, { readonly _tag: "Status" | "Html" | "Empty" }>,
  out: Record<string, string>
): Plan => {
  switch (fault._tag) {
    case "Status":
      return errorPlan(format, { _tag: "Injected", fault }, out)
    case "Html":
      out["content-type"] = "text/html"
      return { _tag: "Body", status: fault.status, headers: out, body: htmlPage(fault.status), delayMs: 0 }
    case "Empty":
      return { _tag: "Body", status: fault.status, headers: out, body: "", delayMs: 0 }
  }
}

/** The answer of an `echoKey` fault: the request's key quoted back in an error, or in a body cut short. */
const echoKeyPlan = (
  format: Gate,
  fault: Extract<Fault, { readonly _tag: "EchoKey" }>,
  headers: Http.IncomingHttpHeaders,
  key: string | undefined,
  out: Record<string, string>
): Plan => {
  const echoed = key ?? ""
  if (fault.where === "error") {
    // Every credential the request carried, as a careless upstream quotes them back: a cloud's token, its signature and
    // session token too.
    const carried = [headers.authorization, headers["x-amz-security-token"]].filter((value) =>
      typeof value === "string" && value !== "" && value !== echoed
    )
    const message = `The key ${echoed} may not make this request${
      carried.length === 0 ? "" : ` (sent: ${carried.join(" ; ")})`
    }.`
    return errorPlan(format, { _tag: "InvalidRequest", message, param: echoed, code: `denied:${echoed}` }, out)
  }
  out["content-type"] = "application/json"
  return { _tag: "Body", status: 200, headers: out, body: `{"denied_key": "${echoed}"`, delayMs: 0 }
}

/**
 * Whether a `down` fault's window is open at `now` (`startedAt`: the simulator's start, on its `Clock`), remembering
 * when each `down` fault value (`""` for the options' fault) was first seen, for `since=first`; bounded.
 */
const makeDownWindows = (startedAt: number) => {
  const firstSeen = new Map<string, number>()
  return (fault: Extract<Fault, { readonly _tag: "Down" }>, value: string, now: number): boolean =>
    now < (fault.since === "first" ? remembered(firstSeen, value, () => now) : startedAt) + fault.ms
}

/**
 * Fault header, auth and rate limit: what every route checks first. The function made returns a plan (an error, or a
 * fault that replaces the reply), or the fault to apply to the reply, if any.
 */
const makeAdmit = (config: Config, startedAt: number, chaos: ReturnType<typeof makeChaos>) => {
  const decodeFaultCached = makeCachedParser()
  const rateLimit = makeRateLimit(config.requestsPerMinute)
  const isDown = makeDownWindows(startedAt)
  return (
    format: Gate,
    headers: Http.IncomingHttpHeaders,
    now: number,
    out: Record<string, string>
  ): Plan | Admitted | undefined => {
    const faultText = headers[faultHeader]
    let fault: Fault | undefined = config.fault
    if (typeof faultText === "string") {
      const parsed = decodeFaultCached(faultText)
      if (Result.isFailure(parsed)) {
        return errorPlan(format, {
          _tag: "InvalidRequest",
          message: `Invalid ${faultHeader} header "${faultText}": ${parsed.failure}.`,
          param: faultHeader,
          code: "invalid_simulator_fault"
        }, out)
      }
      fault = parsed.success
    }
    const key = format.apiKey(headers)
    if (config.apiKeys !== undefined && (key === undefined || !config.apiKeys.has(key))) {
      return errorPlan(format, { _tag: "InvalidKey", maskedKey: key === undefined ? undefined : maskKey(key) }, out)
    }
    const limited = rateLimit(format, key ?? "", now, out)
    if (limited !== undefined) return errorPlan(format, limited, out)
    if (fault?._tag === "Chaos") fault = chaos.pick(fault, typeof faultText === "string" ? faultText : "")
    if (fault === undefined) return undefined
    switch (fault._tag) {
      case "Status":
      case "Html":
      case "Empty":
        return failedPlan(format, fault, out)
      case "Down":
        return isDown(fault, typeof faultText === "string" ? faultText : "", now)
          ? errorPlan(format, { _tag: "Injected", fault: { _tag: "Status", status: fault.status } }, out)
          : undefined
      case "EchoKey":
        return echoKeyPlan(format, fault, headers, key, out)
      default:
        return fault
    }
  }
}

type Admit = ReturnType<typeof makeAdmit>

type Prefill = Extract<Admitted, { readonly _tag: "RefusePrefill" | "PrefillOnFlag" }>

/**
 * The prompt as a `prefill=` fault leaves it: undefined when refused; answered with a new message (as after the user's)
 * when it ends with an assistant message but lacks the flag the server goes on from one by.
 */
const prefilled = (prompt: Reply.Prompt, prefill: Prefill | undefined): Reply.Prompt | undefined => {
  if (prefill === undefined || prompt.lastRole !== "assistant") return prompt
  if (prefill._tag === "RefusePrefill") return undefined
  return prompt.prefillFlags?.includes(prefill.flag) === true ? prompt : { ...prompt, lastRole: "user" }
}

const planTags: ReadonlySet<unknown> = new Set(["Body", "Stream", "Truncated", "Drop", "Hang"])

const isPlan = (u: Plan | Admitted | Record<string, string> | undefined): u is Plan =>
  u !== undefined && planTags.has(u._tag)

type Decode<T> = (
  body: unknown,
  params?: Readonly<Record<string, string | undefined>>,
  headers?: Http.IncomingHttpHeaders
) => Result.Result<T, ApiError>

/** The requests of one simulator: each numbered, let through the gate and, where a route reads one, its body read. */
const makeRequests = (config: Config, admit: Admit) => {
  let nextId = 1
  const numbered = (format: Gate): Record<string, string> => requestIdHeaders(format, nextId++)

  /** The answer to a request a route refused before the engine read it (a signature that does not verify). */
  const refuse = (format: Gate, error: ApiError): Plan => errorPlan(format, error, numbered(format))

  /** The gate of a route that reads no body: a plan when it ends there, else the answer's headers. */
  const gate = (format: Gate, headers: Http.IncomingHttpHeaders, now: number): Plan | Record<string, string> => {
    const out = numbered(format)
    const admitted = admit(format, headers, now, out)
    return isPlan(admitted) ? admitted : out
  }

  /**
   * The start every request with a body shares, up to its model's context window; a plan when it ends there, else the
   * request past the gate, its body read (`body`, as parsed) and decoded: what a route answers from.
   */
  const open = <T>(format: Gate, decode: Decode<T>, modelOf: (decoded: T) => string, input: RouteInput) => {
    const bodyText = input.body
    if (bodyText === undefined) {
      return refuse(format, invalid("The request body could not be read, or is larger than 32 MiB."))
    }
    const id = nextId++
    const out: Record<string, string> = requestIdHeaders(format, id)
    const admitted = admit(format, input.headers, input.now, out)
    if (isPlan(admitted)) return admitted
    const fault = admitted?._tag === "Output" || admitted?._tag === "Continuation" ||
        admitted?._tag === "RefusePrefill" || admitted?._tag === "PrefillOnFlag" || admitted?._tag === "NoUsage"
      ? undefined
      : admitted
    let body: unknown
    try {
      body = JSON.parse(bodyText)
    } catch (cause) {
      return errorPlan(format, {
        _tag: "InvalidRequest",
        message: `We could not parse the JSON body of your request (${
          (cause as Error).message
        }). The API expects a JSON payload.`
      }, out)
    }
    const read = decode(body, input.params, input.headers)
    if (Result.isFailure(read)) return errorPlan(format, read.failure, out)
    const decoded = read.success
    const model = modelOf(decoded)
    if (!config.models.has(model)) return errorPlan(format, { _tag: "ModelNotFound", model }, out)
    return {
      id,
      out,
      fault,
      output: admitted?._tag === "Output" ? admitted.mode : undefined,
      continuation: admitted?._tag === "Continuation" ? admitted.mode : undefined,
      // `usage=none`: the reply reports no usage.
      noUsage: admitted?._tag === "NoUsage",
      // `prefill=...`: what a request that ends with an assistant message gets.
      prefill: admitted?._tag === "RefusePrefill" || admitted?._tag === "PrefillOnFlag" ? admitted : undefined,
      decoded,
      body,
      window: config.contextWindows[model] ?? config.contextWindow
    }
  }

  return { numbered, refuse, gate, open }
}

type Requests = ReturnType<typeof makeRequests>

/** The plan of a generated reply: streamed (paced, as its fault leaves it), or one body as late as its stream. */
const replyPlan = <X>(
  config: Config,
  format: WireFormat<X>,
  decoded: Decoded<X>,
  reply: Reply.Reply,
  meta: ReplyMeta,
  fault: ReplyFault | undefined,
  out: Record<string, string>
): Plan => {
  if (decoded.stream) {
    if (fault?._tag === "Silent" && fault.ms === undefined) return { _tag: "Hang" }
    const rendered = format.renderStream(reply, meta, decoded.extra)
    out["content-type"] = rendered.contentType ?? format.streamContentType
    out["cache-control"] = "no-cache"
    const stream = faultStream(format, meta, rendered, fault)
    const pacing = fault?._tag === "FirstToken"
      ? { ttftMs: config.ttftMs + fault.ms, tokenGapMs: config.tokenGapMs }
      : config
    const plan = streamPlan(pacing, out, stream, fault?._tag === "Silent" ? fault.ms ?? 0 : 0)
    return format.binaryStream === true && plan._tag === "Stream" ? { ...plan, encoding: "latin1" } : plan
  }

  // A non-streamed reply takes as long as its stream would have.
  const delayMs = config.ttftMs +
    (config.tokenGapMs === undefined ? 0 : config.tokenGapMs * reply.usage.completionTokens)
  return bodyPlan(
    out,
    format.renderReply(reply, meta, decoded.extra),
    delayMs,
    fault,
    (shape) => format.renderBodyError(shape, meta)
  )
}

/**
 * A generation: the prompt (continued from a stored reply, as its prefill fault leaves it) checked against the context
 * window, a reply generated, played through the scenarios, kept when asked and planned.
 */
const makeGenerate = (
  config: Config,
  requests: Requests,
  promptCache: PromptCache,
  storedReplies: StoredReplies,
  scenarios: Scenarios,
  bill: (usage: Usage) => void
) =>
<X>(format: WireFormat<X>, input: RouteInput): Plan => {
  const opened = requests.open(format, format.decode, promptModel, input)
  if (!("decoded" in opened)) return opened
  const { body, continuation, id, out, output } = opened
  const continued = storedReplies.continued(opened.decoded)
  if (Result.isFailure(continued)) return errorPlan(format, continued.failure, out)
  const decoded = continued.success
  const window = Math.min(opened.window, decoded.window ?? opened.window)
  const { headers, now } = input
  const prompt = prefilled(decoded.prompt, opened.prefill)
  if (prompt === undefined) {
    return errorPlan(format, {
      _tag: "InvalidRequest",
      message: "This model does not support assistant message prefill. The conversation must end with a user message."
    }, out)
  }
  if (decoded.requestedTokens > window) {
    return errorPlan(format, {
      _tag: "ContextLength",
      limit: window,
      promptTokens: prompt.promptTokens,
      completionTokens: decoded.requestedTokens - prompt.promptTokens
    }, out)
  }
  const knobs = knobsOf(headers)
  if (Result.isFailure(knobs)) return errorPlan(format, knobs.failure, out)
  const { cachedTokens, cacheWriteTokens, reasoningText, refusalText, replyText, replyTokens, toolCalls } =
    knobs.success
  // The knob headers, when sent, stand in for what the prompt cache reports.
  const cache = format.cachePrefixes === undefined
    ? undefined
    : promptCache.use(format.cachePrefixes(body, input.params), now)
  const generated = Reply.generate(prompt, {
    replyTokens: replyTokens ?? config.replyTokens,
    reasoningTokens: config.reasoningTokens,
    toolCalls: toolCalls ?? 1,
    cachedTokens: cachedTokens ?? cache?.read ?? 0,
    cacheWriteTokens: cacheWriteTokens ?? cache?.written ?? 0,
    cacheWrite1hTokens: cacheWriteTokens === undefined ? cache?.writtenForAnHour ?? 0 : 0,
    output,
    continuation,
    reply: replyText,
    reasoning: reasoningText,
    refusal: refusalText
  })
  if (Result.isFailure(generated)) return errorPlan(format, invalid(generated.failure.message), out)
  // A scenario's turn, where one answers the request, stands in for the generated reply and the request's fault.
  const played = scenarios.play({ prompt, headers, body }, generated.success, opened.fault)
  if (Result.isFailure(played)) return errorPlan(format, played.failure, out)
  const scripted = played.success
  if (scripted._tag === "Failed") return failedPlan(format, scripted.fault, out)
  const reply = servedAt(scripted.reply, body, config.defaultServiceTier)
  const meta: ReplyMeta = {
    id: `${format.idPrefix}sim${id}`,
    created: Math.floor(now / 1000),
    model: prompt.model,
    ...(opened.noUsage ? { usage: "none" as const } : {}),
    ...(scripted.turn ? { hostedTools: "none" as const } : {})
  }
  if (decoded.keeps === true) storedReplies.keep(meta.id, prompt, reply)
  if (!opened.noUsage) bill(usageOf(reply.usage))
  return replyPlan(config, format, decoded, reply, meta, scripted.fault, out)
}

/** An embedding request: a generation's gate, faults and model check, every input within the context window. */
const makeEmbed = (config: Config, requests: Requests) => (format: EmbeddingFormat, input: RouteInput): Plan => {
  const opened = requests.open(format, format.decode, (request) => request.model, input)
  if (!("decoded" in opened)) return opened
  const { decoded: request, fault, id, out, window } = opened
  let promptTokens = 0
  for (const input of request.inputs) {
    const tokens = typeof input === "string" ? Reply.countTokens(input.length) : input.length
    if (tokens > window) {
      return errorPlan(
        format,
        { _tag: "ContextLength", limit: window, promptTokens: tokens, completionTokens: 0 },
        out
      )
    }
    promptTokens += tokens
  }
  const dimensions = request.dimensions ?? Reply.defaultEmbeddingDimensions
  // A tokenized input's vector is that of its ids written out: deterministic, and apart from every text's.
  const vectors = request.inputs.map((input) =>
    Reply.embedding(request.model, typeof input === "string" ? input : `tokens:${input.join(",")}`, dimensions)
  )
  const text = format.render(vectors, request, promptTokens)
  return bodyPlan(
    out,
    text,
    config.ttftMs,
    fault,
    () => format.renderBodyError("openai", { id: `sim${id}`, created: 0, model: request.model })
  )
}

/**
 * The engine of one simulator, holding its state (request ids, faults, rate limits, prompt cache, `down` windows from
 * `startedAt` on its `Clock`, its organisation's Responses formats); `bill` is told each usage its wires write.
 */
export const makeEngine = (config: Config, startedAt: number, bill: (usage: Usage) => void) => {
  const chaos = makeChaos()
  const admit = makeAdmit(config, startedAt, chaos)
  const requests = makeRequests(config, admit)
  const generate = makeGenerate(
    config,
    requests,
    new PromptCache(promptCachePrefixes),
    new StoredReplies(keptReplies),
    new Scenarios(config),
    bill
  )

  /**
   * A prompt's token count (Anthropic's `count_tokens`, Gemini's `countTokens`, Bedrock's `CountTokens`, the Responses
   * API's `input_tokens`): the same gate, faults and model check as a generation, and the prompt tokens a reply would
   * report, as `render` writes them.
   */
  const countTokens = <X>(
    format: WireFormat<X>,
    decode: Decode<Decoded<X>>,
    render: (promptTokens: number) => string,
    input: RouteInput
  ): Plan => {
    const opened = requests.open(format, decode, promptModel, input)
    if (!("decoded" in opened)) return opened
    const { decoded, fault, id, out } = opened
    const meta: ReplyMeta = { id: `${format.idPrefix}sim${id}`, created: 0, model: decoded.prompt.model }
    return bodyPlan(
      out,
      render(decoded.prompt.promptTokens),
      config.ttftMs,
      fault,
      (shape) => format.renderBodyError(shape, meta)
    )
  }

  const models = <X>(
    format: WireFormat<X>,
    headers: Http.IncomingHttpHeaders,
    now: number,
    model: string | undefined
  ): Plan => {
    const out = requests.gate(format, headers, now)
    if (isPlan(out)) return out
    const entry = (id: string) => ({ id, object: "model", created: 1_700_000_000, owned_by: "simulator" })
    if (model !== undefined && !config.models.has(model)) {
      return errorPlan(format, { _tag: "ModelNotFound", model }, out)
    }
    return json(out, model !== undefined ? entry(model) : { object: "list", data: config.modelList.map(entry) })
  }

  const notFound = (format: Gate, method: string, path: string): Plan =>
    requests.refuse(format, { _tag: "NotFound", method, path })

  /** The secret key of an AWS access key id the simulator knows, for Bedrock's signatures. */
  const awsSecretOf = (accessKeyId: string): string | undefined => config.awsSecrets.get(accessKeyId)

  const batches = makeBatches({ gate: requests.gate, error: errorPlan, generate, batchFault: config.batchFault }, {
    openai: OpenAiChat.format,
    azure: AzureOpenAi.format,
    anthropic: Anthropic.format,
    gemini: Gemini.format,
    vertex: Vertex.geminiFormat
  })

  // The organisation this simulator stands for on the Responses API: what it encrypts, no other simulator reads.
  const organization = config.organization === undefined
    ? Organization.freshOrganization()
    : Organization.organization(config.organization)
  const responses = { format: formatOf(organization), compact: compactFormatOf(organization) }

  return {
    generate,
    embed: makeEmbed(config, requests),
    countTokens,
    models,
    notFound,
    refuse: requests.refuse,
    awsSecretOf,
    injected: chaos.injected,
    batches,
    responses
  }
}

export type Engine = ReturnType<typeof makeEngine>
