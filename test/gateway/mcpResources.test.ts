/**
 * How the gateway matches the URIs of an upstream's resource templates (`internal/gateway/mcp/resources.ts`): an RFC
 * 6570 template as the path `McpServer` matches (find-my-way's syntax), the template a read of a URI goes through (as a
 * real `McpServer` reads it), and the URIs `/mcp` serves a server's resources under (one that does not say its server
 * is of no resource, though `McpServer`'s router takes it), and the URI a template's read sends (its normal form, and
 * none that leaves the template however it is spelled: dot segments, escaped separators, queries, fragments). The
 * reads themselves are
 * `test/e2e/GatewayMcpProtocol.test.ts`'s.
 */
import { describe, expect, it } from "@effect/vitest"
import * as McpSchema from "effect/ai/McpSchema"
import * as McpServer from "effect/ai/McpServer"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Resources from "../../src/internal/gateway/mcp/resources.js"
import * as Upstreams from "../../src/internal/gateway/mcp/upstream.js"

// The one client the reads below are made for, as `McpServer` names a client to its handlers; it is asked nothing.
const client = McpSchema.McpServerClient.of({
  clientId: 1,
  protocolVersion: "2025-06-18",
  clientCapabilities: {},
  clientInfo: { name: "test", version: "1" },
  initializePayload: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "test", version: "1" } },
  getClient: Effect.die("the reads here ask the client nothing")
})

// `uriTemplate` registered on `server` as the gateway registers a template (named by it), each read answering it.
const registered = (server: McpServer.McpServer["Service"], uriTemplate: string, routerPath: string) =>
  server.addResourceTemplate({
    template: new McpSchema.ResourceTemplate({ name: uriTemplate, uriTemplate }),
    annotations: Context.empty(),
    routerPath,
    completions: {},
    handle: (uri) => Effect.succeed(McpSchema.ReadResourceResult.make({ contents: [{ uri, text: uriTemplate }] }))
  })

// The template `server` reads `uri` through: the one that answered its read, none when it was not read.
const readBy = (server: McpServer.McpServer["Service"], uri: string) =>
  Effect.map(
    Effect.option(Effect.provideService(server.findResource(uri), McpSchema.McpServerClient, client)),
    (read) => read._tag === "Some" ? (read.value.contents[0] as { readonly text: string }).text : undefined
  )

// Each of `templates` registered on a real `McpServer` (as the gateway registers them: those `routerPath` serves), each
// read answering its own template; then each of `uris` read, and the template that answered (or none) compared with
// the one `readThrough` picks of what the server holds.
const agreesWithRead = Effect.fnUntraced(function*(templates: ReadonlyArray<string>, uris: ReadonlyArray<string>) {
  const server = yield* McpServer.McpServer.make
  for (const uriTemplate of templates) {
    const routerPath = Resources.routerPath(uriTemplate)
    // A path the router refuses has none: each one given registers.
    if (routerPath !== undefined) yield* registered(server, uriTemplate, routerPath)
  }
  for (const uri of uris) {
    const answered = yield* readBy(server, uri)
    expect(Resources.readThrough(server.resourceTemplates, uri)?.uriTemplate, `${uri} of ${templates}`).toBe(answered)
  }
})

describe("MCP resource templates", () => {
  it("a simple {name} is one segment, {+name} or {name*} at the end the rest, a literal colon doubled", () => {
    expect(Resources.routerPath("file:///{path}")).toBe("file::///:0")
    expect(Resources.routerPath("mcp://files/file:///notes/{name}")).toBe("mcp:://files/file::///notes/:0")
    expect(Resources.routerPath("repo://{owner}/{repo}/tree/{+path}")).toBe("repo:://:0/:1/tree/*")
    expect(Resources.routerPath("logs://{day}/{lines*}")).toBe("logs:://:0/*")
    expect(Resources.routerPath("memo://today")).toBe("memo:://today")
  })

  it("any other expression, the rest before the end, or a path the router refuses, is not matched (undefined)", () => {
    for (
      const template of ["x://{+a}/b", "x://a{?q}", "x://a{#f}", "x://{/p}", "x://{a", "x://a}", "x://*", "x://{a}(b"]
    ) {
      expect(Resources.routerPath(template), template).toBeUndefined()
    }
  })

  it("a template of literals and {name}s: each literal kept (colons doubled), each expression a numbered segment", () => {
    const literal = fc.string({ unit: fc.constantFrom("a", "/", ":", ".", "-", "_"), maxLength: 6 })
    fc.assert(fc.property(fc.array(literal, { minLength: 1, maxLength: 4 }), (literals) => {
      const template = literals.map((part, index) => index === 0 ? part : `{v${index}}${part}`).join("")
      const path = literals.map((part, index) => (index === 0 ? "" : `:${index - 1}`) + part.replaceAll(":", "::"))
        .join("")
      expect(Resources.routerPath(template)).toBe(path)
    }))
  })

  it("a URI made by filling a template's expressions is one of its URIs; what a segment cannot hold is not", () => {
    const literal = fc.string({ unit: fc.constantFrom("a", "/", ":", ".", "-", "_", "~"), maxLength: 6 })
    const segment = fc.string({ unit: fc.constantFrom("x", "y", ".", ":", "%41", "*"), minLength: 1, maxLength: 5 })
    fc.assert(fc.property(
      fc.array(fc.tuple(literal, segment), { minLength: 1, maxLength: 4 }),
      fc.string({ unit: fc.constantFrom("x", "/", ".", ":"), maxLength: 8 }),
      (parts, rest) => {
        const template = `x://${parts.map(([part], index) => index === 0 ? part : `{v${index}}/${part}`).join("")}`
        const uri = `x://${parts.map(([part, value], index) => (index === 0 ? "" : `${value}/`) + part).join("")}`
        expect(Resources.matches(template, uri), `${template} ${uri}`).toBe(true)
        expect(Resources.matches(`${template}{+tail}`, `${uri}y${rest}`), `${template} ${uri}y${rest}`).toBe(true)
      }
    ))
    expect(Resources.matches("file:///notes/{name}", "file:///notes/a.md")).toBe(true)
    expect(Resources.matches("file:///notes/{name}", "file:///notes/a/b.md")).toBe(false)
    expect(Resources.matches("file:///notes/{name}", "file:///notes/")).toBe(false)
    expect(Resources.matches("file:///notes/{name}", "file:///other/a.md")).toBe(false)
    expect(Resources.matches("file:///notes/{+path}", "file:///notes/a/b.md")).toBe(true)
    expect(Resources.matches("file:///a.b/{name}", "file:///aXb/c")).toBe(false)
    // A template the gateway does not serve matches nothing, nor one the router refuses (`(` after a variable).
    expect(Resources.matches("search://{?q}", "search://?q=a")).toBe(false)
    expect(Resources.matches("x://{a}(", "x://b(")).toBe(false)
  })

  it.effect("a URI's template is the one McpServer's resources/read reads it through, whatever the templates", () => {
    // Overlapping templates: a few literals and variables over one scheme, so that several often match one URI.
    const part = fc.constantFrom("a", "b", "/", ".", "-", ":", "(", "{v}", "{w}")
    const template = fc.tuple(fc.array(part, { maxLength: 5 }), fc.constantFrom("", "{+rest}", "{tail*}", "{?q}"))
      .map(([parts, end]) => `x://${parts.join("")}${end}`)
    const uri = fc.array(fc.constantFrom("a", "b", "c", "/", ".", "-", ":", "(", "?", "#", "%2F"), { maxLength: 7 })
      .map((parts) => `x://${parts.join("")}`)
    return Effect.promise(() =>
      fc.assert(fc.asyncProperty(
        fc.uniqueArray(template, { minLength: 1, maxLength: 6 }),
        fc.array(uri, { minLength: 1, maxLength: 8 }),
        (templates, uris) => Effect.runPromise(Effect.scoped(agreesWithRead(templates, uris)))
      ))
    )
  })

  it.effect("a listing's templates are found in the order first registered, a resource before them, as read", () =>
    Effect.gen(function*() {
      const [own, mcp] = [yield* McpServer.McpServer.make, yield* McpServer.McpServer.make]
      const files = new McpSchema.ResourceTemplate({ name: "files", uriTemplate: "file:///{+path}" })
      const logs = new McpSchema.ResourceTemplate({ name: "logs", uriTemplate: "file:///logs/{name}" })
      const readme = new McpSchema.Resource({ name: "readme", uri: "file:///logs/README" })
      // Listed `files` alone first, then `logs` before it: `files` keeps the first place.
      for (const listed of [[files], [logs, files]]) {
        for (const template of listed) {
          const served = Resources.qualifiedUri("docs", template.uriTemplate)
          yield* registered(own, template.uriTemplate, Resources.routerPath(template.uriTemplate)!)
          yield* registered(mcp, served, Resources.routerPath(served)!)
        }
      }
      const listing = { ...Upstreams.unlisted, resources: [readme], templates: [logs, files] }
      const subject = (naming: Resources.Naming, uri: string, of = listing) =>
        Resources.readSubject(naming === "own" ? own : mcp, naming, "docs", of, uri)
      expect(subject("own", "file:///logs/a.md")).toEqual({ kind: "template", value: files })
      expect(yield* readBy(own, "file:///logs/a.md")).toBe("file:///{+path}")
      expect(subject("qualified", "mcp://docs/file:///logs/a.md")).toEqual({ kind: "template", value: files })
      expect(yield* readBy(mcp, "mcp://docs/file:///logs/a.md")).toBe("mcp://docs/file:///{+path}")
      // `files` no longer listed still comes first (its gate refuses it, so the read is refused): nothing is found.
      expect(subject("own", "file:///logs/a.md", { ...listing, templates: [logs] })).toBeUndefined()
      // A resource of the URI comes before the templates.
      expect(subject("own", "file:///logs/README")).toEqual({ kind: "resource", value: readme })
      expect(subject("qualified", "mcp://docs/file:///logs/README")).toEqual({ kind: "resource", value: readme })
      expect(subject("own", "file:///other/a.md")).toEqual({ kind: "template", value: files })
      expect(subject("qualified", "mcp://other/file:///logs/a.md")).toBeUndefined()
      // McpServer's router ignores repeated slashes, so it reads a URI that does not say its server through `files`;
      // the gateway finds nothing there (its gate refuses the read).
      expect(yield* readBy(mcp, "mcp:/docs/file:///logs/a.md")).toBe("mcp://docs/file:///{+path}")
      expect(subject("qualified", "mcp:/docs/file:///logs/a.md")).toBeUndefined()
    }))

  it("a template's read sends a URI's normal form, and none that leaves the template, however it is spelled", () => {
    // The templates as each endpoint serves them, with the part of their URIs they fix and the last expression's kind.
    const templates = [
      { template: "file:///notes/{name}", fixed: "file:///notes/", rest: false },
      { template: "file:///docs/{+path}", fixed: "file:///docs/", rest: true },
      { template: "mcp://files/file:///notes/{name}", fixed: "mcp://files/file:///notes/", rest: false },
      { template: "repo://{owner}/{path*}", fixed: "repo://", rest: true }
    ]
    // The spellings of a segment: a name (its characters escaped or not), a dot segment in any spelling, a separator
    // escaped inside a value.
    const name = fc.string({ unit: fc.constantFrom("a", "b", "-", "_", "~", ".md"), minLength: 1, maxLength: 4 })
      .filter((text) => text !== "." && text !== "..")
    const escaped = (text: string, escape: ReadonlyArray<boolean>) =>
      [...text].map((char, index) =>
        escape[index % escape.length] === true
          ? `%${char.charCodeAt(0).toString(16)[escape.length % 2 === 0 ? "toUpperCase" : "toLowerCase"]()}`
          : char
      ).join("")
    const dots = fc.constantFrom("..", ".", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%2e", "%2E")
    const separated = fc.constantFrom("..%2F", "..%2f", "%2e%2e%2f", "..%5C", "..%5c", "..\\", "a%2Fb", "%2F")
    const segment = fc.oneof(
      { arbitrary: fc.tuple(name, fc.array(fc.boolean(), { minLength: 1, maxLength: 3 })), weight: 3 },
      { arbitrary: fc.tuple(dots, fc.constant([false])), weight: 2 },
      { arbitrary: fc.tuple(separated, fc.constant([false])), weight: 1 }
    ).map(([text, escape]) => escaped(text, escape))
    const tail = fc.constantFrom("", "", "", "?x=1", "#top", "?", "#", "?a#b")
    const isDot = (part: string) => /^(?:\.|%2e){1,2}$/i.test(part)
    fc.assert(
      fc.property(
        fc.constantFrom(...templates),
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        tail,
        ({ fixed, rest, template }, segments, end) => {
          const uri = `${fixed}${segments.join("/")}${end}`
          const sent = Resources.throughTemplate(template, uri)
          // Plain segments, no query or fragment: one of the template's URIs (a simple expression takes one segment, a
          // rest takes them all), sent with its escapes of unreserved characters decoded.
          const plain = end === "" && segments.every((part) => !isDot(part) && !/%2f|%5c|\\/i.test(part)) &&
            (rest || segments.length === 1 || template.startsWith("repo://"))
          if (plain && Resources.matches(template, uri)) expect(sent, uri).toBe(Resources.normalUri(uri))
          if (sent === undefined) return
          // What is sent is in normal form, within what the template fixes, one of its URIs, and carries no dot
          // segment, no escaped separator, no query and no fragment.
          expect(Resources.normalUri(sent), uri).toBe(sent)
          expect(sent.startsWith(fixed), uri).toBe(true)
          expect(Resources.matches(template, sent), uri).toBe(true)
          expect(sent.slice(fixed.length).split("/").some(isDot), uri).toBe(false)
          expect(/%2f|%5c|\\|[?#]/i.test(sent), uri).toBe(false)
          // Unreserved characters are one character however spelled: the read is the one of the decoded spelling.
          expect(Resources.throughTemplate(template, Resources.normalUri(uri)), uri).toBe(sent)
        }
      ),
      { numRuns: 2000 }
    )
    // The spellings the gateway used to pass on as written.
    for (
      const uri of [
        "file:///notes/..%2Fsecret.md",
        "file:///notes/%2e%2e/secret.md",
        "file:///notes/a.md?raw=1",
        "file:///notes/a.md#top",
        "file:///docs/../etc/passwd",
        "file:///docs/%2E%2E/%2e%2e/etc/passwd",
        "file:///docs/a/..%2F..%2F..%2Fetc%2Fpasswd"
      ]
    ) {
      const template = uri.startsWith("file:///notes/") ? "file:///notes/{name}" : "file:///docs/{+path}"
      expect(Resources.throughTemplate(template, uri), uri).toBeUndefined()
    }
    expect(Resources.throughTemplate("file:///notes/{name}", "file:///notes/%61.md")).toBe("file:///notes/a.md")
    expect(Resources.throughTemplate("file:///docs/{+path}", "file:///docs/a/./b/../c.md")).toBe("file:///docs/a/c.md")
  })

  it("/mcp serves a server's resource URI under mcp://<server>/, whatever the URI", () => {
    expect(Resources.qualifiedUri("files", "file:///a.txt")).toBe("mcp://files/file:///a.txt")
    fc.assert(fc.property(fc.string(), (uri) => {
      expect(Resources.qualifiedUri("docs", uri).slice("mcp://docs/".length)).toBe(uri)
    }))
  })
})
