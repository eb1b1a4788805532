/**
 * Every text a guardrail reads of a request, a reply and a JSON value (docs/guardrails.md), each as one walk that
 * visits the texts in order and puts back what the visit gives: walked once to gather the texts, once more to put the
 * checked ones in place, so the two never disagree on what is where.
 *
 * A request's texts are all its strings but those that name where the call goes (`model`, `session`,
 * `previousResponse`); a reply's are what the model wrote, not the names the provider and the library give it nor its
 * provider metadata (the provider's copy of the reasoning is checked as `reasoning`). A JSON value's are each key,
 * string and number (a card number sent as a number); bytes are not text. The walks' test reads the schemas' fields,
 * so a string field added to a request or a reply is one the walk visits, or names as left out.
 */
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import type { ContentPart, ImagePart, Message, ToolCall, ToolDefinition } from "../../Message.js"
import { definedFields } from "../json.js"
import { signedReasoning } from "../wire/signedReasoning.js"

/**
 * Why a mask cannot change a text, so that a mask's finding there refuses the text instead: it is part of its
 * message's shape (a name, an id, a URL, a JSON key), reasoning its provider signed, its provider's own data, or part
 * of an MCP server's definition (a tool's, prompt's, resource's), served as its server gave it or not at all.
 */
export type Fixed = "shape" | "signed" | "provider" | "definition"

/** Where a text is (`messages[2].toolCalls[0].name`; never the text), and what may change it. */
export interface Field {
  readonly path: string
  /** Whether it is a key of the JSON value at `path`. */
  readonly key?: boolean | undefined
  readonly fixed?: Fixed | undefined
}

/** What a walk does at each text: the text to put there (the same text, when gathering). */
export type Visit = (text: string, field: Field) => string

/** `value`'s texts visited (a JSON value at `path`), and the value with what the visits gave. */
export function json(
  value: unknown,
  field: Field,
  visit: Visit,
  fixedValues?: ReadonlySet<string>
): unknown {
  if (typeof value === "string") return visit(value, field)
  if (typeof value === "number") {
    // A number masked becomes the masked text: a card number sent as a number is not let through whole.
    const text = String(value)
    const checked = visit(text, field)
    return checked === text ? value : checked
  }
  if (Array.isArray(value)) return same(value, value.map((item) => json(item, field, visit, fixedValues)))
  // Bytes (an MCP image's or audio's data) are not text.
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return value
  let changed = false
  const entries = Object.entries(value).map(([name, item]) => {
    const key = visit(name, { path: field.path, key: true, fixed: field.fixed ?? "shape" })
    const inner = fixedValues?.has(name) === true ? { path: field.path, fixed: field.fixed ?? "shape" } : field
    const checked = json(item, inner, visit, fixedValues)
    if (key !== name || checked !== item) changed = true
    return [key, checked] as const
  })
  // Made from its entries, so that a key `__proto__` stays a key.
  return changed ? Object.fromEntries(entries) : value
}

/** `next`, or `previous` when every item is the same. */
function same<A>(previous: ReadonlyArray<A>, next: ReadonlyArray<A>): ReadonlyArray<A> {
  return next.every((item, i) => item === previous[i]) ? previous : next
}

/** An optional list with each item mapped (`same`). */
function each<A>(items: ReadonlyArray<A> | undefined, f: (item: A, i: number) => A) {
  return items && same(items, items.map(f))
}

/** An optional JSON object's texts visited where it is present (`json`). */
function record(value: object | undefined, field: Field, visit: Visit) {
  return value && json(value, field, visit) as Record<string, unknown>
}

/**
 * `record` with the fields of `changes` that differ from its own, or `record` itself when none does; a change
 * `undefined` (an optional field absent) is none.
 */
function changed<A extends object>(record: A, changes: { readonly [K in keyof A]?: A[K] | undefined }): A {
  for (const [name, value] of Object.entries(changes)) {
    if (value !== undefined && record[name as keyof A] !== value) return { ...record, ...definedFields(changes) }
  }
  return record
}

/** An optional text visited where it is present. */
function optional(text: string | undefined, field: Field, visit: Visit): string | undefined {
  return text === undefined ? undefined : visit(text, field)
}

function part(value: ContentPart, path: string, visit: Visit): ContentPart {
  if (value.type === "text") return changed(value, { text: visit(value.text, { path: `${path}.text` }) })
  return changed<ImagePart>(value, {
    url: visit(value.url, { path: `${path}.url`, fixed: "shape" }),
    mediaType: optional(value.mediaType, { path: `${path}.mediaType`, fixed: "shape" }, visit),
    document: value.document === undefined ? undefined : changed(value.document, {
      title: optional(value.document.title, { path: `${path}.document.title` }, visit),
      context: optional(value.document.context, { path: `${path}.document.context` }, visit)
    })
  })
}

function content(
  value: string | ReadonlyArray<ContentPart>,
  path: string,
  visit: Visit
): string | ReadonlyArray<ContentPart> {
  return typeof value === "string"
    ? visit(value, { path })
    : same(value, value.map((item, i) => part(item, `${path}[${i}]`, visit)))
}

/** A tool call's texts: its id and name (fixed: a result names its call by them), its arguments, its metadata. */
function toolCall(call: ToolCall, path: string, visit: Visit, metadata: boolean): ToolCall {
  return changed(call, {
    id: visit(call.id, { path: `${path}.id`, fixed: "shape" }),
    name: visit(call.name, { path: `${path}.name`, fixed: "shape" }),
    arguments: visit(call.arguments, { path: `${path}.arguments` }),
    providerMetadata: metadata
      ? record(call.providerMetadata, { path: `${path}.providerMetadata`, fixed: "provider" }, visit)
      : undefined
  })
}

/** The `index`th message of a request: its reasoning fixed where its provider signed it (`signedReasoning`). */
function message(value: Message, index: number, visit: Visit): Message {
  const path = `messages[${index}]`
  switch (value.role) {
    case "system":
      return changed(value, { content: visit(value.content, { path: `${path}.content` }) })
    case "user":
      return changed(value, { content: content(value.content, `${path}.content`, visit) })
    case "tool":
      return changed(value, {
        toolCallId: visit(value.toolCallId, { path: `${path}.toolCallId`, fixed: "shape" }),
        name: optional(value.name, { path: `${path}.name`, fixed: "shape" }, visit),
        content: content(value.content, `${path}.content`, visit),
        toolReferences: each(
          value.toolReferences,
          (name, i) => visit(name, { path: `${path}.toolReferences[${i}]`, fixed: "shape" })
        )
      })
    case "assistant":
      return changed(value, {
        content: visit(value.content, { path: `${path}.content` }),
        toolCalls: each(value.toolCalls, (call, i) => toolCall(call, `${path}.toolCalls[${i}]`, visit, true)),
        reasoning: optional(
          value.reasoning,
          { path: `${path}.reasoning`, fixed: signedReasoning(value) ? "signed" : undefined },
          visit
        ),
        providerMetadata: record(
          value.providerMetadata,
          { path: `${path}.providerMetadata`, fixed: "provider" },
          visit
        )
      })
  }
}

function tool(value: ToolDefinition, index: number, visit: Visit): ToolDefinition {
  const path = `tools[${index}]`
  return changed(value, {
    name: visit(value.name, { path: `${path}.name`, fixed: "shape" }),
    description: optional(value.description, { path: `${path}.description` }, visit),
    parameters: json(value.parameters, { path: `${path}.parameters` }, visit) as Record<string, unknown>
  })
}

/** A request's texts (see the module's documentation), in order: its messages first. */
export function request(value: ChatRequest, visit: Visit): ChatRequest {
  const format = value.responseFormat
  return changed(value, {
    messages: same(value.messages, value.messages.map((item, i) => message(item, i, visit))),
    tools: each(value.tools, (item, i) => tool(item, i, visit)),
    toolChoice: typeof value.toolChoice === "object"
      ? changed(value.toolChoice, { tool: visit(value.toolChoice.tool, { path: "toolChoice.tool", fixed: "shape" }) })
      : undefined,
    responseFormat: format?.type === "json_schema"
      ? changed(format, {
        name: visit(format.name, { path: "responseFormat.name", fixed: "shape" }),
        description: optional(format.description, { path: "responseFormat.description" }, visit),
        schema: json(format.schema, { path: "responseFormat.schema" }, visit) as Record<string, unknown>
      })
      : undefined,
    stop: each(value.stop, (item, i) => visit(item, { path: `stop[${i}]` })),
    user: optional(value.user, { path: "user" }, visit),
    promptCacheKey: optional(value.promptCacheKey, { path: "promptCacheKey" }, visit),
    providerOptions: record(value.providerOptions, { path: "providerOptions" }, visit)
  })
}

/** What a reply answers besides its text and reasoning: its refusal and its tool calls. */
export interface Answer {
  readonly refusal?: string | undefined
  readonly toolCalls: ReadonlyArray<ToolCall>
}

/** An answer's texts: its refusal, then its tool calls'. */
export function answer<A extends Answer>(value: A, visit: Visit): A {
  return changed<Answer>(value, {
    refusal: optional(value.refusal, { path: "refusal" }, visit),
    toolCalls: same(
      value.toolCalls,
      value.toolCalls.map((call, i) => toolCall(call, `toolCalls[${i}]`, visit, false))
    )
  }) as A
}

/** A whole reply's texts (see the module's documentation): its reasoning, its text, then its answer's. */
export function reply(value: ChatResponse, visit: Visit): ChatResponse {
  const reasoning = optional(value.reasoning, { path: "reasoning" }, visit)
  const text = visit(value.text, { path: "text" })
  return answer(changed(value, { reasoning, text }), visit)
}
