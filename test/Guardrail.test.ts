import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as Guardrail from "../src/Guardrail.js"
import { applyMasks, resolve } from "../src/internal/guardrail/chain.js"
import { normalise } from "../src/internal/guardrail/normalise.js"
import { cutOf } from "../src/internal/guardrail/stream.js"
import * as Validators from "../src/internal/guardrail/validators.js"
import { cardNumber, chunked, ibanOf, labelled, wordList } from "./fixtures/guardrails/labelled.js"

const checks: ReadonlyArray<Guardrail.Check> = [
  ...Object.values(Guardrail.checks),
  Guardrail.words("words", wordList)
]

function guardrail(options: Partial<Guardrail.Options> & Pick<Guardrail.Options, "checks">): Guardrail.Guardrail {
  return Effect.runSync(Guardrail.make({ name: "test", ...options }))
}

/** The text of `chunks` through `chain`, or the block's error. */
function run(chain: ReadonlyArray<Guardrail.Guardrail>, chunks: ReadonlyArray<string>) {
  return Effect.runSyncExit(
    Stream.fromIterable(chunks).pipe(Guardrail.checkStream(chain, { where: "reply" }), Stream.runCollect)
  )
}

function textOf(exit: ReturnType<typeof run>): string | undefined {
  return Exit.isSuccess(exit) ? exit.value.join("") : undefined
}

describe("Guardrail: check digits and shape rules", () => {
  it("Luhn: every card the fixture makes passes, and changing its last digit fails", () => {
    fc.assert(
      fc.property(fc.constantFrom("4", "51", "2221", "37", "6011"), (prefix) => {
        const good = cardNumber(prefix, prefix === "37" ? 15 : 16)
        expect(Validators.isCardNumber(good)).toBe(true)
        const last = Number(good.at(-1))
        for (let d = 0; d <= 9; d++) {
          if (d !== last) expect(Validators.luhn(good.slice(0, -1) + d)).toBe(false)
        }
      })
    )
  })

  it("mod 97: an IBAN with its check digits passes, with any other pair fails", () => {
    const good = ibanOf("DE", "370400440532013000")
    expect(Validators.isIban(good)).toBe(true)
    for (let check = 0; check <= 99; check++) {
      const other = `DE${String(check).padStart(2, "0")}370400440532013000`
      expect(Validators.isIban(other)).toBe(other === good)
    }
    // A country's length is checked: one character more is not a German IBAN.
    expect(Validators.isIban(`${good}0`)).toBe(false)
  })

  it("national ids: the rules of each", () => {
    expect(Validators.isUsSsn("123-45-6789")).toBe(true)
    for (const bad of ["000-45-6789", "666-45-6789", "912-45-6789", "123-00-6789", "123-45-0000"]) {
      expect(Validators.isUsSsn(bad)).toBe(false)
    }
    expect(Validators.isUkNino("AB123456C")).toBe(true)
    for (const bad of ["DA123456C", "AO123456C", "GB123456C", "AB123456E"]) expect(Validators.isUkNino(bad)).toBe(false)
    // The DNI's letter is the number mod 23 in the table: exactly one letter of 23 passes.
    const letters = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZ"].filter((letter) => Validators.isSpanishId(`12345678${letter}`))
    expect(letters).toEqual(["Z"])
    expect(Validators.isSpanishId("X1234567L")).toBe(true)
    // The NIR's key is 97 minus the number mod 97: exactly one key of 100 passes; Corsica's 2A counts as 19.
    const keys = (body: string) =>
      Array.from({ length: 100 }, (_, key) => String(key).padStart(2, "0")).filter((key) =>
        Validators.isFrenchNir(`${body}${key}`)
      )
    expect(keys("1850578006084")).toEqual([String(97 - Number(1850578006084n % 97n)).padStart(2, "0")])
    expect(keys("18505" + "2A" + "006084")).toEqual([String(97 - Number(1850519006084n % 97n)).padStart(2, "0")])
  })

  it("IPv6: the text forms, and what is not one", () => {
    for (const good of ["2001:db8::1", "::1", "fe80::", "1:2:3:4:5:6:7:8"]) expect(Validators.isIpv6(good)).toBe(true)
    for (const bad of ["12:30:45", "1::2::3", "1:2:3:4:5:6:7:8:9", "g::1", "12345::1"]) {
      expect(Validators.isIpv6(bad)).toBe(false)
    }
  })
})

describe("Guardrail: checks", () => {
  it("finds each kind whole, and names it without its text", () =>
    Effect.gen(function*() {
      const pii = yield* Guardrail.make({ name: "pii", checks: [Guardrail.email, Guardrail.card] })
      const verdict = yield* pii.check("mail ada@example.com, card 4111 1111 1111 1111.", {
        guardrail: "pii",
        where: "reply"
      })
      expect(verdict._tag).toBe("Block")
      if (verdict._tag !== "Block") return
      expect(verdict.reason).toBe("found email address, payment card number")
      expect(verdict.reason).not.toContain("ada")
      expect(verdict.spans?.map((span) => [span.start, span.end])).toEqual([[5, 20], [27, 46]])
    }).pipe(Effect.runSync))

  it("masks each finding with its check's name", () => {
    const pii = guardrail({ checks: [Guardrail.email, Guardrail.phone], action: "mask" })
    const text = textOf(run([pii], ["Reach ada@example.com or +44 20 7946 0958 today."]))
    expect(text).toBe("Reach [REDACTED:email] or [REDACTED:phone] today.")
  })

  it("words: whole words, any case, any script", () => {
    const list = Guardrail.words("words", ["forbidden", "überwachung", "秘密"])
    // A check reads the text normalised, as a chain gives it (its word list normalised alike); found as written.
    const found = (text: string) => {
      const read = normalise(text)
      return list.find(read.text).map((finding) => {
        const { end, start } = read.span(finding.start, finding.end)
        return text.slice(start, end)
      })
    }
    expect(found("FORBIDDEN fruit and Überwachung")).toEqual(["FORBIDDEN", "Überwachung"])
    expect(found("unforbidden, Überwachungsstaat, forbidden_x")).toEqual([])
    expect(found("これは 秘密 です")).toEqual(["秘密"])
    expect(Guardrail.words("empty", []).find("anything")).toEqual([])
  })

  // A finding is at most its check's longest match, or (a PEM block, a JSON Web Token, a fine-grained GitHub token)
  // decided by its first characters and then running on: a text that ends inside it past them holds a finding from
  // its start to that end, so a window, which holds a finding running to its end, releases none of it.
  it("every finding is decided within its check's longest match, on any text made of the set's values and noise", () => {
    const set = labelled()
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(...set.map((entry) => entry.text)), fc.string({ maxLength: 40 })), {
          maxLength: 8
        }),
        (parts) => {
          const text = parts.join("")
          for (const check of checks) {
            for (const finding of check.find(text)) {
              for (let end = finding.start + check.longestMatch - 1; end < finding.end; end++) {
                const prefix = check.find(text.slice(0, end))
                expect(prefix.some((found) => found.start === finding.start && found.end === end)).toBe(true)
              }
            }
          }
        }
      ),
      { numRuns: 200 }
    )
  })

  // Each input is a megabyte shaped to make a backtracking pattern try hard at every position: runs of a pattern's
  // own characters with the one that would complete it missing. It completes: a catastrophic pattern would not.
  it("every check runs over a megabyte of adversarial text", () => {
    const megabyte = 1 << 20
    const shapes = [
      "a".repeat(megabyte),
      "a.".repeat(megabyte / 2),
      "1".repeat(megabyte),
      "1 ".repeat(megabyte / 2),
      "1.".repeat(megabyte / 2),
      "ab:".repeat(megabyte / 3),
      `sk-${"A".repeat(megabyte)}`,
      `-----BEGIN PRIVATE KEY-----${"A".repeat(megabyte)}`,
      `eyJ${"a".repeat(megabyte)}.eyJ`,
      "+1 ".repeat(megabyte / 3),
      `${"x".repeat(64)}@`.repeat(megabyte / 65)
    ]
    for (const shape of shapes) {
      for (const check of checks) expect(Array.isArray(check.find(shape))).toBe(true)
    }
  })
})

describe("Guardrail: stream modes", () => {
  // Each check over its own labelled texts, with a window just past its overlap, so that text is released before the
  // value comes and the value may be cut anywhere.
  const cases = checks.flatMap((check) =>
    labelled(check.longestMatch + 64).map((entry) => ({ check, text: entry.text }))
  )
  const guard = (check: Guardrail.Check, mode: Guardrail.Mode, action: "block" | "mask") =>
    guardrail({ checks: [check], mode, action, window: check.longestMatch + 16, overlap: check.longestMatch })
  const chunking = fc.tuple(fc.constantFrom(...cases), fc.array(fc.nat(), { maxLength: 40 }))

  it("window blocks whatever buffer blocks, for any chunking of the labelled texts", () => {
    fc.assert(
      fc.property(chunking, ([{ check, text }, cuts]) => {
        const chunks = chunked(text, cuts)
        const buffer = Exit.isFailure(run([guard(check, "buffer", "block")], [text]))
        expect(Exit.isFailure(run([guard(check, "window", "block")], chunks))).toBe(buffer)
      }),
      { numRuns: 500 }
    )
  })

  it("masking gives the same text whatever the chunking, in window and buffer mode", () => {
    fc.assert(
      fc.property(chunking, ([{ check, text }, cuts]) => {
        const chunks = chunked(text, cuts)
        const whole = textOf(run([guard(check, "buffer", "mask")], [text]))
        expect(textOf(run([guard(check, "buffer", "mask")], chunks))).toBe(whole)
        expect(textOf(run([guard(check, "window", "mask")], chunks))).toBe(whole)
      }),
      { numRuns: 500 }
    )
  })

  it("a chain of every check masks the same whatever the chunking", () => {
    const overlap = Math.max(...checks.map((check) => check.longestMatch))
    const all = (mode: Guardrail.Mode) =>
      guardrail({ checks: [...checks], mode, action: "mask", window: overlap + 64, overlap })
    const texts = fc.array(fc.constantFrom(...labelled().map((entry) => entry.text)), { minLength: 1, maxLength: 60 })
    fc.assert(
      fc.property(texts, fc.array(fc.nat(), { maxLength: 60 }), (parts, cuts) => {
        const text = parts.join(" ")
        const whole = textOf(run([all("buffer")], [text]))
        expect(textOf(run([all("window")], chunked(text, cuts)))).toBe(whole)
      }),
      { numRuns: 100 }
    )
  })

  it("window: with small windows, text is released before the end, and what was released is never taken back", () => {
    const email = guardrail({ checks: [Guardrail.email], mode: "window", window: 300, overlap: 256 })
    const text = `${"word ".repeat(200)}write to ada@example.com`
    const chunks = text.match(/.{1,7}/gs)!
    const exit = run([email], chunks)
    // Blocked at the end; before it, the text up to the held-back overlap had gone out.
    expect(Exit.isFailure(exit)).toBe(true)
    const released = Effect.runSync(
      Stream.fromIterable(chunks).pipe(
        Guardrail.checkStream([email], { where: "reply" }),
        Stream.catch(() => Stream.empty),
        Stream.runCollect
      )
    ).join("")
    expect(released.length).toBeGreaterThan(0)
    expect(text.startsWith(released)).toBe(true)
    expect(released).not.toContain("ada@")
  })

  it("window: an overlap shorter than a finding would release part of it (the bound is needed)", () => {
    // Built by hand past make's check, which refuses such an overlap.
    const email = guardrail({ checks: [Guardrail.email], mode: "window", window: 300, overlap: 256 })
    const short: Guardrail.Guardrail = { ...email, window: 12, overlap: 2, longestMatch: 2 }
    const text = "Reach a.very.long.name@example.com today"
    const released: Array<string> = []
    Effect.runSync(
      Stream.fromIterable(text.match(/.{1,3}/gs)!).pipe(
        Guardrail.checkStream([short], { where: "reply" }),
        Stream.tap((piece) => Effect.sync(() => released.push(piece))),
        Stream.runDrain,
        Effect.ignore
      )
    )
    expect(released.join("")).toContain("a.very")
  })

  it("audit lets everything through and fails at the end; buffer holds everything until the end", () => {
    const audit = guardrail({ checks: [Guardrail.secrets], mode: "audit" })
    const seen: Array<string> = []
    const key = `AKIA${"ABCDEFGHIJ234567"}`
    const exit = Effect.runSyncExit(
      Stream.fromIterable(["my key ", key, " ok"]).pipe(
        Guardrail.checkStream([audit], { where: "reply" }),
        Stream.tap((piece) => Effect.sync(() => seen.push(piece))),
        Stream.runDrain
      )
    )
    expect(seen.join("")).toBe(`my key ${key} ok`)
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.findErrorOption(exit)
    expect(error._tag === "Some" && error.value).toMatchObject({
      _tag: "GuardrailError",
      guardrail: "test",
      where: "reply",
      reason: "found AWS access key id"
    })
    expect(error._tag === "Some" && error.value.message).not.toContain(key)

    const buffer = guardrail({ checks: [Guardrail.secrets], mode: "buffer" })
    const held: Array<string> = []
    Effect.runSync(
      Stream.fromIterable(["clean ", "text ", "here"]).pipe(
        Guardrail.checkStream([buffer], { where: "reply" }),
        Stream.tap((piece) => Effect.sync(() => held.push(piece))),
        Stream.runDrain
      )
    )
    expect(held).toEqual(["clean text here"])
  })

  it("buffer past its bound: closed blocks, open lets the rest through unchecked", () => {
    const closed = guardrail({ checks: [Guardrail.email], mode: "buffer", maxBufferBytes: 10 })
    const exit = run([closed], ["0123456789", "é"])
    const error = Exit.findErrorOption(exit)
    expect(error._tag === "Some" && error.value.reason).toBe("the reply passed the buffer's bound of 10 bytes")
    const open = guardrail({ checks: [Guardrail.email], mode: "buffer", maxBufferBytes: 10, onError: "open" })
    expect(textOf(run([open], ["0123456789", "é ada@example.com"]))).toBe("0123456789é ada@example.com")
  })

  it("a chain resolves to its strictest mode", () => {
    const audit = guardrail({ checks: [Guardrail.email], mode: "audit" })
    const window = guardrail({ checks: [Guardrail.email], mode: "window", window: 600, overlap: 256 })
    const buffer = guardrail({ checks: [Guardrail.email], mode: "buffer", maxBufferBytes: 1000 })
    const open = guardrail({ checks: [Guardrail.email], mode: "buffer", maxBufferBytes: 500, onError: "open" })
    expect(resolve([])).toEqual({ _tag: "None" })
    expect(resolve([audit])).toEqual({ _tag: "Audit" })
    expect(resolve([audit, window])).toEqual({ _tag: "Window", window: 600, overlap: 256 })
    expect(resolve([window, buffer, audit])).toEqual({ _tag: "Buffer", maxBytes: 1000, onError: "closed" })
    expect(resolve([open, buffer])).toEqual({ _tag: "Buffer", maxBytes: 500, onError: "closed" })
    expect(resolve([open])).toEqual({ _tag: "Buffer", maxBytes: 500, onError: "open" })
    // A window of the chain is at least twice the largest overlap and longest match.
    const wide = guardrail({ checks: [Guardrail.words("wide", ["x".repeat(400)])], mode: "audit" })
    expect(resolve([window, wide])).toEqual({ _tag: "Window", window: 2 * 402, overlap: 402 })
  })

  it("a cut never splits a span, over the whole domain of small spans", () => {
    fc.assert(fc.property(
      fc.nat({ max: 60 }),
      fc.nat({ max: 20 }),
      fc.array(fc.tuple(fc.nat({ max: 60 }), fc.integer({ min: 1, max: 20 }))),
      (length, overlap, raw) => {
        const spans = raw.map(([start, size]) => ({ start, end: start + size, label: "x", replacement: "" }))
        const cut = cutOf(length - overlap, spans)
        expect(cut).toBeLessThanOrEqual(Math.max(length - overlap, 0))
        expect(cut).toBeGreaterThanOrEqual(0)
        for (const span of spans) expect(span.start < cut && span.end > cut).toBe(false)
      }
    ))
  })

  it("masks: overlapping spans merge, and the rest of the text is kept", () => {
    const span = (start: number, end: number, replacement: string) => ({ start, end, label: "x", replacement })
    expect(applyMasks("abcdefghij", [span(2, 5, "X"), span(4, 7, "Y"), span(8, 9, "Z")])).toBe("abXhZj")
    expect(applyMasks("abc", [])).toBe("abc")
  })
})

describe("Guardrail: a PEM block longer than the window", () => {
  const body = Array.from({ length: 40 }, (_, i) => String.fromCharCode(65 + (i % 26)).repeat(64)).join("\n")
  const pem = (label: string, headers = "") => `-----BEGIN ${label}-----\n${headers}${body}\n-----END ${label}-----`
  const blocks = [pem("PRIVATE KEY"), pem("RSA PRIVATE KEY", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FF\n\n")]
  const texts = blocks.map((block) => `${"Here is the key you asked for. ".repeat(40)}${block}\nKeep it safe.`)
  const issue = (action: "block" | "mask", mode: Guardrail.Mode) =>
    guardrail({ checks: [Guardrail.secrets], action, mode, window: 1024, overlap: 256 })

  it("is masked whole in buffer mode and in window mode, however the stream is cut", () => {
    for (const text of texts) {
      expect(blocks.every((block) => block.length > 2048)).toBe(true)
      const whole = textOf(run([issue("mask", "buffer")], [text]))
      expect(whole).toBe(`${"Here is the key you asked for. ".repeat(40)}[REDACTED:secrets]\nKeep it safe.`)
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 30 }), (cuts) => {
          expect(textOf(run([issue("mask", "window")], chunked(text, cuts)))).toBe(whole)
        }),
        { numRuns: 100 }
      )
    }
  })

  it("blocks in window mode with none of the block released, however the stream is cut", () => {
    for (const text of texts) {
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 30 }), (cuts) => {
          const released: Array<string> = []
          const exit = Effect.runSyncExit(
            Stream.fromIterable(chunked(text, cuts)).pipe(
              Guardrail.checkStream([issue("block", "window")], { where: "reply" }),
              Stream.runForEach((delta) => Effect.sync(() => released.push(delta)))
            )
          )
          expect(Exit.isFailure(exit)).toBe(true)
          expect(released.join("")).not.toContain("-----BEGIN")
        }),
        { numRuns: 100 }
      )
    }
  })
})

describe("Guardrail: options", () => {
  it("refuses bad options with every problem named", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Guardrail.make({
        name: "",
        checks: [Guardrail.secrets],
        mode: "window",
        overlap: 100,
        maxBufferBytes: -1
      }))
      expect(error._tag).toBe("OptionsError")
      expect(error.message).toContain("Guardrail: name must be a non-empty string")
      expect(error.message).toContain("maxBufferBytes must be a positive integer")
      expect(error.message).toContain(
        `overlap must be at least the checks' longest match, ${Guardrail.secrets.longestMatch} characters, got 100`
      )
      const noChecks = yield* Effect.flip(Guardrail.make({ name: "x", checks: [] }))
      expect(noChecks.option).toBe("checks")
      const smallWindow = yield* Effect.flip(
        Guardrail.make({ name: "x", checks: [Guardrail.email], mode: "window", window: 256 })
      )
      expect(smallWindow.message).toContain("window must be more than the overlap, 256 characters")
    }).pipe(Effect.runSync))

  it("defaults: buffer mode, closed, everywhere, a window of 1024 or twice the overlap", () =>
    Effect.gen(function*() {
      const email = yield* Guardrail.make({ name: "e", checks: [Guardrail.email] })
      expect(email).toMatchObject({
        mode: "buffer",
        onError: "closed",
        maxBufferBytes: 262144,
        on: ["request", "reply", "toolArguments", "toolResult"],
        window: 1024,
        overlap: 256
      })
      const secrets = yield* Guardrail.make({ name: "s", checks: [Guardrail.secrets], mode: "window" })
      expect(secrets).toMatchObject({ window: 1024, overlap: Guardrail.secrets.longestMatch })
      const wide = yield* Guardrail.make({
        name: "w",
        checks: [Guardrail.words("w", ["x".repeat(700)])],
        mode: "window"
      })
      expect(wide).toMatchObject({ window: 2 * 702, overlap: 702 })
    }).pipe(Effect.runSync))

  it("takes secrets in a window of 1024 with an overlap of 256: a PEM block is found by its header line", () =>
    Effect.gen(function*() {
      expect(Guardrail.secrets.longestMatch).toBe(256)
      const noSecrets = yield* Guardrail.make({
        name: "no-secrets",
        checks: [Guardrail.secrets],
        mode: "window",
        window: 1024,
        overlap: 256
      })
      expect(noSecrets).toMatchObject({ window: 1024, overlap: 256 })
    }).pipe(Effect.runSync))
})
