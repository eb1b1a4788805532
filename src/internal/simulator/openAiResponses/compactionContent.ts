/**
 * The simulator's stand-in for the `encrypted_content` of OpenAI's `compaction` items, both ways: the summary it wrote,
 * encoded (opaque to a client, deterministic), and read back when a later request gives the item back.
 */
const sealedPrefix = "gAAAAB"
const summaryPrefix = "simulated compaction "

/** Opaque, deterministic stand-in for OpenAI's encrypted compaction. */
export function encrypted(summary: string): string {
  return `${sealedPrefix}${Buffer.from(`${summaryPrefix}${summary}`).toString("base64")}`
}

/** The summary of a compaction the simulator made (`encrypted`); undefined for any other content. */
export function decrypted(content: unknown): string | undefined {
  if (typeof content !== "string" || !content.startsWith(sealedPrefix)) return undefined
  const text = Buffer.from(content.slice(sealedPrefix.length), "base64").toString("utf8")
  return text.startsWith(summaryPrefix) ? text.slice(summaryPrefix.length) : undefined
}
