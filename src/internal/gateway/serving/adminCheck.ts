/**
 * The admin paths' check (`access/adminCheck.ts`) over the configuration served: who asks (`identity/principal.ts`),
 * resolved once per request, and whether the route's rule lets them (`identity/access.ts`); a refusal in the gateway's
 * own words.
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import { AdminCheck, type Principal } from "../access/adminCheck.js"
import type * as Errors from "../errorAnswer.js"
import * as Access from "../identity/access.js"
import { GrantStore } from "../identity/grants.js"
import * as Principals from "../identity/principal.js"
import * as Sessions from "../identity/sessions.js"
import { KeyStore } from "../keys/store.js"
import { errorResponse } from "./answers.js"
import { Configuration } from "./configuration.js"

/** The admin check over the configuration served. */
export const make = Effect.gen(function*() {
  const { options } = yield* Configuration
  const sources: Principals.Sources = {
    auth: options.auth,
    oidc: options.oidc,
    sessions: yield* Sessions.sessions,
    grants: yield* GrantStore
  }
  const teams = Access.teamsOf(yield* KeyStore)

  // Each admin request's principal, resolved once: its route's check and the audit log's actor read the same one.
  const resolved = new WeakMap<
    HttpServerRequest.HttpServerRequest,
    Exit.Exit<Principal, Errors.ErrorAnswer>
  >()

  function principal(
    request: HttpServerRequest.HttpServerRequest
  ): Effect.Effect<Principal, Errors.ErrorAnswer> {
    const known = resolved.get(request)
    if (known !== undefined) return known
    return Effect.onExit(
      Principals.principalOf(sources, request.headers),
      (exit) => Effect.sync(() => resolved.set(request, exit))
    )
  }

  // The principal of an admin route's request once the route's rule grants what it needs of it (`body`: its text, on a
  // route that takes one), else the refusal: the one check of every admin route.
  function principalFor(request: HttpServerRequest.HttpServerRequest, body: string | undefined) {
    return Effect.flatMap(HttpRouter.RouteContext, ({ params, route }) => {
      const rule = Access.ruleOf(route.method, String(route.path))
      if (rule === undefined) return Effect.fail(Access.noRule)
      return Effect.flatMap(principal(request), (principal) => {
        const refused = Access.authorize(principal, rule, { params, body, teams })
        return refused === undefined ? Effect.succeed(principal) : Effect.fail(refused)
      })
    })
  }

  function adminAs<E, R>(
    handle: (principal: Principal) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    body?: string
  ) {
    return Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) =>
        Effect.matchEffect(principalFor(request, body), {
          onFailure: (refused) => Effect.succeed(errorResponse(refused)),
          onSuccess: handle
        })
    )
  }

  function adminOnly<E, R>(handle: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) {
    return adminAs(() => handle)
  }

  return AdminCheck.of({ principal, adminAs, adminOnly })
})

/** The admin check, over the `Configuration` provided. */
export const layer = Layer.effect(AdminCheck, make)
