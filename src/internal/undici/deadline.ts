/**
 * The capability `UndiciHttpClient`'s clients carry beside the `HttpClient`
 * contract: a request bounded by a timer on the exchange itself (no fiber
 * races it, which on a short call saves a large share of the client's CPU), until
 * the response headers or until the whole body has arrived. The providers'
 * request path (`providerHttp`) uses it when the client has it; a client
 * transformed by `HttpClient.mapRequest` and the like is a new client and
 * does not.
 */
import type * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import type { Deadline } from "./exchange.js"

const DeadlineTypeId: unique symbol = Symbol.for("effect-llm-router/UndiciHttpClient/deadline")

/** A request sent without the platform's span or tracer propagation, bounded by `deadline` when given. */
export type Untraced = (
  request: HttpClientRequest.HttpClientRequest,
  deadline?: Deadline
) => Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>

/** `client`, which sends its untraced requests through `untraced`, able to keep deadlines. */
export const withDeadlines = (client: HttpClient.HttpClient, untraced: Untraced): HttpClient.HttpClient =>
  Object.assign(client, { [DeadlineTypeId]: untraced })

/** Whether `executeWithin` can bound requests of `client`. */
export const keepsDeadlines = (client: HttpClient.HttpClient): boolean => DeadlineTypeId in client

/**
 * `client.execute(request)` bounded by `deadline`: past it the request is
 * cancelled and fails with a cause of `DeadlineExceeded`. It skips the
 * platform's span and tracer propagation, so call it only when no tracer is
 * installed. `undefined` when `client` does not keep deadlines
 * (`keepsDeadlines` says which).
 */
export const executeWithin = (
  client: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  deadline: Deadline
): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> | undefined => {
  const untraced = (client as Partial<Record<typeof DeadlineTypeId, Untraced>>)[DeadlineTypeId]
  return untraced === undefined ? undefined : untraced(request, deadline)
}
