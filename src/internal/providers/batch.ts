/**
 * A provider's batch API as a client makes it (`ProviderClient.batch`): the dialect's steps (`BatchWire`) over the
 * adapter's transport, or over the other endpoints it names (Bedrock's control plane and S3 buckets), each step's
 * failures typed and masked as a call's are, each result line read by the dialect's own reply reader.
 */
import * as Effect from "effect/Effect"
import * as HttpBody from "effect/http/HttpBody"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Result from "effect/Result"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import type { LlmError } from "../../LlmError.js"
import type { BatchApi, BatchLine, BatchStatus, Credentials } from "../../ProviderClient.js"
import { ShapeError } from "../codecError.js"
import { inSlices } from "../inSlices.js"
import type { JsonObject } from "../json.js"
import { fromHttpFailure } from "../llmError/fromHttpFailure.js"
import type * as ProviderHttp from "../transport/providerHttp.js"

/** What one result line holds, as a dialect's file or inlined responses hold it, before a codec reads its reply. */
export type RawOutcome =
  | { readonly _tag: "Reply"; readonly body: JsonObject }
  | { readonly _tag: "Failed"; readonly status: number | undefined; readonly body: unknown }
  | "expired"
  | "cancelled"

/** One result line: its custom id where the API names it, its position among the results, its outcome. */
export interface RawLine {
  readonly customId: string | undefined
  readonly position: number
  readonly outcome: RawOutcome
}

/** An endpoint of the provider's besides its calls' (Bedrock's control plane, an S3 bucket): its root and signature. */
export interface BatchEndpoint {
  readonly baseUrl: string
  /** How a request to it is signed. Default: as the provider's calls are (`ProviderHttp.Options.sign`). */
  readonly sign?: ProviderHttp.Options["sign"] | undefined
}

/** One batch step's HTTP, for a model and a key. */
export interface BatchHttp {
  /**
   * A JSON exchange with `path` (`body` undefined: a `GET`); `reader`'s `ShapeError` fails the step with
   * `OutputDecodeError`.
   */
  readonly json: <A>(
    path: string,
    body: unknown,
    reader: (body: JsonObject) => A
  ) => Effect.Effect<A, LlmError>
  /** A `GET` of `path`, its reply's text (a JSONL file). */
  readonly text: (path: string) => Effect.Effect<string, LlmError>
  /** A `POST` of a multipart body written under `boundary` (a file's upload), its reply read as `json`'s. */
  readonly upload: <A>(
    path: string,
    boundary: string,
    body: string,
    reader: (body: JsonObject) => A
  ) => Effect.Effect<A, LlmError>
  /** A `PUT` or `POST` of `body` to `path` (a file's upload, a step answered with no body). */
  readonly send: (
    method: "PUT" | "POST",
    path: string,
    body: string,
    contentType: string
  ) => Effect.Effect<void, LlmError>
  /** The same steps at one of the wire's `endpoints`, by its name. */
  readonly at: (endpoint: string) => BatchHttp
}

/** A dialect's batch steps over `BatchHttp`. */
export interface BatchWire {
  /** The endpoints its steps reach besides the provider's own, by name (`BatchHttp.at`). Default: none. */
  readonly endpoints?: Readonly<Record<string, BatchEndpoint>> | undefined
  readonly submit: (
    http: BatchHttp,
    model: string,
    lines: ReadonlyArray<{ readonly customId: string; readonly body: unknown }>
  ) => Effect.Effect<BatchStatus, LlmError>
  readonly retrieve: (http: BatchHttp, model: string, id: string) => Effect.Effect<BatchStatus, LlmError>
  readonly cancel: (http: BatchHttp, model: string, id: string) => Effect.Effect<BatchStatus, LlmError>
  readonly results: (
    http: BatchHttp,
    model: string,
    status: BatchStatus
  ) => Effect.Effect<ReadonlyArray<RawLine>, LlmError>
}

/**
 * A results file's lines, read from a bucket: none when a batch that did not complete wrote no file (a 404); a
 * completed batch's file is always there.
 */
export function resultsFile(
  read: Effect.Effect<ReadonlyArray<RawLine>, LlmError>,
  state: BatchStatus["state"]
): Effect.Effect<ReadonlyArray<RawLine>, LlmError> {
  return state === "completed"
    ? read
    : Effect.catchIf(read, (error) => "status" in error && error.status === 404, () => Effect.succeed([]))
}

/** What the adapter gives a batch API: its transport, its body writer and its reply reader. */
export interface BatchParts {
  readonly provider: string
  readonly transport: ProviderHttp.Transport
  /** The transport of another endpoint: the provider's own options at its root, signed as it says. */
  readonly transportAt: (endpoint: BatchEndpoint) => ProviderHttp.Transport
  readonly wire: BatchWire
  /** A reply's body as a `ChatResponse`, or the error it is (a blocked prompt's, a reply of the wrong shape). */
  readonly reply: (
    body: JsonObject,
    request: ChatRequest,
    model: string,
    keyId: string
  ) => Result.Result<ChatResponse, LlmError>
  /** A request's body, or the `InvalidRequestError` of one the dialect cannot express. */
  readonly prepared: (
    request: ChatRequest,
    model: string,
    keyId: string
  ) => Result.Result<unknown, LlmError>
}

/** The transports of a wire's endpoints, by name. */
type Transports = Readonly<Record<string, ProviderHttp.Transport>>

function httpOf(
  transport: ProviderHttp.Transport,
  transports: Transports,
  model: string,
  credentials: Credentials
): BatchHttp {
  function call(path: string, body: unknown) {
    return Effect.fromResult(transport.prepare({ path, body, model, credentials }))
  }
  function get(prepared: ProviderHttp.Call): ProviderHttp.Call {
    const request = HttpClientRequest.setBody(HttpClientRequest.setMethod(prepared.request, "GET"), HttpBody.empty)
    return { ...prepared, request }
  }
  function shaped<A>(sent: ProviderHttp.Call, reader: (body: JsonObject) => A) {
    return transport.json(sent, (reply): Effect.Effect<A, LlmError> => {
      try {
        return Effect.succeed(reader(reply.body))
      } catch (error) {
        if (!(error instanceof ShapeError)) throw error
        const detail = `the response has the wrong shape: ${error.reason}`
        return Effect.fail(transport.decodeError(sent, detail, reply.text))
      }
    })
  }
  const json: BatchHttp["json"] = (path, body, reader) =>
    Effect.flatMap(
      call(path, body ?? null),
      (prepared) => shaped(body === undefined ? get(prepared) : prepared, reader)
    )
  const text: BatchHttp["text"] = (path) =>
    Effect.flatMap(call(path, null), (prepared) => transport.text(get(prepared), (body) => Effect.succeed(body)))
  const upload: BatchHttp["upload"] = (path, boundary, body, reader) =>
    Effect.flatMap(call(path, null), (prepared) => {
      const request = HttpClientRequest.bodyText(prepared.request, body, `multipart/form-data; boundary=${boundary}`)
      return shaped({ ...prepared, request }, reader)
    })
  const send: BatchHttp["send"] = (method, path, body, contentType) =>
    Effect.flatMap(call(path, null), (prepared) => {
      const request = HttpClientRequest.bodyText(
        HttpClientRequest.setMethod(prepared.request, method),
        body,
        contentType
      )
      return transport.text({ ...prepared, request }, () => Effect.void)
    })
  function at(endpoint: string): BatchHttp {
    const other = transports[endpoint]
    // The wire names its own endpoints: one it did not declare is a bug in it.
    if (other === undefined) throw new Error(`the batch wire declares no endpoint ${endpoint}`)
    return httpOf(other, transports, model, credentials)
  }
  return { json, text, upload, send, at }
}

/** What a batch's result lines are read with. */
interface LineContext {
  readonly parts: BatchParts
  readonly batchId: string
  readonly model: string
  readonly credentials: Credentials
  readonly requestOf: (customId: string | undefined, position: number) => ChatRequest
  readonly nowMillis: number
}

/**
 * A result line's outcome. A reply that carries no id of its own (Bedrock's Converse) is named by its batch and line
 * id, so no two lines share one.
 */
function lineOf(context: LineContext, raw: RawLine): BatchLine {
  const { batchId, credentials, model, parts } = context
  const outcome = raw.outcome
  if (outcome === "expired" || outcome === "cancelled") return { ...raw, outcome }
  if (outcome._tag === "Reply") {
    const request = context.requestOf(raw.customId, raw.position)
    const reply = Result.map(
      parts.reply(outcome.body, request, model, credentials.keyId),
      (response) => response.id === "" ? { ...response, id: `${batchId}/${raw.customId ?? raw.position}` } : response
    )
    return { ...raw, outcome: reply }
  }
  const error = fromHttpFailure({
    provider: parts.provider,
    model,
    status: outcome.status,
    headers: undefined,
    body: outcome.body,
    nowMillis: context.nowMillis,
    secrets: [credentials.key]
  })
  return { ...raw, outcome: Result.fail(error) }
}

/** How many batches' requests a client keeps for reading their results. */
const keptBatches = 1024

/** The batch API of an adapter whose dialect has one. */
export function apiOf(parts: BatchParts): BatchApi {
  // The requests a batch was submitted with, by custom id, for reading their lines' replies (a structured output's
  // forced tool); a batch made elsewhere is read without them. Bounded: the oldest are let go past `keptBatches`.
  const submitted = new Map<string, ReadonlyArray<{ readonly customId: string; readonly request: ChatRequest }>>()
  const transports: Transports = Object.fromEntries(
    Object.entries(parts.wire.endpoints ?? {}).map(([name, endpoint]) => [name, parts.transportAt(endpoint)])
  )
  function http(model: string, credentials: Credentials) {
    return httpOf(parts.transport, transports, model, credentials)
  }
  return {
    submit: (requests, model, credentials) =>
      // Each line prepared for the provider in slices: a batch holds up to tens of thousands.
      inSlices(requests, ({ customId, request }) =>
        Result.map(parts.prepared(request, model, credentials.keyId), (body) => ({ customId, body }))).pipe(
          Effect.flatMap((lines) =>
            parts.wire.submit(http(model, credentials), model, lines)
          ),
          Effect.tap((status) =>
            Effect.sync(() => {
              if (submitted.size >= keptBatches) submitted.delete(submitted.keys().next().value!)
              submitted.set(status.id, requests)
            })
          )
        ),
    retrieve: (id, model, credentials) => parts.wire.retrieve(http(model, credentials), model, id),
    cancel: (id, model, credentials) => parts.wire.cancel(http(model, credentials), model, id),
    results: (status, model, credentials) =>
      Effect.flatMap(
        parts.wire.results(http(model, credentials), model, status),
        (raws) =>
          Effect.clockWith((clock) => {
            const requests = submitted.get(status.id) ?? []
            const byId = new Map(requests.map(({ customId, request }) => [customId, request]))
            const fallback: ChatRequest = { model, messages: [] }
            function requestOf(customId: string | undefined, position: number) {
              return (customId === undefined ? requests[position]?.request : byId.get(customId)) ?? fallback
            }
            const context: LineContext = {
              parts,
              batchId: status.id,
              model,
              credentials,
              requestOf,
              nowMillis: clock.currentTimeMillisUnsafe()
            }
            return Effect.succeed(raws.map((raw) => lineOf(context, raw)))
          })
      )
  }
}
