/**
 * Loaded with Node's `--import` into each side the gateway case (`bench/cases/gateway.ts`) runs when
 * `GATEWAY_ALLOC` is set: V8's sampling heap profiler over the side's process, counting the objects a later
 * collection frees too (the bytes a request allocates, not those it keeps). `"alloc-on"` starts a count and is
 * answered with `true`; `"alloc-off"` ends it and is answered with its bytes and, by the function that allocated
 * them, its largest sources. The profiler slows the side: its CPU figures are then not the side's.
 */
import { Session } from "node:inspector/promises"

/** What a side answers to `"alloc-off"`: bytes allocated since `"alloc-on"`, the largest sources first. */
export interface AllocAnswer {
  readonly bytes: number
  readonly sources: ReadonlyArray<readonly [source: string, bytes: number]>
}

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<ProfileNode>
}

// A sample every 512 bytes on average: fine enough for a request's few tens of kilobytes over thousands of requests.
const samplingInterval = 512
const sourcesShown = 40

const session = new Session()
session.connect()

process.on("message", (message) => {
  if (message === "alloc-on") void start()
  else if (message === "alloc-off") void stop()
})

async function start(): Promise<void> {
  await session.post("HeapProfiler.startSampling", {
    samplingInterval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true
  })
  process.send?.(true)
}

async function stop(): Promise<void> {
  const { profile } = await session.post("HeapProfiler.stopSampling")
  const bySource = new Map<string, number>()
  bytesBySource(profile.head as ProfileNode, bySource)
  let bytes = 0
  for (const size of bySource.values()) bytes += size
  const sources = [...bySource].sort((a, b) => b[1] - a[1]).slice(0, sourcesShown)
  const answer: AllocAnswer = { bytes, sources }
  process.send?.(answer)
}

/** Adds each node's own bytes under its function's name, file and line. */
function bytesBySource(node: ProfileNode, into: Map<string, number>): void {
  if (node.selfSize > 0) {
    const { functionName, lineNumber, url } = node.callFrame
    const source = `${functionName || "(anonymous)"} ${url.replace(/^.*\/(src|bench|node_modules)\//, "$1/")}:${
      lineNumber + 1
    }`
    into.set(source, (into.get(source) ?? 0) + node.selfSize)
  }
  for (const child of node.children) bytesBySource(child, into)
}
