/**
 * An upstream's resources, resource templates and prompts as an endpoint serves them. `/mcp/<server>` serves them under
 * their own names and URIs; `/mcp` names each `<server>__<name>` and serves a resource URI as
 * `mcp://<server>/<its own URI>`, so that several servers' URIs never meet and a read goes to the server its URI names.
 * Each is allowed, pinned and hidden as a tool is (`pins.ts`): left out of lists, a read or get of it answered as of
 * one that does not exist. Completions are asked of their server under its own names. What a client sends and what a
 * server answers go through the request's guardrails (`Guard`, `guardrails.ts`): masked, or refused.
 */
import * as McpSchema from "effect/ai/McpSchema"
import type * as McpServer from "effect/ai/McpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FindMyWay from "effect/http/FindMyWay"
import type * as Scope from "effect/Scope"
import { definedFields } from "../../json.js"
import * as Allow from "../access/tools.js"
import { unreservedDecoded } from "../intake.js"
import type { Guard } from "./guardrails.js"
import type * as Pins from "./pins.js"
import { failed, isMethodNotFound } from "./rpc.js"
import type * as Upstreams from "./upstream.js"

/** How an endpoint serves an upstream's names and URIs: its own (`/mcp/<server>`), or qualified (`/mcp`). */
export type Naming = "own" | "qualified"

/** The URI `/mcp` serves `server`'s resource `uri` as. */
export function qualifiedUri(server: string, uri: string): string {
  return `mcp://${server}/${uri}`
}

// The URI an endpoint serves `uri` of `server` as, and back.
function servedUri(naming: Naming, server: string, uri: string): string {
  return naming === "own" ? uri : qualifiedUri(server, uri)
}

function ownUri(naming: Naming, server: string, uri: string): string {
  return naming === "own" ? uri : uri.slice(qualifiedUri(server, "").length)
}

/**
 * The server and its own URI of `uri` as the endpoint at `path` serves it: `/mcp/<server>` its own, `/mcp`
 * `mcp://<server>/<its own URI>`; none for a URI `/mcp` serves no resource as.
 */
export function placeOf(path: string, uri: string): { readonly server: string; readonly uri: string } | undefined {
  if (path !== "/mcp") return { server: path.slice("/mcp/".length), uri }
  const served = /^mcp:\/\/([^/]+)\//.exec(uri)
  return served === null ? undefined : { server: served[1]!, uri: uri.slice(served[0].length) }
}

/**
 * Whether `uri` names a resource of `server` at an endpoint naming as `naming` says: any URI at `/mcp/<server>`, one
 * `placeOf` reads as `server`'s at `/mcp`. The router `McpServer` reads through ignores repeated slashes, so a template
 * `/mcp` serves matches some URIs that do not say their server (`mcp:/docs/...`); a read of one is of no resource.
 */
export function namesServer(naming: Naming, server: string, uri: string): boolean {
  return naming === "own" || placeOf("/mcp", uri)?.server === server
}

function servedName(naming: Naming, server: string, name: string): string {
  return naming === "own" ? name : Allow.qualified(server, name)
}

// One RFC 6570 expression: `{name}` (a simple string: one path segment), or `{+name}` / `{name*}` (reserved, or an
// explode: the rest of the URI, so only last).
const expression = /\{([+]?)([A-Za-z0-9_.%]+)(\*?)\}/g

// The path `McpServer` matches a template's URIs with, as written (`routerPath`): none for an expression not served.
function pathOf(uriTemplate: string): string | undefined {
  let path = ""
  let last = 0
  let index = 0
  for (const match of uriTemplate.matchAll(expression)) {
    const literal = uriTemplate.slice(last, match.index)
    if (/[{}*]/.test(literal)) return undefined
    path += literal.replaceAll(":", "::")
    last = match.index + match[0].length
    const rest = match[1] === "+" || match[3] === "*"
    if (rest && last !== uriTemplate.length) return undefined
    path += rest ? "*" : `:${index++}`
  }
  const tail = uriTemplate.slice(last)
  if (/[{}*]/.test(tail)) return undefined
  return path + tail.replaceAll(":", "::")
}

// The router `McpServer` matches a template's URIs with, with its options: the same code, so that what the gateway
// checks a URI against is what a read of it goes through.
const routerOptions = { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, caseSensitive: true } as const

// A router holding the path of `uriTemplate` alone, as `McpServer` registers it; none for a template not served, or
// whose path the router refuses (`McpServer` would fail to register it, and the templates registered after it).
function routerOf(uriTemplate: string): { readonly path: string; readonly router: FindMyWay.Router<true> } | undefined {
  const path = pathOf(uriTemplate)
  if (path === undefined) return undefined
  const router = FindMyWay.make<true>(routerOptions)
  try {
    router.on("GET", `/${path}`, true)
  } catch {
    return undefined
  }
  return { path, router }
}

/**
 * The path `McpServer` matches a template's URIs with (find-my-way: `:n` one segment, `*` the rest, `::` a literal
 * colon): a simple `{name}` is a segment, a reserved `{+name}` or exploded `{name*}` at the end the rest. `undefined`
 * (not served) for any other expression (`{?query}`, `{#fragment}`, `{/path}`) or a path the router refuses.
 */
export function routerPath(uriTemplate: string): string | undefined {
  return routerOf(uriTemplate)?.path
}

/**
 * Whether `uri` is one of `uriTemplate`'s URIs as `McpServer` matches them (`routerPath`: a simple `{name}` one
 * non-empty segment); a template not served matches none.
 */
export function matches(uriTemplate: string, uri: string): boolean {
  return found(routerOf(uriTemplate), uri)
}

// Whether `routed`, a template's router, matches `uri`.
function found(routed: ReturnType<typeof routerOf>, uri: string): boolean {
  return routed?.router.find("GET", `/${uri}`) !== undefined
}

// A URI's scheme (`file:`).
const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/

// A URI's scheme, and its authority when it has one (`//host`, `//` alone for `file:///...`).
const schemeAndAuthority = new RegExp(`${scheme.source}(?:\\/\\/[^/?#]*)?`)

// `path` with its dot segments removed (RFC 3986 section 5.2.4): `.` dropped, `..` dropping the segment before it.
function removeDotSegments(path: string): string {
  const absolute = path.startsWith("/")
  const segments = (absolute ? path.slice(1) : path).split("/")
  const out: Array<string> = []
  for (const [index, segment] of segments.entries()) {
    const dot = segment === "." || segment === ".."
    if (segment === "..") out.pop()
    if (!dot) out.push(segment)
    // A path that ends in a dot segment ends in `/`.
    else if (index === segments.length - 1) out.push("")
  }
  return (absolute ? "/" : "") + out.join("/")
}

/**
 * `uri` in its normal form (RFC 3986 section 6.2.2): the escapes of unreserved characters decoded (`%2e` is `.`, `%61`
 * is `a`), then the dot segments of its path removed; its query and fragment kept.
 */
export function normalUri(uri: string): string {
  const decoded = unreservedDecoded(uri)
  const end = decoded.search(/[?#]/)
  const head = end < 0 ? decoded : decoded.slice(0, end)
  const prefix = schemeAndAuthority.exec(head)?.[0] ?? ""
  return prefix + removeDotSegments(head.slice(prefix.length)) + (end < 0 ? "" : decoded.slice(end))
}

// Whether a URI in normal form still has a dot segment: where RFC 3986 removes none, an authority a template's
// variable fills (`repo://{owner}/...` read as `repo://../...`), which a server may well make a path of.
function dotPart(normal: string): boolean {
  const named = scheme.exec(normal)?.[0] ?? ""
  return normal.slice(named.length).split(/[/?#]/).some((part) => part === "." || part === "..")
}

// What a URI may not carry into a template's read, whatever its template says: an escaped `/` or `\` (a server that
// decodes it finds another path: `..%2Fsecret`), or a `\` (another separator to some servers).
const separatorInside = /%2f|%5c|\\/i

/**
 * The URI a `resources/read` of `uri` through `uriTemplate` (as the endpoint serves it) sends its server: `uri` in its
 * normal form (`normalUri`), when that is still one of the template's URIs (`matches`); none when it leaves it: a dot
 * segment however spelled (`..`, `%2e%2e`) that climbs out of what the template fixes, or that stays where no dot
 * segment is removed (an authority), a separator escaped inside a value (`..%2F`), or a query or fragment the template
 * does not have (the router `McpServer` matches with ignores them, and a server may not).
 */
export function throughTemplate(uriTemplate: string, uri: string): string | undefined {
  const normal = normalUri(uri)
  if (separatorInside.test(normal) || dotPart(normal)) return undefined
  if ((normal.includes("?") && !uriTemplate.includes("?")) || (normal.includes("#") && !uriTemplate.includes("#"))) {
    return undefined
  }
  return matches(uriTemplate, normal) ? normal : undefined
}

/**
 * Whether a read of `uri` may go through `seen` (a registration's definition) at an endpoint naming as `naming` says:
 * it names its server (`namesServer`), and a template's read stays within it (`throughTemplate`).
 */
export function readable(naming: Naming, seen: Pins.Seen, uri: string): boolean {
  return namesServer(naming, seen.server, uri) &&
    (seen.kind !== "template" || throughTemplate(servedUri(naming, seen.server, seen.name), uri) !== undefined)
}

/**
 * The template a `resources/read` of `uri` reads through among `templates`, those an `McpServer` holds, in the order
 * it registered them: the first whose URIs hold `uri`, as `McpServer` tries them, not the most specific. A template
 * registered again keeps its place; one its server no longer lists keeps it too (its gate refuses it).
 */
export function readThrough(
  templates: McpServer.McpServer["Service"]["resourceTemplates"],
  uri: string
): McpSchema.ResourceTemplate | undefined {
  return templates.find(({ template }) => found(heldRouterOf(template), uri))?.template
}

// The router of each template an `McpServer` holds, made once: a request's subscriptions are checked against them.
const heldRouters = new WeakMap<McpSchema.ResourceTemplate, ReturnType<typeof routerOf>>()

function heldRouterOf(template: McpSchema.ResourceTemplate): ReturnType<typeof routerOf> {
  if (!heldRouters.has(template)) heldRouters.set(template, routerOf(template.uriTemplate))
  return heldRouters.get(template)
}

/**
 * What a `resources/read` of `uri` at `server` reads through of `listing` of upstream `name`, as `McpServer` looks it
 * up: the resource of that URI, else the template `readThrough` picks; none when `listing` lacks it or `uri` does not
 * name the server (`namesServer`), as the read is then refused.
 */
export function readSubject(
  server: McpServer.McpServer["Service"],
  naming: Naming,
  name: string,
  listing: Upstreams.Listing,
  uri: string
): Extract<Pins.Definition, { readonly kind: "resource" | "template" }> | undefined {
  if (!namesServer(naming, name, uri)) return undefined
  const resource = listing.resources.find((one) => servedUri(naming, name, one.uri) === uri)
  if (resource !== undefined) return { kind: "resource", value: resource }
  if (server.resources.some((one) => one.resource.uri === uri)) return undefined
  const template = readThrough(server.resourceTemplates, uri)
  const listed = template === undefined || throughTemplate(template.uriTemplate, uri) === undefined
    ? undefined
    : listing.templates.find((one) => servedUri(naming, name, one.uriTemplate) === template.uriTemplate)
  return listed === undefined ? undefined : { kind: "template", value: listed }
}

/**
 * What a registration of `server`'s `definition` is served to (its own `McpServer.visibility` middleware, asked on
 * list, call and read): a request whose rule allows its qualified name, while the definition is offered now and
 * pinned; on a list only when it passes the request's guardrails too; a read only of a URI naming its server
 * (`namesServer`).
 */
export type Gate = (
  server: string,
  definition: Pins.Definition
) => Effect.Effect<Context.Context<never>, never, Scope.Scope>

// `result` with each content's URI as the endpoint serves it.
function readResult(
  naming: Naming,
  server: string,
  result: McpSchema.ReadResourceResult
): McpSchema.ReadResourceResult {
  return naming === "own" ? result : {
    ...result,
    contents: result.contents.map((content) => ({ ...content, uri: servedUri(naming, server, content.uri) }))
  }
}

// The read of `uri` (as served) from `upstream`, its contents' URIs as served, through `guard`.
function read(naming: Naming, upstream: Upstreams.Upstream, guard: Guard, uri: string) {
  return upstream.request("resources/read", { uri: ownUri(naming, upstream.name, uri) }, McpSchema.ReadResourceResult)
    .pipe(
      Effect.map((result) => readResult(naming, upstream.name, result)),
      Effect.mapError((error) => failed(upstream.name, error)),
      Effect.flatMap((result) => guard.check("toolResult", result, "contents", "the resource's contents")),
      Effect.map((checked) => checked as McpSchema.ReadResourceResult)
    )
}

/** What a client's `completion/complete` gives of the other arguments already chosen. */
type CompletionContext = typeof McpSchema.Complete.payloadSchema.Type["context"]

// The names of the variables of `uriTemplate` (those `routerPath` matches), in their order.
function variables(uriTemplate: string): ReadonlyArray<string> {
  return [...uriTemplate.matchAll(expression)].map((match) => match[2]!)
}

/**
 * The completion of each of `names` (a prompt's arguments, a template's variables) by `upstream`, of `ref` as the
 * server names it; none from a server that does not complete. The registration of the prompt or template holds
 * these, so a client completes only what it may list, as `McpServer` asks visibility of a completion too.
 */
function completions(
  upstream: Upstreams.Upstream,
  guard: Guard,
  ref: McpSchema.PromptReference | McpSchema.ResourceReference,
  names: ReadonlyArray<string>
) {
  const complete = (name: string) => (value: string, context: CompletionContext) =>
    Effect.gen(function*() {
      // The value and the other arguments' values are the client's; the argument's name is the server's own.
      const asked = (yield* guard.check(
        "toolArguments",
        { value, ...(Object.keys(context?.arguments ?? {}).length === 0 ? {} : { context }) },
        "params",
        "the completion's arguments"
      )) as { readonly value: string; readonly context?: CompletionContext }
      const result = yield* upstream.request(
        "completion/complete",
        { ref, argument: { name, value: asked.value }, ...definedFields({ context: asked.context }) },
        McpSchema.CompleteResult
      ).pipe(
        Effect.catchIf(
          (error) => error._tag === "McpClientError" && isMethodNotFound(error),
          () => Effect.succeed(McpSchema.CompleteResult.empty)
        ),
        Effect.mapError((error) => failed(upstream.name, error))
      )
      return (yield* guard.check("toolResult", result, "completion", "the completions")) as McpSchema.CompleteResult
    })
  return Object.fromEntries(names.map((name) => [name, complete(name)]))
}

// The get of prompt `prompt` from `upstream`, its arguments and messages through `guard`.
const get = Effect.fnUntraced(function*(
  upstream: Upstreams.Upstream,
  guard: Guard,
  prompt: string,
  params: Readonly<Record<string, string>>
) {
  const args = yield* guard.check("toolArguments", params, "arguments", "the prompt's arguments")
  const result = yield* upstream.request("prompts/get", { name: prompt, arguments: args }, McpSchema.GetPromptResult)
    .pipe(Effect.mapError((error) => failed(upstream.name, error)))
  const checked = yield* guard.check("toolResult", result, "prompt", "the prompt's messages")
  return checked === result ? result : new McpSchema.GetPromptResult(checked as McpSchema.GetPromptResult)
})

/**
 * Registers the resources, templates and prompts of `listing` of `upstream` on `server`, named as `naming` says, each
 * behind `gate` of its qualified name. A template whose URIs cannot be matched (`routerPath`) is logged and left out,
 * before `McpServer` is given it.
 */
export const register = Effect.fnUntraced(function*(
  server: McpServer.McpServer["Service"],
  upstream: Upstreams.Upstream,
  listing: Upstreams.Listing,
  naming: Naming,
  gate: Gate,
  guard: Guard
) {
  const name = upstream.name
  for (const resource of listing.resources) {
    const uri = servedUri(naming, name, resource.uri)
    yield* server.addResource({
      resource: new McpSchema.Resource({ ...resource, uri, name: servedName(naming, name, resource.name) }),
      annotations: Context.empty(),
      services: yield* gate(name, { kind: "resource", value: resource }),
      handle: read(naming, upstream, guard, uri)
    })
  }
  for (const template of listing.templates) {
    const uriTemplate = servedUri(naming, name, template.uriTemplate)
    const path = routerPath(uriTemplate)
    if (path === undefined) {
      yield* Effect.logWarning(
        `Gateway: the MCP server ${name}'s resource template ${template.name} (${template.uriTemplate}) cannot be ` +
          "matched by the gateway (only {name}, and {+name} or {name*} at the end, in a path its router takes); it " +
          "is not served"
      )
      continue
    }
    yield* server.addResourceTemplate({
      template: new McpSchema.ResourceTemplate({
        ...template,
        uriTemplate,
        name: servedName(naming, name, template.name)
      }),
      annotations: Context.empty(),
      services: yield* gate(name, { kind: "template", value: template }),
      routerPath: path,
      completions: completions(
        upstream,
        guard,
        McpSchema.ResourceReference.make({ type: "ref/resource", uri: template.uriTemplate }),
        variables(template.uriTemplate)
      ),
      // Its gate let only a URI that stays within the template through: it is read in its normal form.
      handle: (uri) => read(naming, upstream, guard, normalUri(uri))
    })
  }
  for (const prompt of listing.prompts) {
    yield* server.addPrompt({
      prompt: new McpSchema.Prompt({ ...prompt, name: servedName(naming, name, prompt.name) }),
      annotations: Context.empty(),
      services: yield* gate(name, { kind: "prompt", value: prompt }),
      completions: completions(
        upstream,
        guard,
        McpSchema.PromptReference.make({ type: "ref/prompt", name: prompt.name }),
        (prompt.arguments ?? []).map((argument) => argument.name)
      ),
      handle: (params) => get(upstream, guard, prompt.name, params)
    })
  }
})
