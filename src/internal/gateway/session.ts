/**
 * The session a gateway call belongs to, for the router's affinity (`Router.Options.affinity`, on for the
 * gateway's routers): the first of what the body names, each route's decoder putting it in the request's `session`
 * (a Responses `previous_response_id`'s session, `prompt_cache_key`, Anthropic's `metadata.user_id`), the client's
 * `x-session-id` header, and a hash of the prompt's shared prefix (its system messages and first user message) when
 * it is long enough for a provider to cache it. A call with none of these has no session and is routed as any other.
 * A session is its key's: the router sees it prefixed with the key's id.
 */
import { createHash } from "node:crypto"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { textOf } from "../../Message.js"

/** The header a client names its session with when its body cannot. */
export const header = "x-session-id"

/**
 * The shortest shared prefix, in characters, that makes a session of its own: about the shortest prompt OpenAI's and
 * Anthropic's prompt caches keep (1,024 tokens), at some four characters a token.
 */
export const minPrefixChars = 4096

/** The hash of the request's system messages (those before its first user message) and first user message. */
const prefixSession = (request: ChatRequest): string | undefined => {
  const hash = createHash("sha256")
  let length = 0
  for (const message of request.messages) {
    if (message.role !== "system" && message.role !== "user") break
    const text = textOf(message.content)
    hash.update(message.role).update("\u0000").update(text).update("\u0000")
    length += text.length
    if (message.role === "user") break
  }
  return length < minPrefixChars ? undefined : `prefix:${hash.digest("base64url")}`
}

/** The request's session as its client names it: the body's, else the client's header, else its long prefix's hash. */
export const named = (request: ChatRequest, headerValue: string | undefined): string | undefined =>
  request.session ?? (headerValue !== undefined && headerValue !== "" ? headerValue : prefixSession(request))

/**
 * The request with its session (`named`) scoped to the key that made it (`owner`, its id): a session one key names is
 * never another's, so no key can steer, or learn from the routing of, another's conversations by naming them.
 */
export const withSession = (
  request: ChatRequest,
  headerValue: string | undefined,
  owner: string | undefined
): ChatRequest => {
  const session = named(request, headerValue)
  if (session === undefined) return request
  return { ...request, session: owner === undefined ? session : `${owner}\u0000${session}` }
}
