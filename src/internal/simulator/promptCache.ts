/**
 * The simulator's prompt cache: a small memory of the prompt prefixes it has
 * seen, so a request that repeats one reports cache reads, and one that adds to
 * it reports cache writes, in its wire's usage shape. A wire format says which
 * prefixes of a request a provider would cache (`WireFormat.cachePrefixes`):
 * Anthropic's up to each `cache_control` breakpoint, OpenAI's at each message
 * boundary of a request with a `prompt_cache_key`. There is no minimum length.
 *
 * A request reads the longest prefix held and writes the rest up to its longest
 * prefix, each part written for the lifetime of the prefix that ends it (as
 * Anthropic's `cache_creation` splits writes by TTL). Every prefix of the
 * request is then held (or refreshed, as a cache hit refreshes it) for its
 * lifetime; past `capacity` prefixes the least recently used is forgotten.
 */
import { createHash, type Hash } from "node:crypto"
import * as Reply from "../../simulator/Reply.js"
import type { CachePrefix } from "../../simulator/WireFormat.js"

/** The prompt tokens a request read from the cache and wrote to it. */
export interface CacheUse {
  readonly read: number
  /** Every token written, for either lifetime. */
  readonly written: number
  /** Of `written`, the tokens written for an hour. */
  readonly writtenForAnHour: number
}

const lifetimeMillis = { "5m": 5 * 60_000, "1h": 60 * 60_000 } as const

/** A cache of at most `capacity` prefixes (the least recently used forgotten first). */
export class PromptCache {
  // Prefix id to the Clock millis it expires at, in order of use.
  private readonly held = new Map<string, number>()

  constructor(private readonly capacity: number) {}

  /** What a request with `prefixes` (shortest first) reads and writes at `now`; its prefixes are held after. */
  use(prefixes: ReadonlyArray<CachePrefix>, now: number): CacheUse {
    let hit = -1
    for (let i = prefixes.length - 1; i >= 0 && hit < 0; i--) {
      const expires = this.held.get(prefixes[i]!.id)
      if (expires !== undefined && expires > now) hit = i
    }
    const read = hit < 0 ? 0 : prefixes[hit]!.tokens
    let written = 0
    let writtenForAnHour = 0
    let end = read
    for (let i = hit + 1; i < prefixes.length; i++) {
      const prefix = prefixes[i]!
      const part = Math.max(0, prefix.tokens - end)
      written += part
      if (prefix.ttl === "1h") writtenForAnHour += part
      end = Math.max(end, prefix.tokens)
    }
    for (const prefix of prefixes) this.hold(prefix, now)
    return { read, written, writtenForAnHour }
  }

  private hold(prefix: CachePrefix, now: number): void {
    this.held.delete(prefix.id)
    this.held.set(prefix.id, now + lifetimeMillis[prefix.ttl])
    if (this.held.size > this.capacity) this.held.delete(this.held.keys().next().value!)
  }
}

/**
 * Builds the prefixes of one request, in prompt order: `add` what the prompt holds (its identity, its characters and
 * its media parts, counted as the format counts its prompt), `mark` where a prefix ends.
 */
export class PrefixBuilder {
  private readonly hash: Hash
  private chars = 0
  private media = 0
  readonly prefixes: Array<CachePrefix> = []

  /** `scope` keeps apart what is cached apart: the model, and OpenAI's `prompt_cache_key`. */
  constructor(scope: string) {
    this.hash = createHash("sha256").update(scope)
  }

  /** A piece of the prompt: `identity` is what makes it itself (its JSON), `chars` and `media` its size. */
  add(identity: string, chars: number, media: number): void {
    this.hash.update("\u0000").update(identity)
    this.chars += chars
    this.media += media
  }

  /** The prompt so far is a prefix the provider caches for `ttl`. */
  mark(ttl: CachePrefix["ttl"]): void {
    this.prefixes.push({
      id: this.hash.copy().digest("base64"),
      tokens: Reply.countTokens(this.chars) + this.media * Reply.imageTokens,
      ttl
    })
  }
}
