/**
 * A token count as a provider's body carries it: a positive finite number,
 * floored; anything else (absent, null, negative, a string) counts as 0.
 *
 * @internal
 */
export const tokenCount = (value: unknown): number =>
  typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0
