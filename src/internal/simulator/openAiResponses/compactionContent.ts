/**
 * The simulator's stand-in for the `encrypted_content` of OpenAI's `compaction` items, both ways: the summary it wrote,
 * sealed by its organisation (`organization.ts`), and read back when a later request gives the item back.
 */
import type { Organization } from "./organization.js"

const summaryPrefix = "simulated compaction "

/** `summary` as a compaction item's encrypted content, sealed by `seal`. */
export function sealedSummary(seal: Organization["seal"], summary: string): string {
  return seal(`${summaryPrefix}${summary}`)
}

/** The summary of a compaction `organization` sealed (`sealedSummary`, else the text it sealed); undefined for content
 * it did not make. */
export function summaryOf(organization: Organization, content: unknown): string | undefined {
  const text = organization.open(content)
  return text?.startsWith(summaryPrefix) ? text.slice(summaryPrefix.length) : text
}
