/**
 * The credentials the gateway holds for a configuration's MCP servers, and the one mask of everything its MCP endpoints
 * answer a caller. An upstream that echoes its request (an error quoting its headers, a token endpoint quoting its
 * form) would hand a caller the gateway's own credentials; so every answer passes `masked`, each credential in its
 * strings replaced by its masked id (`LlmError.maskKey`, as a model provider's key is masked).
 *
 * The credentials: an HTTP server's `headers` values (after the scheme: `Bearer <token>`), its OAuth client secret,
 * token endpoint and the access tokens it was given (`keptTokens`), the user, password and query values of its URLs,
 * and a stdio server's `env` values. A secret is masked whole and where a piece of it is left (a start or an end of at
 * least `shortestPiece` characters: an echo the upstream cut); the token endpoint's address is masked whole only, as
 * its start is shared by much else (`https://`).
 */
import * as Effect from "effect/Effect"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Redacted from "effect/Redacted"
import type * as Gateway from "../../../Gateway.js"
import { scrub } from "../../llmError/errorInfo.js"
import { scrubbed } from "../../llmError/mask.js"
import type { Renewable } from "../../providers/renewing.js"
import * as Tapped from "./tapped.js"

/** The credentials of a configuration's MCP servers, and the mask of what a caller receives. */
export interface Credentials {
  /** `text` with every credential in it masked (whole, or cut short at its end). */
  readonly mask: (text: string) => string
  /** `value` (JSON) with every credential in its strings (an object's names too) masked; itself when none held one. */
  readonly maskValue: (value: unknown) => unknown
  /** `response` (JSON or SSE) with every credential in its strings masked; itself, body untouched, with none held. */
  readonly masked: (response: HttpServerResponse.HttpServerResponse) => HttpServerResponse.HttpServerResponse
  /**
   * The length of the longest credential as a text may hold it: a text cut short keeps that much past its cut until
   * it is masked, so that a credential across the cut is masked whole (`stderr.ts`).
   */
  readonly longest: () => number
  /** `token`, the OAuth access token of `server`, each one it gives noted as a credential of the server. */
  readonly noting: (
    server: string,
    token: Renewable<Redacted.Redacted<string>>
  ) => Renewable<Redacted.Redacted<string>>
}

// The access tokens of a server kept as credentials: the one held, and those before it, which calls still in flight
// may have been sent with.
const keptTokens = 4

// The credentials in a URL: its user and password, and its query's values.
function urlSecrets(text: string): ReadonlyArray<string> {
  if (!URL.canParse(text)) return []
  const url = new URL(text)
  return [decodeURIComponent(url.username), decodeURIComponent(url.password), ...url.searchParams.values()]
}

// A server's credentials: the secrets, masked whole and by their pieces, and the texts masked whole only (a token
// endpoint's address).
interface Held {
  readonly secrets: ReadonlyArray<string>
  readonly texts: ReadonlyArray<string>
}

// The credentials of `server`, as configured.
function configured(server: Gateway.McpServer): Held {
  if ("command" in server) return { secrets: Object.values(server.env ?? {}).map(Redacted.value), texts: [] }
  const values = Object.values(server.headers ?? {}).map(Redacted.value)
  const { oauth } = server
  return {
    secrets: [
      ...values.map((value) => /^[A-Za-z0-9-]+ (\S+)$/.exec(value)?.[1] ?? value),
      ...urlSecrets(server.url),
      ...(oauth === undefined ? [] : [Redacted.value(oauth.clientSecret), ...urlSecrets(oauth.tokenUrl)])
    ],
    texts: oauth === undefined ? [] : [oauth.tokenUrl]
  }
}

// How deep in JSON written into a string (and that into another) a credential is still found: an upstream's echo of
// its request as JSON, in a text block, in the gateway's answer.
const nesting = 3

// What a credential looks like in a text: as it is, and as JSON writes it in a string, as deep as `nesting`.
function spellings(value: string): ReadonlyArray<string> {
  const out = [value]
  for (let depth = 1; depth <= nesting; depth++) {
    const escaped = JSON.stringify(out[out.length - 1]).slice(1, -1)
    if (escaped === out[out.length - 1]) break
    out.push(escaped)
  }
  return out
}

// Each credential of `values` long enough to tell (a shorter one is too common: a mode's `1`, a port) in each of its
// spellings, the longest first, so that one holding another is masked whole.
function spelt(values: ReadonlyArray<string>): ReadonlyArray<Redacted.Redacted<string>> {
  return [...new Set(values.filter((value) => value.length >= 4).flatMap(spellings))]
    .sort((a, b) => b.length - a.length)
    .map((value) => Redacted.make(value))
}

// What a text that holds a credential holds: one of `texts`, or the start or the end of one of `secrets`.
function signs(
  texts: ReadonlyArray<Redacted.Redacted<string>>,
  secrets: ReadonlyArray<Redacted.Redacted<string>>
): ReadonlyArray<string> {
  return [
    ...texts.map(Redacted.value),
    ...secrets.map(Redacted.value).flatMap((value) => [value.slice(0, shortestPiece), value.slice(-shortestPiece)])
  ]
}

// The shortest piece of a credential masked where an upstream cut its echo (a start or an end of it): shorter pieces
// are too common to tell from other text.
const shortestPiece = 8

/** The credentials of `servers`, and the mask of what their endpoints answer. */
export function make(servers: Readonly<Record<string, Gateway.McpServer>>): Credentials {
  const fixed = Object.values(servers).map(configured)
  const texts = spelt(fixed.flatMap((held) => held.texts))
  const tokens = new Map<string, ReadonlyArray<string>>()
  let secrets = spelt(fixed.flatMap((held) => held.secrets))
  let seen = signs(texts, secrets)

  function note(server: string, token: Redacted.Redacted<string>) {
    const value = Redacted.value(token)
    const held = tokens.get(server) ?? []
    if (held.includes(value)) return
    tokens.set(server, [value, ...held].slice(0, keptTokens))
    secrets = spelt([...fixed.flatMap((one) => one.secrets), ...[...tokens.values()].flat()])
    seen = signs(texts, secrets)
  }

  // The texts first: a token endpoint's address is masked whole, not as the address of the query value it holds.
  const mask = (text: string): string => scrub(scrub(text, texts), secrets, shortestPiece)
  const maskValue = (value: unknown): unknown => scrubbed(scrubbed(value, texts), secrets, shortestPiece)

  // A line of an answer (a JSON body, or an event's `data:` line) with every credential in its strings masked, whole or
  // a piece of it: read as JSON, so that no mask can break it (a credential spelt as a number's digits is left there),
  // else as text. A line that holds no start or end of a credential, and no cut ("…"), is left as it is.
  function maskedLine(line: string): string {
    if (!line.includes("…") && !seen.some((spelling) => line.includes(spelling))) return line
    const prefix = line.startsWith("data:") ? line.slice(0, line.startsWith("data: ") ? 6 : 5) : ""
    try {
      const value: unknown = JSON.parse(line.slice(prefix.length))
      return prefix + JSON.stringify(maskValue(value))
    } catch {
      return mask(line)
    }
  }

  return {
    mask,
    maskValue,
    longest: () => Math.max(0, ...[...texts, ...secrets].map((secret) => Redacted.value(secret).length)),
    masked: (response) => {
      // Nothing held, nothing to mask: an answer passes as it is, its body neither decoded nor re-encoded. Only a
      // server with OAuth has tokens noted later, and its token endpoint is held from the start.
      if (seen.length === 0) return response
      return Tapped.linesMapped(response, maskedLine)
    },
    noting: (server, token) => ({
      current: Effect.tap(token.current, (value) => Effect.sync(() => note(server, value))),
      expire: token.expire
    })
  }
}
