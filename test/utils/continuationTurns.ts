/**
 * The question the continuation tests stream through the gateway, and a model's whole answer to it after further turns
 * (a cut reply, the continuation turn's instruction), with the official `openai` client: what a fallback adds.
 */
import * as Effect from "effect/Effect"
import type OpenAI from "openai"
import { instruction } from "../../src/internal/router/continuation.js"

export const question = "Tell me something"

export type Turn = { readonly role: "user" | "assistant"; readonly content: string }

/** `model`'s whole answer, not streamed, to the question and then `turns`. */
export const answerTo = (openAi: OpenAI, model: string, ...turns: ReadonlyArray<Turn>) =>
  Effect.promise(() =>
    openAi.chat.completions.create({ model, messages: [{ role: "user", content: question }, ...turns] })
  ).pipe(Effect.map((completion) => completion.choices[0]!.message.content ?? ""))

/** What a fallback that goes on from a reply cut at `before` adds: `model`'s answer to the continuation turn. */
export const continuedFrom = (openAi: OpenAI, model: string, before: string) =>
  answerTo(openAi, model, { role: "assistant", content: before }, { role: "user", content: instruction })
