/**
 * Building a layer with a bad option: the `OptionsError` it fails with, and
 * the check that its text holds no secret.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type { OptionsError } from "../../src/OptionsError.js"
import { fakeHttpClient, jsonResponse } from "./fakeHttpClient.js"

/** The error building `layer` fails with, over a fake `HttpClient` that is never called. */
export const buildError = <A, E>(layer: Layer.Layer<A, E, HttpClient.HttpClient>): Effect.Effect<E, unknown> =>
  Effect.flip(Effect.scoped(Layer.build(layer))).pipe(
    Effect.provideService(HttpClient.HttpClient, fakeHttpClient(() => jsonResponse({})).client)
  )

/** Asserts `error` is an `OptionsError` with these fields, and that no `secret` shows in any rendering of it. */
export const expectOptionsError = (
  error: unknown,
  fields: Partial<Pick<OptionsError, "module" | "option" | "value" | "expected" | "message">>,
  secrets: ReadonlyArray<string> = []
): void => {
  const { message, ...rest } = fields
  expect(error).toMatchObject({ _tag: "OptionsError", ...rest })
  if (message !== undefined) expect((error as OptionsError).message).toBe(message)
  const text = `${(error as OptionsError).message} ${JSON.stringify(error)} ${String(error)}`
  for (const secret of secrets) expect(text).not.toContain(secret)
}
