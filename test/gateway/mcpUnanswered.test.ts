/**
 * The call of a tool of a server not answered since the start (`internal/gateway/mcp/unanswered.ts`), over its whole
 * domain: any server names the configuration takes, any tool name, any request id, the JSON written with any
 * whitespace; told only for a `tools/call` of a waiting server's qualified name that the caller's rule allows.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Allow from "../../src/internal/gateway/access/tools.js"
import * as Unanswered from "../../src/internal/gateway/mcp/unanswered.js"
import { isServerName } from "../../src/internal/gatewayConfig/mcpServerNames.js"

const serverName = fc.stringMatching(/^[A-Za-z0-9]{1,6}(?:[-_][A-Za-z0-9]{1,4}){0,2}$/).filter(isServerName)
const requestId = fc.oneof(fc.integer(), fc.string())
// JSON's whitespace between tokens: any of its four characters, any number of them.
const whitespace = fc.string({ unit: fc.constantFrom(" ", "\t", "\n", "\r"), maxLength: 3 })

// `value` as JSON with `space` around every token (strings and numbers written by `JSON.stringify`).
function spaced(value: unknown, space: string): string {
  if (typeof value !== "object" || value === null) return `${space}${JSON.stringify(value)}${space}`
  const fields = Object.entries(value).map(([field, inner]) => `${spaced(field, space)}:${spaced(inner, space)}`)
  return `${space}{${fields.join(",")}}${space}`
}

describe("a call of a tool of a server not answered since the start", () => {
  it("is told for a waiting server's tool the rule allows, and for nothing else", () =>
    fc.assert(
      fc.property(
        fc.uniqueArray(serverName, { minLength: 1, maxLength: 4 }),
        fc.nat(3),
        fc.string(),
        requestId,
        fc.boolean(),
        whitespace,
        (servers, pick, tool, id, allowed, space) => {
          const server = servers[pick % servers.length]!
          const waiting = servers.filter((_, i) => i !== 0)
          const name = Allow.qualified(server, tool)
          const text = spaced({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {} } }, space)
          const call = Unanswered.callOf(text, waiting, allowed ? Allow.everything : Allow.nothing)
          // The server a name is of is the one whose name and the separator begin it: no other's name and the
          // separator can (a server's name holds no `__` and ends in no `_`).
          if (allowed && waiting.includes(server)) expect(call).toEqual({ id, server, name })
          else expect(call).toBeUndefined()
        }
      )
    ))

  it("is not told for another method, a name of no server, or a request that is not one", () => {
    const call = (value: unknown) => Unanswered.callOf(JSON.stringify(value), ["calc"], Allow.everything)
    expect(call({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { name: "calc__add" } })).toBeUndefined()
    expect(call({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "calculator__add" } })).toBeUndefined()
    expect(call({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "calc_add" } })).toBeUndefined()
    expect(call({ jsonrpc: "2.0", method: "tools/call", params: { name: "calc__add" } })).toBeUndefined()
    expect(call({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: 7 } })).toBeUndefined()
    expect(call([{ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "calc__add" } }])).toBeUndefined()
    expect(Unanswered.callOf("{\"method\":\"tools/call\",", ["calc"], Allow.everything)).toBeUndefined()
    // JSON may escape the method's `/`.
    const escaped = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools\\/call\",\"params\":{\"name\":\"calc__add\"}}"
    expect(Unanswered.callOf(escaped, ["calc"], Allow.everything)).toEqual({ id: 1, server: "calc", name: "calc__add" })
    expect(call({ jsonrpc: "2.0", id: "a", method: "tools/call", params: { name: "calc__add" } })).toEqual({
      id: "a",
      server: "calc",
      name: "calc__add"
    })
  })

  it("answers under the code of a tool not found, naming the tool and its server", async () => {
    const response = Unanswered.answer({ id: 4, server: "calc", name: "calc__add" })
    expect(response.status).toBe(200)
    const body = response.body
    expect(body._tag).toBe("Uint8Array")
    const json = JSON.parse(new TextDecoder().decode((body as { readonly body: Uint8Array }).body))
    expect(json).toEqual({
      jsonrpc: "2.0",
      id: 4,
      error: {
        code: -32602,
        message: "Tool 'calc__add' is of the MCP server calc, which has not answered since the gateway started; its " +
          "tools are served once it answers: try again shortly"
      }
    })
  })
})
