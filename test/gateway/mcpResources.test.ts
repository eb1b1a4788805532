/**
 * How the gateway matches the URIs of an upstream's resource templates (`internal/gateway/mcp/resources.ts`): an RFC
 * 6570 template as the path `McpServer` matches (find-my-way's syntax), and the URIs `/mcp` serves a server's
 * resources under. The reads themselves are `test/e2e/GatewayMcpProtocol.test.ts`'s.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Resources from "../../src/internal/gateway/mcp/resources.js"

describe("MCP resource templates", () => {
  it("a simple {name} is one segment, {+name} or {name*} at the end the rest, a literal colon doubled", () => {
    expect(Resources.routerPath("file:///{path}")).toBe("file::///:0")
    expect(Resources.routerPath("mcp://files/file:///notes/{name}")).toBe("mcp:://files/file::///notes/:0")
    expect(Resources.routerPath("repo://{owner}/{repo}/tree/{+path}")).toBe("repo:://:0/:1/tree/*")
    expect(Resources.routerPath("logs://{day}/{lines*}")).toBe("logs:://:0/*")
    expect(Resources.routerPath("memo://today")).toBe("memo:://today")
  })

  it("any other expression, or the rest before the end, is not matched (undefined)", () => {
    for (const template of ["x://{+a}/b", "x://a{?q}", "x://a{#f}", "x://{/p}", "x://{a", "x://a}", "x://*"]) {
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
    const literal = fc.string({ unit: fc.constantFrom("a", "/", ":", ".", "-", "(", "[", "+", "?", "$"), maxLength: 6 })
    const segment = fc.string({ unit: fc.constantFrom("x", "y", ".", ":", "%", "*"), minLength: 1, maxLength: 5 })
    fc.assert(fc.property(
      fc.array(fc.tuple(literal, segment), { minLength: 1, maxLength: 4 }),
      fc.string({ maxLength: 8 }),
      (parts, rest) => {
        const template = parts.map(([part], index) => index === 0 ? part : `{v${index}}${part}`).join("")
        const uri = parts.map(([part, value], index) => (index === 0 ? "" : value) + part).join("")
        expect(Resources.matches(template, uri), `${template} ${uri}`).toBe(true)
        expect(Resources.matches(`${template}{+tail}`, uri + rest)).toBe(true)
      }
    ))
    expect(Resources.matches("file:///notes/{name}", "file:///notes/a.md")).toBe(true)
    expect(Resources.matches("file:///notes/{name}", "file:///notes/a/b.md")).toBe(false)
    expect(Resources.matches("file:///notes/{name}", "file:///notes/")).toBe(false)
    expect(Resources.matches("file:///notes/{name}", "file:///other/a.md")).toBe(false)
    expect(Resources.matches("file:///notes/{+path}", "file:///notes/a/b.md")).toBe(true)
    expect(Resources.matches("file:///a.b/{name}", "file:///aXb/c")).toBe(false)
    // A template the gateway does not serve matches nothing.
    expect(Resources.matches("search://{?q}", "search://?q=a")).toBe(false)
  })

  it("/mcp serves a server's resource URI under mcp://<server>/, whatever the URI", () => {
    expect(Resources.qualifiedUri("files", "file:///a.txt")).toBe("mcp://files/file:///a.txt")
    fc.assert(fc.property(fc.string(), (uri) => {
      expect(Resources.qualifiedUri("docs", uri).slice("mcp://docs/".length)).toBe(uri)
    }))
  })
})
