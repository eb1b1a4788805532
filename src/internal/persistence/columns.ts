/**
 * How the stores' SQL columns read back, as the `SqlSchema` schemas rows are decoded with. The same statements serve
 * SQLite and Postgres (`migrations.ts`), whose drivers differ: a `BIGINT` is a number from SQLite, a `bigint` from
 * Postgres, whose sums (`NUMERIC`) are digit strings. Lists and records are JSON in `TEXT` (`Schema.fromJsonString`).
 */
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"

// A number as a database writes it in text: digits, a sign, a fraction and an exponent; never blank, hex or spaced.
const numberText = /^-?\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i

// A `BIGINT` as Postgres' binary results give it, within the integers a number holds exactly.
const exactBigInt = Schema.BigInt.check(
  Schema.isBetweenBigInt({ minimum: BigInt(Number.MIN_SAFE_INTEGER), maximum: BigInt(Number.MAX_SAFE_INTEGER) })
)

/**
 * A number column (`BIGINT`, `INTEGER`, `DOUBLE PRECISION`): a number from SQLite; a number, bigint or digits from
 * Postgres.
 */
export const Numeric = Schema.Union([
  Schema.Finite,
  exactBigInt.pipe(Schema.decodeTo(Schema.Finite, SchemaTransformation.transform({ decode: Number, encode: BigInt }))),
  Schema.String.check(Schema.isPattern(numberText)).pipe(
    Schema.decodeTo(Schema.Finite, SchemaTransformation.numberFromString)
  )
])

/** A row of `table`: its columns' schemas, the table named on the row so a row read back unlike them names both. */
export function tableRow<const Fields extends Schema.Struct.Fields>(table: string, fields: Fields) {
  return Schema.Struct(fields).annotate({ identifier: table })
}
