/** The field schemas of `provider.json`'s entries, with the messages a bad value reports. */
import * as Schema from "effect/Schema"

// Exact: an optional field holds its type or is absent, so a bad value reports the field's own message rather than
// "expected undefined".
export const optional: typeof Schema.optionalKey = Schema.optionalKey

/** An option's name as the file spells it (`defaultMaxTokens`: `default_max_tokens`). */
export const snake = (text: string): string => text.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)

export const NonEmpty = Schema.String.check(Schema.isMinLength(1, { message: "expected a non-empty string" }))
export const Positive = Schema.Number.check(
  Schema.makeFilter((n: number) => Number.isFinite(n) && n > 0, { message: "expected a positive number" })
)
export const PositiveInt = Schema.Number.check(
  Schema.makeFilter((n: number) => Number.isInteger(n) && n > 0, { message: "expected a positive whole number" })
)
export const NonNegativeInt = Schema.Number.check(
  Schema.makeFilter((n: number) => Number.isInteger(n) && n >= 0, { message: "expected a whole number, 0 or more" })
)

// A string filter rather than a union of literals: one message listing every choice, not one issue per choice.
export const oneOf = <const A extends string>(choices: ReadonlyArray<A>) =>
  Schema.String.pipe(
    Schema.refine((text: string): text is A => (choices as ReadonlyArray<string>).includes(text), {
      message: `expected one of ${choices.join(", ")}`
    })
  )

/** A URL requests may be sent to: absolute, `http:` or `https:` (a `file:` or `data:` URL is no server). */
export const HttpUrl = NonEmpty.check(
  Schema.makeFilter((url: string) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol), {
    message: "expected an absolute http:// or https:// URL such as https://api.openai.com/v1"
  })
)

// A header's name: an HTTP token (RFC 9110, section 5.1); its value: no line break or other control character (but
// tab), which would split or end the header.
const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

const headerValue = /^[\t\x20-\x7e\x80-\xff]*$/

/** Extra headers: each bad name and each bad value named under its header, never the value itself. */
export const Headers = Schema.Record(Schema.String, Schema.String).check(
  Schema.makeFilter((headers: Readonly<Record<string, string>>) =>
    Object.entries(headers).flatMap(([name, value]) => [
      ...(headerName.test(name)
        ? []
        : [{
          path: [name],
          issue: "expected a header name: letters, digits and !#$%&'*+-.^_`|~, no spaces or colons"
        }]),
      ...(headerValue.test(value)
        ? []
        : [{ path: [name], issue: "expected a header value without line breaks or control characters" }])
    ])
  )
)
