/**
 * The simulator's Bedrock routes (Converse, CountTokens, InvokeModel for Anthropic's models, batch inference jobs and
 * their S3 objects): AWS's libraries loaded, the signature checked, then the engine's answer in the API's wire format.
 */
import * as Effect from "effect/Effect"
import * as Bedrock from "../../../simulator/Bedrock.js"
import type { WireFormat } from "../../../simulator/WireFormat.js"
import * as Aws from "../../wire/bedrock/aws.js"
import { countReply } from "../../wire/bedrock/codec.js"
import type { Engine } from "../engine.js"
import type { Plan } from "../plan.js"
import type { RouteInput } from "../routes.js"
import { renderError } from "./render.js"
import { decodeCount } from "./request.js"
import { checked } from "./sigv4.js"

// What answers a request when AWS's libraries could not be loaded.
const errors = { apiKey: Bedrock.apiKey, renderError, requestIdHeader: "x-amzn-requestid" }

/** Bedrock's APIs, by the format that answers each. */
export const apis = {
  converse: Bedrock.format,
  invoke: Bedrock.invokeFormat
} as const

/** The plan `then` makes with AWS's libraries loaded; a 500 in Bedrock's words when they could not be. */
const withAws = (engine: Engine, then: (aws: Aws.Aws) => Effect.Effect<Plan, string>): Effect.Effect<Plan> =>
  Aws.load.pipe(
    Effect.flatMap(then),
    Effect.catch((detail) =>
      Effect.succeed(
        engine.refuse(errors, { _tag: "InvalidRequest", status: 500, code: "InternalServerException", message: detail })
      )
    )
  )

/**
 * `answer` once the request's signature is checked, else its refusal; a body that could not be read is the engine's.
 */
const signed = (
  engine: Engine,
  input: RouteInput,
  format: Parameters<Engine["refuse"]>[0],
  answer: () => Plan
): Effect.Effect<Plan, string> =>
  input.body === undefined
    ? Effect.succeed(answer())
    : Effect.map(
      Bedrock.checkSignature(input.headers, input.url, input.body, engine.awsSecretOf),
      (refused) => refused === undefined ? answer() : engine.refuse(format, refused)
    )

/** The plan of a request to `format`'s API, once its signature is checked. */
const planOf = <X>(engine: Engine, input: RouteInput, format: WireFormat<X>) =>
  signed(engine, input, format, () => engine.generate(format, input))

/** The plan of a request to `api` (`stream`: its streaming operation). */
export const plan = (
  engine: Engine,
  input: RouteInput,
  api: keyof typeof apis,
  stream: boolean
): Effect.Effect<Plan> =>
  withAws(engine, (aws) => {
    const streamed = { ...input, params: { ...input.params, stream: String(stream) } }
    return api === "converse"
      ? planOf(engine, streamed, apis.converse(aws.codec))
      : planOf(engine, streamed, apis.invoke(aws.codec))
  })

/** The plan of a `CountTokens` request, once its signature is checked: the prompt tokens Converse would report. */
export const countPlan = (engine: Engine, input: RouteInput): Effect.Effect<Plan> =>
  withAws(engine, (aws) => {
    const format = apis.converse(aws.codec)
    return signed(engine, input, format, () => engine.countTokens(format, decodeCount, countReply, input))
  })

/** The plan of a batch request (a job's, an S3 object's), once its signature (Bedrock's or S3's) is checked. */
export const batchPlan = (
  engine: Engine,
  input: RouteInput,
  method: "GET" | "POST" | "PUT",
  answer: (format: WireFormat<undefined>) => Plan
): Effect.Effect<Plan> =>
  withAws(engine, (aws) => {
    const format = apis.converse(aws.codec)
    const request = { method, headers: input.headers, url: input.url, body: input.body ?? "" }
    return Effect.map(
      checked(request, engine.awsSecretOf),
      (refused) => refused === undefined ? answer(format) : engine.refuse(format, refused)
    )
  })
