/**
 * The simulator's prompt cache: a small memory of the prompt prefixes it has seen, so a request that repeats one
 * reports cache reads, and one that adds to it cache writes. Each wire format says which prefixes a provider would
 * cache (`WireFormat.cachePrefixes`).
 *
 * A request reads the longest prefix held and writes the rest up to its longest breakpoint, each part written for the
 * lifetime of the breakpoint that ends it (as Anthropic's `cache_creation` splits writes by TTL). Every breakpoint of
 * the request is then held (or refreshed, as a cache hit refreshes it) for its lifetime; past `capacity` prefixes the
 * least recently used is forgotten.
 */
import { createHash } from "node:crypto"
import * as Reply from "../../simulator/Reply.js"
import type { CachePrefix } from "../../simulator/WireFormat.js"

const lifetimeMillis = { "5m": 5 * 60_000, "1h": 60 * 60_000 } as const

/**
 * The fewest prompt tokens a provider caches on its own, unasked: Gemini's implicit caching (its context caching guide)
 * and OpenAI's (its prompt caching guide).
 */
export const implicitMinimum = 1024

/** A value's characters when it is a string, else none: a prompt piece's size as the request decoders count it. */
export const textLength = (value: unknown): number => typeof value === "string" ? value.length : 0

/** A cache of at most `capacity` prefixes (the least recently used forgotten first). */
export class PromptCache {
  // Prefix id to the Clock millis it expires at, in order of use.
  private readonly held = new Map<string, number>()

  constructor(private readonly capacity: number) {}

  /**
   * The prompt tokens a request with `prefixes` (shortest first) reads from the cache at `now`, and writes to it (every
   * token written, for either lifetime, and of those the tokens written for an hour); its breakpoints are held after.
   */
  use(prefixes: ReadonlyArray<CachePrefix>, now: number) {
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
      const { tokens, ttl } = prefixes[i]!
      if (ttl === undefined) continue
      const part = Math.max(0, tokens - end)
      written += part
      if (ttl === "1h") writtenForAnHour += part
      end = Math.max(end, tokens)
    }
    for (const { id, ttl } of prefixes) if (ttl !== undefined) this.hold(id, now + lifetimeMillis[ttl])
    return { read, written, writtenForAnHour }
  }

  private hold(id: string, expires: number): void {
    this.held.delete(id)
    this.held.set(id, expires)
    if (this.held.size > this.capacity) this.held.delete(this.held.keys().next().value!)
  }
}

/**
 * Builds the prefixes of one request, in prompt order. A piece is `identify`d (its JSON) and hashed only when a
 * breakpoint follows it, so a request without one costs no hashing.
 */
export class PrefixBuilder<Piece> {
  private chars = 0
  private media = 0
  private readonly pieces: Array<{ readonly piece: Piece; readonly tokens: number; ttl?: CachePrefix["ttl"] }> = []

  /** `scope` keeps apart what is cached apart: the model, and OpenAI's `prompt_cache_key`. */
  constructor(private readonly scope: string, private readonly identify: (piece: Piece) => string) {}

  /** A piece of the prompt, `chars` and `media` (its media parts' tokens) its size. */
  add(piece: Piece, chars: number, media: number): void {
    this.chars += chars
    this.media += media
    this.pieces.push({ piece, tokens: Reply.countTokens(this.chars) + this.media })
  }

  /** The prompt's tokens so far. */
  get tokens(): number {
    return this.pieces.at(-1)?.tokens ?? 0
  }

  /** The prompt up to the last piece added is cached for `ttl`. */
  mark(ttl: NonNullable<CachePrefix["ttl"]>): void {
    const last = this.pieces.at(-1)
    if (last !== undefined) last.ttl = ttl
  }

  /** The prompt up to the last piece added is cached for five minutes, once it holds `minimum` tokens. */
  markPast(minimum: number): void {
    if (this.tokens >= minimum) this.mark("5m")
  }

  /** The prefixes up to the last breakpoint, shortest first; none without a breakpoint. */
  get prefixes(): ReadonlyArray<CachePrefix> {
    let last = this.pieces.length - 1
    while (last >= 0 && this.pieces[last]!.ttl === undefined) last--
    if (last < 0) return []
    const hash = createHash("sha256").update(this.scope)
    const prefixes: Array<CachePrefix> = []
    for (let i = 0; i <= last; i++) {
      const { piece, tokens, ttl } = this.pieces[i]!
      hash.update("\u0000").update(this.identify(piece))
      prefixes.push({ id: hash.copy().digest("base64"), tokens, ttl })
    }
    return prefixes
  }
}
