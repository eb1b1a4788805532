/**
 * A batch's ids over their whole domain: any reference sealed under a secret reads back as it was and is its signer's
 * only; and an id changed in any one character, at any place, to any other character an id may hold, is signed by no
 * one (the signature's last character included, whose spare bits base64url's decoding ignores); and an id made before
 * ids carried the model still reads, its deployment's name as its model.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { createHmac } from "node:crypto"
import * as Ids from "../../src/internal/gateway/batches/ids.js"

const kinds: ReadonlyArray<Ids.Kind> = ["batch", "message", "output", "error"]
const base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

const kind = fc.constantFrom(...kinds)
const ref = fc.record({
  deployment: fc.string(),
  keyTag: fc.string(),
  batch: fc.string(),
  caller: fc.string(),
  inputFile: fc.string(),
  createdAt: fc.integer({ min: 0 }),
  model: fc.string()
})
const secret = fc.string({ minLength: 1 }).map((text) => Redacted.make(text))
const character = fc.nat({ max: base64url.length - 1 })

/** `id` with its character at `at` replaced by the `replacement`th of base64url's, or the next when it is the same. */
function changedAt(id: string, at: number, replacement: number): string {
  const chosen = base64url[replacement] === id[at]
    ? base64url[(replacement + 1) % base64url.length]
    : base64url[replacement]
  return `${id.slice(0, at)}${chosen}${id.slice(at + 1)}`
}

describe("batch ids", () => {
  it("an id reads back as sealed and is its signer's only", () => {
    fc.assert(fc.property(kind, ref, secret, secret, (of, sealedRef, signer, other) => {
      const read = Ids.claimed(of, Ids.sealed(of, sealedRef, signer))
      assert.isDefined(read)
      assert.deepStrictEqual(read!.ref, sealedRef)
      assert.isTrue(read!.signedBy(signer))
      assert.strictEqual(read!.signedBy(other), Redacted.value(other) === Redacted.value(signer))
    }))
  })

  it("an id changed in any one character is signed by no one", () => {
    fc.assert(fc.property(kind, ref, secret, fc.nat(), character, (of, sealedRef, signer, place, replacement) => {
      const id = Ids.sealed(of, sealedRef, signer)
      const read = Ids.claimed(of, changedAt(id, place % id.length, replacement))
      assert.isTrue(read === undefined || !read.signedBy(signer))
    }))
  })

  it("an id whose signature's last character is changed is signed by no one", () => {
    fc.assert(fc.property(kind, ref, secret, character, (of, sealedRef, signer, replacement) => {
      const id = Ids.sealed(of, sealedRef, signer)
      assert.isFalse(Ids.claimed(of, changedAt(id, id.length - 1, replacement))!.signedBy(signer))
    }))
  })

  it("an id of six fields, made before ids carried the model, reads with its deployment as its model", () => {
    fc.assert(fc.property(kind, ref, secret, (of, { model: _, ...older }, signer) => {
      const fields = [older.deployment, older.keyTag, older.batch, older.caller, older.inputFile, older.createdAt]
      const payload = Buffer.from(JSON.stringify(fields)).toString("base64url")
      const signature = createHmac("sha256", Redacted.value(signer))
        .update(`effect-llm-router batch\n${of}\n${payload}`)
        .digest("base64url")
      const prefix = Ids.sealed(of, { ...older, model: "" }, signer).split(".")[0]
      const read = Ids.claimed(of, `${prefix}.${payload}.${signature}`)
      assert.isDefined(read)
      assert.deepStrictEqual(read!.ref, { ...older, model: older.deployment })
      assert.isTrue(read!.signedBy(signer))
    }))
  })
})
