/**
 * Every text field: the string fields of a request, a reply and each chunk are read from their schemas, and a
 * forbidden word put in any one of them (disguised or not) is caught, through `Guardrail.layer`, in a whole call and
 * in a stream in every mode; the fields named as left out are the only ones not read (docs/guardrails.md). A string
 * field added to a schema fails here until the fixture has it and the walk reads it or names it as left out.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as ChatChunk from "../src/ChatChunk.js"
import * as ChatRequest from "../src/ChatRequest.js"
import * as ChatResponse from "../src/ChatResponse.js"
import * as Guardrail from "../src/Guardrail.js"
import { LlmTest } from "../src/testing.js"
import { type Disguise, disguise, disguises } from "./fixtures/guardrails/labelled.js"

/**
 * A string field of a schema: where (`messages[].toolCalls[].name`), and what it is: a string, a record's key, or a
 * JSON value (where a key and a string are put in turn).
 */
interface Path {
  readonly path: string
  readonly kind: "text" | "key" | "json key" | "json string"
}

/** Every string field of `ast`, every key of a record and every JSON value, under `path`. */
function stringPaths(ast: SchemaAST.AST, path: string, depth = 0): Array<Path> {
  if (depth > 12) return []
  const at = (name: string) => (path === "" ? name : `${path}.${name}`)
  switch (ast._tag) {
    case "String":
    case "TemplateLiteral":
      return [{ path, kind: "text" }]
    case "Unknown":
    case "Any":
      return [{ path, kind: "json key" }, { path, kind: "json string" }]
    case "Objects":
      return [
        ...ast.propertySignatures.flatMap((property) =>
          stringPaths(property.type, at(String(property.name)), depth + 1)
        ),
        ...ast.indexSignatures.flatMap((index) =>
          index.type._tag === "Unknown" || index.type._tag === "Any"
            ? [{ path, kind: "json key" as const }, { path, kind: "json string" as const }]
            : [{ path: at("{key}"), kind: "key" as const }, ...stringPaths(index.type, at("{value}"), depth + 1)]
        )
      ]
    case "Arrays":
      return [...ast.elements, ...ast.rest].flatMap((item) => stringPaths(item, `${path}[]`, depth + 1))
    case "Union":
      return ast.types.flatMap((member) => stringPaths(member, path, depth + 1))
    case "Suspend":
      return stringPaths(ast.thunk(), path, depth + 1)
    default:
      return []
  }
}

function unique(paths: ReadonlyArray<Path>): Array<Path> {
  return [...new Map(paths.map((path) => [`${path.kind} ${path.path}`, path])).values()]
}

/** The values at `path` in `value` (an array step visits every item). */
function reach(value: unknown, path: string): Array<unknown> {
  if (path === "") return [value]
  const [head, ...rest] = path.split(".")
  const tail = rest.join(".")
  const arrays = head!.match(/(\[\])+$/)?.[0].length ?? 0
  const name = head!.slice(0, head!.length - arrays)
  if (value === null || typeof value !== "object") return []
  let found: Array<unknown> = name === "" ? [value] : name in value ? [(value as Record<string, unknown>)[name]] : []
  for (let i = 0; i < arrays / 2; i++) found = found.flatMap((item) => (Array.isArray(item) ? item : []))
  if (name === "{key}" || name === "{value}") found = Object.values(value)
  return found.flatMap((item) => reach(item, tail))
}

/** `value` with the string (or the JSON object's new key or value) at `path` made `marker`, at every place. */
function place(value: unknown, path: string, kind: Path["kind"], marker: string): unknown {
  if (path === "") {
    if (kind === "text") return typeof value === "string" ? marker : value
    if (kind === "json key") return { ...(value as object), [marker]: 1 }
    if (kind === "json string") return { ...(value as object), note: [{ deep: marker }] }
    return value
  }
  const [head, ...rest] = path.split(".")
  const tail = rest.join(".")
  const arrays = (head!.match(/(\[\])+$/)?.[0].length ?? 0) / 2
  const name = head!.slice(0, head!.length - arrays * 2)
  if (value === null || typeof value !== "object") return value
  const record = value as Record<string, unknown>
  if (name === "{key}") return { ...record, [marker]: Object.values(record)[0] }
  if (name === "{value}") {
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, place(v, tail, kind, marker)]))
  }
  if (!(name in record)) return value
  const into = (item: unknown, level: number): unknown =>
    level === 0 ? place(item, tail, kind, marker) : Array.isArray(item) ? item.map((x) => into(x, level - 1)) : item
  return { ...record, [name]: into(record[name], arrays) }
}

const metadata = { anthropic: { blocks: [{ type: "thinking", thinking: "hm", signature: "c2ln" }] } }
const call = { id: "call_1", name: "lookup", arguments: `{"q":"x"}`, providerMetadata: { gemini: { sig: "abc" } } }
const part = {
  type: "image",
  url: "https://example.com/a.png",
  mediaType: "image/png",
  detail: "low",
  document: { title: "A title", context: "Some context", citations: true },
  cache: { ttl: "5m" }
}

/** A request with every field the schema has. */
const fullRequest = {
  messages: [
    { role: "system", content: "Be brief.", cache: { ttl: "5m" } },
    { role: "user", content: "Hello there." },
    { role: "user", content: [{ type: "text", text: "Look:", cache: { ttl: "1h" } }, part] },
    { role: "assistant", content: "Calling.", toolCalls: [call], reasoning: "Thinking.", providerMetadata: metadata },
    { role: "tool", toolCallId: "call_1", name: "lookup", content: "Found it.", toolReferences: ["lookup"] },
    { role: "tool", toolCallId: "call_1", name: "lookup", content: [{ type: "text", text: "Found." }, part] }
  ],
  model: "gpt-4o",
  temperature: 1,
  topP: 1,
  maxTokens: 100,
  stop: ["END"],
  tools: [{ name: "lookup", description: "Look up.", parameters: { type: "object" }, strict: true }],
  toolChoice: { tool: "lookup" },
  responseFormat: { type: "json_schema", name: "out", description: "The output.", schema: { type: "object" } },
  reasoningEffort: "low",
  seed: 1,
  user: "user-1",
  session: "session-1",
  promptCacheKey: "cache-1",
  serviceTier: "priority",
  previousResponse: { id: "resp_1", provider: "openai", keyId: "sk-…f3a9#0d64", messages: 1 },
  timeout: Duration.seconds(30),
  providerOptions: { logprobs: true }
} as unknown as ChatRequest.Input

const usage = { ...ChatResponse.emptyUsage, hostedToolCalls: { web_search: 1 }, serviceTier: "priority" }

/** A reply with every field the schema has. */
const fullReply = {
  id: "chatcmpl_1",
  model: "gpt-4o",
  provider: "openai",
  text: "The answer.",
  reasoning: "Because.",
  refusal: "I won't.",
  toolCalls: [call],
  finishReason: "stop",
  usage,
  cost: 0.01,
  latency: Duration.millis(10),
  keyId: "sk-…f3a9#0d64",
  providerMetadata: metadata,
  rateLimit: { limitRequests: 10, remainingRequests: 9, resetRequests: Duration.seconds(1) },
  skippedEvents: 1
} as unknown as ChatResponse.ChatResponse

/** A stream with a chunk of every kind, each with every field. */
const fullChunks: ReadonlyArray<ChatChunk.ChatChunk> = [
  { _tag: "Start", attempt: 1, deployment: "openai/gpt-4o", model: "gpt-4o", from: "other/x", error: "RateLimitError" },
  { _tag: "ReasoningDelta", text: "Because." },
  { _tag: "TextDelta", text: "The answer." },
  { _tag: "ToolCallDelta", index: 0, id: "call_1", name: "lookup", arguments: `{"q":"x"}`, providerMetadata: {} },
  { _tag: "Usage", usage },
  {
    _tag: "Continue",
    attempt: 2,
    deployment: "openai/gpt-4o",
    model: "gpt-4o",
    from: "openai/gpt-4o",
    error: "StreamTruncatedError"
  },
  {
    _tag: "Finish",
    finishReason: "stop",
    id: "chatcmpl_1",
    model: "gpt-4o",
    provider: "openai",
    latency: Duration.millis(10),
    refusal: "I won't.",
    keyId: "sk-…f3a9#0d64",
    providerMetadata: metadata,
    cost: 0.01,
    rateLimit: { limitRequests: 10 },
    skippedEvents: 1
  }
] as unknown as ReadonlyArray<ChatChunk.ChatChunk>

// A chunk of each kind, as the union's members name them (a Restart as a Continue is: its fields are the same).
const chunkSchemas: ReadonlyArray<readonly [string, Schema.Top]> = [
  ["TextDelta", ChatChunk.TextDelta],
  ["ReasoningDelta", ChatChunk.ReasoningDelta],
  ["ToolCallDelta", ChatChunk.ToolCallDelta],
  ["Usage", ChatChunk.Usage],
  ["Finish", ChatChunk.Finish],
  ["Start", ChatChunk.Start],
  ["Continue", ChatChunk.Continue]
]

/**
 * The fields a guardrail does not read, and why: where a call goes and at which tier, never what it says (the
 * request's); the names the provider and the library give a reply, its usage's counts and service tier, its
 * provider's own data (its copy of the reasoning, read as `reasoning`, and signatures); a router's names for its
 * attempts.
 */
const leftOut: ReadonlySet<string> = new Set([
  "request model",
  "request session",
  "request serviceTier",
  "request previousResponse.id",
  "request previousResponse.provider",
  "request previousResponse.keyId",
  "reply id",
  "reply model",
  "reply provider",
  "reply keyId",
  "reply usage.hostedToolCalls.{key}",
  "reply usage.serviceTier",
  ...["reply providerMetadata", "reply toolCalls[].providerMetadata", "chunk ToolCallDelta.providerMetadata"].flatMap(
    (field) => [`${field} (json key)`, `${field} (json string)`]
  ),
  "chunk Usage.usage.hostedToolCalls.{key}",
  "chunk Usage.usage.serviceTier",
  ...["id", "model", "provider", "keyId"].map((field) => `chunk Finish.${field}`),
  "chunk Finish.providerMetadata (json key)",
  "chunk Finish.providerMetadata (json string)",
  ...["Start", "Continue"].flatMap((tag) =>
    ["deployment", "model", "from", "error"].map((field) => `chunk ${tag}.${field}`)
  )
])

type Target =
  | { readonly of: "request"; readonly path: Path }
  | { readonly of: "reply"; readonly path: Path }
  | { readonly of: "chunk"; readonly tag: string; readonly path: Path }

const targets: ReadonlyArray<Target> = [
  ...unique(stringPaths(ChatRequest.ChatRequest.ast, "")).map((path): Target => ({ of: "request", path })),
  ...unique(stringPaths(ChatResponse.ChatResponse.ast, "")).map((path): Target => ({ of: "reply", path })),
  ...chunkSchemas.flatMap(([tag, schema]) =>
    unique(stringPaths(schema.ast, "")).filter((path) => path.path !== "_tag").map((path): Target => ({
      of: "chunk",
      tag,
      path
    }))
  )
]

const nameOf = (target: Target) =>
  `${target.of} ${target.of === "chunk" ? `${target.tag}.` : ""}${target.path.path}${
    target.path.kind.startsWith("json") ? ` (${target.path.kind})` : ""
  }`

const forbidden = "quokka"
const guardrailIn = (mode: Guardrail.Mode) =>
  Effect.runSync(Guardrail.make({ name: "zoo", checks: [Guardrail.words("zoo", [forbidden])], mode }))

function guarded(guardrail: Guardrail.Guardrail, script: ReadonlyArray<LlmTest.Answer>) {
  return Guardrail.layer([guardrail]).pipe(Layer.provide(LlmTest.layer(script)))
}

/** Whether the call (whole, or streamed in `mode`) was blocked by the guardrail. */
function blocked(
  target: Target,
  marker: string,
  mode: Guardrail.Mode,
  streamed: boolean
): boolean {
  const { kind, path } = target.path
  const request = target.of === "request"
    ? place(fullRequest, path, kind, marker) as ChatRequest.Input
    : { messages: [{ role: "user" as const, content: "hi" }] }
  const reply = target.of === "reply" ? place(fullReply, path, kind, marker) as ChatResponse.ChatResponse : fullReply
  const chunks = target.of === "chunk"
    ? fullChunks.map((chunk) =>
      chunk._tag === target.tag ? place(chunk, path, kind, marker) as ChatChunk.ChatChunk : chunk
    )
    : ChatChunk.fromResponse(reply)
  const layer = guarded(guardrailIn(mode), [streamed || target.of === "chunk" ? { chunks } : reply])
  const call = streamed
    ? Stream.runDrain(Guardrail.chatStream(request))
    : Effect.asVoid(target.of === "chunk" ? Stream.runDrain(Guardrail.chatStream(request)) : Guardrail.chat(request))
  const exit = Effect.runSyncExit(Effect.provide(call, layer))
  if (Exit.isSuccess(exit)) return false
  const error = Exit.findErrorOption(exit)
  if (error._tag === "Some" && error.value._tag === "GuardrailError") return true
  throw new Error(`${nameOf(target)}: the call failed otherwise: ${String(exit)}`)
}

describe("Guardrail: every text field", () => {
  it("the schemas' string fields are found, and the fixtures hold a value at each", () => {
    const names = targets.map(nameOf)
    // The fields the issue named as missed, and the walk's own, are among them.
    for (
      const expected of [
        "request tools[].name",
        "request tools[].parameters (json key)",
        "request messages[].content[].url",
        "request user",
        "request stop[]",
        "request messages[].toolCalls[].id",
        "request messages[].toolCallId",
        "reply refusal",
        "reply toolCalls[].name",
        "chunk Finish.refusal",
        "chunk ToolCallDelta.name"
      ]
    ) expect(names).toContain(expected)
    for (const target of targets) {
      const fixture = target.of === "request"
        ? fullRequest
        : target.of === "reply"
        ? fullReply
        : fullChunks.find((chunk) => chunk._tag === target.tag)
      const found = reach(fixture, target.path.path.replace(/\.\{(key|value)\}$/, ""))
      expect(found.length, `the fixture has no value at ${nameOf(target)}: add one`).toBeGreaterThan(0)
    }
    for (const name of leftOut) expect(names, `left out but not a field: ${name}`).toContain(name)
  })

  it("a forbidden word in any one field is caught, whole and streamed, in every mode, in every disguise", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...targets),
        fc.constantFrom<Disguise | "plain">("plain", ...disguises),
        fc.constantFrom<Guardrail.Mode>("audit", "buffer", "window"),
        fc.boolean(),
        (target, how, mode, streamed) => {
          const marker = how === "plain" ? forbidden : disguise(forbidden, how)
          expect(blocked(target, marker, mode, streamed), `${nameOf(target)} (${how}, ${mode})`).toBe(
            !leftOut.has(nameOf(target))
          )
        }
      ),
      { numRuns: 600 }
    )
  })

  it("every field, each once, plain and streamed in buffer mode", () => {
    for (const target of targets) {
      expect(blocked(target, forbidden, "buffer", true), nameOf(target)).toBe(!leftOut.has(nameOf(target)))
    }
  })

  const email = "ada@example.com"
  const pii = Effect.runSync(Guardrail.make({ name: "pii", checks: [Guardrail.email], action: "mask" }))

  /** What the Llm was sent for `request`, through a guardrail that masks email addresses, or its block's reason. */
  const sent = (request: ChatRequest.Input) => {
    const test = LlmTest.layer([LlmTest.reply("ok")])
    return Effect.runSync(
      Guardrail.chat(request).pipe(
        Effect.flatMap(() => LlmTest.requests),
        Effect.map((requests) => requests[0]!),
        Effect.catchTag("GuardrailError", (error) => Effect.succeed(error.reason)),
        Effect.provide(Layer.merge(Guardrail.layer([pii]).pipe(Layer.provide(test)), test))
      )
    )
  }

  it("a mask changes a request's free text in place, and refuses a name, an id, a URL or a key, naming where", () => {
    const request = {
      messages: [{ role: "user" as const, content: `mail ${email}` }],
      stop: [email],
      user: email,
      tools: [{ name: "send", description: `sends to ${email}`, parameters: { default: email } }],
      providerOptions: { metadata: { to: email } }
    }
    const masked = sent(request as ChatRequest.Input) as ChatRequest.Input
    expect(masked).toMatchObject({
      messages: [{ role: "user", content: "mail [REDACTED:email]" }],
      stop: ["[REDACTED:email]"],
      user: "[REDACTED:email]",
      tools: [{ name: "send", description: "sends to [REDACTED:email]", parameters: { default: "[REDACTED:email]" } }],
      providerOptions: { metadata: { to: "[REDACTED:email]" } }
    })
    const hi = [{ role: "user" as const, content: "hi" }]
    const refusals: ReadonlyArray<readonly [ChatRequest.Input, string]> = [
      [{ messages: hi, tools: [{ name: email, parameters: {} }] } as ChatRequest.Input, "tools[0].name"],
      [
        { messages: [{ role: "user", content: [{ type: "image", url: `https://x.test/${email}` }] }] },
        "messages[0]" +
        ".content[0].url"
      ],
      [{ messages: [{ role: "tool", toolCallId: email, content: "done" }] }, "messages[0].toolCallId"],
      [{ messages: hi, tools: [{ name: "t", parameters: { [email]: 1 } }] }, "a key of tools[0].parameters"]
    ]
    for (const [given, where] of refusals) {
      expect(sent(given)).toBe(`found email address in ${where}, which a mask would break`)
    }
  })

  it("a mask changes a reply's refusal, whole and streamed; a tool call's name is refused", () => {
    const reply = { ...fullReply, refusal: `ask ${email}`, toolCalls: [], reasoning: undefined }
    const run = <A>(call: Effect.Effect<A, unknown, Guardrail.GuardedLlm>, answer: LlmTest.Answer) =>
      Effect.runSync(Effect.provide(call, guarded(pii, [answer])))
    const hi = { messages: [{ role: "user" as const, content: "hi" }] }
    expect(run(Guardrail.chat(hi), reply as ChatResponse.ChatResponse).refusal).toBe("ask [REDACTED:email]")
    const chunks = ChatChunk.fromResponse(reply as ChatResponse.ChatResponse)
    for (const mode of ["buffer", "window", "audit"] as const) {
      const masking = Effect.runSync(Guardrail.make({ name: "pii", checks: [Guardrail.email], action: "mask", mode }))
      const streamed = Effect.runSync(
        Effect.provide(ChatChunk.collect(Guardrail.chatStream(hi)), guarded(masking, [{ chunks }]))
      )
      expect(streamed.refusal, mode).toBe("ask [REDACTED:email]")
    }
    const named = { ...fullReply, toolCalls: [{ id: "c1", name: email, arguments: "{}" }] }
    const error = Effect.runSync(Effect.flip(
      Effect.provide(Guardrail.chat(hi), guarded(pii, [named as ChatResponse.ChatResponse]))
    ))
    expect(error).toMatchObject({
      _tag: "GuardrailError",
      where: "reply",
      reason: "found email address in toolCalls[0].name, which a mask would break"
    })
  })
})
