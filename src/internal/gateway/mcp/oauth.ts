/**
 * The bearer token of an HTTP MCP server's OAuth client credentials grant (RFC 6749, section 4.4), held until shortly
 * before its `expires_in` and asked for again then, or when the server refuses it (a 401), over the project's one
 * renewal of held credentials (`providers/accessToken.ts`). The secret leaves its `Redacted` only into the request's
 * body; no error names it or the token endpoint's address (a caller reads the error of a call that needed the token),
 * and an answer that quotes the request has the secret masked before it is cut.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Gateway from "../../../Gateway.js"
import { scrub } from "../../llmError/errorInfo.js"
import { renewableToken } from "../../providers/accessToken.js"
import type { Renewable } from "../../providers/renewing.js"
import { causeText } from "../../transport/providerHttp.js"

// The fields of a token response the gateway uses (RFC 6749, section 5.1); others are ignored.
const TokenResponse = Schema.Struct({
  access_token: Schema.String,
  expires_in: Schema.optional(Schema.Number)
})

const decodeToken = Schema.decodeUnknownEffect(Schema.fromJsonString(TokenResponse))

// The most of an error body a failure quotes: an authorization server's `error` and `error_description`.
const quotedBodyChars = 300

/** The token of `credentials` for `server`, held while fresh; a failure names the token endpoint and its answer. */
export function clientCredentials(
  server: string,
  credentials: Gateway.McpClientCredentials,
  http: HttpClient.HttpClient
): Renewable<Redacted.Redacted<string>> {
  const endpoint = `the OAuth token endpoint of the MCP server ${server}`
  const grant = HttpClientRequest.post(credentials.tokenUrl).pipe(
    HttpClientRequest.setHeader("accept", "application/json"),
    HttpClientRequest.bodyUrlParams({
      grant_type: "client_credentials",
      client_id: credentials.clientId,
      client_secret: Redacted.value(credentials.clientSecret),
      ...(credentials.scope === undefined ? {} : { scope: credentials.scope })
    })
  )
  const ask = Effect.gen(function*() {
    const response = yield* http.execute(grant)
    const text = yield* response.text
    if (response.status !== 200) {
      const quoted = scrub(text, [credentials.clientSecret]).slice(0, quotedBodyChars)
      return yield* Effect.fail(`${endpoint} answered ${response.status}: ${quoted}`)
    }
    const token = yield* Effect.mapError(decodeToken(text), () => `${endpoint} answered no access_token in JSON`)
    const now = yield* Clock.currentTimeMillis
    // Without `expires_in` the token is held until the server refuses it.
    return {
      token: token.access_token,
      expiresAt: token.expires_in === undefined ? Infinity : now + token.expires_in * 1000
    }
  }).pipe(
    Effect.scoped,
    Effect.catch((error) => Effect.fail(typeof error === "string" ? error : `${endpoint}: ${causeText(error)}`))
  )
  return renewableToken(ask, `${endpoint} gave an empty access_token`)
}
