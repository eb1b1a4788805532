import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import { OptionsError } from "../src/OptionsError.js"
import * as Sse from "../src/Sse.js"
import { bytewise, splitAt } from "./utils/byteChunks.js"
import { expectOptionsError } from "./utils/optionsError.js"

const utf8 = new TextEncoder()
const bytes = (text: string): Uint8Array => utf8.encode(text)

const event = (
  data: string,
  fields: { readonly event?: string; readonly id?: string; readonly retry?: number } = {}
): Sse.Event => ({ event: fields.event ?? "message", data, id: fields.id, retry: fields.retry })

/** Decodes with the plain decoder; string parts are UTF-8 encoded first. */
const decodeParts = (parts: ReadonlyArray<string | Uint8Array>, options?: Sse.DecodeOptions): Array<Sse.Event> => {
  const decoder = Sse.makeDecoder(options)
  const out: Array<Sse.Event> = []
  for (const part of parts) out.push(...decoder.push(typeof part === "string" ? bytes(part) : part))
  out.push(...decoder.end())
  return out
}

describe("Sse.makeDecoder", () => {
  it("decodes a data-only event with the default type", () => {
    expect(decodeParts(["data: {\"a\":1}\n\n"])).toStrictEqual([event("{\"a\":1}")])
  })

  describe("BOM", () => {
    it("strips one BOM at the start of the stream, also when split across chunks", () => {
      expect(decodeParts(["\uFEFFdata: a\n\n"])).toStrictEqual([event("a")])
      const all = bytes("\uFEFFdata: a\n\n")
      expect(decodeParts([all.subarray(0, 1), all.subarray(1, 2), all.subarray(2)])).toStrictEqual([event("a")])
    })

    it("strips only one BOM: a second one is part of the first field name", () => {
      expect(decodeParts(["\uFEFF\uFEFFdata: a\n\ndata: b\n\n"])).toStrictEqual([event("b")])
    })

    it("keeps a BOM that is not at the very start", () => {
      expect(decodeParts(["data: a\n\n", "\uFEFFdata: b\n\n"])).toStrictEqual([event("a")])
      expect(decodeParts(["data: \uFEFFx\n\n"])).toStrictEqual([event("\uFEFFx")])
    })
  })

  describe("line endings", () => {
    it("accepts LF, CR, CRLF and a mix", () => {
      const expected = [event("a\nb"), event("c")]
      expect(decodeParts(["data: a\ndata: b\n\ndata: c\n\n"])).toStrictEqual(expected)
      expect(decodeParts(["data: a\rdata: b\r\rdata: c\r\r"])).toStrictEqual(expected)
      expect(decodeParts(["data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"])).toStrictEqual(expected)
      expect(decodeParts(["data: a\rdata: b\n\r\ndata: c\r\r\n"])).toStrictEqual(expected)
    })

    it("treats a CR ending one chunk and an LF starting the next as one line ending", () => {
      expect(decodeParts(["data: a\r", "\ndata: b\r", "\n\r", "\n"])).toStrictEqual([event("a\nb")])
    })

    it("keeps the pending CR across empty chunks", () => {
      expect(decodeParts(["data: a\r", "", new Uint8Array(0), "\ndata: b\r\n\r\n"])).toStrictEqual([event("a\nb")])
    })

    it("reads CR followed by CR in the next chunk as two line endings", () => {
      expect(decodeParts(["data: a\r", "\rdata: b\n\n"])).toStrictEqual([event("a"), event("b")])
    })
  })

  describe("UTF-8", () => {
    it("decodes multi-byte characters split anywhere", () => {
      expect(decodeParts(bytewise(bytes("data: é日本😀\n\n")))).toStrictEqual([event("é日本😀")])
    })

    it("turns a truncated sequence at the end into U+FFFD", () => {
      expect(decodeParts([bytes("data: x\n\ndata: é").subarray(0, -1)])).toStrictEqual([event("x"), event("\uFFFD")])
    })
  })

  describe("fields", () => {
    it("ignores comments, including keep-alives between data lines", () => {
      expect(decodeParts([": keep-alive\n:\ndata: a\n: OPENROUTER PROCESSING\ndata: b\n\n"])).toStrictEqual([
        event("a\nb")
      ])
    })

    it("joins multi-line data with \\n and removes exactly one leading space", () => {
      expect(decodeParts(["data:x\ndata: x\ndata:  x\ndata: a:b\n\n"])).toStrictEqual([event("x\nx\n x\na:b")])
    })

    it("reads a line without a colon as a field with an empty value", () => {
      expect(decodeParts(["data\n\n"])).toStrictEqual([event("")])
      expect(decodeParts(["data\ndata\n\n"])).toStrictEqual([event("\n")])
      expect(decodeParts(["data:\n\n"])).toStrictEqual([event("")])
    })

    it("dispatches nothing for a block without data, and resets its event type", () => {
      expect(decodeParts(["event: ping\n\n", "data: a\n\n"])).toStrictEqual([event("a")])
      expect(decodeParts(["event: ping\n\n\n\n"])).toStrictEqual([])
    })

    it("sets the event type; an empty one means message", () => {
      expect(decodeParts(["event: delta\ndata: a\n\nevent:\ndata: b\n\n"])).toStrictEqual([
        event("a", { event: "delta" }),
        event("b")
      ])
    })

    it("keeps the last event id across events, also from a block without data", () => {
      expect(decodeParts(["id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid\ndata: d\n\n"])).toStrictEqual([
        event("a", { id: "1" }),
        event("b", { id: "1" }),
        event("c", { id: "2" }),
        event("d", { id: "" })
      ])
    })

    it("ignores an id containing NUL", () => {
      expect(decodeParts(["id: 1\ndata: a\n\nid: 2\u0000x\ndata: b\n\n"])).toStrictEqual([
        event("a", { id: "1" }),
        event("b", { id: "1" })
      ])
    })

    it("takes retry only when it is all ASCII digits, and keeps it", () => {
      expect(
        decodeParts([
          "retry: 3000\n\ndata: a\n\n",
          "retry: 12abc\nretry: -1\nretry: 1.5\nretry:\nretry: \u0663\ndata: b\n\n",
          "retry:250\ndata: c\n\n"
        ])
      ).toStrictEqual([event("a", { retry: 3000 }), event("b", { retry: 3000 }), event("c", { retry: 250 })])
    })

    it("ignores unknown fields; names are case-sensitive", () => {
      expect(decodeParts(["foo: bar\nDATA: x\nData: y\n data: z\ndata: ok\n\n"])).toStrictEqual([event("ok")])
    })
  })

  describe("end of stream (deliberate exception to the spec's rule 6)", () => {
    it("emits pending data without the final blank line", () => {
      expect(decodeParts(["data: a\n\ndata: [DONE]\n"])).toStrictEqual([event("a"), event("[DONE]")])
      expect(decodeParts(["data: a\ndata: b\r"])).toStrictEqual([event("a\nb")])
    })

    it("reads an unterminated last line as a line", () => {
      expect(decodeParts(["event: done\ndata: 1", "23"])).toStrictEqual([event("123", { event: "done" })])
    })

    it("emits nothing when the pending block has no data", () => {
      expect(decodeParts(["data: a\n\nevent: x\nid: 9"])).toStrictEqual([event("a")])
    })

    it("is ready for a new stream after end", () => {
      const decoder = Sse.makeDecoder()
      expect(decoder.push(bytes("id: 1\nretry: 5\ndata: a"))).toStrictEqual([])
      expect(decoder.end()).toStrictEqual([event("a", { id: "1", retry: 5 })])
      expect(decoder.push(bytes("\uFEFFdata: b\n\n"))).toStrictEqual([event("b")])
    })
  })

  describe("maximum event size", () => {
    it("accepts an event exactly at the limit and fails one past it", () => {
      expect(decodeParts(["data: abcd\n\n"], { maxEventSize: 10 })).toStrictEqual([event("abcd")])
      expect(() => decodeParts(["data: abcd\n\n"], { maxEventSize: 9 })).toThrow(Sse.SseEventTooLargeError)
    })

    it("throws the tagged error from push, and again on later calls", () => {
      const decoder = Sse.makeDecoder({ maxEventSize: 32 })
      expect(decoder.push(bytes("data: ok\n\n"))).toStrictEqual([event("ok")])
      let caught: unknown
      try {
        decoder.push(bytes(`data: ${"x".repeat(40)}\n\n`))
      } catch (error) {
        caught = error
      }
      expect(caught).toBeInstanceOf(Sse.SseEventTooLargeError)
      const error = caught as Sse.SseEventTooLargeError
      expect(error._tag).toBe("SseEventTooLargeError")
      expect(error.maxEventSize).toBe(32)
      expect(error.message).toContain("maximum size of 32")
      expect(() => decoder.push(bytes("data: b\n\n"))).toThrow(Sse.SseEventTooLargeError)
      expect(() => decoder.end()).toThrow(Sse.SseEventTooLargeError)
    })

    it("counts the data of all lines of one event", () => {
      const lines = Array.from({ length: 10 }, () => "data: 0123456789\n").join("")
      expect(() => decodeParts([lines, "\n"], { maxEventSize: 100 })).toThrow(Sse.SseEventTooLargeError)
      expect(decodeParts([lines, "\n"], { maxEventSize: 200 })).toHaveLength(1)
    })

    it("bounds an unterminated line while it grows", () => {
      const decoder = Sse.makeDecoder({ maxEventSize: 64 * 1024 })
      const kib = bytes("x".repeat(1024))
      let pushed = 0
      expect(() => {
        for (;;) {
          decoder.push(kib)
          pushed++
        }
      }).toThrow(Sse.SseEventTooLargeError)
      expect(pushed).toBe(64)
    })

    it("rejects a non-positive limit with OptionsError", () => {
      expect(() => Sse.makeDecoder({ maxEventSize: 0 })).toThrow(
        "Sse: maxEventSize must be a positive number or Infinity, got 0"
      )
      expect(() => Sse.makeDecoder({ maxEventSize: Number.NaN })).toThrow(OptionsError)
      expect(() => Sse.makeDecoder({ maxEventSize: Infinity })).not.toThrow()
    })
  })
})

describe("Sse.decode", () => {
  it.effect("decodes a stream of network chunks", () =>
    Effect.gen(function*() {
      const all = bytes("data: {\"x\":\"é\"}\r\n\r\n: ping\r\nevent: e\r\ndata: [DONE]")
      const events = yield* Stream.fromIterable(splitAt(all, [3, 13, 14, 15, 30])).pipe(Sse.decode(), Stream.runCollect)
      expect(events).toStrictEqual([event("{\"x\":\"é\"}"), event("[DONE]", { event: "e" })])
    }))

  it.effect("emits one chunk of events per input chunk", () =>
    Effect.gen(function*() {
      const chunks = yield* Stream.fromArrays(
        [bytes("data: a\n\ndata: b\n\ndata: c")],
        [bytes("\n\n")]
      ).pipe(Sse.decode(), Stream.chunks, Stream.runCollect)
      expect(chunks.map((c) => c.map((e) => e.data))).toStrictEqual([
        ["a", "b"],
        ["c"]
      ])
    }))

  it.effect("fails with SseEventTooLargeError after the events before it", () =>
    Effect.gen(function*() {
      const results = yield* Stream.fromIterable([bytes("data: ok\n\n"), bytes(`data: ${"x".repeat(100)}\n\n`)]).pipe(
        Sse.decode({ maxEventSize: 50 }),
        Stream.result,
        Stream.runCollect
      )
      const [first, second] = results
      expect(first).toStrictEqual(Result.succeed(event("ok")))
      expect(second !== undefined && Result.isFailure(second)).toBe(true)
      const error = yield* Stream.fromIterable([bytes(`data: ${"x".repeat(100)}\n\n`)]).pipe(
        Sse.decode({ maxEventSize: 50 }),
        Stream.runDrain,
        Effect.flip
      )
      assert(error._tag === "SseEventTooLargeError")
      expect(error.maxEventSize).toBe(50)
    }))

  it.effect("decode and decodeText fail with OptionsError, before reading, when maxEventSize is not positive", () =>
    Effect.gen(function*() {
      let pulled = false
      const source = Stream.fromEffect(Effect.sync(() => {
        pulled = true
        return bytes("data: a\n\n")
      }))
      const error = yield* source.pipe(Sse.decode({ maxEventSize: -1 }), Stream.runDrain, Effect.flip)
      expectOptionsError(error, { module: "Sse", option: "maxEventSize", value: "-1" })
      expect(pulled).toBe(false)
      const text = yield* Stream.make("data: a\n\n").pipe(
        Sse.decodeText({ maxEventSize: 0 }),
        Stream.runDrain,
        Effect.flip
      )
      expectOptionsError(text, { option: "maxEventSize", value: "0" })
    }))

  it.effect("fails on an endless line instead of buffering it", () =>
    Effect.gen(function*() {
      const error = yield* Stream.concat(
        Stream.make(bytes("data: ")),
        Stream.forever(Stream.succeed(bytes("x".repeat(4096))))
      ).pipe(
        Sse.decode({ maxEventSize: 1024 * 1024 }),
        Stream.runDrain,
        Effect.flip
      )
      assert(error instanceof Sse.SseEventTooLargeError)
      expect(error.maxEventSize).toBe(1024 * 1024)
    }))

  it.effect("uses the 16 MiB default", () =>
    Effect.gen(function*() {
      const error = yield* Stream.forever(Stream.succeed(bytes("y".repeat(1 << 20)))).pipe(
        Sse.decode(),
        Stream.runDrain,
        Effect.flip
      )
      assert(error._tag === "SseEventTooLargeError")
      expect(error.maxEventSize).toBe(16 * 1024 * 1024)
      expect(Sse.defaultMaxEventSize).toBe(16 * 1024 * 1024)
    }))

  it.effect("passes upstream failures through", () =>
    Effect.gen(function*() {
      const error = yield* Stream.concat(Stream.make(bytes("data: a\n\n")), Stream.fail("boom" as const)).pipe(
        Sse.decode(),
        Stream.runDrain,
        Effect.flip
      )
      expect(error).toBe("boom")
    }))

  it.effect("decodeText takes already decoded text", () =>
    Effect.gen(function*() {
      const events = yield* Stream.make("data: a\r", "\ndata: b\r\n", "\r\nid: 3\ndata: c").pipe(
        Sse.decodeText(),
        Stream.runCollect
      )
      expect(events).toStrictEqual([event("a\nb"), event("c", { id: "3" })])
    }))
})

// ---------------------------------------------------------------------------
// Property: any chunking of a serialised event list decodes to that list.

interface SpecEvent {
  readonly event: string | null
  readonly id: string | null
  readonly data: string
  readonly comment: boolean
  readonly tight: boolean
}

const piece = fc.constantFrom("a", "z", " ", ":", "é", "日本", "😀", "\uFEFF", "\u0000", "data", "\t", "{\"k\":1}")
const text = fc.array(piece, { maxLength: 6 }).map((pieces) => pieces.join(""))

const specEvent: fc.Arbitrary<SpecEvent> = fc.record({
  event: fc.option(text),
  id: fc.option(text),
  data: fc.array(text, { minLength: 1, maxLength: 3 }).map((lines) => lines.join("\n")),
  comment: fc.boolean(),
  tight: fc.boolean()
})

const streamSpec = fc.record({
  events: fc.array(specEvent, { maxLength: 6 }),
  endings: fc.array(fc.constantFrom("\n", "\r", "\r\n"), { minLength: 1, maxLength: 4 }),
  final: fc.constantFrom("blank", "line", "none"),
  bom: fc.boolean()
})

type StreamSpec = typeof streamSpec extends fc.Arbitrary<infer A> ? A : never

const serialise = (spec: StreamSpec): Uint8Array => {
  const lines: Array<string> = []
  spec.events.forEach((e, i) => {
    if (e.comment) lines.push(": keep-alive")
    if (e.id !== null) lines.push(`id: ${e.id}`)
    if (e.event !== null) lines.push(`event: ${e.event}`)
    for (const line of e.data.split("\n")) {
      lines.push(e.tight && !line.startsWith(" ") ? `data:${line}` : `data: ${line}`)
    }
    if (i < spec.events.length - 1 || spec.final === "blank") lines.push("")
  })
  let out = spec.bom ? "\uFEFF" : ""
  let previous = ""
  lines.forEach((line, i) => {
    let ending = spec.endings[i % spec.endings.length]!
    // A lone CR then an empty LF-terminated line would read as one CRLF.
    if (previous === "\r" && line === "" && ending === "\n") ending = "\r\n"
    out += line
    if (i < lines.length - 1 || spec.final !== "none") out += ending
    previous = ending
  })
  return bytes(out)
}

const expectedEvents = (spec: StreamSpec): Array<Sse.Event> => {
  let lastId: string | undefined
  return spec.events.map((e) => {
    if (e.id !== null && !e.id.includes("\u0000")) lastId = e.id
    return {
      event: e.event === null || e.event === "" ? "message" : e.event,
      data: e.data,
      id: lastId,
      retry: undefined
    }
  })
}

const splitPoints = fc.array(fc.nat(), { maxLength: 12 })

// @effect/vitest's `prop` takes Effect 4's own `Arbitrary`; fast-check arbitraries run through `fc.assert`.
describe("Sse properties", () => {
  it("any re-chunking of the bytes yields the original events", () =>
    fc.assert(
      fc.property(streamSpec, splitPoints, (spec, points) => {
        const all = serialise(spec)
        const expected = expectedEvents(spec)
        expect(decodeParts([all])).toStrictEqual(expected)
        expect(decodeParts(splitAt(all, points))).toStrictEqual(expected)
        expect(decodeParts(bytewise(all))).toStrictEqual(expected)
      }),
      { numRuns: 500 }
    ))

  it("any bytes, valid UTF-8 or not, split anywhere, decode as one streaming TextDecoder decodes them", () =>
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.constantFrom(0x61, 0x20, 0x80, 0xbf, 0xc3, 0xe2, 0xef, 0xbb, 0xf0, 0x9f, 0xff),
            fc.integer({ min: 0x14, max: 0xff })
          ),
          {
            maxLength: 40
          }
        ),
        fc.boolean(),
        splitPoints,
        (values, bom, points) => {
          const line = Uint8Array.from([...(bom ? [0xef, 0xbb, 0xbf] : []), ...bytes("data: "), ...values, 10, 10])
          const data = new TextDecoder().decode(line).slice("data: ".length, -2)
          const expected = [event(data)]
          expect(decodeParts(splitAt(line, points))).toStrictEqual(expected)
          expect(decodeParts(bytewise(line))).toStrictEqual(expected)
        }
      ),
      { numRuns: 500 }
    ))

  it("the size-limit verdict and the events before it do not depend on chunking", () =>
    fc.assert(
      fc.property(streamSpec, splitPoints, fc.integer({ min: 1, max: 48 }), (spec, points, maxEventSize) => {
        const all = serialise(spec)
        const run = (chunks: ReadonlyArray<Uint8Array>) =>
          Effect.runSync(
            Stream.fromIterable(chunks).pipe(
              Stream.rechunk(1),
              Sse.decode({ maxEventSize }),
              Stream.result,
              Stream.runCollect
            )
          )
        const whole = run([all])
        expect(run(splitAt(all, points))).toStrictEqual(whole)
        expect(run(bytewise(all))).toStrictEqual(whole)
        if (!whole.some(Result.isFailure)) {
          expect(whole).toStrictEqual(expectedEvents(spec).map((e) => Result.succeed(e)))
        }
      }),
      { numRuns: 300 }
    ))
})
