/**
 * The span of a proxied MCP call, after OpenTelemetry's MCP semantic conventions (`tools/call <name>`, kind client;
 * the caller's key id, never the key). Its parent is the caller's trace: the W3C `traceparent` of the request's `_meta`
 * (the MCP convention), else of its HTTP headers. The upstream is sent the span's own `traceparent` (and the caller's
 * `tracestate`) in the call's `_meta`, so that it sees the caller's trace.
 */
import * as Effect from "effect/Effect"
import * as Headers from "effect/http/Headers"
import * as HttpTraceContext from "effect/http/HttpTraceContext"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import { definedFields } from "../../json.js"

/** What names a call's span. */
export interface Traced {
  readonly server: string
  readonly tool: string
  /** The name the caller called it by (`<server>__<tool>` at `/mcp`). */
  readonly name: string
  readonly keyId: string | undefined
}

/** The `_meta` trace fields of a request's metadata or HTTP headers, as headers `HttpTraceContext` reads. */
function traceHeaders(
  meta: Readonly<Record<string, unknown>> | undefined,
  headers: Headers.Headers
): Headers.Headers {
  const traceparent = meta?.["traceparent"]
  if (typeof traceparent !== "string") return headers
  const tracestate = meta?.["tracestate"]
  return Headers.fromRecordUnsafe({
    traceparent,
    ...(typeof tracestate === "string" ? { tracestate } : {})
  })
}

/** What a call's body is given: the `_meta` to send upstream, and how it records its outcome on the span. */
export interface Span {
  readonly meta: Record<string, string>
  readonly outcome: (outcome: string) => void
}

/**
 * `call` in a span of its own under the caller's trace (`request`'s `_meta`, else its HTTP headers), its parent span
 * while it runs; `call` is handed the span itself, not left to look it up.
 */
export function traced<A, E, R>(
  traced: Traced,
  request: { readonly meta: Readonly<Record<string, unknown>> | undefined; readonly headers: Headers.Headers },
  call: (span: Span) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, Tracer.ParentSpan>> {
  const headers = traceHeaders(request.meta, request.headers)
  // The caller's span; none when it sent no valid `traceparent`.
  const parent = HttpTraceContext.w3c(headers)
  // The caller's `tracestate`, sent upstream beside the span's own `traceparent`.
  const tracestate = headers["tracestate"]
  return Effect.useSpan(
    `tools/call ${traced.name}`,
    {
      kind: "client",
      attributes: {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": traced.tool,
        "llm_router.mcp_server": traced.server,
        ...definedFields({ "llm_router.key_id": traced.keyId })
      },
      ...(Option.isSome(parent) ? { parent: parent.value } : {})
    },
    (span) =>
      Effect.withParentSpan(
        call({
          meta: { traceparent: HttpTraceContext.toHeaders(span)["traceparent"]!, ...definedFields({ tracestate }) },
          outcome: (outcome) => span.attribute("llm_router.mcp_outcome", outcome)
        }),
        span,
        { captureStackTrace: false }
      )
  )
}
