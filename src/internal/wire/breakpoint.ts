/**
 * A prompt-cache breakpoint as the wires carry it: Anthropic's `cache_control` (which OpenAI-compatible gateways, such
 * as OpenRouter and LiteLLM, take on a part or a message) and Converse's `cachePoint`, each a type and a lifetime.
 */
import * as Schema from "effect/Schema"
import type { CacheBreakpoint } from "../../Message.js"
import type { JsonObject } from "../json.js"
import { maybe } from "../schemaCheck.js"

/** The schema of a breakpoint block of `type` (Anthropic's `ephemeral`, Converse's `default`), its `ttl` optional. */
export const breakpointSchema = <const T extends string>(type: T) =>
  Schema.Struct({ type: Schema.Literal(type), ttl: maybe(Schema.Literals(["5m", "1h"])) })

/** Anthropic's `cache_control`, which OpenAI-compatible gateways take on a part or a message too. */
export const CacheControl = breakpointSchema("ephemeral")

type Lifetime = Pick<ReturnType<typeof breakpointSchema>["Type"], "ttl">

/** The breakpoint a `cache_control` or a `cachePoint` sets, with its lifetime; none for none. */
export const breakpointOf = (control: Lifetime | null | undefined): CacheBreakpoint | undefined =>
  control == null ? undefined : control.ttl == null ? {} : { ttl: control.ttl }

/** A breakpoint as a block of `type`, its `ttl` only when it has one. */
export const breakpointBlock = (type: string, cache: CacheBreakpoint): JsonObject =>
  cache.ttl === undefined ? { type } : { type, ttl: cache.ttl }
