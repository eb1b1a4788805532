/**
 * A request's log line (`Gateway.Options.logRequests`), written when its answer ends (a stream's when the stream does)
 * through Effect's `Logger`, so the application picks the format (`serve` prints JSON). Besides the request's figures
 * it names the error's full message, which the client's answer leaves out. It holds no key: no field is read from a
 * header but the request's id, taken only in a shape that holds nothing else (`intake.ts`), and the library's messages
 * mask keys.
 */
import * as Effect from "effect/Effect"
import * as Intake from "../intake.js"
import type { RequestRecord } from "./record.js"

/** The line of `record`'s request. */
export function line(record: RequestRecord): Effect.Effect<void> {
  return Effect.logInfo("request").pipe(Effect.annotateLogs(fields(record)))
}

/**
 * The fields of `record`'s line, in the line's order, those it has no value for left out: assigned into one record
 * (the one `Effect.annotateLogs` reads), not spread from one small record a field.
 */
function fields(record: RequestRecord): Record<string, string | number> {
  const fields: Record<string, string | number> = {
    request_id: record.id,
    method: record.method,
    path: Intake.logged(record.path)
  }
  if (record.suppressed !== undefined && record.suppressed > 0) fields.suppressed = record.suppressed
  fields.status = record.status
  fields.latency_ms = record.latency
  if (record.caller !== undefined) {
    fields.key_id = record.caller.id
    fields.key_name = record.caller.name
  }
  if (record.model !== undefined) fields.model = record.model
  if (record.deployment !== undefined) fields.deployment = record.deployment
  if (record.firstToken !== undefined) fields.first_token_ms = record.firstToken
  const usage = record.usage
  if (usage !== undefined) {
    fields.prompt_tokens = usage.promptTokens
    fields.completion_tokens = usage.completionTokens
    fields.total_tokens = usage.totalTokens
    fields.cached_tokens = usage.cachedPromptTokens
    if (usage.cacheWriteTokens !== undefined) fields.cache_write_tokens = usage.cacheWriteTokens
    if (usage.cacheWrite1hTokens !== undefined) fields.cache_write_1h_tokens = usage.cacheWrite1hTokens
    if (usage.serviceTier !== undefined) fields.service_tier = usage.serviceTier
  }
  if (record.cost !== undefined) fields.cost = record.cost
  if (record.cacheSavings !== undefined) fields.cache_savings = record.cacheSavings
  if (record.error !== undefined) fields.error = record.error
  if (record.errorMessage !== undefined) fields.error_message = record.errorMessage
  if (record.failedDeployment !== undefined) fields.failed_deployment = record.failedDeployment
  if (record.midStream !== undefined) fields.mid_stream = record.midStream
  if (record.omittedTools !== undefined) fields.omitted_tools = record.omittedTools.join(",")
  if (record.toolCall !== undefined) {
    fields.mcp_server = record.toolCall.server
    fields.mcp_tool = record.toolCall.tool
    fields.arguments_digest = record.toolCall.argumentsDigest
  }
  return fields
}
