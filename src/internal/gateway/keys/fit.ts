/**
 * A budgeted chat fitted to what its budget has left. Its worst case (`auth.ts`' `worstCase`) is reserved when it fits;
 * else the prompt is counted by its provider (where one count holds for every deployment reached: `Target.sharedCount`)
 * with a margin, and the reply's bound lowered to what the rest pays for. The reservation stays the most the call can
 * bill; the call is refused only when the least reply its API takes does not fit.
 */
import * as Effect from "effect/Effect"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import * as Pricing from "../../../Pricing.js"
import { mediaParts } from "../../tokens/media.js"
import type { Target } from "../engine.js"

/**
 * A provider's prompt count with its margin: Anthropic's token counting guide calls its count an estimate, which "may
 * differ by a small amount" from what the call bills, so a tenth more (rounded up) is reserved.
 */
export const withMargin = (tokens: number): number => tokens + Math.ceil(tokens / 10)

/** What the fitting reads of a call's target. */
export type Fitting = Pick<Target, "price" | "leastMaxTokens" | "sharedCount" | "llm" | "address">

/**
 * The prompt's tokens as the provider of every deployment `target` reaches counts them, `withMargin`; none where no one
 * count holds for all, the count is a local estimate or it fails, or the prompt has media: a part by URL may hold
 * another size by the time the call reads it (docs/cost.md, "Media").
 */
export const countedPrompt = (target: Fitting, request: ChatRequest): Effect.Effect<number | undefined> =>
  !target.sharedCount || mediaParts(request).length > 0 ? Effect.undefined : target.llm.countTokens(
    target.address === undefined ? request : { ...request, model: target.address }
  ).pipe(
    Effect.map((count) => count.estimated ? undefined : withMargin(count.inputTokens)),
    Effect.orElseSucceed(() => undefined)
  )

/**
 * The most `request` can cost through `target`, at its highest price, with a reply bound of `maxTokens` (raised to
 * `Target.leastMaxTokens`; none: no reply counted) and `promptTokens` (none: counted at most from the request).
 */
export const worstCaseAt = (
  target: Pick<Target, "price" | "leastMaxTokens">,
  request: ChatRequest,
  maxTokens: number | undefined,
  promptTokens: number | undefined
): number =>
  target.price === undefined ? 0 : Pricing.estimate(
    target.price,
    maxTokens === undefined ? request : { ...request, maxTokens: Math.max(maxTokens, target.leastMaxTokens) },
    promptTokens === undefined ? undefined : { promptTokens }
  )

/**
 * The most reply tokens, from the least `target` sends up to `asked`, whose worst case is at most `left` US dollars
 * (`undefined` when even the least does not fit); found by halving, as the worst case grows with the bound.
 */
export function replyFitting(
  target: Pick<Target, "price" | "leastMaxTokens">,
  request: ChatRequest,
  asked: number,
  promptTokens: number | undefined,
  left: number
): number | undefined {
  const fits = (maxTokens: number) => worstCaseAt(target, request, maxTokens, promptTokens) <= left
  let low = Math.min(asked, target.leastMaxTokens)
  if (!fits(low)) return undefined
  let high = asked
  if (fits(high)) return high
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2)
    if (fits(middle)) low = middle
    else high = middle
  }
  return low
}
