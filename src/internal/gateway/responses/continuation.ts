/**
 * The gateway's kept responses as the Responses routes use them (`routes/openAiResponses.ts`): a request's
 * conversation is its previous response's (`previous_response_id`, kept for its key in `StoredResponses`) then its
 * input; a chain past the store's bounds is refused before anything is sent; a response its Responses deployment keeps
 * upstream is continued there by that deployment's own id, the client seeing only the gateway's ids; a finished
 * response is kept before it is answered, so that the client may name it at once, to any instance. An unknown, expired
 * or another key's response id is 404, a shared store that cannot be read 503.
 *
 * A request on a WebSocket (`socket.ts`) also continues the socket's own last response (`Held`), kept or not
 * (`store: false`, as Codex sends), as the Responses API's WebSocket mode keeps it on the connection; a socket holds
 * only that one, within the bytes one kept response may take.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Message } from "../../../Message.js"
import type { StoreUnavailableError } from "../../../Store.js"
import {
  type Body,
  type BodyTool,
  type CountBody,
  holdsEncrypted,
  inputMessages,
  outputMessages
} from "../../wire/openAiResponses/codec.js"
import type * as Responses from "../../wire/openAiResponses/dialect.js"
import * as Errors from "../errorAnswer.js"
import * as Session from "../intake.js"
import type * as Request from "../request/context.js"
import * as Outcome from "../request/outcome.js"
import * as ResponsesStore from "./store.js"

function previousNotFound(id: string): Errors.ErrorAnswer {
  return Errors.answer(
    404,
    `Previous response with id '${id}' not found.`,
    "invalid_request_error",
    "previous_response_id",
    "previous_response_not_found"
  )
}

/** The answer to a response id no response kept for the request's key has. */
export function responseNotFound(id: string): Errors.ErrorAnswer {
  return Errors.answer(404, `Response with id '${id}' not found.`, "invalid_request_error", null, "response_not_found")
}

// The shared store that keeps the responses failed: a lookup cannot tell a kept response from none.
function storeAway(error: StoreUnavailableError): Errors.ErrorAnswer {
  return {
    ...Errors.answer(
      503,
      "The shared store that keeps this gateway's responses is unreachable. Retry shortly.",
      "server_error",
      null,
      "store_unavailable",
      1
    ),
    logged: error.message
  }
}

// A request continuing a chain that is at the store's bound on its length, or whose conversation would pass its bound
// on one response's bytes: the response it makes could not be kept, so it is refused before anything is sent.
function chainTooLong(id: string, reason: string): Errors.ErrorAnswer {
  return Errors.answer(
    400,
    `Response '${id}' cannot be continued: ${reason}. Start a new conversation: send the turns it needs as input, ` +
      "without previous_response_id.",
    "invalid_request_error",
    "previous_response_id",
    "conversation_too_long"
  )
}

/** The refusal of a request continuing `previous` (`id`) to `conversation`, when the chain would pass `bounds`. */
export function pastBounds(
  id: string,
  previous: ResponsesStore.StoredResponse,
  conversation: ReadonlyArray<Message>,
  bounds: ResponsesStore.Bounds
): Errors.ErrorAnswer | undefined {
  const chain = previous.chain ?? 1
  if (chain >= bounds.maxChain) {
    return chainTooLong(
      id,
      `its chain holds ${chain} responses, as many as this gateway keeps in one (gateway.responses_max_chain)`
    )
  }
  const bytes = ResponsesStore.bytesOf({ body: "", conversation })
  return bytes <= bounds.maxResponseBytes ? undefined : chainTooLong(
    id,
    `its conversation with this input takes ${bytes} bytes, more than this gateway keeps of one response ` +
      `(${bounds.maxResponseBytes}, gateway.responses_max_response_bytes)`
  )
}

/** A request's conversation: its previous response's, then its input; with the previous response, if it names one. */
export interface Conversation {
  readonly messages: Array<Message>
  readonly previous: ResponsesStore.StoredResponse | undefined
  /** The tools it has made available beside each request's own (`ClientTools.available`), kept with its response. */
  readonly tools: ReadonlyArray<BodyTool>
  /** Whether the previous response is the socket's own (`Held`), rather than one the gateway keeps. */
  readonly held?: boolean | undefined
}

/** The last response a WebSocket answered (or warmed up), whatever its `store`, by its id; one a socket. */
export interface Held {
  last: { readonly id: string; readonly response: ResponsesStore.StoredResponse } | undefined
}

/** A socket's `Held`, holding nothing yet. */
export function held(): Held {
  return { last: undefined }
}

/**
 * `request` continuing `previous`, kept upstream by its deployment: with that deployment's id of it, and how many
 * of the request's first messages it holds (`instructions`, which it does not keep, and its conversation).
 */
export function continuing(request: ChatRequest, { messages, previous }: Conversation): ChatRequest {
  const upstream = previous?.upstream
  if (previous === undefined || upstream === undefined) return request
  const input = messages.length - previous.conversation.length
  return { ...request, previousResponse: { ...upstream, messages: request.messages.length - input } }
}

/**
 * The session of a request (`intake.ts`): its previous response's, else its `prompt_cache_key`, the client's
 * header or its long prefix; for a body that asks for encrypted content or replays some, its prefix however short,
 * so its turns go to the deployment whose content they carry (the only one that reads it back); else the response's
 * own id, which the conversation's later turns continue.
 */
export function sessionOf(
  body: Pick<CountBody, "prompt_cache_key" | "include" | "input">,
  sessionHeader: string | undefined,
  request: ChatRequest,
  previous: ResponsesStore.StoredResponse | undefined,
  response: string
): string {
  const named = previous?.session ?? body.prompt_cache_key ?? undefined
  return Session.named(named === undefined ? request : { ...request, session: named }, sessionHeader) ??
    (holdsEncrypted(body) ? Session.conversationSession(request) : undefined) ?? response
}

/** The kept responses' steps over the `StoredResponses` in context. */
export const make = Effect.fnUntraced(function*() {
  const store = yield* ResponsesStore.StoredResponses

  // The answer to a request whose store failed, its reason in the request's log line.
  function away(context: Request.Service) {
    return (error: StoreUnavailableError): Errors.ErrorAnswer => {
      const answer = storeAway(error)
      Outcome.failed(context.outcome, error._tag, answer)
      return answer
    }
  }
  // The response `id` kept for the request's key, or the answer of a store that failed.
  function read(id: string, context: Request.Service) {
    return Effect.mapError(store.get(id, context.caller?.id), away(context))
  }

  // A checked body's previous response, when it names one (the socket's own first); or the refusal (unknown, or the
  // store away).
  function previousOf(
    body: CountBody,
    context: Request.Service,
    socket: Held | undefined
  ): Effect.Effect<ResponsesStore.StoredResponse | undefined, Errors.ErrorAnswer> {
    const previous = body.previous_response_id
    if (previous === null || previous === undefined) return Effect.succeed(undefined)
    const last = socket?.last
    if (last !== undefined && last.id === previous) return Effect.succeed(last.response)
    return Effect.flatMap(
      read(previous, context),
      (stored) => stored === undefined ? Effect.fail(previousNotFound(previous)) : Effect.succeed(stored)
    )
  }

  /**
   * A body's conversation continuing `previous` (a socket's `Held` response, or a kept one), the tools it has made
   * available `tools`; or what is wrong with its input.
   */
  function conversationWith(
    body: CountBody,
    previous: ResponsesStore.StoredResponse | undefined,
    tools: ReadonlyArray<BodyTool>,
    socket?: Held
  ): Result.Result<Conversation, Errors.ErrorAnswer> {
    const given = inputMessages(body)
    if (Result.isFailure(given)) return Result.fail(Errors.invalidRequest(given.failure.message, given.failure.param))
    const input = given.success
    return Result.succeed({
      messages: previous === undefined ? input : [...previous.conversation, ...input],
      previous,
      tools,
      held: previous !== undefined && previous === socket?.last?.response
    })
  }

  /**
   * The refusal of a body continuing a chain past the store's bounds; none when it may go on. A socket's own response
   * is held alone: only its bytes are bounded.
   */
  function refusal(body: Body, { held, messages, previous }: Conversation) {
    if (previous === undefined || (body.store === false && held !== true)) return undefined
    const bounds = held === true ? { ...store.bounds, maxChain: Number.POSITIVE_INFINITY } : store.bounds
    return pastBounds(body.previous_response_id!, previous, messages, bounds)
  }

  /**
   * How the response `id` to `body` is kept for the request's key, with its conversation for a later turn (and held by
   * its socket, whatever its `store`); a store that fails leaves the answer as it is (the reply is whole, and paid for)
   * and the response unknown to a later turn.
   */
  function keeper(
    body: Body,
    context: Request.Service,
    { messages, previous, tools }: Conversation,
    session: string,
    id: string,
    socket?: Held
  ): Responses.Keep {
    return (response, reply) => {
      const kept: ResponsesStore.StoredResponse = {
        body: response.body,
        conversation: [...messages, ...outputMessages(response.output)],
        session,
        upstream: reply === undefined ? undefined : ResponsesStore.upstreamOf(reply),
        chain: previous === undefined ? 1 : (previous.chain ?? 1) + 1,
        ...(tools.length === 0 ? {} : { tools })
      }
      if (socket !== undefined) socket.last = { id, response: kept }
      if (body.store === false) return Effect.void
      return store.put(id, context.caller?.id, kept).pipe(
        Effect.flatMap((stored) =>
          stored ? Effect.void : Effect.logWarning(
            "a response larger than the gateway keeps was not kept; a later turn naming it will not find it"
          ).pipe(
            Effect.annotateLogs({
              requestId: context.id,
              bytes: ResponsesStore.bytesOf(kept),
              maxResponseBytes: store.bounds.maxResponseBytes
            })
          )
        ),
        Effect.catchTag(
          "StoreUnavailableError",
          (error) =>
            Effect.logWarning("a response could not be kept; a later turn naming it will not find it").pipe(
              Effect.annotateLogs({ requestId: context.id, reason: error.message })
            )
        )
      )
    }
  }

  /** The body of the response `id` kept for the request's key, if any. */
  function retrieve(id: string, context: Request.Service) {
    return Effect.map(read(id, context), (stored) => stored?.body)
  }

  /** The deletion of the response `id` kept for the request's key, if there is one. */
  function remove(id: string, context: Request.Service) {
    return Effect.map(
      Effect.mapError(store.remove(id, context.caller?.id), away(context)),
      (removed) => removed ? JSON.stringify({ id, object: "response", deleted: true }) : undefined
    )
  }

  return { previousOf, conversationWith, refusal, continuing, sessionOf, keeper, retrieve, remove }
})
