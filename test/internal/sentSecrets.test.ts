/**
 * What the transport masks of a request it sent (`sentSecrets`): for any credential, whatever its kind (a key in
 * `authorization`, `api-key` or `x-api-key`, a cloud's bearer token, a SigV4 header with its signature and session
 * token), an upstream answer that quotes it in any field (whole, bare, or the signature alone) becomes an error that
 * holds none of it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { fromHttpFailure } from "../../src/internal/llmError/fromHttpFailure.js"
import { sentSecrets } from "../../src/internal/transport/providerHttp.js"

// A credential as providers mint them: at least 8 characters of the token alphabet.
const credential = fc.stringMatching(/^[A-Za-z0-9._\-/+=]{8,64}$/)
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/)

type Kind = { readonly headers: Record<string, string>; readonly names: Array<string>; readonly quoted: Array<string> }

const kinds = fc.oneof(
  credential.map((key): Kind => ({
    headers: { authorization: `Bearer ${key}` },
    names: ["authorization"],
    quoted: [key, `Bearer ${key}`]
  })),
  fc.tuple(fc.constantFrom("api-key", "x-api-key", "x-goog-api-key"), credential).map(([name, key]): Kind => ({
    headers: { [name]: key },
    names: ["authorization", name],
    quoted: [key]
  })),
  fc.tuple(credential, hex64, credential).map(([accessKeyId, signature, session]): Kind => {
    const authorization = `AWS4-HMAC-SHA256 Credential=${accessKeyId}/20261126/us-east-1/bedrock/aws4_request, ` +
      `SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=${signature}`
    return {
      headers: { authorization, "x-amz-security-token": session },
      names: ["authorization", "x-amz-security-token"],
      quoted: [authorization, signature, session]
    }
  })
)

describe("sentSecrets: every credential a request carried is masked in its answer's error", () => {
  it("for any kind and any field the upstream quotes it in", () =>
    fc.assert(
      fc.property(kinds, fc.nat(), fc.constantFrom(400, 401, 403, 404, 429, 500), (kind, pick, status) => {
        const quoted = kind.quoted[pick % kind.quoted.length]!
        const body = {
          error: { message: `The credential ${quoted} may not make this request.`, param: quoted, code: quoted }
        }
        const error = fromHttpFailure({
          provider: "p",
          model: "m",
          status,
          body: JSON.stringify(body),
          nowMillis: 0,
          secrets: sentSecrets(kind.headers, kind.names)
        })
        const text = `${error.message} ${JSON.stringify(error)}`
        for (const secret of kind.quoted) expect(text).not.toContain(secret)
      })
    ))

  it("headers it is not told of, and absent ones, give nothing", () => {
    expect(sentSecrets({ "content-type": "application/json" }, ["authorization"])).toEqual([])
    expect(sentSecrets({ authorization: "" }, ["authorization"])).toEqual([])
  })
})
