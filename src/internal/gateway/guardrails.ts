/**
 * The gateway's guardrails (docs/guardrails.md): a configuration's named ones, built with it, and the chain a call
 * runs, the union of those named for the gateway, its target and its caller (key and team). What they do to a call is
 * the library's one engine (`internal/guardrail/guarded.ts`). A call holds the chain it started with, so a reload never
 * changes a stream in flight.
 */
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../../ChatChunk.js"
import type { Guardrail, GuardrailError } from "../../Guardrail.js"
import type { OptionsError } from "../../OptionsError.js"
import { guardStream } from "../guardrail/guarded.js"
import * as OptionsErrors from "../optionsError.js"

/** The guardrails of one configuration, by name. */
export type Named = ReadonlyMap<string, Guardrail>

/** The named guardrails built, or the problems of every one that does not build (under `config.guardrails.<name>`). */
export function build(
  definitions: Readonly<Record<string, Effect.Effect<Guardrail, OptionsError, HttpClient.HttpClient>>> | undefined
): Effect.Effect<Named, OptionsError, HttpClient.HttpClient> {
  return Effect.gen(function*() {
    const named = new Map<string, Guardrail>()
    const problems: Array<OptionsError> = []
    for (const [name, definition] of Object.entries(definitions ?? {})) {
      const built = yield* Effect.result(definition)
      if (Result.isSuccess(built)) named.set(name, built.success)
      else problems.push(OptionsErrors.under(`config.guardrails.${name}.`, built.failure))
    }
    const problem = OptionsErrors.all(problems)
    return problem === undefined ? named : yield* problem
  })
}

/** The guardrails `names` name (at `option`), or the problem naming the first `named` does not have. */
export function resolve(
  named: Named,
  names: ReadonlyArray<string> | undefined,
  option: string
): Result.Result<ReadonlyArray<Guardrail>, OptionsError> {
  const out: Array<Guardrail> = []
  for (const [index, name] of (names ?? []).entries()) {
    const guardrail = named.get(name)
    if (guardrail === undefined) {
      const known = [...named.keys()]
      return Result.fail(OptionsErrors.make(
        "Gateway",
        `${option}[${index}]`,
        name,
        `the name of a guardrail of the configuration (known: ${known.length === 0 ? "none" : known.join(", ")})`
      ))
    }
    out.push(guardrail)
  }
  return Result.succeed(out)
}

/** The guardrails of `chains`, each once, in their first order. */
export function union(...chains: ReadonlyArray<ReadonlyArray<Guardrail>>): ReadonlyArray<Guardrail> {
  const all = chains.flat()
  return all.length === 0 ? [] : [...new Set(all)]
}

/**
 * The chain of a call to a target whose chain is `target`, by a caller naming `names` (its key's and its team's):
 * the union, or (failed) the first name the configuration served does not have (a key made at run time may name one
 * a reload removed; such a call is refused, not run unguarded).
 */
export function chainOf(
  named: Named,
  target: ReadonlyArray<Guardrail>,
  names: ReadonlyArray<string> | undefined
): Result.Result<ReadonlyArray<Guardrail>, string> {
  if (names === undefined || names.length === 0) return Result.succeed(target)
  const missing = names.find((name) => !named.has(name))
  return missing === undefined
    ? Result.succeed(union(target, names.map((name) => named.get(name)!)))
    : Result.fail(missing)
}

/** Leading `Start` chunks held and given out with the chunks after them: a first batch carries the answer's start. */
function startsHeld<E, R>(chunks: Stream.Stream<ChatChunk, E, R>): Stream.Stream<ChatChunk, E, R> {
  return chunks.pipe(
    Stream.mapAccumArray(
      (): { readonly held: ReadonlyArray<ChatChunk>; readonly started: boolean } => ({ held: [], started: false }),
      (state, batch) => {
        if (state.started) return [state, batch]
        const all = [...state.held, ...batch]
        return all.every((chunk) => chunk._tag === "Start")
          ? [{ held: all, started: false }, []]
          : [{ held: [], started: true }, all]
      },
      { onHalt: (state) => state.held }
    )
  )
}

/**
 * A stream through `chain`'s reply guardrails (`guardStream`), its first batch the first the chain releases: the
 * router's `Start` waits with it, so the stream's first-token time counts what the chain held.
 */
export function guardedStream(chain: ReadonlyArray<Guardrail>, model: string | undefined) {
  const guard = guardStream(chain, model)
  return <E, R>(chunks: Stream.Stream<ChatChunk, E, R>): Stream.Stream<ChatChunk, E | GuardrailError, R> =>
    startsHeld(guard(chunks))
}
