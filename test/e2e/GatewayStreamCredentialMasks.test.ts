/**
 * Every credential the gateway holds is masked when an upstream echoes it with status 200: inside a stream's error
 * event after a first chunk (an Azure OpenAI `{"error"}` data event, Vertex AI's error chunk, Bedrock's `exception`
 * frame) and in a 200 body that is an error. The upstream, a loopback server, quotes the request's `authorization`
 * header (an Entra ID token, a Vertex token, a SigV4 header with its signature) and `x-amz-security-token`. Through the
 * gateway: the tenant's whole answer, the request's log line and every span hold none of them.
 */
import { describe, expect, it } from "@effect/vitest"
import { EventStreamCodec } from "@smithy/eventstream-codec"
import * as Effect from "effect/Effect"
import type * as http from "node:http"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  cloudEntries,
  cloudKinds,
  expectNoSecrets,
  givingTokens,
  observed,
  withCloudCredentials
} from "../utils/cloudCredentials.js"
import { serve } from "../utils/loopbackServer.js"

const tokens = {
  vertex: "ya29.stream-masks-vertex-token-0123456789abcdef",
  entra: "eyJ0eXAi.stream-masks-entra-token-0123456789abcdef",
  awsSession: "IQoJb3JpZ2luX2VjE.stream-masks-aws-session-token-0123456789"
}

const codec = new EventStreamCodec(
  (bytes) => new TextDecoder().decode(bytes),
  (text) => new TextEncoder().encode(text)
)

/** An event-stream frame of Bedrock's ConverseStream. */
function frame(kind: "event" | "exception", type: string, payload: unknown): Uint8Array {
  return codec.encode({
    headers: {
      [kind === "event" ? ":event-type" : ":exception-type"]: { type: "string", value: type },
      ":content-type": { type: "string", value: "application/json" },
      ":message-type": { type: "string", value: kind }
    },
    body: new TextEncoder().encode(JSON.stringify(payload))
  })
}

/** What a careless upstream says: every credential header of the request quoted back. */
function quoted(req: http.IncomingMessage): string {
  const sent = [req.headers.authorization, req.headers["x-amz-security-token"]].filter((value) => value !== undefined)
  return `This request may not be made (sent: ${sent.join(" ; ")}).`
}

/** 200 answers whose error quotes the request's credentials: mid-stream after a first chunk, or the whole body. */
const upstream: http.RequestListener = (req, res) => {
  let body = ""
  req.setEncoding("utf8")
  req.on("data", (part: string) => body += part)
  req.on("end", () => {
    const message = quoted(req)
    const url = req.url ?? ""
    const sse = { "content-type": "text/event-stream" }
    const json = { "content-type": "application/json" }
    if (url.includes("/converse-stream")) {
      res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream" })
      res.write(frame("event", "messageStart", { role: "assistant" }))
      res.write(frame("event", "contentBlockDelta", { contentBlockIndex: 0, delta: { text: "Hel" } }))
      res.end(frame("exception", "validationException", { message }))
    } else if (url.includes("/converse")) {
      res.writeHead(200, json)
      res.end(JSON.stringify({ __type: "ValidationException", message }))
    } else if (url.includes(":streamGenerateContent")) {
      res.writeHead(200, sse)
      res.write(
        `data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: "Hel" }] } }] })}\n\n`
      )
      res.end(`data: ${JSON.stringify({ error: { code: 400, message, status: "INVALID_ARGUMENT" } })}\n\n`)
    } else if (url.includes(":generateContent")) {
      res.writeHead(200, json)
      res.end(JSON.stringify({ error: { code: 400, message, status: "INVALID_ARGUMENT" } }))
    } else if ((JSON.parse(body) as { stream?: boolean }).stream === true) {
      res.writeHead(200, sse)
      const chunk = {
        id: "c1",
        object: "chat.completion.chunk",
        created: 1,
        model: "gpt-4.1",
        choices: [{ index: 0, delta: { role: "assistant", content: "Hel" }, finish_reason: null }]
      }
      res.write(`data: ${JSON.stringify(chunk)}\n\n`)
      res.end(`data: ${JSON.stringify({ error: { message, type: "invalid_request_error" } })}\n\n`)
    } else {
      res.writeHead(200, json)
      res.end(JSON.stringify({ error: { message, type: "invalid_request_error" } }))
    }
  })
}

describe("Gateway: a credential an upstream echoes in a 200 answer's error is masked everywhere", () => {
  it.live(
    "a stream's error event after its first chunk, and a 200 body that is an error, for every cloud credential",
    () =>
      Effect.gen(function*() {
        const { url } = yield* serve(upstream)
        const config = yield* ProviderConfig.fromJson(cloudEntries(url))
        const { observe, since } = observed()
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          logRequests: true
        }).pipe(
          withCloudCredentials(givingTokens(tokens)),
          observe
        )
        for (const { kind, model, secrets } of cloudKinds(tokens)) {
          for (const stream of [true, false]) {
            const what = `${kind}, ${stream ? "streamed" : "whole"}`
            const left = since()
            const answer = yield* Effect.promise(() =>
              fetch(`${gateway.url}/v1/chat/completions`, {
                method: "POST",
                headers: { "content-type": "application/json", authorization: "Bearer unused" },
                body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "Hello" }] })
              }).then((response) => response.text())
            )
            // The first chunk reached the tenant before the error (a mid-stream failure, not a refused request).
            if (stream) expect(answer, what).toContain("Hel")
            // The log line and the span carry the upstream's words (masked); the tenant's answer may word it its own way.
            const { logged, traced } = left()
            expect(logged, what).toContain("may not be made")
            expect(traced, what).toContain("may not be made")
            expectNoSecrets([answer, logged, traced], secrets, what)
          }
        }
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
