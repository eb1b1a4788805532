/**
 * The check digits and shape rules that tell a real identifier from a string of the same shape: Luhn for payment
 * cards, ISO 7064 mod 97-10 for IBANs, and the national identifiers' own rules. Each takes the matched text and says
 * whether it is one.
 */

/** Only the digits and letters of `text`, separators (spaces, dashes, dots) dropped. */
export function compact(text: string): string {
  return text.replace(/[\s.-]/g, "")
}

/** The Luhn check (ISO/IEC 7812-1) over a string of digits. */
export function luhn(digits: string): boolean {
  let sum = 0
  let double = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (d < 0 || d > 9) return false
    if (double) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    double = !double
  }
  return sum % 10 === 0
}

/**
 * A payment card number: 13 to 19 digits that pass Luhn and start as one of the major networks' issuer ranges
 * (Visa 4; Mastercard 51-55 and 2221-2720; American Express 34, 37; Discover 6011, 644-649, 65; JCB 3528-3589; Diners
 * 300-305, 36, 38, 39; UnionPay 62).
 */
export function isCardNumber(text: string): boolean {
  const digits = compact(text)
  if (digits.length < 13 || digits.length > 19 || !/^\d+$/.test(digits)) return false
  const two = Number(digits.slice(0, 2))
  const four = Number(digits.slice(0, 4))
  const three = Number(digits.slice(0, 3))
  const network = digits[0] === "4" ||
    (two >= 51 && two <= 55) || (four >= 2221 && four <= 2720) ||
    two === 34 || two === 37 ||
    four === 6011 || (three >= 644 && three <= 649) || two === 65 ||
    (four >= 3528 && four <= 3589) ||
    (three >= 300 && three <= 305) || two === 36 || two === 38 || two === 39 ||
    two === 62
  return network && luhn(digits)
}

/** The length of an IBAN per country (the SWIFT IBAN registry), for the countries most often seen. */
const ibanLengths: Readonly<Record<string, number>> = {
  AD: 24,
  AE: 23,
  AT: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BR: 29,
  CH: 21,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  EE: 20,
  ES: 24,
  FI: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IS: 26,
  IT: 27,
  KW: 30,
  KZ: 20,
  LB: 28,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MT: 31,
  NL: 18,
  NO: 15,
  PL: 28,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  SA: 24,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  TN: 24,
  TR: 26,
  UA: 29
}

/** The remainder mod 97 of a string of digits and letters (A = 10 ... Z = 35), read left to right. */
function mod97(text: string): number {
  let rest = 0
  for (const char of text) {
    const code = char.charCodeAt(0)
    const value = code >= 65 ? code - 55 : code - 48
    rest = value >= 10 ? (rest * 100 + value) % 97 : (rest * 10 + value) % 97
  }
  return rest
}

/** An IBAN (ISO 13616): its country's length (15 to 34 for a country not in the table) and mod 97-10 equal to 1. */
export function isIban(text: string): boolean {
  const iban = compact(text).toUpperCase()
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(iban)) return false
  const length = ibanLengths[iban.slice(0, 2)]
  if (length !== undefined && iban.length !== length) return false
  return mod97(iban.slice(4) + iban.slice(0, 4)) === 1
}

/** A US Social Security number written `AAA-GG-SSSS`: area not 000, 666 or 9xx, group not 00, serial not 0000. */
export function isUsSsn(text: string): boolean {
  const [area, group, serial] = text.split("-")
  if (area === undefined || group === undefined || serial === undefined) return false
  return area !== "000" && area !== "666" && area[0] !== "9" && group !== "00" && serial !== "0000"
}

/**
 * A UK National Insurance number: two prefix letters (neither D, F, I, Q, U or V; the second not O; not the
 * prefixes BG, GB, KN, NK, NT, TN or ZZ), six digits and a suffix A to D.
 */
export function isUkNino(text: string): boolean {
  const nino = compact(text).toUpperCase()
  if (!/^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$/.test(nino)) return false
  return !["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].includes(nino.slice(0, 2))
}

const dniLetters = "TRWAGMYFPDXBNJZSQVHLCKE"

/** A Spanish DNI (eight digits and a letter) or NIE (X, Y or Z, seven digits and a letter): the letter is mod 23. */
export function isSpanishId(text: string): boolean {
  const id = compact(text).toUpperCase()
  const match = /^([XYZ]?)(\d{7,8})([A-Z])$/.exec(id)
  if (match === null) return false
  const [, lead, digits, letter] = match as unknown as [string, string, string, string]
  if (lead === "" ? digits.length !== 8 : digits.length !== 7) return false
  const number = Number(`${lead === "" ? "" : "XYZ".indexOf(lead)}${digits}`)
  return dniLetters[number % 23] === letter
}

/**
 * A French social security number (NIR): 13 digits (the sex 1 or 2 first; Corsica's 2A and 2B as departments) and
 * a two-digit key, 97 minus the number mod 97.
 */
export function isFrenchNir(text: string): boolean {
  const nir = compact(text).toUpperCase()
  const match = /^([12]\d{4})(2A|2B|\d{2})(\d{6})(\d{2})$/.exec(nir)
  if (match === null) return false
  const [, head, department, tail, key] = match as unknown as [string, string, string, string, string]
  const numeric = department === "2A" ? "19" : department === "2B" ? "18" : department
  const body = `${head}${numeric}${tail}`
  // Thirteen digits are past exact double arithmetic's need for care: reduce in two steps.
  const rest = (Number(body.slice(0, 7)) % 97 * 1_000_000 + Number(body.slice(7))) % 97
  return 97 - rest === Number(key)
}

/** Whether `text` is an IPv6 address in one of RFC 4291's text forms (no zone, no embedded IPv4). */
export function isIpv6(text: string): boolean {
  const halves = text.split("::")
  if (halves.length > 2) return false
  const groupsOf = (half: string) => (half === "" ? [] : half.split(":"))
  const head = groupsOf(halves[0]!)
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : []
  const groups = [...head, ...tail]
  if (!groups.every((group) => /^[0-9A-Fa-f]{1,4}$/.test(group))) return false
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8
}

/** An API key whose body is random: a digit, a capital and a small letter in it (prose with a key's prefix has not). */
export function looksRandom(text: string): boolean {
  return /\d/.test(text) && /[A-Z]/.test(text) && /[a-z]/.test(text)
}
