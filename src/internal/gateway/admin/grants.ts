/**
 * Roles granted to people (docs/identity.md), for those whose roles grant `grants`, in the grants' store
 * (`identity/grants.ts`):
 *
 * - `GET /admin/grants`: every grant, by subject then role.
 * - `POST /admin/grants` `{ "subject": "alice@example.com", "role": "team_admin:research" }`: the role granted (201),
 *   or the same grant made before (200).
 * - `DELETE /admin/grants/{id}`: the grant removed.
 *
 * A person's roles are read at each of their admin requests, so that a grant is in force at once on every instance.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type { StoreUnavailableError } from "../../../Store.js"
import { roleOf, roleProblem } from "../../gatewayConfig/roles.js"
import { AdminCheck } from "../access/adminCheck.js"
import { madeId, type Params, type Subjects } from "../audit/record.js"
import * as Errors from "../errorAnswer.js"
import * as Grants from "../identity/grants.js"
import { decodePath, errorResponse, json } from "../serving/answers.js"
import { Configuration } from "../serving/configuration.js"
import { Requests } from "../serving/requests.js"
import { Invalid, parse } from "./input.js"

const longestSubject = 256

const view = (grant: Grants.Grant) => ({
  id: grant.id,
  object: "gateway.grant",
  subject: grant.subject,
  role: grant.role,
  created_at: Math.floor(grant.createdAt / 1000),
  created_by: grant.createdBy
})

/** A grant's body read: its subject and role, or the refusal naming the field. */
export function grantInput(text: string): { readonly subject: string; readonly role: string } | Errors.ErrorAnswer {
  const body = parse(text)
  if (body instanceof Invalid) return Errors.invalidRequest(body.message, body.field)
  const unknown = Object.keys(body).find((field) => field !== "subject" && field !== "role")
  if (unknown !== undefined) {
    return Errors.invalidRequest(`\`${unknown}\` is not a field of a grant (it takes subject and role).`, unknown)
  }
  const { role, subject } = body
  if (typeof subject !== "string" || subject.trim() === "" || subject.length > longestSubject) {
    return Errors.invalidRequest(
      `subject: expected the person's user claim (a non-empty string of at most ${longestSubject} characters).`,
      "subject"
    )
  }
  if (typeof role !== "string" || roleOf(role) === undefined) {
    return Errors.invalidRequest(
      `role: ${roleProblem(typeof role === "string" ? role : "")}, got ${JSON.stringify(role ?? null)}.`,
      "role"
    )
  }
  return { subject, role }
}

const unavailable = (error: StoreUnavailableError) => errorResponse(Errors.databaseUnavailable(error.reason))

/** The audit subjects of the grants' changes (`audit/record.ts`): a grant by its id, as listed. */
export function subjects(grants: Grants.Grants): Subjects {
  function state(id: string | undefined) {
    if (id === undefined) return Effect.succeed(null)
    // A store that cannot be read gives no values: the row still names the grant and the outcome.
    return Effect.orElseSucceed(
      Effect.map(grants.list, (all) => {
        const grant = all.find((candidate) => candidate.id === id)
        return grant === undefined ? null : view(grant)
      }),
      () => null
    )
  }
  return {
    "POST /admin/grants": { object: (_: Params, answer: unknown) => madeId(answer), state },
    "DELETE /admin/grants/:id": { object: (params: Params) => decodePath(params["id"] ?? ""), state }
  }
}

/** The grants' routes over the configuration served, on the grants' store. */
export const routes = Effect.gen(function*() {
  const grants = yield* Grants.GrantStore
  const { now } = yield* Configuration
  const { served } = yield* Requests
  const { adminAs } = yield* AdminCheck
  const withGrants = (
    handle: (grants: Grants.Grants, by: string, id: string, body: string) => Effect.Effect<
      ReturnType<typeof json>
    >
  ) =>
    served(({ request }) =>
      Effect.gen(function*() {
        const params = yield* HttpRouter.params
        const body = request.method === "POST" ? yield* Effect.orElseSucceed(request.text, () => "") : ""
        return yield* adminAs(
          (principal) => handle(grants, principal.name, decodePath(params["id"] ?? ""), body),
          body
        )
      })
    )

  const list = withGrants((store) =>
    Effect.match(store.list, {
      onFailure: unavailable,
      onSuccess: (all) => json(200, JSON.stringify({ object: "list", data: all.map(view) }))
    })
  )

  const add = withGrants((store, by, _id, text) => {
    const input = grantInput(text)
    if ("status" in input) return Effect.succeed(errorResponse(input))
    return Effect.match(
      store.add({ subject: input.subject, role: roleOf(input.role)!, createdAt: now(), createdBy: by }),
      {
        onFailure: unavailable,
        onSuccess: ({ grant, made }) => json(made ? 201 : 200, JSON.stringify(view(grant)))
      }
    )
  })

  const remove = withGrants((store, _by, id) =>
    Effect.match(store.remove(id), {
      onFailure: unavailable,
      onSuccess: (removed) =>
        removed === undefined
          ? errorResponse(
            Errors.answer(404, `No grant has the id \`${id}\`.`, "invalid_request_error", "id", "grant_not_found")
          )
          : json(200, JSON.stringify({ id, object: "gateway.grant", deleted: true }))
    })
  )

  return [
    HttpRouter.route("GET", "/admin/grants", list),
    HttpRouter.route("POST", "/admin/grants", add),
    HttpRouter.route("DELETE", "/admin/grants/:id", remove)
  ]
})
