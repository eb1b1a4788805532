/**
 * A few hundred bytes of schema whose `$defs` refer to one another three
 * times over would expand to billions of nodes. Over a real gateway on
 * loopback: a Gemini deployment (whose codec inlines `$ref`s) refuses it with
 * a 400 naming the field the client sent, before anything is sent, and a
 * chat-completions deployment on the simulator (which writes a value for the
 * schema) answers it; an ordinary request sent alongside is answered too.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Gateway from "../../src/Gateway.js"
import { schemaNodeLimit } from "../../src/internal/jsonSchemaRef.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"

const key = "sk-schema-bound-e2e-0001"

/** Three references to `#/$defs/n` inside `n`: the schema. */
const n = { $ref: "#/$defs/n" }
const selfReferring = { $defs: { n: { type: "object", properties: { a: n, b: n, c: n } } }, $ref: "#/$defs/n" }

/** No recursion: `d0`..`d15`, each referring to the next three times, every property required. */
const layered = {
  $defs: Object.fromEntries<unknown>([
    ...Array.from({ length: 16 }, (_, level) => {
      const next = { $ref: `#/$defs/d${level + 1}` }
      const schema = { type: "object", properties: { a: next, b: next, c: next }, required: ["a", "b", "c"] }
      return [`d${level}`, schema] as const
    }),
    ["d16", { type: "string" }]
  ]),
  $ref: "#/$defs/d0"
}

const structured = (model: string, schema: unknown) => ({
  model,
  messages: [{ role: "user", content: "hi" }],
  response_format: { type: "json_schema", json_schema: { name: "x", schema } }
})

const withTool = (model: string, schema: unknown) => ({
  model,
  messages: [{ role: "user", content: "hi" }],
  tools: [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }, {
    type: "function",
    function: { name: "deep", parameters: schema }
  }]
})

interface ErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly param: string | null }
}

/** `body` POSTed to the gateway's chat completions; its status and JSON, within a hang guard. */
const post = (gateway: Gateway.Service, body: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return { status: response.status, json: await response.json() as unknown }
  }).pipe(Effect.timeout("5 seconds"))

class Served extends Context.Service<Served, {
  readonly gateway: Gateway.Service
  readonly simulator: Simulator.Simulator
}>()("test/GatewaySchemaBound") {}

const served = Layer.effect(
  Served,
  Effect.gen(function*() {
    const models = [...Simulator.defaultModels, "gemini-2.5-flash"]
    const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 4, models })
    const config = yield* ProviderConfig.fromJson({
      gem: [{
        model_name: "gemini-2.5-flash",
        api: "gemini",
        base_url: simulator.url,
        api_keys: [key],
        max_retries: 0
      }],
      sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key], max_retries: 0 }]
    })
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
    return { gateway, simulator }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const title = "a schema that expands without end, through the gateway"

layer(served, { timeout: 60_000, excludeTestServices: true })(title, (it) => {
  it.effect("Gemini: a 400 naming the schema, nothing sent; an ordinary request is answered alongside", () =>
    Effect.gen(function*() {
      const { gateway, simulator } = yield* Served
      expect(JSON.stringify(structured("gem/gemini-2.5-flash", selfReferring)).length).toBeLessThan(400)
      const before = (yield* simulator.stats).requests
      const [recursive, ordinary, wide, tool] = yield* Effect.all([
        post(gateway, structured("gem/gemini-2.5-flash", selfReferring)),
        post(gateway, { model: "gem/gemini-2.5-flash", messages: [{ role: "user", content: "hello" }] }),
        post(gateway, structured("gem/gemini-2.5-flash", layered)),
        post(gateway, withTool("gem/gemini-2.5-flash", selfReferring))
      ], { concurrency: "unbounded" })
      expect(ordinary.status).toBe(200)
      expect(recursive.status).toBe(400)
      expect((recursive.json as ErrorBody).error).toMatchObject({
        type: "invalid_request_error",
        param: "response_format.json_schema.schema",
        message: "response_format.json_schema.schema refers to itself through `#/$defs/n`; " +
          "Gemini's schema subset has no `$ref`, so it cannot state a recursive schema"
      })
      expect(wide.status).toBe(400)
      expect((wide.json as ErrorBody).error).toMatchObject({
        type: "invalid_request_error",
        param: "response_format.json_schema.schema",
        message: `response_format.json_schema.schema expands to more than ${schemaNodeLimit} schema nodes ` +
          "once its `$ref`s are inlined"
      })
      expect(tool.status).toBe(400)
      expect((tool.json as ErrorBody).error).toMatchObject({
        type: "invalid_request_error",
        param: "tools[1].function.parameters"
      })
      // Only the ordinary request reached the provider.
      expect((yield* simulator.stats).requests).toBe(before + 1)
    }))

  it.effect("chat completions on the simulator: a small value for the recursive schema, a 400 for the wide one", () =>
    Effect.gen(function*() {
      const { gateway } = yield* Served
      const [recursive, ordinary, wide] = yield* Effect.all([
        post(gateway, structured("sim/gpt-4o-mini", selfReferring)),
        post(gateway, { model: "sim/gpt-4o-mini", messages: [{ role: "user", content: "hello" }] }),
        post(gateway, structured("sim/gpt-4o-mini", layered))
      ], { concurrency: "unbounded" })
      expect(ordinary.status).toBe(200)
      expect(recursive.status).toBe(200)
      type Completion = { readonly choices: ReadonlyArray<{ readonly message: { readonly content: string } }> }
      const content = (recursive.json as Completion).choices[0]!.message.content
      // Each recursive occurrence is the smallest object the schema allows.
      expect(JSON.parse(content)).toEqual({ a: {}, b: {}, c: {} })
      expect(wide.status).toBe(400)
      const error = (wide.json as ErrorBody).error
      expect(error.type).toBe("invalid_request_error")
      expect(error.message).toContain(
        `Invalid schema for the response format: the schema expands to more than ${schemaNodeLimit} schema nodes`
      )
    }))
})
