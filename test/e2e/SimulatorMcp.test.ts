/**
 * The simulator's MCP endpoint (`/mcp`) with the official SDK's client over loopback: its three tools, and each fault
 * `x-simulator-mcp-fault` chooses observed from the client's side, on both of the simulator's servers.
 */
import { expect, it } from "@effect/vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { weatherDescriptions, weatherOf } from "../../src/internal/simulator/mcp.js"
import * as Simulator from "../../src/simulator/Simulator.js"

// The official SDK's client on the simulator's MCP endpoint, with a fault header when given, closed with the scope.
function sdkClient(url: string, fault?: string) {
  return Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Client({ name: "simulator-mcp-e2e", version: "1.0.0" })
      const headers: Record<string, string> = fault === undefined ? {} : { [Simulator.mcpFaultHeader]: fault }
      await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } }))
      return client
    }),
    (client) => Effect.promise(() => client.close())
  )
}

function call(client: Client, name: string, args: Record<string, unknown>) {
  return Effect.promise(() => client.callTool({ name, arguments: args }))
}

// What a call that must fail rejects with (a call that succeeds fails the test).
function rejection(client: Client, name: string, args: Record<string, unknown>) {
  return Effect.promise(() =>
    client.callTool({ name, arguments: args }).then(
      () => Promise.reject(new Error(`expected ${name} to fail`)),
      (error: unknown) => String(error)
    )
  )
}

function descriptions(client: Client) {
  return Effect.promise(() => client.listTools()).pipe(
    Effect.map((list) => Object.fromEntries(list.tools.map((tool) => [tool.name, tool.description])))
  )
}

for (const server of ["node", "platform"] as const) {
  it.live(`${server} server: add, echo and weather listed and answered, the same answer every time`, () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ server })
      const client = yield* sdkClient(sim.url)
      expect(Object.keys(yield* descriptions(client)).sort()).toEqual(["add", "echo", "weather"])
      const sum = yield* call(client, "add", { a: 2, b: 3.5 })
      expect(sum.isError ?? false).toBe(false)
      expect(sum.structuredContent).toEqual({ sum: 5.5 })
      expect((yield* call(client, "echo", { text: "héllo" })).structuredContent).toEqual({ text: "héllo" })
      const lisbon = yield* call(client, "weather", { city: "Lisbon" })
      expect(lisbon.structuredContent).toEqual(weatherOf("Lisbon"))
      expect((yield* call(client, "weather", { city: "Lisbon" })).structuredContent).toEqual(lisbon.structuredContent)
      expect(weatherOf("Oslo")).not.toEqual({ ...weatherOf("Lisbon"), city: "Oslo" })
    }).pipe(Effect.scoped))

  it.live(`${server} server: slow=<ms> answers after that long`, () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ server })
      const client = yield* sdkClient(sim.url, "slow=400")
      const start = yield* Clock.currentTimeMillis
      const sum = yield* call(client, "add", { a: 1, b: 1 })
      const took = (yield* Clock.currentTimeMillis) - start
      expect(sum.structuredContent).toEqual({ sum: 2 })
      expect(took).toBeGreaterThanOrEqual(400)
    }).pipe(Effect.scoped))

  it.live(`${server} server: error answers an isError result naming the tool`, () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ server })
      const client = yield* sdkClient(sim.url, "error")
      const failed = yield* call(client, "weather", { city: "Lisbon" })
      expect(failed.isError).toBe(true)
      expect(JSON.stringify(failed.content)).toContain("the weather tool failed")
      expect(failed.structuredContent).toBeUndefined()
    }).pipe(Effect.scoped))

  it.live(`${server} server: drop resets the connection mid-call; the next call is answered`, () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ server })
      const dropping = yield* sdkClient(sim.url, "drop")
      const message = yield* rejection(dropping, "echo", { text: "lost" })
      expect(message).toMatch(/fetch failed|terminated|socket|ECONNRESET|other side closed/i)
      const stats = yield* sim.stats
      expect(stats.clientClosed).toBe(0)
      const client = yield* sdkClient(sim.url)
      expect((yield* call(client, "echo", { text: "kept" })).structuredContent).toEqual({ text: "kept" })
    }).pipe(Effect.scoped))

  it.live(`${server} server: a list carrying drift is answered as before; every later list has weather's other description`, () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ server })
      const plain = yield* sdkClient(sim.url)
      expect((yield* descriptions(plain)).weather).toBe(weatherDescriptions.before)
      const drifting = yield* sdkClient(sim.url, "drift")
      const first = yield* descriptions(drifting)
      expect(first.weather).toBe(weatherDescriptions.before)
      expect(first.add).toBe("Adds two numbers.")
      expect((yield* descriptions(drifting)).weather).toBe(weatherDescriptions.after)
      expect((yield* descriptions(plain)).weather).toBe(weatherDescriptions.after)
      // The tool under its new description still answers, and reads each call's own fault.
      expect((yield* call(plain, "weather", { city: "Oslo" })).structuredContent).toEqual(weatherOf("Oslo"))
      const erring = yield* sdkClient(sim.url, "error")
      expect((yield* call(erring, "weather", { city: "Oslo" })).isError).toBe(true)
    }).pipe(Effect.scoped))
}

it.live("an invalid fault value is an isError result naming the header and what was wrong", () =>
  Effect.gen(function*() {
    const sim = yield* Simulator.make()
    const client = yield* sdkClient(sim.url, "slow=soon")
    const failed = yield* call(client, "add", { a: 1, b: 2 })
    expect(failed.isError).toBe(true)
    const text = JSON.stringify(failed.content)
    expect(text).toContain(Simulator.mcpFaultHeader)
    expect(text).toContain("slow")
    expect(text).toContain("soon")
  }).pipe(Effect.scoped))

it("decodeMcpFault reads every fault and names what is wrong", () => {
  expect(Simulator.decodeMcpFault("slow=250")).toEqual(Result.succeed({ _tag: "Slow", ms: 250 }))
  expect(Simulator.decodeMcpFault(" error ")).toEqual(Result.succeed({ _tag: "Error" }))
  expect(Simulator.decodeMcpFault("drop")).toEqual(Result.succeed({ _tag: "Drop" }))
  expect(Simulator.decodeMcpFault("drift")).toEqual(Result.succeed({ _tag: "Drift" }))
  expect(Simulator.decodeMcpFault("slow=-1")).toEqual(
    Result.fail(`"slow" needs milliseconds (an integer, 0 or more), got "-1"`)
  )
  expect(Simulator.decodeMcpFault("reset=1")).toEqual(
    Result.fail(`unknown MCP fault "reset=1": expected slow=<ms>, error, drop or drift`)
  )
})

it("the deprecated parseMcpFault answers as before: the fault, or the reason as a string", () => {
  expect(Simulator.parseMcpFault("slow=250")).toEqual({ _tag: "Slow", ms: 250 })
  expect(Simulator.parseMcpFault("slow=soon")).toBe(`"slow" needs milliseconds (an integer, 0 or more), got "soon"`)
})

it("decodeMcpFault over its whole domain: slow takes every integer of milliseconds, anything else is named", () => {
  fc.assert(fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), (ms) => {
    expect(Simulator.decodeMcpFault(`slow=${ms}`)).toEqual(Result.succeed({ _tag: "Slow", ms }))
  }))
  const valid = (value: string) => {
    const match = /^\s*(?:error|drop|drift|slow\s*=\s*(\d+))\s*$/.exec(value)
    return match !== null && (match[1] === undefined || Number.isSafeInteger(Number(match[1])))
  }
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.constantFrom("error", " drop", "drift ", "slow = 7", "slow=")), (value) => {
      const decoded = Simulator.decodeMcpFault(value)
      if (valid(value)) expect(Result.isSuccess(decoded)).toBe(true)
      else {
        expect(Result.isFailure(decoded)).toBe(true)
        expect(Result.merge(decoded)).toContain(value.trim().startsWith("slow") ? "slow" : value.trim())
      }
    })
  )
})
