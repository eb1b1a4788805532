/**
 * Secrets masked in a value: an error in every field, any JSON value in every string (`scrubbed`). The transport
 * (`transport/providerHttp.ts`) passes every failure of a sent call through it with the request's credentials, so a
 * provider echoing the key cannot put it in a message, `Cause.pretty`, JSON or a log line; `LlmError.fromHttpFailure`
 * and the MCP endpoints' answers (`gateway/mcp/credentials.ts`) use it too.
 */
import type * as Redacted from "effect/Redacted"
import type { LlmError } from "../../LlmError.js"
import { scrub } from "./errorInfo.js"

type Secrets = ReadonlyArray<Redacted.Redacted<string>>

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype

/** The value with every string in it (object names too) scrubbed; the same value when nothing changed. */
export const scrubbed = (value: unknown, secrets: Secrets, pieces?: number): unknown => {
  if (typeof value === "string") return scrub(value, secrets, pieces)
  if (Array.isArray(value)) {
    const items = value.map((item) => scrubbed(item, secrets, pieces))
    return items.some((item, i) => item !== value[i]) ? items : value
  }
  if (isPlainObject(value)) {
    const fields = fieldsOf(value, secrets, pieces)
    return fields === undefined ? value : fields
  }
  return value
}

// The fields with the secrets masked, or undefined when none held one.
const fieldsOf = (value: object, secrets: Secrets, pieces?: number): Record<string, unknown> | undefined => {
  let changed = false
  const fields: Record<string, unknown> = {}
  for (const [name, field] of Object.entries(value)) {
    const next = scrubbed(field, secrets, pieces)
    const named = scrub(name, secrets, pieces)
    if (next !== field || named !== name) changed = true
    fields[named] = next
  }
  return changed ? fields : undefined
}

/** The error, rebuilt as the same class with `secrets` masked in every field; itself when none holds one. */
export const masked = <E extends LlmError>(error: E, secrets: Secrets): E => {
  const { _tag, ...rest } = error
  const fields = fieldsOf(rest, secrets)
  if (fields === undefined) return error
  const Class = error.constructor as new(fields: Omit<E, "_tag">) => E
  return new Class(fields as Omit<E, "_tag">)
}
