/**
 * Where a Responses deployment's encrypted content was made. OpenAI reads encrypted content back (a `reasoning` or
 * `compaction` item's) only at the organisation that made it, and refuses it anywhere else with 400
 * `invalid_encrypted_content`: a conversation that moves to another deployment (a router's failover, another gateway)
 * would fail there.
 *
 * So the `OpenAiResponses` client marks every reply's encrypted content with its origin, a digest of its provider, base
 * URL and key (no secret can be read from it, and no one without the key makes it), and sends back only what its own
 * origin made. Content with no mark goes as it is, and when the provider refuses it the call is made once more without
 * any encrypted content: a reply without the reasoning that content held, not a failure.
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { hash } from "node:crypto"
import type { ChatChunk } from "../../../ChatChunk.js"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { LlmError } from "../../../LlmError.js"
import type { AssistantMessage, Message, ProviderMetadata } from "../../../Message.js"
import type { Credentials, Service } from "../../../ProviderClient.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { metadataKey } from "./codec.js"
import type { Options } from "./options.js"

/** What starts encrypted content marked with its origin. */
const mark = "eo1."

/** The origin of a deployment's content made with `key`: a digest of its provider, its base URL and the key. */
export function originOf(provider: string, baseUrl: string, key: Redacted.Redacted<string>): string {
  return hash("sha256", `${provider}\n${baseUrl}\n${Redacted.value(key)}`, "base64url").slice(0, 22)
}

/** `encrypted` marked as made at `origin`. */
export function marked(origin: string, encrypted: string): string {
  return `${mark}${origin}.${encrypted}`
}

/** The origin and the content of a marked `encrypted`; undefined for content with no mark. */
export function opened(encrypted: string): { readonly origin: string; readonly content: string } | undefined {
  if (!encrypted.startsWith(mark)) return undefined
  const end = encrypted.indexOf(".", mark.length)
  return end < 0 ? undefined : { origin: encrypted.slice(mark.length, end), content: encrypted.slice(end + 1) }
}

// An item's encrypted content as `step` leaves it: changed, or (undefined) the item left out.
type Step = (encrypted: string) => string | undefined

// `items` with each one's encrypted content passed through `step`; the same array when nothing changed.
function steppedItems(items: ReadonlyArray<unknown>, step: Step): ReadonlyArray<unknown> {
  let out: Array<unknown> | undefined
  for (let i = 0; i < items.length; i++) {
    const item = items[i]
    const encrypted = isJsonObject(item) ? item["encrypted_content"] : undefined
    const next = typeof encrypted === "string" ? step(encrypted) : encrypted
    if (next === encrypted) {
      out?.push(item)
      continue
    }
    out ??= items.slice(0, i)
    if (next !== undefined) out.push({ ...(item as JsonObject), encrypted_content: next })
  }
  return out ?? items
}

// The metadata with the encrypted content of every item this API's entry keeps (reasoning items, other output items,
// a compaction's output) passed through `step`; the same object when nothing changed.
function stepped(metadata: ProviderMetadata | undefined, step: Step): ProviderMetadata | undefined {
  const entry = metadata?.[metadataKey]
  if (!isJsonObject(entry)) return metadata
  let changed: JsonObject | undefined
  for (const [field, value] of Object.entries(entry)) {
    if (!Array.isArray(value)) continue
    const items = steppedItems(value, step)
    if (items !== value) (changed ??= { ...entry })[field] = items as Array<unknown>
  }
  return changed === undefined ? metadata : { ...metadata, [metadataKey]: changed }
}

// The request with each assistant message's metadata passed through `step`; the same request when nothing changed.
function steppedRequest(request: ChatRequest, step: Step): ChatRequest {
  let messages: Array<Message> | undefined
  for (let i = 0; i < request.messages.length; i++) {
    const message = request.messages[i]!
    const metadata = message.role === "assistant" ? stepped(message.providerMetadata, step) : undefined
    if (message.role !== "assistant" || metadata === message.providerMetadata) {
      messages?.push(message)
      continue
    }
    messages ??= request.messages.slice(0, i)
    messages.push({ ...message, providerMetadata: metadata } satisfies AssistantMessage)
  }
  return messages === undefined ? request : { ...request, messages }
}

/** The reply's metadata with its encrypted content marked as made at `origin`. */
export function markedMetadata(metadata: ProviderMetadata | undefined, origin: string): ProviderMetadata | undefined {
  return stepped(metadata, (encrypted) => opened(encrypted) === undefined ? marked(origin, encrypted) : encrypted)
}

/**
 * The request as a deployment of `origin` is sent it: the content that origin made given back as it was made, the
 * content another made left out, the content with no mark as it is.
 */
export function forOrigin(request: ChatRequest, origin: string): ChatRequest {
  return steppedRequest(request, (encrypted) => {
    const made = opened(encrypted)
    return made === undefined ? encrypted : made.origin === origin ? made.content : undefined
  })
}

/** The request without any encrypted content. */
export function withoutEncrypted(request: ChatRequest): ChatRequest {
  return steppedRequest(request, () => undefined)
}

/** Whether the provider refused the request's encrypted content (OpenAI's `invalid_encrypted_content`). */
export function isUnverified(error: LlmError): boolean {
  return error._tag === "InvalidRequestError" && error.code === "invalid_encrypted_content"
}

// A stream's chunks with the finishing one's metadata marked; the same array when there is none to mark.
function markedChunks(chunks: NonEmptyReadonlyArray<ChatChunk>, origin: string): NonEmptyReadonlyArray<ChatChunk> {
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i]!
    if (chunk._tag !== "Finish") continue
    const metadata = markedMetadata(chunk.providerMetadata, origin)
    if (metadata === chunk.providerMetadata) return chunks
    const out: [ChatChunk, ...Array<ChatChunk>] = [...chunks]
    out[i] = { ...chunk, providerMetadata: metadata }
    return out
  }
  return chunks
}

/**
 * `client` with its encrypted content bound to where it was made (above): replies marked, requests and counts sent with
 * only what their origin made, a refused request made once more without any.
 */
export function boundToOrigin(client: Service, options: Options): Service {
  const provider = options.provider ?? "openai"
  const originFor = (credentials: Credentials) => originOf(provider, options.baseUrl, credentials.key)
  return {
    ...client,
    chat: (request, credentials) => {
      const origin = originFor(credentials)
      const answered = sending(
        forOrigin(request, origin),
        (sent) => client.chat(sent, credentials),
        (first, again) => Effect.catchIf(first, isUnverified, again)
      )
      return Effect.map(answered, (response) => {
        const metadata = markedMetadata(response.providerMetadata, origin)
        return metadata === response.providerMetadata ? response : { ...response, providerMetadata: metadata }
      })
    },
    chatStream: (request, credentials) => {
      const origin = originFor(credentials)
      const streamed = sending(
        forOrigin(request, origin),
        (sent) => client.chatStream(sent, credentials),
        (first, again) => Stream.catchIf(first, isUnverified, again)
      )
      return Stream.mapArray(streamed, (chunks) => markedChunks(chunks, origin))
    },
    countTokens: client.countTokens === undefined ? undefined : (request, credentials) => {
      const count = client.countTokens!
      return sending(
        forOrigin(request, originFor(credentials)),
        (sent) => count(sent, credentials),
        (first, again) => Effect.catchIf(first, isUnverified, again)
      )
    }
  }
}

/**
 * The call `send` makes of `request`; when it carries encrypted content, made `again` without any should the provider
 * refuse it (`orAgain`).
 */
function sending<A>(request: ChatRequest, send: (request: ChatRequest) => A, orAgain: (first: A, again: () => A) => A) {
  const bare = withoutEncrypted(request)
  return bare === request ? send(request) : orAgain(send(request), () => send(bare))
}
