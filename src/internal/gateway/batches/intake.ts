/**
 * A batch's lines read and checked at its create, whatever its wire: each request decoded by the client's dialect and
 * checked as every provider's batch API takes it (`checkedLine`). A batch holds up to tens of thousands of lines, so
 * they are taken in slices, the event loop given back between two (`inSlices`), so one large create does not hold every
 * other request waiting (docs/batch.md, "The gateway").
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import { inSlices } from "../../inSlices.js"
import type { Problem } from "../../schemaCheck.js"
import { customIdPattern } from "../../wire/batch.js"
import type { Decoded } from "../../wire/dialect.js"

/** One request of a batch as its wire holds it: where it is (for messages), its custom id, its body decoded. */
export interface Entry {
  readonly where: string
  readonly customId: string
  readonly decoded: Result.Result<Decoded, Problem>
}

/** One line of a batch, checked: its custom id and its request. */
export interface Line {
  readonly customId: string
  readonly request: ChatRequest
}

/** A batch's lines decoded: the one model they name, each request with its custom id. */
export interface Lines {
  readonly model: string
  readonly lines: ReadonlyArray<Line>
}

/** What the lines checked so far hold: their custom ids and the model they name. */
interface Seen {
  readonly customIds: Set<string>
  model: string | undefined
}

/**
 * One entry checked as every provider's batch API takes it, beside the lines before it (`seen`): a unique custom id of
 * at most 64 letters, digits, `_` and `-`; no stream; the model the others name. A failure says what is wrong.
 */
export function checkedLine(entry: Result.Result<Entry, string>, seen: Seen): Result.Result<Line, string> {
  if (Result.isFailure(entry)) return Result.fail(entry.failure)
  const { customId, decoded, where } = entry.success
  if (!customIdPattern.test(customId) || seen.customIds.has(customId)) {
    return Result.fail(
      `${where}: its custom_id must be unique, of letters, digits, _ and - (at most 64), as every provider's batch ` +
        "API takes it."
    )
  }
  seen.customIds.add(customId)
  if (Result.isFailure(decoded)) return Result.fail(`${where}: ${decoded.failure.message}`)
  if (decoded.success.stream) return Result.fail(`${where} asks for a stream.`)
  if (seen.model !== undefined && decoded.success.model !== seen.model) {
    return Result.fail(`${where} names ${decoded.success.model}: a batch names one model.`)
  }
  seen.model = decoded.success.model
  return Result.succeed({ customId, request: decoded.success.request })
}

/** A batch's entries checked (`checkedLine`), in slices; at least one. A failure is what is wrong, in words. */
export function linesOf(entries: Iterable<Result.Result<Entry, string>>): Effect.Effect<Lines, string> {
  return Effect.suspend(() => {
    const seen: Seen = { customIds: new Set(), model: undefined }
    return Effect.flatMap(inSlices(entries, (entry) => checkedLine(entry, seen)), (lines) =>
      seen.model === undefined
        ? Effect.fail("The batch holds no request.")
        : Effect.succeed({ model: seen.model, lines }))
  })
}
