/**
 * The ids a client of `/v1/batches` or `/v1/messages/batches` holds (a batch's, and its output and error files'; an id
 * of one wire is no id of the other), each carrying what any instance needs to answer for it, signed with HMAC-SHA256
 * under a secret no client knows (`batching.ts`' `signerFor`): a client cannot make an id naming another's batch, nor
 * change what its own names. An id is answered for the caller it names only. The key is named by a digest of its secret
 * (`keyTag`), never by its masked id, which shows some of the key's characters.
 */
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createHmac, timingSafeEqual } from "node:crypto"
import { parseJson } from "../../json.js"

/** What a batch's id carries. */
export interface BatchRef {
  /** The deployment's name. */
  readonly deployment: string
  /** The tag of the pool's key the batch was made with (`keyTag`). */
  readonly keyTag: string
  /** The provider's id of the batch. */
  readonly batch: string
  /** The id of the caller that made it (`Caller.id`); empty without gateway keys. */
  readonly caller: string
  /** The input file's id, as the client named it. */
  readonly inputFile: string
  /** When it was made, in Clock millis. */
  readonly createdAt: number
  /**
   * The model the batch named (the gateway's name), whose guardrails its results pass; for an id made before ids
   * carried it, its deployment's name, which names a model too.
   */
  readonly model: string
}

/** Which batch an id names: one of OpenAI's `/v1/batches`, or of Anthropic's `/v1/messages/batches`. */
export type BatchKind = "batch" | "message"

/** Which of a batch's ids: the batch's, or its output or error file's. */
export type Kind = BatchKind | "output" | "error"

const prefixes: Readonly<Record<Kind, string>> = {
  batch: "batch_gw1.",
  message: "msgbatch_gw1.",
  output: "file-gwo1.",
  error: "file-gwe1."
}

/** Which batch `id` claims to name, by its prefix; `undefined` when it is no batch's id. */
export function batchKindOf(id: string): BatchKind | undefined {
  return id.startsWith(prefixes.batch) ? "batch" : id.startsWith(prefixes.message) ? "message" : undefined
}

/**
 * The tag a batch's id names its provider key by: a digest of the key's secret (HMAC-SHA256, 128 bits of it), which
 * tells nothing of the key to whoever does not hold it.
 */
export function keyTag(secret: Redacted.Redacted<string>): string {
  return createHmac("sha256", Redacted.value(secret)).update("effect-llm-router batch key").digest()
    .subarray(0, 16).toString("base64url")
}

function signature(kind: Kind, payload: string, secret: Redacted.Redacted<string>): Buffer {
  return createHmac("sha256", Redacted.value(secret)).update(`effect-llm-router batch\n${kind}\n${payload}`).digest()
}

/** The id of `kind` for `ref`, signed under `secret` (the secret of the key `ref.keyTag` names). */
export function sealed(kind: Kind, ref: BatchRef, secret: Redacted.Redacted<string>): string {
  const fields = [ref.deployment, ref.keyTag, ref.batch, ref.caller, ref.inputFile, ref.createdAt, ref.model]
  const payload = Buffer.from(JSON.stringify(fields)).toString("base64url")
  return `${prefixes[kind]}${payload}.${signature(kind, payload, secret).toString("base64url")}`
}

/** An id read but not yet checked: what it claims, and how to check its signature. */
export interface Claimed {
  readonly ref: BatchRef
  /** Whether the id was signed under `secret`. */
  readonly signedBy: (secret: Redacted.Redacted<string>) => boolean
}

/** What an id of `kind` claims, or `undefined` for a text that is not one. */
export function claimed(kind: Kind, id: string): Claimed | undefined {
  const prefix = prefixes[kind]
  if (!id.startsWith(prefix)) return undefined
  const [payload, sent, ...rest] = id.slice(prefix.length).split(".")
  if (payload === undefined || sent === undefined || rest.length > 0) return undefined
  const fields = Option.getOrUndefined(parseJson(Buffer.from(payload, "base64url").toString("utf8")))
  // Six fields: an id made before ids carried the model.
  if (!Array.isArray(fields) || (fields.length !== 6 && fields.length !== 7)) return undefined
  const [deployment, keyTag, batch, caller, inputFile, createdAt, model = deployment] = fields as Array<unknown>
  if (
    typeof deployment !== "string" || typeof keyTag !== "string" || typeof batch !== "string" ||
    typeof caller !== "string" || typeof inputFile !== "string" || typeof createdAt !== "number" ||
    typeof model !== "string"
  ) return undefined
  // Compared as sent, not decoded: base64url's decoding ignores the last character's spare bits, so two spellings
  // decode to one signature, and an id changed in that character would pass as its maker's.
  const signatureSent = Buffer.from(sent)
  return {
    ref: { deployment, keyTag, batch, caller, inputFile, createdAt, model },
    signedBy: (secret) => {
      const expected = Buffer.from(signature(kind, payload, secret).toString("base64url"))
      return expected.length === signatureSent.length && timingSafeEqual(expected, signatureSent)
    }
  }
}
