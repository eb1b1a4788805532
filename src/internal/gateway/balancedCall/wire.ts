/**
 * LLM-API-BalancedCall's own endpoints, in its wire: `POST /llm/chat` and `/llm/chat/stream`, `GET /llm/system-load`,
 * `GET /llm/system-capacity` and `GET /llm/model-load/<model>`. Without a `model` a call is balanced over every
 * deployment. The router's camelCase status is renamed to the seed's snake_case. Keys are only ever their masked ids;
 * `model-load` is served only when the configuration opts in (`model_load_details`), and, as every admin path, to an
 * admin key whenever the gateway has keys.
 */
import * as Result from "effect/Result"
import type { ChatChunk } from "../../../ChatChunk.js"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { ChatResponse } from "../../../ChatResponse.js"
import type { DeploymentLoad, Status } from "../../../Router.js"
import { statusOf } from "../../router/status.js"
import { decodeBody, type Problem } from "../../schemaCheck.js"
import { BodyText, bytesOf } from "../../wire/bodyText.js"
import type { Encoded, StreamEncoder } from "../../wire/dialect.js"
import { checkChatBody, type MaxTokensField, maxTokensField, toRequest } from "../../wire/openAiChat/codec.js"
import { errors } from "../../wire/openAiChat/writer.js"
import * as Errors from "../errorAnswer.js"

/** The name a call without `model` is admitted under: every deployment (a key limited to some models must name one). */
export const everyModel = "*"

/** A decoded `/llm/chat` body: the engine's request and the name it asked for (`everyModel` when none). */
export interface Chat {
  readonly _tag: "Chat"
  readonly model: string
  readonly request: ChatRequest
  /** Which of the two names of the reply's limit the body gave. */
  readonly maxTokensField: MaxTokensField
}

/** A `/llm/chat` (or `/llm/chat/stream`) body as the engine's request, or what is wrong with it. */
export const chat = (text: string): Result.Result<Chat, Problem> =>
  Result.flatMap(decodeBody(text, checkChatBody), (body) =>
    Result.map(toRequest(body), (request) => ({
      _tag: "Chat",
      model: typeof body.model === "string" ? body.model : everyModel,
      request,
      maxTokensField: maxTokensField(body)
    })))

/** A whole reply as the seed's `{ "result": text }`, with its tool calls when it made some. */
export const reply = (response: ChatResponse): string =>
  JSON.stringify(
    response.toolCalls.length === 0
      ? { result: response.text }
      : {
        result: response.text,
        tool_calls: response.toolCalls.map((call) => ({ id: call.id, name: call.name, arguments: call.arguments }))
      }
  )

/**
 * The seed's stream: the answer's text as it comes, as plain text. A `Restart` after text went out, or a failure, ends
 * the stream with a last line `[error] {json}` (the error's OpenAI JSON), never a clean end of a truncated answer.
 */
export const streamEncoder = (): StreamEncoder => {
  let forwarded = false
  const batch = (chunks: ReadonlyArray<ChatChunk>): Encoded => {
    const out = new BodyText()
    for (const chunk of chunks) {
      if (chunk._tag === "TextDelta") {
        if (chunk.text !== "") forwarded = true
        out.text(chunk.text)
      } else if (chunk._tag === "Restart" && forwarded) {
        return { bytes: out.bytes(), restarted: chunk }
      }
    }
    return { bytes: out.bytes(), restarted: undefined }
  }
  return {
    contentType: "text/plain; charset=utf-8",
    batch,
    error: (answer) => bytesOf(`\n[error] ${errors.body(answer)}\n`)
  }
}

/** What a key limited to some models sees of `status`: the `visible` deployments, load summed, no keys or endpoints. */
export const shownTo = (status: Status, visible: ReadonlySet<string>): Status =>
  statusOf(Object.fromEntries(
    Object.entries(status.details)
      .filter(([name]) => visible.has(name))
      .map(([name, load]): [string, DeploymentLoad] => [name, { ...load, keys: [], endpoint: null }])
  ))

/** `GET /llm/system-load`. */
export const systemLoad = (status: Status): string => JSON.stringify({ load_percent: status.loadPercent })

// LLM-API-BalancedCall's fields, and where the deployment's calls (and so its keys) go.
const capacityOf = (load: DeploymentLoad) => ({
  type: load.type,
  current: load.current,
  max: load.max,
  weight: load.weight,
  keys: load.keys.map((key) => ({ key: key.key, weight: key.weight, current: key.current })),
  endpoint: load.endpoint
})

/** `GET /llm/system-capacity`: the bounded totals and each deployment's load, keys masked. */
export const systemCapacity = (status: Status): string =>
  JSON.stringify({
    total_max: status.totalMax,
    details: Object.fromEntries(Object.entries(status.details).map(([name, load]) => [name, capacityOf(load)]))
  })

/** `GET /llm/model-load/<model>`: one deployment's load, each masked key with its cap, cooldown and state. */
export const modelLoad = (load: DeploymentLoad): string =>
  JSON.stringify({
    ...capacityOf(load),
    keys: load.keys.map((key) => ({
      key: key.key,
      weight: key.weight,
      current: key.current,
      max: key.max,
      cooling_until: key.coolingUntil,
      disabled: key.disabled
    }))
  })

/** `model-load` while the configuration does not opt in: as if the path did not exist. */
export const disabled = Errors.answer(
  404,
  "GET /llm/model-load/<model> is off: it shows keys (masked). Turn it on with `\"model_load_details\": true` in " +
    "provider.json's `gateway` section (or `Gateway.Options.modelLoadDetails`), and call it with an admin key.",
  "invalid_request_error",
  null,
  "model_load_disabled"
)

/** `model-load` of a name that is no deployment. */
export const noDeployment = (name: string, known: ReadonlyArray<string>) =>
  Errors.answer(
    404,
    `No deployment is named \`${name}\`; the deployments are: ${known.join(", ")}.`,
    "invalid_request_error",
    null,
    "model_not_found"
  )
