/**
 * The admin check every admin route reads: who makes an admin request (`Principal`: a person signed on, with the roles
 * their groups and grants give them, or a shared admin key), resolved once a request, and each route answered only once
 * its rule lets them (`serving/adminCheck.ts`, over `identity/access.ts`' table).
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import type { Role } from "../../gatewayConfig/roles.js"
import type * as Errors from "../errorAnswer.js"

/** Who an admin request is from, and what they hold. */
export interface Principal {
  /** A person's user claim (provider.json's `gateway.oidc.user_claim`), or the admin key's name (`admin-token`). */
  readonly name: string
  /** `person`: signed on; `key`: a shared admin key. */
  readonly kind: "person" | "key"
  /** How the request showed it: an access token, the dashboard's session cookie, or an admin key. */
  readonly via: "token" | "session" | "admin-key"
  readonly roles: ReadonlyArray<Role>
}

/** The admin routes' check. */
export interface Service {
  /** Who `request` is (`identity/principal.ts`), or the answer refusing it; resolved once per request. */
  readonly principal: (
    request: HttpServerRequest.HttpServerRequest
  ) => Effect.Effect<Principal, Errors.ErrorAnswer>
  /** An admin route's answer from `handle` once its rule lets who asks (`body`: its text), else the refusal. */
  readonly adminAs: <E, R>(
    handle: (principal: Principal) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    body?: string
  ) => Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    E,
    R | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext
  >
  /** An admin route's answer that needs nothing of who asks but that the route's rule lets them. */
  readonly adminOnly: <E, R>(
    handle: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ) => Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    E,
    R | HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext
  >
}

export class AdminCheck extends Context.Service<AdminCheck, Service>()("effect-llm-router/gateway/access/AdminCheck") {}
