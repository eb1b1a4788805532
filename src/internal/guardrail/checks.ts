/**
 * The built-in checks: named sets of patterns and word lists. Each check finds spans of a text synchronously and
 * declares the longest text a finding and the characters that decide it can take (`longestMatch`): a window's overlap
 * at least that long sees every finding whole (docs/guardrails.md).
 *
 * Every pattern is linear in its input: its repetitions are bounded, its alternatives start on different characters,
 * and a candidate starts only where a one-character lookbehind allows, so no text makes a pattern backtrack past its
 * own bound at each position.
 */
import type { Check, Finding } from "../../Guardrail.js"
import { normalise } from "./normalise.js"
import * as Validators from "./validators.js"

export type { Check, Finding }

/** One pattern of a check: a global regular expression, what it finds, the longest match with its context. */
interface Pattern {
  readonly label: string
  readonly regex: RegExp
  /**
   * The longest match, plus the characters its lookarounds read; for a pattern that ends in an unbounded run with no
   * check digit and no lookahead (a PEM block, a JSON Web Token), the longest text before the run: any text that ends
   * inside the run holds a finding up to its end, so a window holds it whole until it ends.
   */
  readonly longest: number
  /** Whether a candidate is one (a check digit, a shape rule); default every candidate. */
  readonly valid?: ((text: string) => boolean) | undefined
  /** The capture group that is the finding, when the match holds context (a name before a secret); default all. */
  readonly group?: number | undefined
}

function findAll(patterns: ReadonlyArray<Pattern>, text: string): ReadonlyArray<Finding> {
  const found: Array<Finding> = []
  for (const pattern of patterns) {
    const regex = new RegExp(pattern.regex.source, pattern.regex.flags)
    let match: RegExpExecArray | null
    while ((match = regex.exec(text)) !== null) {
      const whole = match[0]
      const group = pattern.group === undefined ? undefined : match.indices?.[pattern.group]
      const [start, end] = group ?? [match.index, match.index + whole.length]
      const value = text.slice(start, end)
      if (whole.length > 0 && (pattern.valid === undefined || pattern.valid(value))) {
        found.push({ start, end, label: pattern.label })
      } else {
        // A candidate that is not one: the next may start inside it.
        regex.lastIndex = match.index + 1
      }
    }
  }
  return found.sort((a, b) => a.start - b.start || a.end - b.end)
}

function patternCheck(name: string, patterns: ReadonlyArray<Pattern>): Check {
  return {
    name,
    longestMatch: Math.max(...patterns.map((pattern) => pattern.longest)),
    find: (text) => findAll(patterns, text)
  }
}

// An email's local part (at most 64 characters, not inside a longer run of them) and its domain (up to four labels
// of at most 63 characters, then a top-level name, not followed by more of a label).
const emailLocal = String.raw`(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}`
const emailDomain = String.raw`[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,3}\.[A-Za-z]{2,24}(?![A-Za-z0-9-])`

/** An email address: a local part of at most 64 characters, a domain of at most 4 labels; at most 254 in all. */
export const email: Check = patternCheck("email", [{
  label: "email address",
  regex: new RegExp(`${emailLocal}@${emailDomain}`, "g"),
  longest: 256,
  valid: (text) => text.length <= 254
}])

/**
 * A phone number: international (`+`, 8 to 15 digits, spaces, dots, dashes or brackets between them), North American
 * (`(415) 555-0100`, `415-555-0100`), or a national number starting with 0 with its area code apart (`020 7946 0958`).
 */
export const phone: Check = patternCheck("phone", [
  { label: "phone number", regex: /(?<![\w+])\+[1-9](?:[ .()-]{0,2}\d){7,14}(?!\d)/g, longest: 46 },
  {
    label: "phone number",
    regex: /(?<![\w+(-])(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}(?![\w-])/g,
    longest: 16
  },
  { label: "phone number", regex: /(?<![\w+-])0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}(?![\w-])/g, longest: 17 }
])

/** A payment card number: 13 to 19 digits (spaces or dashes between them) of a known network passing Luhn. */
export const card: Check = patternCheck("card", [{
  label: "payment card number",
  regex: /(?<![\d-])\d(?:[ -]?\d){12,18}(?!\d)/g,
  longest: 39,
  valid: Validators.isCardNumber
}])

/** An IBAN: its country's length and mod 97-10, in groups of four or written together. */
export const iban: Check = patternCheck("iban", [{
  label: "IBAN",
  regex: /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])/g,
  longest: 45,
  valid: Validators.isIban
}])

/**
 * National identity numbers with their rules: a US Social Security number (`AAA-GG-SSSS`, its shape rules), a UK
 * National Insurance number (its prefix and suffix rules), a Spanish DNI or NIE (its mod 23 letter) and a French
 * social security number (its mod 97 key).
 */
export const nationalId: Check = patternCheck("national-id", [
  {
    label: "US Social Security number",
    regex: /(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])/g,
    longest: 13,
    valid: Validators.isUsSsn
  },
  {
    label: "UK National Insurance number",
    regex: /(?<![A-Za-z0-9])[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])/g,
    longest: 15,
    valid: Validators.isUkNino
  },
  {
    label: "Spanish DNI or NIE",
    regex: /(?<![A-Za-z0-9])[XYZ]?\d{7,8}-?[A-Z](?![A-Za-z0-9])/g,
    longest: 13,
    valid: Validators.isSpanishId
  },
  {
    label: "French social security number",
    regex: /(?<![\dA-Za-z])[12] ?\d{2} ?\d{2} ?(?:2[AB]|\d{2}) ?\d{3} ?\d{3} ?\d{2}(?![\dA-Za-z])/g,
    longest: 23,
    valid: Validators.isFrenchNir
  }
])

/** An IPv4 address (four numbers 0 to 255) or an IPv6 address (RFC 4291's text forms). */
export const ipAddress: Check = patternCheck("ip", [
  {
    label: "IPv4 address",
    regex: /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)/g,
    longest: 18
  },
  {
    label: "IPv6 address",
    regex: /(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])/g,
    longest: 41,
    valid: Validators.isIpv6
  }
])

/** A PEM body's characters: base64, line breaks, and an encrypted key's `Proc-Type:` and `DEK-Info:` lines. */
const pemBody = "[A-Za-z0-9+/=:,\\s-]"

/** The characters around a token that end it: a key is not found inside a longer word. */
const tokenStart = "(?<![A-Za-z0-9_-])"

/**
 * Secrets: API keys of the common providers, AWS access key ids and secret access keys (by the name before them),
 * private keys in PEM blocks (by their header line, to the end marker or as far as PEM's characters go, within a bound)
 * and JSON Web Tokens (by their header and the start of their payload).
 */
export const secrets: Check = patternCheck("secrets", [
  {
    label: "Anthropic API key",
    regex: new RegExp(`${tokenStart}sk-ant-(?:api|admin|oat)\\d{2}-[A-Za-z0-9_-]{32,128}`, "g"),
    longest: 144
  },
  {
    label: "OpenAI API key",
    regex: new RegExp(`${tokenStart}sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,180}`, "g"),
    longest: 193,
    valid: Validators.looksRandom
  },
  { label: "Google API key", regex: new RegExp(`${tokenStart}AIza[0-9A-Za-z_-]{35}`, "g"), longest: 40 },
  { label: "AWS access key id", regex: /(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])/g, longest: 22 },
  {
    label: "AWS secret access key",
    // The setting's name, its `:` or `=` (quotes and a little space around), then the 40 characters of the secret.
    regex: new RegExp(
      String.raw`(?<![A-Za-z0-9_])(?:aws_?)?secret_?access_?key["']?\s{0,3}[:=]\s{0,3}["']?` +
        String.raw`([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])`,
      "dgi"
    ),
    longest: 74,
    group: 1,
    valid: Validators.looksRandom
  },
  { label: "GitHub token", regex: new RegExp(`${tokenStart}gh[pousr]_[A-Za-z0-9]{36}`, "g"), longest: 41 },
  {
    label: "GitHub token",
    regex: new RegExp(`${tokenStart}github_pat_[A-Za-z0-9_]{22,255}`, "g"),
    longest: 1 + 11 + 22
  },
  { label: "Slack token", regex: new RegExp(`${tokenStart}xox[abposre]-[A-Za-z0-9-]{10,200}`, "g"), longest: 206 },
  {
    label: "Stripe secret key",
    regex: new RegExp(`${tokenStart}(?:sk|rk)_live_[A-Za-z0-9]{16,99}`, "g"),
    longest: 109
  },
  {
    // The header line alone is proof of a private key; the block runs on to its end marker (its body at most 4,096
    // characters) or, without one, as far as PEM's characters go, so a mask covers the whole block.
    label: "private key",
    regex: new RegExp(
      `-----BEGIN (?:[A-Z0-9]{1,10} ){0,2}PRIVATE KEY-----(?:${pemBody}{0,4096}?-----END (?:[A-Z0-9]{1,10} ){0,2}` +
        `PRIVATE KEY-----|${pemBody}{0,4096})`,
      "g"
    ),
    longest: 11 + 2 * 11 + 16
  },
  {
    // The header and the start of a payload are proof of a token; its payload and signature run on.
    label: "JSON Web Token",
    regex: new RegExp(
      `${tokenStart}eyJ[A-Za-z0-9_-]{8,240}\\.eyJ[A-Za-z0-9_-]{8,1024}(?:\\.[A-Za-z0-9_-]{0,512})?`,
      "g"
    ),
    longest: 1 + 3 + 240 + 1 + 3 + 8
  }
])

/** The built-in checks by the names configuration uses. */
export const named: Readonly<Record<string, Check>> = {
  email,
  phone,
  card,
  iban,
  "national-id": nationalId,
  ip: ipAddress,
  secrets
}

function escape(word: string): string {
  return word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
}

/**
 * A word list: each word found whole (letters and digits of any script are word characters), whatever its case, matched
 * literally (a phrase's spaces match one space each). Each word is normalised as the checked text is (`normalise.ts`),
 * so a word written with a look-alike finds its text too.
 */
export function words(name: string, list: ReadonlyArray<string>): Check {
  const kept = [...new Set(list.map((word) => normalise(word.trim()).text).filter((word) => word !== ""))]
  // Longest first, so that of two words where one begins the other, the longer is found.
  kept.sort((a, b) => b.length - a.length)
  const longest = kept.reduce((most, word) => Math.max(most, word.length), 0) + 2
  if (kept.length === 0) return { name, longestMatch: 0, find: () => [] }
  return patternCheck(name, [{
    label: "listed word",
    regex: new RegExp(`(?<![\\p{L}\\p{N}\\p{M}_])(?:${kept.map(escape).join("|")})(?![\\p{L}\\p{N}\\p{M}_])`, "giu"),
    longest
  }])
}
