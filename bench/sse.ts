/**
 * SSE decoder micro-benchmark and conformance check.
 *
 *   node --import tsx bench/sse.ts
 *
 * Compares this library's `Sse` with Effect's own `effect/encoding/Sse` and
 * `eventsource-parser` 3.1.1. The latter is not a dependency: it is loaded
 * when resolvable, or from the file named by `EVENTSOURCE_PARSER` (e.g.
 * `.../node_modules/eventsource-parser/dist/index.js` of an install outside
 * this repo), and skipped otherwise.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as EffectSse from "effect/encoding/Sse"
import * as Stream from "effect/Stream"
import { pathToFileURL } from "node:url"
import * as Sse from "../src/Sse.js"

// ---------------------------------------------------------------------------
// Candidates behind one shape: bytes in, events out, optional size limit.

interface Outcome {
  readonly events: ReadonlyArray<
    {
      readonly event: string
      readonly data: string
      readonly id: string | undefined
      readonly retry: number | undefined
    }
  >
  readonly tooLarge: boolean
}

interface Candidate {
  readonly name: string
  readonly run: (chunks: ReadonlyArray<Uint8Array>, maxEventSize?: number) => Outcome
  /** Minimal work per stream, for throughput: returns the number of events. */
  readonly count: (chunks: ReadonlyArray<Uint8Array>) => number
}

const own: Candidate = {
  name: "effect-llm-router Sse (own)",
  run: (chunks, maxEventSize) => {
    const decoder = Sse.makeDecoder(maxEventSize === undefined ? undefined : { maxEventSize })
    const events: Array<Outcome["events"][number]> = []
    const add = (batch: ReadonlyArray<Sse.Event>) => {
      for (const e of batch) events.push({ event: e.event, data: e.data, id: e.id, retry: e.retry })
    }
    try {
      for (const chunk of chunks) add(decoder.push(chunk))
      add(decoder.end())
      return { events, tooLarge: false }
    } catch (error) {
      if (error instanceof Sse.SseEventTooLargeError) return { events, tooLarge: true }
      throw error
    }
  },
  count: (chunks) => {
    const decoder = Sse.makeDecoder()
    let n = 0
    for (let i = 0; i < chunks.length; i++) n += decoder.push(chunks[i]!).length
    return n + decoder.end().length
  }
}

// The best wrapper each library allows: a streaming TextDecoder in front,
// the last id and retry tracked from what the parser reports, and "\n\n"
// fed at the end so a final event without a blank line is dispatched.

const effectSse: Candidate = {
  name: "effect/encoding Sse.makeParser",
  run: (chunks, maxEventSize) => {
    const events: Array<Outcome["events"][number]> = []
    let lastId: string | undefined
    let retry: number | undefined
    const parser = EffectSse.makeParser((e) => {
      if (e._tag === "Retry") {
        retry = Duration.toMillis(e.duration)
        return
      }
      lastId = e.id ?? lastId
      events.push({ event: e.event, data: e.data, id: lastId, retry })
    }, maxEventSize === undefined ? undefined : { maxEventSize })
    const utf8 = new TextDecoder()
    for (const chunk of chunks) {
      if (parser.feed(utf8.decode(chunk, { stream: true })) !== undefined) return { events, tooLarge: true }
    }
    if (parser.feed(utf8.decode() + "\n\n") !== undefined) return { events, tooLarge: true }
    return { events, tooLarge: false }
  },
  count: (chunks) => {
    let n = 0
    const parser = EffectSse.makeParser((e) => {
      if (e._tag === "Event") n++
    })
    const utf8 = new TextDecoder()
    for (let i = 0; i < chunks.length; i++) parser.feed(utf8.decode(chunks[i]!, { stream: true }))
    parser.feed(utf8.decode() + "\n\n")
    return n
  }
}

interface EventSourceParserModule {
  readonly createParser: (config: {
    readonly onEvent?: (
      event: { readonly event?: string | undefined; readonly id?: string | undefined; readonly data: string }
    ) => void
    readonly onRetry?: (retry: number) => void
    readonly onError?: (error: { readonly type: string }) => void
    readonly maxBufferSize?: number
  }) => { feed(chunk: string): void }
}

const loadEventSourceParser = async (): Promise<EventSourceParserModule | undefined> => {
  const specifiers: Array<string> = ["eventsource-parser"]
  const fromEnv = process.env["EVENTSOURCE_PARSER"]
  if (fromEnv !== undefined && fromEnv !== "") specifiers.push(pathToFileURL(fromEnv).href)
  for (const specifier of specifiers) {
    try {
      return (await import(specifier)) as EventSourceParserModule
    } catch {
      // try the next location
    }
  }
  return undefined
}

const eventsourceParser = (esp: EventSourceParserModule): Candidate => ({
  name: "eventsource-parser 3.1.1",
  run: (chunks, maxEventSize) => {
    const events: Array<Outcome["events"][number]> = []
    let lastId: string | undefined
    let retry: number | undefined
    let tooLarge = false
    const parser = esp.createParser({
      onEvent: (e) => {
        lastId = e.id ?? lastId
        events.push({ event: e.event ?? "message", data: e.data, id: lastId, retry })
      },
      onRetry: (r) => {
        retry = r
      },
      onError: (error) => {
        if (error.type === "max-buffer-size-exceeded") tooLarge = true
      },
      ...(maxEventSize === undefined ? {} : { maxBufferSize: maxEventSize })
    })
    const utf8 = new TextDecoder()
    for (const chunk of chunks) {
      parser.feed(utf8.decode(chunk, { stream: true }))
      if (tooLarge) return { events, tooLarge }
    }
    parser.feed(utf8.decode() + "\n\n")
    return { events, tooLarge }
  },
  count: (chunks) => {
    let n = 0
    const parser = esp.createParser({
      onEvent: () => {
        n++
      }
    })
    const utf8 = new TextDecoder()
    for (let i = 0; i < chunks.length; i++) parser.feed(utf8.decode(chunks[i]!, { stream: true }))
    parser.feed(utf8.decode() + "\n\n")
    return n
  }
})

// ---------------------------------------------------------------------------
// Conformance: the rules of server-sent events (WHATWG HTML standard) that distinguish the candidates.

const utf8Encoder = new TextEncoder()
const bytes = (text: string) => utf8Encoder.encode(text)
const concat = (parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
const splitEvery = (all: Uint8Array, size: number) => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < all.length; i += size) out.push(all.subarray(i, i + size))
  return out
}

interface Case {
  readonly name: string
  readonly check: (candidate: Candidate) => boolean
}

const datas = (o: Outcome) => o.events.map((e) => e.data)
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

const cases: ReadonlyArray<Case> = [
  {
    name: "BOM stripped at start (bytes)",
    check: (c) => same(datas(c.run([bytes("\uFEFFdata: a\n\n")])), ["a"])
  },
  {
    name: "only ONE BOM stripped",
    check: (c) => same(datas(c.run([bytes("\uFEFF\uFEFFdata: a\n\ndata: b\n\n")])), ["b"])
  },
  {
    name: "UTF-8 split inside a character",
    check: (c) => {
      const all = bytes("data: é日本😀\n\n")
      return same(datas(c.run(splitEvery(all, 1))), ["é日本😀"])
    }
  },
  {
    name: "CR | LF split across chunks",
    check: (c) => same(datas(c.run([bytes("data: a\r"), bytes("\ndata: b\r\n\r\n")])), ["a\nb"])
  },
  {
    name: "last event id persists",
    check: (c) => same(c.run([bytes("id: 1\ndata: a\n\ndata: b\n\n")]).events.map((e) => e.id), ["1", "1"])
  },
  {
    name: "id from a block without data",
    check: (c) => same(c.run([bytes("id: 7\n\ndata: a\n\n")]).events.map((e) => e.id), ["7"])
  },
  {
    name: "retry only if all digits",
    check: (c) => same(c.run([bytes("retry: 12abc\ndata: a\n\n")]).events.map((e) => e.retry), [undefined])
  },
  {
    name: "end: data line, no blank line",
    check: (c) => same(datas(c.run([bytes("data: a\n\ndata: b\n")])), ["a", "b"])
  },
  {
    name: "size limit independent of chunking",
    check: (c) => {
      const all = bytes(`data: ${"x".repeat(40)}\n\n`)
      return c.run([all], 32).tooLarge && c.run(splitEvery(all, 4), 32).tooLarge
    }
  },
  {
    name: "unterminated line bounded",
    check: (c) => {
      const kib = bytes("x".repeat(1024))
      const chunks = Array.from({ length: 64 }, () => kib)
      return c.run([bytes("data: "), ...chunks], 16 * 1024).tooLarge
    }
  }
]

// ---------------------------------------------------------------------------
// Workload: an OpenAI chat completion stream, 64 chunks + [DONE].

const mulberry32 = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const words = [" the", " Effect", " stream", " é", " 日本", " is", " typed", " and", " composable", "."]
const chunkJson = (delta: object, finish: string | null) =>
  JSON.stringify({
    id: "chatcmpl-AbCdEfGhIjKl",
    object: "chat.completion.chunk",
    created: 1_726_000_000,
    model: "gpt-4o-mini",
    choices: [{ index: 0, delta, finish_reason: finish }]
  })

const openAiStream = (): string => {
  const lines: Array<string> = [chunkJson({ role: "assistant", content: "" }, null)]
  for (let i = 1; i < 63; i++) lines.push(chunkJson({ content: words[i % words.length] }, null))
  lines.push(chunkJson({}, "stop"))
  lines.push("[DONE]")
  return lines.map((l) => `data: ${l}\n\n`).join("")
}

const body = bytes(openAiStream())
const eventsPerStream = 65

const chunkings: ReadonlyArray<ReadonlyArray<Uint8Array>> = (() => {
  const random = mulberry32(42)
  return Array.from({ length: 32 }, () => {
    const out: Array<Uint8Array> = []
    let offset = 0
    while (offset < body.length) {
      const size = 16 + Math.floor(random() * 585)
      out.push(body.slice(offset, offset + size))
      offset += size
    }
    return out
  })
})()

const measure = (label: string, streams: number, runOnce: (chunks: ReadonlyArray<Uint8Array>) => number) => {
  for (let i = 0; i < 200; i++) runOnce(chunkings[i % chunkings.length]!)
  let best = 0
  for (let round = 0; round < 5; round++) {
    let events = 0
    const start = performance.now()
    for (let i = 0; i < streams; i++) events += runOnce(chunkings[i % chunkings.length]!)
    const seconds = (performance.now() - start) / 1000
    if (events !== streams * eventsPerStream) throw new Error(`${label}: got ${events} events`)
    best = Math.max(best, events / seconds)
  }
  console.log(`${label.padEnd(52)} ${Math.round(best).toLocaleString("en-US").padStart(12)} events/s`)
}

const measureStream = async (
  label: string,
  streams: number,
  runOnce: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<number, unknown>
) => {
  const all = Effect.gen(function*() {
    let events = 0
    for (let i = 0; i < streams; i++) events += yield* runOnce(chunkings[i % chunkings.length]!)
    return events
  })
  await Effect.runPromise(Effect.forEach(chunkings, runOnce))
  let best = 0
  for (let round = 0; round < 5; round++) {
    const start = performance.now()
    const events = await Effect.runPromise(all)
    const seconds = (performance.now() - start) / 1000
    if (events !== streams * eventsPerStream) throw new Error(`${label}: got ${events} events`)
    best = Math.max(best, events / seconds)
  }
  console.log(`${label.padEnd(52)} ${Math.round(best).toLocaleString("en-US").padStart(12)} events/s`)
}

const toStream = (chunks: ReadonlyArray<Uint8Array>) => Stream.fromArrays(...chunks.map((c) => [c]))

const main = async () => {
  const esp = await loadEventSourceParser()
  const candidates: Array<Candidate> = [own, effectSse]
  if (esp !== undefined) candidates.push(eventsourceParser(esp))

  console.log(
    `Node ${process.version}; stream: ${body.length} bytes, ${eventsPerStream} events, ${chunkings.length} chunkings ` +
      `of 16–600 bytes`
  )
  if (esp === undefined) {
    console.log("eventsource-parser: not resolvable, skipped (set EVENTSOURCE_PARSER to its dist/index.js)")
  }

  console.log("\nConformance (WHATWG server-sent events), with the wrappers in this file:")
  for (const c of cases) {
    console.log(`  ${c.name.padEnd(38)} ${candidates.map((cand) => `${c.check(cand) ? "pass" : "FAIL"}`).join("  ")}`)
  }
  console.log(`  ${"".padEnd(38)} ${candidates.map((cand) => cand.name).join(" | ")}`)

  const reference = same(concat(chunkings[0]!), body) ? own.run(chunkings[0]!).events.map((e) => e.data) : []
  for (const cand of candidates) {
    for (const chunks of chunkings) {
      if (!same(cand.run(chunks).events.map((e) => e.data), reference)) {
        console.log(`  note: ${cand.name} decodes the benchmark stream differently`)
        break
      }
    }
  }

  console.log("\nThroughput, plain decoder (best of 5 rounds of 20,000 streams):")
  for (const cand of candidates) measure(cand.name, 20_000, cand.count)

  console.log("\nThroughput through Effect Stream (best of 5 rounds of 2,000 streams):")
  await measureStream("floor: same chunks through Stream, no decoding", 2_000, (chunks) =>
    toStream(chunks).pipe(
      Stream.runCount,
      Effect.map((n) => (n === chunks.length ? eventsPerStream : -1))
    ))
  await measureStream("Sse.decode (own)", 2_000, (chunks) => toStream(chunks).pipe(Sse.decode(), Stream.runCount))
  await measureStream("Stream.decodeText + effect/encoding Sse.decode", 2_000, (chunks) =>
    toStream(chunks).pipe(
      Stream.decodeText(),
      Stream.pipeThroughChannel(EffectSse.decode()),
      Stream.runCount
    ))
}

await main()
