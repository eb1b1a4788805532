/**
 * Mid-stream continuation (`Router.Options.midStream: "continue"`): a stream broke after part of its reply went out,
 * and the next deployment is asked to go on from exactly that text. A deployment that takes an assistant prefill
 * (`Deployment.prefill`: Anthropic's Messages API, a compatible server that says so) gets the text as the start of its
 * own reply; any other gets a continuation turn: the text as an assistant message, then a user message asking for the
 * rest. A prefill the deployment refuses (a 400) is asked again by the turn in the same attempt, and never by prefill
 * again (`refused`).
 *
 * A turn's reply is checked before any of it is forwarded (`judge`): models asked to go on often start again, or repeat
 * the last sentence first. Such an opening is dropped; an answer given again in other words is not passed off as the
 * rest of the first.
 */
import * as Effect from "effect/Effect"
import type * as ChatChunk from "../../ChatChunk.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { emptyUsage, type Usage } from "../../ChatResponse.js"
import type { LlmError } from "../../LlmError.js"
import * as Message from "../../Message.js"
import { estimateUsage } from "../llm/usage.js"

/** What a continuation turn asks after the text already sent. */
export const instruction = "Your previous reply was cut off. Write only the rest of it, starting exactly where " +
  "it stopped (mid-word if it stopped mid-word): it will be appended to what you wrote. Do not repeat any of it, " +
  "do not start over, and add no preamble or comment."

/**
 * What a broken stream had sent: its text (the router's only copy is the text it forwarded), and the usage and cost of
 * the attempts that broke, added to the rest's.
 */
export interface Sent {
  readonly text: string
  readonly usage: Usage
  readonly cost: number
}

// Anthropic's API refuses a prefill that ends with white space: it goes without it.
const prefillOf = (text: string): string => text.trimEnd()

/** The request that asks for the rest by prefill: the text sent as the start of the assistant's reply. */
export const prefilled = (request: ChatRequest, sent: Sent): ChatRequest => ({
  ...request,
  messages: [...request.messages, Message.assistant(prefillOf(sent.text))]
})

/** Whether `request` asks for the rest by a continuation turn (`turn`). */
export const isTurn = (request: ChatRequest): boolean => {
  const last = request.messages.at(-1)
  return last?.role === "user" && last.content === instruction
}

/** The request that asks for the rest by a continuation turn. */
export const turn = (request: ChatRequest, sent: Sent): ChatRequest => ({
  ...request,
  messages: [...request.messages, Message.assistant(sent.text), Message.user(instruction)]
})

/**
 * A continuation's attempt: by prefill where the deployment takes one, a refusal asked again by a turn; else by a turn.
 * With no text sent yet (only reasoning went out), the request as it was.
 */
export const send = <A>(
  request: ChatRequest,
  sent: Sent,
  prefill: boolean,
  attempt: (request: ChatRequest) => Effect.Effect<A, LlmError>,
  refused: () => void
): Effect.Effect<A, LlmError> => {
  if (sent.text === "") return attempt(request)
  if (!prefill || prefillOf(sent.text) === "") return attempt(turn(request, sent))
  return Effect.catchIf(
    attempt(prefilled(request, sent)),
    (error) => error._tag === "InvalidRequestError",
    () => Effect.andThen(Effect.sync(refused), attempt(turn(request, sent)))
  )
}

/**
 * What a continuation turn's opening says of it (`judge`): not yet known (`Undecided`); it goes on from the text sent
 * once its first `drop` characters (a restarted opening, a repeated tail) are dropped (`Continues`); or it is another
 * answer (`Restarted`), which must not be forwarded as the rest of the first.
 */
export type Verdict =
  | { readonly _tag: "Undecided" }
  | { readonly _tag: "Continues"; readonly drop: number }
  | { readonly _tag: "Restarted" }

/** The text as compared: lower case, each run of anything but letters and digits one space, none at either end. */
interface Normalised {
  readonly text: string
  /** For each character of `text`, the index in the original just after what gave it. */
  readonly ends: ReadonlyArray<number>
}

const wordCharacter = /[\p{L}\p{N}]/u

const normalised = (text: string): Normalised => {
  let out = ""
  const ends: Array<number> = []
  let separated = false
  let index = 0
  for (const character of text) {
    index += character.length
    if (!wordCharacter.test(character)) {
      separated = out.length > 0
      continue
    }
    if (separated) {
      out += " "
      ends.push(index - character.length)
      separated = false
    }
    for (const lower of character.toLowerCase()) {
      out += lower
      ends.push(index)
    }
  }
  return { text: out, ends }
}

/** The normalised characters of an opening read before it is judged, unless it ends first. */
export const openingWindow = 64
/** The shortest repeat of the sent text's tail taken as one (a shorter match may be chance). */
export const minimumOverlap = 16
/**
 * The share of the sent text's first pairs of near words that an opening's first pairs hold, beyond which it is the
 * same answer in other words: a continuation names the answer's subject again, a restart says its words again next to
 * the same neighbours.
 */
const rewordedShare = 1 / 3
const comparedWords = 12
/** How far apart two words may be to pair: each word pairs with the next `pairedWithin`. */
const pairedWithin = 2

// The first words compared for a rewording: letters and digits only (`multi_agent_v1` is one word, as an answer written
// without punctuation has it), of four letters or more (short ones are common to any two texts); the last run left out
// while it may be cut short.
function firstWords(text: string, whole: boolean): ReadonlyArray<string> {
  const runs = text.toLowerCase().split(/\s+/u).filter((run) => run !== "")
  if (!whole) runs.pop()
  return runs.map((run) => run.replace(/[^\p{L}\p{N}]+/gu, "")).filter((word) => word.length >= 4)
    .slice(0, comparedWords)
}

// Each word with each of the next `pairedWithin`, in either order (a clause moved keeps its pairs).
function nearPairs(words: ReadonlyArray<string>): ReadonlySet<string> {
  const pairs = new Set<string>()
  words.forEach((word, i) => {
    for (const other of words.slice(i + 1, i + 1 + pairedWithin)) {
      pairs.add(word < other ? `${word} ${other}` : `${other} ${word}`)
    }
  })
  return pairs
}

// The share of the fewer first pairs of the two that the other holds too (the overlap coefficient); none without a
// pair. The sent text's last word may be cut short, and so may the opening's until it ended: each is left out then.
function sharedPairs(sent: string, opening: string, ended: boolean): number {
  const one = nearPairs(firstWords(sent, /\s$/u.test(sent)))
  const other = nearPairs(firstWords(opening, ended || /\s$/u.test(opening)))
  const fewer = Math.min(one.size, other.size)
  if (fewer === 0) return 0
  let common = 0
  for (const pair of one) if (other.has(pair)) common++
  return common / fewer
}

// The separator `text` ends with: what follows its last letter or digit (empty when it ends in one).
function trailingSeparator(text: string): string {
  let start = text.length
  while (start > 0) {
    const low = text.charCodeAt(start - 1)
    const width = start >= 2 && low >= 0xdc00 && low <= 0xdfff ? 2 : 1
    if (wordCharacter.test(text.slice(start - width, start))) break
    start -= width
  }
  return text.slice(start)
}

// The end of the run of characters that are not letters or digits at `from` in `text`.
function separatorEnd(text: string, from: number): number {
  let end = from
  while (end < text.length) {
    const character = String.fromCodePoint(text.codePointAt(end)!)
    if (wordCharacter.test(character)) break
    end += character.length
  }
  return end
}

// How much of the opening's separator `theirs` to drop after the sent text's `ours`: all `ours` holds when `theirs`
// starts with it; else what they share at the start, then, when `ours` ends in white space, the white space that
// follows. Either way the join keeps a separator.
function separatorDropped(ours: string, theirs: string): number {
  if (theirs.startsWith(ours)) return ours.length
  let common = 0
  for (const character of theirs) {
    if (!ours.startsWith(character, common)) break
    common += character.length
  }
  if (!/\s$/u.test(ours)) return common
  while (common < theirs.length && /\s/u.test(theirs[common]!)) common++
  return common
}

/**
 * Whether a continuation turn's `opening` (`ended`: all of it) goes on from `sent`, compared normalised (case,
 * punctuation and white space aside). An opening that starts the sent text again word for word, or repeats its tail
 * (`minimumOverlap` characters at least), continues once that is dropped. One that shares neither continues as it is,
 * unless more than `rewordedShare` of its first pairs of near words are pairs of the sent text's too (the answer again
 * in other words: `sharedPairs`), or it ended within a repeat of the sent text's start. What is dropped ends at the
 * join with one separator (`separatorDropped`), so the word at the join is never glued to its neighbour.
 */
export const judge = (sent: string, opening: string, ended: boolean): Verdict => {
  const before = normalised(sent).text
  const after = normalised(opening)
  const text = after.text
  // The opening's first `characters` (normalised) dropped, then, when the sent text ended in a separator, what of the
  // opening's separator there it already holds; undecided while that separator may still go on.
  const dropped = (characters: number): Verdict => {
    if (characters === 0) return { _tag: "Continues", drop: 0 }
    const drop = after.ends[characters - 1]!
    const ours = trailingSeparator(sent)
    if (ours === "") return { _tag: "Continues", drop }
    const end = separatorEnd(opening, drop)
    if (end === opening.length && !ended) return { _tag: "Undecided" }
    return { _tag: "Continues", drop: drop + separatorDropped(ours, opening.slice(drop, end)) }
  }
  if (before === "") return dropped(0)
  // The whole sent text again, and more or the end: dropped, the rest (if any) goes on from the join.
  if (text.startsWith(before) && (ended || text.length > before.length)) return dropped(before.length)
  // The answer from its start again, so far: read on while it may be, up to the sent text and one character more (which
  // says whether its last word was whole). Ended there, it is a restart when it is whole words of the start,
  // `minimumOverlap` characters at least; a shorter one (" call." after "Caller...") is too little to tell, and goes on
  // as it is.
  if (before.startsWith(text)) {
    if (!ended) return { _tag: "Undecided" }
    const wholeWords = before[text.length] === " "
    return text !== "" && wholeWords && text.length >= minimumOverlap ? { _tag: "Restarted" } : dropped(0)
  }
  // The sent text's tail again: the longest repeat, read on while the opening is all repeat.
  const tail = before.slice(-Math.max(openingWindow * 4, 2048))
  for (let length = Math.min(tail.length, text.length); length >= minimumOverlap; length--) {
    if (tail.endsWith(text.slice(0, length))) {
      return length === text.length && !ended ? { _tag: "Undecided" } : dropped(length)
    }
  }
  // Not yet judged on less than its window, nor while it may still be a repeat that has not reached the cut (the
  // opening so far found in the tail at a word's start).
  if (!ended && (text.length < openingWindow || tail.startsWith(text) || tail.includes(` ${text}`))) {
    return { _tag: "Undecided" }
  }
  return sharedPairs(sent, opening, ended) > rewordedShare ? { _tag: "Restarted" } : dropped(0)
}

/** `chunks` without the first `drop` characters of their text. */
export const withoutText = (
  chunks: ReadonlyArray<ChatChunk.ChatChunk>,
  drop: number
): Array<ChatChunk.ChatChunk> => {
  let left = drop
  const kept: Array<ChatChunk.ChatChunk> = []
  for (const chunk of chunks) {
    if (chunk._tag !== "TextDelta" || left === 0) kept.push(chunk)
    else if (chunk.text.length <= left) left -= chunk.text.length
    else {
      kept.push({ ...chunk, text: chunk.text.slice(left) })
      left = 0
    }
  }
  return kept
}

/** Two usages as one: every count added, estimated when either is. */
export const sum = (a: Usage, b: Usage): Usage => ({
  promptTokens: a.promptTokens + b.promptTokens,
  completionTokens: a.completionTokens + b.completionTokens,
  totalTokens: a.totalTokens + b.totalTokens,
  cachedPromptTokens: a.cachedPromptTokens + b.cachedPromptTokens,
  reasoningTokens: a.reasoningTokens + b.reasoningTokens,
  ...(a.cacheWriteTokens !== undefined || b.cacheWriteTokens !== undefined
    ? { cacheWriteTokens: (a.cacheWriteTokens ?? 0) + (b.cacheWriteTokens ?? 0) }
    : {}),
  ...(a.hostedToolCalls !== undefined || b.hostedToolCalls !== undefined
    ? { hostedToolCalls: sumCalls(a.hostedToolCalls ?? {}, b.hostedToolCalls ?? {}) }
    : {}),
  estimated: a.estimated || b.estimated
})

/** Two counts of hosted tools' calls as one. */
function sumCalls(
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>>
): Readonly<Record<string, number>> {
  const out: Record<string, number> = { ...a }
  for (const [type, calls] of Object.entries(b)) out[type] = (out[type] ?? 0) + calls
  return out
}

/** The usage of an attempt that broke: what its stream reported, else counted locally (`estimated`). */
export const brokenUsage = (
  request: ChatRequest,
  reported: Usage | undefined,
  text: string
): Effect.Effect<Usage> =>
  reported !== undefined ? Effect.succeed(reported) : estimateUsage(request, { text, toolCalls: [] })

/** Nothing carried yet. */
export const nothingSent: Sent = { text: "", usage: emptyUsage, cost: 0 }
