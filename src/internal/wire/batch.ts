/**
 * What every dialect's batch API shares, for the client and the simulator alike: the custom ids every API takes, a
 * JSONL text split into its objects, and the names, URIs and object keys of the APIs that read their files from a
 * bucket (Bedrock's S3, Vertex AI's Cloud Storage). A result line before its reply is read (`RawLine`) is the adapter
 * template's (`providers/batch.ts`).
 */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type { OptionsError } from "../../OptionsError.js"
import type { BatchState } from "../../ProviderClient.js"
import { isJsonObject, type JsonObject } from "../json.js"
import * as Invalid from "../optionsError.js"
import type { RawLine, RawOutcome } from "../providers/batch.js"

/** The custom ids every batch API takes (Anthropic's pattern, the narrowest). */
export const customIdPattern = /^[a-zA-Z0-9_-]{1,64}$/

/** The custom id of a batch's `index`th request. */
export function customIdOf(index: number): string {
  return `line-${index}`
}

/** The JSON objects of a JSONL text, each with its position; a line that is not one is skipped (blank lines too). */
export function jsonLines(text: string): ReadonlyArray<JsonObject> {
  const out: Array<JsonObject> = []
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue
    try {
      const value: unknown = JSON.parse(line)
      if (isJsonObject(value)) out.push(value)
    } catch {
      // A line cut or garbled by the provider is a missing line, which the reconciliation reports as such.
    }
  }
  return out
}

/**
 * A JSONL results file's lines: each named by its `idField` where that is a string, its outcome read by `outcomeOf`.
 */
export function resultLines(
  text: string,
  idField: string,
  outcomeOf: (line: JsonObject) => RawOutcome
): ReadonlyArray<RawLine> {
  return jsonLines(text).map((line, position) => {
    const id = line[idField]
    return { customId: typeof id === "string" ? id : undefined, position, outcome: outcomeOf(line) }
  })
}

/** The lines of a JSONL text, each object on a line of its own, ending with a newline. */
export function toJsonLines(values: ReadonlyArray<unknown>): string {
  let text = ""
  for (const value of values) text += `${JSON.stringify(value)}\n`
  return text
}

/** An instant, in milliseconds since the epoch, as the ISO 8601 text batch objects write it. */
export const isoTime = (millis: number): string => new Date(millis).toISOString()

/** Whether a state has ended. */
export function ended(state: BatchState): boolean {
  return state !== "running"
}

/** `prefix` and `name` joined by one `/` (a prefix may end with one, or be empty): an object's key in a bucket. */
export function keyUnder(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix.replace(/\/+$/, "")}/${name}`
}

/** An object or prefix in a bucket: its bucket and its key (in Cloud Storage, the object's name). */
export interface BucketLocation {
  readonly bucket: string
  readonly key: string
}

/** A cloud's bucket URIs, `{scheme}://bucket/key`, read and written; `store` names its storage in an error. */
export class BucketUris {
  private readonly pattern: RegExp

  /** `bucketName`: the pattern of the cloud's bucket names. */
  constructor(readonly scheme: string, readonly store: string, bucketName: string) {
    this.pattern = new RegExp(`^${scheme}://(${bucketName})(?:/(.*))?$`)
  }

  /** A URI read, or undefined when it is not one. */
  locationOf(uri: unknown): BucketLocation | undefined {
    const match = typeof uri === "string" ? this.pattern.exec(uri) : null
    return match === null ? undefined : { bucket: match[1]!, key: match[2] ?? "" }
  }

  /** A location as its URI. */
  uriOf(location: BucketLocation): string {
    return `${this.scheme}://${location.bucket}/${location.key}`
  }
}

/**
 * A batch's `inputUri` and `outputUri` read as prefixes of `uris`, with the `OptionsError` of `module` for each that is
 * not one (`writer` writes the results).
 */
export function batchFolders(
  module: string,
  batch: { readonly inputUri: unknown; readonly outputUri: unknown },
  uris: BucketUris,
  writer: string
) {
  const problem = (field: "inputUri" | "outputUri", what: string) =>
    uris.locationOf(batch[field]) !== undefined ? undefined : Invalid.make(
      module,
      `batch.${field}`,
      batch[field],
      `the ${uris.store} prefix ${what} under (${uris.scheme}://bucket/prefix/)`
    )
  return {
    input: uris.locationOf(batch.inputUri),
    output: uris.locationOf(batch.outputUri),
    problems: [
      problem("inputUri", "each batch's input file is written"),
      problem("outputUri", `${writer} writes each batch's results`)
    ]
  }
}

/**
 * The `OptionsError` of `module`'s endpoint `option` when its `value` is given and no http(s) URL (`minio:9000` parses
 * as a URL of the scheme `minio:`); `example` is one.
 */
export function endpointProblem(
  module: string,
  option: string,
  value: string | undefined,
  example: string
): OptionsError | undefined {
  return value === undefined || (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol))
    ? undefined
    : Invalid.make(module, option, value, `an absolute URL such as ${example}`)
}

/**
 * A job name no other job of the account has (letters, digits and `-`, which every cloud's job and object names
 * take): the time and a random part.
 */
export const jobName: Effect.Effect<string> = Effect.clockWith((clock) =>
  Effect.map(
    Random.nextIntBetween(0, 2 ** 31),
    (random) =>
      `effect-llm-router-${clock.currentTimeMillisUnsafe().toString(36)}-${random.toString(36).padStart(6, "0")}`
  )
)
