// Writes src/internal/guardrail/lookAlikes.ts, the look-alike letters a guardrail's normalisation folds to ASCII
// (docs/guardrails.md), from Unicode's confusables (UTS #39 `confusables.txt`) as a JSON map of each character to its
// prototype, the form the `unhomoglyph` package carries it in:
//
//   npm pack unhomoglyph@1.0.6 && tar xzf unhomoglyph-1.0.6.tgz && node scripts/look-alikes.mjs package/data.json 13.0.0
//
// A character is folded when it is of one of `scripts`, its prototype is one ASCII letter or digit, and NFKD leaves it
// as it is (the normalisation decomposes first). ASCII is never folded: the published skeletons fold `0` to `O` and
// `1` to `l`, which would turn the digits a check reads into letters. A character whose prototype is `l` and that is
// not a small letter folds to `I` (Lisu's, Tifinagh's and the capitals' vertical strokes are read as capital I). A
// small letter of Cherokee has its capital's fold: Unicode's confusables give Cherokee's small letters the Latin small
// capitals as prototypes, which are not ASCII, and they look as their capitals do.
import { readFileSync, writeFileSync } from "node:fs"
import process from "node:process"

// The scripts whose letters a disguise borrows for Latin ones and whose own prose has few of them: Latin's other
// letters, the alphabets Latin shares shapes with, and alphabets whose letters were drawn from Latin or Greek.
const scripts = [
  "Latin",
  "Greek",
  "Cyrillic",
  "Armenian",
  "Coptic",
  "Cherokee",
  "Lisu",
  "Canadian_Aboriginal",
  "Tifinagh",
  "Carian",
  "Lycian",
  "Old_Italic",
  "Runic",
  "Elbasan",
  "Deseret",
  "Osage",
  "Warang_Citi",
  "Miao"
]

const [source, version] = process.argv.slice(2)
if (source === undefined || version === undefined) {
  throw new Error("usage: node scripts/look-alikes.mjs <confusables as JSON: unhomoglyph's data.json> <its version>")
}
const prototypes = JSON.parse(readFileSync(source, "utf8"))
const ofScripts = new RegExp(`^[${scripts.map((script) => `\\p{Script=${script}}`).join("")}]$`, "u")
const asciiAlnum = /^[A-Za-z0-9]$/

/** The ASCII letter or digit `char` folds to, if any. */
function foldOf(char) {
  const prototype = prototypes[char]
  if (prototype === undefined || !asciiAlnum.test(prototype)) return undefined
  return prototype === "l" && !/\p{Ll}/u.test(char) ? "I" : prototype
}

const folds = new Map()
for (const char of Object.keys(prototypes)) {
  if ([...char].length !== 1 || char.codePointAt(0) < 0x80 || !ofScripts.test(char)) continue
  if (char.normalize("NFKD") !== char) continue
  const fold = foldOf(char)
  if (fold !== undefined) folds.set(char, fold)
}
for (let code = 0; code <= 0x10ffff; code++) {
  const char = String.fromCodePoint(code)
  if (folds.has(char) || !/^[\p{Script=Cherokee}]$/u.test(char) || !/\p{Ll}/u.test(char)) continue
  const capital = folds.get(char.toUpperCase())
  if (capital !== undefined) folds.set(char, capital)
}

const byAscii = new Map()
for (const [char, ascii] of [...folds].sort(([a], [b]) => a.codePointAt(0) - b.codePointAt(0))) {
  byAscii.set(ascii, (byAscii.get(ascii) ?? "") + char)
}
const keys = [...byAscii.keys()].sort((a, b) => {
  const rank = (key) => (/\d/.test(key) ? 0 : /[A-Z]/.test(key) ? 1 : 2)
  return rank(a) - rank(b) || (a < b ? -1 : 1)
})
const entries = keys.map((key) =>
  `  ${/\d/.test(key) ? JSON.stringify(key) : key}: ${JSON.stringify(byAscii.get(key))}`
)
const out = `/**
 * The look-alike letters a guardrail's normalisation folds to ASCII (\`normalise.ts\`), from Unicode's confusables
 * (UTS #39 \`confusables.txt\`, version ${version}), of the scripts \`scripts/look-alikes.mjs\` names. Written by that
 * script, which says which characters are folded and why: do not edit, run it again.
 */

/** The look-alikes of each ASCII letter and digit. */
export const lookAlikes: Readonly<Record<string, string>> = {
${entries.join(",\n")}
}
`
writeFileSync("src/internal/guardrail/lookAlikes.ts", out)
process.stdout.write(`${folds.size} look-alikes of ${byAscii.size} ASCII characters\n`)
