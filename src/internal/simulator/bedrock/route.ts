/**
 * The simulator's Bedrock routes (`/model/{modelId}/converse` and `/converse-stream`): AWS's libraries loaded, the
 * signature checked, then the engine's answer in Bedrock's wire format.
 */
import * as Effect from "effect/Effect"
import * as Bedrock from "../../../simulator/Bedrock.js"
import * as Aws from "../../providers/bedrock/aws.js"
import type { Engine } from "../engine.js"
import type { Plan } from "../plan.js"
import type { RouteInput } from "../routes.js"
import { renderError } from "./render.js"

// What answers a request when AWS's libraries could not be loaded.
const errors = { apiKey: Bedrock.apiKey, renderError, requestIdHeader: "x-amzn-requestid" }

/** The plan of a `Converse` (`stream`: `ConverseStream`) request. */
export const plan = (engine: Engine, input: RouteInput, stream: boolean): Effect.Effect<Plan> =>
  Aws.load.pipe(
    Effect.flatMap((aws) => {
      const format = Bedrock.format(aws.codec)
      const params = { ...input.params, stream: String(stream) }
      // A body that could not be read is the engine's to answer.
      if (input.body === undefined) return Effect.succeed(engine.generate(format, { ...input, params }))
      return Effect.map(
        Bedrock.checkSignature(input.headers, input.url, input.body),
        (refused) =>
          refused === undefined ? engine.generate(format, { ...input, params }) : engine.refuse(format, refused)
      )
    }),
    Effect.catch((detail) =>
      Effect.succeed(
        engine.refuse(errors, { _tag: "InvalidRequest", status: 500, code: "InternalServerException", message: detail })
      )
    )
  )
