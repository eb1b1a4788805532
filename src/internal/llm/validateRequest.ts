/**
 * The check an `Llm` makes of every request before it takes a permit or a
 * key: the request against its schema (`ChatRequest`, `EmbeddingRequest`),
 * by the schema's own guard, failing with `InvalidRequestError` that names
 * each bad path (`internal/schemaCheck.ts`).
 */
import { ChatRequest } from "../../ChatRequest.js"
import { EmbeddingRequest } from "../../Embedding.js"
import { InvalidRequestError } from "../../LlmError.js"
import { bracketed, checker, Refused } from "../schemaCheck.js"

const checkChat = checker(ChatRequest, { errors: "all", reportInput: true })
const checkEmbedding = checker(EmbeddingRequest, { errors: "all", reportInput: true })

const shown = 5

function problem(refused: Refused, provider: string, model: string): InvalidRequestError {
  const issues = refused.refusals.map((refusal) => {
    const path = bracketed(refusal.path)
    return { path, text: `${path === "" ? "the request" : path}: ${refusal.message}` }
  })
  const more = issues.length > shown ? `; and ${issues.length - shown} more` : ""
  return new InvalidRequestError({
    provider,
    model,
    ...(issues[0]!.path === "" ? {} : { param: issues[0]!.path }),
    detail: `${issues.slice(0, shown).map((issue) => issue.text).join("; ")}${more} (nothing was sent)`
  })
}

// The model an error names: the request's own, else the service's.
const modelOf = (u: unknown, model: string | undefined): string => {
  const own = typeof u === "object" && u !== null ? (u as { readonly model?: unknown }).model : undefined
  return typeof own === "string" ? own : model ?? ""
}

/** `undefined` when the request is a `ChatRequest`; else the error naming what is wrong with it. */
export function invalidChat(u: unknown, provider: string, model: string | undefined): InvalidRequestError | undefined {
  const checked = checkChat(u)
  return checked instanceof Refused ? problem(checked, provider, modelOf(u, model)) : undefined
}

/** `undefined` when the request is an `EmbeddingRequest`; else the error naming what is wrong with it. */
export function invalidEmbedding(
  u: unknown,
  provider: string,
  model: string | undefined
): InvalidRequestError | undefined {
  const checked = checkEmbedding(u)
  return checked instanceof Refused ? problem(checked, provider, modelOf(u, model)) : undefined
}
