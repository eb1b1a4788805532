/** FNV-1a, 32 bits, from `seed` (FNV's offset basis unless given). */
export const fnv1a = (text: string, seed = 0x811c9dc5): number => {
  let h = seed >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export const fnv1aHex = (text: string): string => fnv1a(text).toString(16).padStart(8, "0")

/** mulberry32: a tiny seeded PRNG (32-bit outputs), good enough to pick words and faults. */
export const prng = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}
