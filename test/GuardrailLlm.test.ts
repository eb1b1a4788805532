/**
 * `Guardrail.layer` over `LlmTest` mock layers: what the request becomes before the call, what a reply and a stream
 * become after it, in each mode.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as ChatChunk from "../src/ChatChunk.js"
import * as Guardrail from "../src/Guardrail.js"
import * as LlmTest from "../src/LlmTest.js"
import * as Message from "../src/Message.js"
import { chunked, labelled } from "./fixtures/guardrails/labelled.js"

const email = "ada@example.com"
const secret = "AKIAIOSFODNN7EXAMPLE"

function guarded(guardrails: ReadonlyArray<Guardrail.Guardrail>, script: ReadonlyArray<LlmTest.Answer>) {
  const test = LlmTest.layer(script)
  return Layer.merge(Guardrail.layer(guardrails).pipe(Layer.provide(test)), test)
}

/** `reply`'s chunks, as a stream of it sends them, with its text in `pieces`. */
function chunksOf(pieces: ReadonlyArray<string>, toolCalls: ReadonlyArray<Message.ToolCall> = []) {
  const all = ChatChunk.fromResponse(LlmTest.reply(pieces.join(""), { toolCalls }))
  return [
    ...pieces.map((text): ChatChunk.ChatChunk => ({ _tag: "TextDelta", text })),
    ...all.filter((chunk) => chunk._tag !== "TextDelta")
  ]
}

const make = (options: Partial<Guardrail.Options>) =>
  Guardrail.make({ name: "pii", checks: [Guardrail.email, Guardrail.secrets], ...options })

describe("Guardrail.layer over LlmTest", () => {
  it.effect("mask on the request: every message's text rewritten before the call, images untouched", () =>
    Effect.gen(function*() {
      const pii = yield* make({ action: "mask", on: ["request"] })
      const layer = guarded([pii], [LlmTest.reply("ok")])
      const seen = yield* Effect.gen(function*() {
        yield* Guardrail.chat({
          messages: [
            Message.system(`Owner: ${email}`),
            Message.user([Message.text(`mine is ${email}`), Message.image("https://example.com/a.png")]),
            Message.assistant("", { toolCalls: [{ id: "c1", name: "send", arguments: `{"to":"${email}"}` }] }),
            Message.toolResult({ id: "c1", name: "send" }, `sent to ${email}`)
          ]
        })
        return yield* LlmTest.requests
      }).pipe(Effect.provide(layer))
      const [request] = seen
      expect(JSON.stringify(request)).not.toContain(email)
      expect(request!.messages[0]).toMatchObject({ content: "Owner: [REDACTED:email]" })
      expect(request!.messages[1]).toMatchObject({
        content: [{ type: "text", text: "mine is [REDACTED:email]" }, {
          type: "image",
          url: "https://example.com/a.png"
        }]
      })
      expect(request!.messages[2]).toMatchObject({ toolCalls: [{ arguments: `{"to":"[REDACTED:email]"}` }] })
      expect(request!.messages[3]).toMatchObject({ content: "sent to [REDACTED:email]" })
    }))

  it.effect("block on the request: GuardrailError, and the model never called", () =>
    Effect.gen(function*() {
      const noSecrets = yield* make({ name: "no-secrets" })
      const layer = guarded([noSecrets], [LlmTest.reply("ok")])
      const { error, seen } = yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Guardrail.chat({ messages: [Message.user(`key ${secret}`)] }))
        return { error, seen: yield* LlmTest.requests }
      }).pipe(Effect.provide(layer))
      expect(error).toMatchObject({ _tag: "GuardrailError", guardrail: "no-secrets", where: "request" })
      expect(error._tag === "GuardrailError" && error.reason).toBe("found AWS access key id")
      expect(seen).toEqual([])
    }))

  it.effect("a guardrail runs only where it is on", () =>
    Effect.gen(function*() {
      const replyOnly = yield* make({ on: ["reply"] })
      const layer = guarded([replyOnly], [LlmTest.reply("clean")])
      const reply = yield* Guardrail.chat({ messages: [Message.user(`key ${secret}`)] }).pipe(Effect.provide(layer))
      expect(reply.text).toBe("clean")
    }))

  it.effect("a whole reply: its text and its tool calls' arguments masked, or blocked", () =>
    Effect.gen(function*() {
      const pii = yield* make({ action: "mask" })
      const call = { id: "c1", name: "send", arguments: `{"to":"${email}"}` }
      const reply = yield* Guardrail.chat({ messages: [Message.user("hi")] }).pipe(
        Effect.provide(guarded([pii], [LlmTest.reply(`Mail ${email}`, { toolCalls: [call] })]))
      )
      expect(reply.text).toBe("Mail [REDACTED:email]")
      expect(reply.toolCalls).toEqual([{ ...call, arguments: `{"to":"[REDACTED:email]"}` }])
      const block = yield* make({ name: "block" })
      const error = yield* Effect.flip(
        Guardrail.chat({ messages: [Message.user("hi")] }).pipe(
          Effect.provide(guarded([block], [LlmTest.reply("clean", { toolCalls: [call] })]))
        )
      )
      expect(error).toMatchObject({ _tag: "GuardrailError", where: "reply", guardrail: "block" })
    }))

  it.effect("buffer: the stream's text, tool calls and usage held and released masked, in order, before Finish", () =>
    Effect.gen(function*() {
      const pii = yield* make({ action: "mask", mode: "buffer" })
      const call = { id: "c1", name: "send", arguments: `{"to":"${email}"}` }
      const script = [{ chunks: chunksOf(["Mail ada", "@exam", "ple.com now"], [call]) }]
      const chunks = yield* Guardrail.chatStream({ messages: [Message.user("hi")] }).pipe(
        Stream.runCollect,
        Effect.provide(guarded([pii], script))
      )
      expect(chunks.map((chunk) => chunk._tag)).toEqual(["TextDelta", "ToolCallDelta", "Usage", "Finish"])
      expect(chunks[0]).toEqual({ _tag: "TextDelta", text: "Mail [REDACTED:email] now" })
      expect(chunks[1]).toMatchObject({ id: "c1", name: "send", arguments: `{"to":"[REDACTED:email]"}` })
    }))

  it.effect("audit: every chunk passes at once; a block ends the stream before Finish", () =>
    Effect.gen(function*() {
      const audit = yield* make({ mode: "audit" })
      const seen: Array<string> = []
      const error = yield* Guardrail.chatStream({ messages: [Message.user("hi")] }).pipe(
        Stream.tap((chunk) => Effect.sync(() => seen.push(chunk._tag === "TextDelta" ? chunk.text : chunk._tag))),
        Stream.runDrain,
        Effect.flip,
        Effect.provide(guarded([audit], [{ chunks: chunksOf(["key ", secret, " end"]) }]))
      )
      expect(error).toMatchObject({ _tag: "GuardrailError", where: "reply" })
      expect(seen).toEqual(["key ", secret, " end", "Usage"])
      const clean = yield* Guardrail.chatStream({ messages: [Message.user("hi")] }).pipe(
        Stream.runCollect,
        Effect.provide(guarded([audit], [{ chunks: chunksOf(["all ", "fine"]) }]))
      )
      expect(clean.map((chunk) => chunk._tag)).toEqual(["TextDelta", "TextDelta", "Usage", "Finish"])
    }))

  it.effect("reasoning: masked as its text alone would be, before the reply's text, however both are cut", () =>
    Effect.promise(() => {
      const checks = [Guardrail.email, Guardrail.card, Guardrail.secrets, Guardrail.iban]
      const overlap = Math.max(...checks.map((check) => check.longestMatch))
      const texts = labelled().map((entry) => entry.text)
      const sentence = fc.array(fc.constantFrom(...texts), { minLength: 1, maxLength: 8 }).map((parts) =>
        parts.join(" ")
      )
      const cuts = fc.array(fc.nat(), { maxLength: 30 })
      return fc.assert(
        fc.asyncProperty(
          sentence,
          cuts,
          sentence,
          cuts,
          fc.constantFrom<Guardrail.Mode>("window", "buffer"),
          (reasoning, reasoningCuts, text, textCuts, mode) =>
            Effect.runPromise(Effect.gen(function*() {
              const chain = [yield* Guardrail.make({ name: "all", checks, action: "mask", mode, window: 2 * overlap })]
              const expected = [
                yield* Guardrail.checkText(chain, reasoning, { where: "reply" }),
                yield* Guardrail.checkText(chain, text, { where: "reply" })
              ]
              const script = [{
                chunks: [
                  ...chunked(reasoning, reasoningCuts).map((piece): ChatChunk.ChatChunk => ({
                    _tag: "ReasoningDelta",
                    text: piece
                  })),
                  ...chunksOf(chunked(text, textCuts))
                ]
              }]
              const chunks = yield* Guardrail.chatStream({ messages: [Message.user("hi")] }).pipe(
                Stream.runCollect,
                Effect.provide(guarded(chain, script))
              )
              const tags = chunks.map((chunk) => chunk._tag).filter((tag) => tag.endsWith("Delta"))
              // No reasoning after the first text.
              expect(tags.slice(Math.max(tags.indexOf("TextDelta"), 0) + 1)).not.toContain("ReasoningDelta")
              const joined = (tag: string) =>
                chunks.flatMap((chunk) => chunk._tag === tag && "text" in chunk ? [chunk.text] : []).join("")
              expect([joined("ReasoningDelta"), joined("TextDelta")]).toEqual(expected)
            }))
        ),
        { numRuns: 60 }
      )
    }))

  it.effect("reasoning: a secret in it blocks the stream in window mode, none of it released", () =>
    Effect.gen(function*() {
      const window = yield* make({ mode: "window" })
      const pieces = chunked(`I will say ${secret} later`, [3, 14, 15, 20])
      const seen: Array<string> = []
      const error = yield* Guardrail.chatStream({ messages: [Message.user("hi")] }).pipe(
        Stream.tap((chunk) => Effect.sync(() => seen.push("text" in chunk ? chunk.text : chunk._tag))),
        Stream.runDrain,
        Effect.flip,
        Effect.provide(guarded([window], [{
          chunks: [
            ...pieces.map((text): ChatChunk.ChatChunk => ({ _tag: "ReasoningDelta", text })),
            ...chunksOf(["clean"])
          ]
        }]))
      )
      expect(error).toMatchObject({ _tag: "GuardrailError", guardrail: "pii", where: "reply" })
      expect(seen.join("")).not.toContain("AKIA")
      // A whole reply's reasoning blocks it too.
      const whole = yield* Guardrail.chat({ messages: [Message.user("hi")] }).pipe(
        Effect.flip,
        Effect.provide(guarded([window], [LlmTest.reply("clean", { reasoning: `key ${secret}` })]))
      )
      expect(whole).toMatchObject({ _tag: "GuardrailError", guardrail: "pii" })
    }))

  it.effect("a secret or an address cut by reasoning at any point is found as buffer mode finds it, in every mode", () =>
    Effect.gen(function*() {
      for (const found of [secret, email]) {
        const text = `the value is ${found} as said`
        const start = text.indexOf(found)
        for (let cut = start + 1; cut < start + found.length; cut++) {
          const chunks: Array<ChatChunk.ChatChunk> = [
            { _tag: "TextDelta", text: text.slice(0, cut) },
            { _tag: "ReasoningDelta", text: "thinking" },
            ...chunksOf([text.slice(cut)])
          ]
          for (const mode of ["audit", "buffer", "window"] as const) {
            const blocking = yield* make({ mode, action: "block" })
            const error = yield* Guardrail.chatStream({ messages: [Message.user("hi")] }).pipe(
              Stream.runDrain,
              Effect.flip,
              Effect.provide(guarded([blocking], [{ chunks }]))
            )
            expect(error, `${mode}, cut at ${cut}`).toMatchObject({ _tag: "GuardrailError", guardrail: "pii" })
          }
          // (An address cut short is an address of its own, masked where it stands: the key's case alone.)
          if (found === email) continue
          const masking = yield* make({ mode: "window", action: "mask" })
          const out = yield* Guardrail.chatStream({ messages: [Message.user("hi")] }).pipe(
            Stream.runCollect,
            Effect.provide(guarded([masking], [{ chunks }]))
          )
          const released = out.map((chunk) => chunk._tag === "TextDelta" ? chunk.text : "").join("")
          // What was released before the reasoning stays; the rest of the finding is masked.
          expect(released.startsWith(text.slice(0, cut)), `cut at ${cut}`).toBe(true)
          expect(released.slice(cut), `cut at ${cut}`).toMatch(/^\[REDACTED:[a-z ]+\] as said$/)
        }
      }
    }))

  it.effect("earlier reasoning: unsigned masked, signed refused naming where, Gemini's masked, any blocked", () =>
    Effect.promise(() => {
      // How a provider keeps an earlier turn's reasoning in its metadata; "signed" ones a mask cannot change.
      const kinds = {
        none: undefined,
        anthropic: { anthropic: { thinking: [{ type: "thinking", thinking: "t", signature: "sig" }] } },
        bedrock: { bedrock: { reasoningSignature: "sig" } },
        responses: {
          openaiResponses: { reasoningItems: [{ type: "reasoning", summary: [], encrypted_content: "e" }] }
        },
        gemini: { gemini: { thoughtSignature: "sig" } },
        redactedOnly: { anthropic: { thinking: [{ type: "redacted_thinking", data: "d" }] } }
      } as const
      const signed: ReadonlySet<keyof typeof kinds> = new Set(["anthropic", "bedrock", "responses"])
      const turn = fc.record({
        kind: fc.constantFrom(...(Object.keys(kinds) as Array<keyof typeof kinds>)),
        leaks: fc.boolean()
      })
      return fc.assert(
        fc.asyncProperty(
          fc.array(turn, { minLength: 1, maxLength: 6 }),
          fc.constantFrom<"mask" | "block">("mask", "block"),
          (turns, action) =>
            Effect.runPromise(Effect.gen(function*() {
              const chain = [yield* make({ action, on: ["request"] })]
              const messages: Array<Message.Message> = [Message.user("hi")]
              for (const { kind, leaks } of turns) {
                const metadata = kinds[kind]
                messages.push({
                  ...Message.assistant("ok", { reasoning: leaks ? `I recall ${email} here` : "nothing to see" }),
                  ...(metadata === undefined ? {} : { providerMetadata: metadata })
                })
                messages.push(Message.user("go on"))
              }
              const { outcome, seen } = yield* Effect.gen(function*() {
                const outcome = yield* Effect.result(Guardrail.chat({ messages }))
                return { outcome, seen: yield* LlmTest.requests }
              }).pipe(Effect.provide(guarded(chain, [LlmTest.reply("ok")])))
              const leaking = turns.findIndex((one) => one.leaks)
              const refused = turns.findIndex((one) => one.leaks && signed.has(one.kind))
              if (action === "block" && leaking >= 0) {
                expect(outcome).toMatchObject({
                  _tag: "Failure",
                  failure: { _tag: "GuardrailError", where: "request", reason: "found email address" }
                })
                expect(seen).toEqual([])
              } else if (refused >= 0) {
                expect(outcome).toMatchObject({
                  _tag: "Failure",
                  failure: {
                    _tag: "GuardrailError",
                    guardrail: "pii",
                    where: "request",
                    reason: `found email address in messages[${2 * refused + 1}].reasoning, signed by its provider, ` +
                      "which a mask would break"
                  }
                })
                expect(outcome._tag === "Failure" && outcome.failure.message).not.toContain(email)
                expect(seen).toEqual([])
              } else {
                expect(outcome._tag).toBe("Success")
                const sent = seen[0]!.messages
                turns.forEach(({ kind, leaks }, i) => {
                  expect(sent[2 * i + 1]).toEqual({
                    role: "assistant",
                    content: "ok",
                    reasoning: leaks ? "I recall [REDACTED:email] here" : "nothing to see",
                    ...(kinds[kind] === undefined ? {} : { providerMetadata: kinds[kind] })
                  })
                })
              }
            }))
        ),
        { numRuns: 150 }
      )
    }))

  it.effect("a Restart drops what was held of the attempt before it", () =>
    Effect.gen(function*() {
      const buffer = yield* make({ mode: "buffer" })
      const restart: ChatChunk.ChatChunk = {
        _tag: "Restart",
        attempt: 2,
        deployment: "backup",
        model: "test",
        from: "primary",
        error: "ProviderUnavailableError"
      }
      const script = [{
        chunks: [{ _tag: "TextDelta", text: `key ${secret}` } as const, restart, ...chunksOf(["clean"])]
      }]
      const chunks = yield* Guardrail.chatStream({ messages: [Message.user("hi")] }).pipe(
        Stream.runCollect,
        Effect.provide(guarded([buffer], script))
      )
      expect(chunks.map((chunk) => chunk._tag)).toEqual(["Restart", "TextDelta", "Usage", "Finish"])
      expect(chunks[1]).toEqual({ _tag: "TextDelta", text: "clean" })
    }))

  it.effect("a streamed tool call's arguments cut at every offset: blocked in each mode, masked whole", () =>
    Effect.gen(function*() {
      const args = `{"note":"the key is ${secret}, mail ${email}"}`
      const block = {
        window: yield* make({ name: "block", mode: "window", window: 512, overlap: 256 }),
        buffer: yield* make({ name: "block", mode: "buffer" }),
        audit: yield* make({ name: "block", mode: "audit" })
      }
      const masks = [yield* make({ action: "mask", mode: "window" }), yield* make({ action: "mask", mode: "buffer" })]
      const masked = `{"note":"the key is [REDACTED:secrets], mail [REDACTED:email]"}`
      for (let cut = 0; cut <= args.length; cut++) {
        const script = (): ReadonlyArray<LlmTest.Answer> => [{
          chunks: [
            { _tag: "TextDelta", text: "Calling." },
            { _tag: "ToolCallDelta", index: 0, id: "c1", name: "send", arguments: args.slice(0, cut) },
            { _tag: "ToolCallDelta", index: 0, arguments: args.slice(cut) },
            ...chunksOf([]).filter((chunk) => chunk._tag === "Finish")
          ]
        }]
        for (const [mode, guardrail] of Object.entries(block)) {
          const released: Array<string> = []
          const error = yield* Guardrail.chatStream({ messages: [Message.user("hi")] }).pipe(
            Stream.tap((chunk) => Effect.sync(() => chunk._tag === "ToolCallDelta" && released.push(chunk.arguments))),
            Stream.runDrain,
            Effect.flip,
            Effect.provide(guarded([guardrail], script()))
          )
          expect(error, `${mode} at ${cut}`).toMatchObject({
            _tag: "GuardrailError",
            where: "reply",
            guardrail: "block"
          })
          expect(error.message).not.toContain(secret)
          // Out of audit mode none of the call is released; in audit mode all of it was, before the block.
          expect(released.join(""), `${mode} at ${cut}`).toBe(mode === "audit" ? args : "")
        }
        for (const mask of masks) {
          const reply = yield* ChatChunk.collect(Guardrail.chatStream({ messages: [Message.user("hi")] })).pipe(
            Effect.provide(guarded([mask], script()))
          )
          expect(reply.toolCalls, `${mask.mode} at ${cut}`).toEqual([{ id: "c1", name: "send", arguments: masked }])
          expect(reply.text).toBe("Calling.")
        }
      }
    }))

  it.effect("an empty reply passes every mode, whole and streamed, its chunks kept", () =>
    Effect.gen(function*() {
      for (const mode of ["window", "buffer", "audit"] as const) {
        for (const action of ["block", "mask"] as const) {
          const guardrail = yield* make({ mode, action })
          const whole = yield* Guardrail.chat({ messages: [Message.user("hi")] }).pipe(
            Effect.provide(guarded([guardrail], [LlmTest.reply("")]))
          )
          expect(whole.text).toBe("")
          const chunks = yield* Guardrail.chatStream({ messages: [Message.user("hi")] }).pipe(
            Stream.runCollect,
            Effect.provide(guarded([guardrail], [{ chunks: chunksOf(["", ""]) }]))
          )
          expect(chunks.map((chunk) => chunk._tag), `${mode} ${action}`).toEqual(["Usage", "Finish"])
        }
      }
    }))

  it.effect("a secret or an address after unicode, tabs, newlines and CRLF is found; a masked text keeps them", () =>
    Effect.gen(function*() {
      const mask = yield* make({ action: "mask", mode: "window" })
      for (const before of ["\u00a0", "\t", "\n", "\r\n", "東京 ", "ünï\u2028", "\u200b"]) {
        const text = `${before}${secret}${before}${email}${before}`
        // A zero-width space is removed before the checks read the text (docs/guardrails.md): the key and the address
        // it parts read as one address, masked whole.
        // Accented letters read as the letters they carry: an address's domain runs on into them, masked with it.
        const expected = before === "\u200b"
          ? `${before}[REDACTED:email]${before}`
          : before === "ünï\u2028"
          ? `${before}[REDACTED:secrets]${before}[REDACTED:email]\u2028`
          : `${before}[REDACTED:secrets]${before}[REDACTED:email]${before}`
        for (let cut = 0; cut <= text.length; cut++) {
          const reply = yield* ChatChunk.collect(Guardrail.chatStream({ messages: [Message.user("hi")] })).pipe(
            Effect.provide(guarded([mask], [{ chunks: chunksOf(chunked(text, [cut])) }]))
          )
          expect(reply.text, JSON.stringify(before) + ` at ${cut}`).toBe(expected)
        }
      }
    }))
})
