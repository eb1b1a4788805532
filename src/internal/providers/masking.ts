/**
 * A call's failures with its key masked: what the adapter template passes every failure of a call through before
 * it leaves the adapter, whichever part of it (transport, codec, stream parser) built the error, so a provider that
 * echoes the key back (in a message, a `param`, a raw body) cannot put it in a message, `Cause.pretty`, JSON or a
 * log line.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type { LlmError } from "../../LlmError.js"
import type { Credentials } from "../../ProviderClient.js"
import { masked } from "../llmError/mask.js"
import type { ChunkSource } from "../transport/chunkSource.js"

function maskWith(credentials: Credentials): (error: LlmError) => LlmError {
  return (error) => masked(error, [credentials.key])
}

/** A call's failure with its key masked. */
export function effect<A>(call: Effect.Effect<A, LlmError>, credentials: Credentials): Effect.Effect<A, LlmError> {
  return Effect.mapError(call, maskWith(credentials))
}

/** A stream's source whose opening and every pull fail with its key masked (the end of the stream passes as it is). */
export function source(
  open: Effect.Effect<ChunkSource, LlmError>,
  credentials: Credentials
): Effect.Effect<ChunkSource, LlmError> {
  const mask = maskWith(credentials)
  return Effect.map(Effect.mapError(open, mask), (opened) => ({
    close: opened.close,
    pull: Effect.mapError(opened.pull, (error) => Cause.isDone(error) ? error : mask(error))
  }))
}
