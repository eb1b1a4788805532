/**
 * What the gateway's stored responses in memory hold against what their bounds count: N responses of a known size
 * put in a memory store (`ResponsesStore.layerStoreMemory`), each read from a request's JSON text as the gateway reads one, and
 * the process' heap and array buffers after a full GC, less what they were before, over the store's `usage().bytes`.
 *
 *   node --expose-gc --import tsx bench/responsesMemory.ts [responses]
 */
import * as Effect from "effect/Effect"
import { pathToFileURL } from "node:url"
import * as ResponsesStore from "../src/internal/gateway/responses/store.js"

/** The heap and the array buffers held now, after a full GC, in bytes. */
const held = (): number => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run with node --expose-gc")
  gc()
  gc()
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.arrayBuffers
}

/**
 * `count` responses whose user text is `size` times `char`, read from a request's JSON text: what the process holds
 * more after they are put, what the store counts, and their ratio.
 */
export const measure = (count: number, size: number, char: string) => {
  const store = Effect.runSync(Effect.provide(
    ResponsesStore.StoredResponses,
    ResponsesStore.layerStoreMemory({
      maxEntries: count,
      maxBytes: Number.MAX_SAFE_INTEGER,
      maxKeyBytes: Number.MAX_SAFE_INTEGER,
      maxResponseBytes: Number.MAX_SAFE_INTEGER
    })
  ))
  const before = held()
  for (let i = 0; i < count; i++) {
    const request = JSON.parse(JSON.stringify({ input: `${i} ${char.repeat(size)}`, reply: `reply ${i}` }))
    const id = `resp_${i.toString(16).padStart(32, "0")}`
    Effect.runSync(store.put(id, "key-a", {
      body: JSON.stringify({ id, object: "response", output_text: request.reply }),
      conversation: [
        { role: "user", content: [{ type: "text", text: request.input }] },
        { role: "assistant", content: request.reply }
      ]
    }))
  }
  const grown = held() - before
  const { bytes: counted, entries } = store.usage!()
  return { entries, grown, counted, ratio: grown / counted, store }
}

/**
 * Prints the figures of each size.
 *
 * @since 0.3.0
 * @category Benchmarks
 */
export const main = (): void => {
  const count = Number(process.argv[2] ?? 10_000)
  console.log(`Node ${process.version}; ${count.toLocaleString("en")} stored responses in memory`)
  for (const [size, char] of [[100, "a"], [1_000, "a"], [10_000, "a"], [10_000, "é"], [100_000, "a"]] as const) {
    const { counted, entries, grown, ratio } = measure(Math.min(count, Math.floor(4e8 / size)), size, char)
    const mb = (value: number) => `${(value / 1e6).toFixed(1)} MB`
    console.log(
      `  text ${size.toLocaleString("en")} x "${char}": ${entries} responses, counted ${mb(counted)}, held ${
        mb(grown)
      }, held/counted ${ratio.toFixed(2)}`
    )
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main()
}
