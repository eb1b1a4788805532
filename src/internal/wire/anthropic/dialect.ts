/**
 * Anthropic Messages as a server answers in it (`Dialect`): a `/v1/messages` body decoded into the engine's request
 * (`request.ts`, with what the gateway put in its earlier replies given back, `carrier.ts`) and written back with
 * `writer.ts`, its failures' paths renamed to the Messages body's (`anthropicPath`). A reply's id is made of a random
 * UUID, never the client's `x-request-id`, which it may choose.
 */
import * as Result from "effect/Result"
import { randomUUID } from "node:crypto"
import type { Problem } from "../../schemaCheck.js"
import type { Decoded, Dialect } from "../dialect.js"
import { restoredRequest } from "./carrier.js"
import { anthropicPath, type AnyBody, messages } from "./request.js"
import { errors, message, streamEncoder } from "./writer.js"

/**
 * The engine's paths within a check's message (`path: what is wrong`, one or more joined by `; `, and a message's
 * path within what is wrong, `… the document at messages[0].content[1].document.title too`) placed back in `body`.
 */
export function placed(body: AnyBody): (text: string) => string {
  return (text) =>
    text.replace(
      /(^|; )([A-Za-z][\w.[\]]*): /g,
      (_, before: string, at: string) => `${before}${anthropicPath(at, body)}: `
    ).replace(/(?<= )messages\[\d+\](?:[\w.[\]]*[\w\]])?/g, (at) => anthropicPath(at, body))
}

/** A Messages body decoded with how it is answered: this folder's writer. */
export function decode(text: string): Result.Result<Decoded, Problem> {
  return Result.map(messages(text), (decoded) => {
    const id = `msg_${randomUUID().replaceAll("-", "")}`
    return {
      model: decoded.model,
      request: restoredRequest(decoded.request),
      stream: decoded.stream,
      newEncoder: () => streamEncoder(id, decoded.model),
      render: (response) => message(response, id),
      path: placed(decoded.body)
    }
  })
}

/** Anthropic Messages, as the gateway answers in it. */
export const dialect: Dialect = { decode, errors }
