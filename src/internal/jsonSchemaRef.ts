/**
 * A JSON Schema's local `$ref`s followed against the root schema, within bounds, for the code that expands a caller's
 * schema (Gemini's codec, which inlines refs into its OpenAPI subset; the simulator). A small schema whose `$defs`
 * refer to one another several times over expands to billions of nodes, so every expansion goes through one {@link
 * SchemaWalk}: a node budget, a bound on nesting, and the refs being expanded, so that recursion is told apart.
 */

import { isJsonObject } from "./json.js"

/** The schema nodes one expansion may visit, every inlined copy counted: far more than a real schema expands to. */
export const schemaNodeLimit = 20_000

/** How deep one expansion may nest schemas in one another, so that no expansion runs out of stack. */
export const schemaDepthLimit = 128

/** An expansion past {@link schemaNodeLimit} or {@link schemaDepthLimit}; `reason` completes "the schema …". */
export class SchemaLimitError {
  constructor(readonly reason: string) {}
}

/** The node a local JSON Pointer `$ref` names in `root`, or `undefined` when it is not local or names nothing. */
export const resolveLocalRef = (root: unknown, ref: string): unknown => {
  if (!ref.startsWith("#/")) return undefined
  let node: unknown = root
  for (const part of ref.slice(2).split("/")) {
    if (!isJsonObject(node)) return undefined
    node = node[part.replace(/~1/g, "/").replace(/~0/g, "~")]
  }
  return node
}

/** A `$ref` being followed: the schema it stands for, and whether it is met inside its own expansion. */
export interface Followed {
  /** The target with the keywords beside the `$ref` (`minimum` on a `$ref` to an integer) over it. */
  readonly schema: Readonly<Record<string, unknown>>
  /** The `$ref` as written. */
  readonly ref: string
  /** Whether the target is already being expanded further up: following it again would not end. */
  readonly recursive: boolean
}

/** One bounded expansion of the schema `root`; see {@link makeSchemaWalk}. */
export interface SchemaWalk {
  /** Counts one node at `depth`; throws {@link SchemaLimitError} past either limit. */
  readonly visit: (depth: number) => void
  /** `expand` applied to the schema a `$ref` node stands for, with that target marked open while it runs. */
  readonly follow: <A>(node: Readonly<Record<string, unknown>>, expand: (followed: Followed) => A) => A
}

/** The limits of a walk; {@link schemaNodeLimit} and {@link schemaDepthLimit} unless a test sets others. */
export interface SchemaLimits {
  readonly nodes: number
  readonly depth: number
}

/**
 * A walk of `root` that every node of one expansion is counted in; a dangling or non-local `$ref` stands for the
 * keywords beside it.
 */
export const makeSchemaWalk = (
  root: unknown,
  limits: SchemaLimits = { nodes: schemaNodeLimit, depth: schemaDepthLimit }
): SchemaWalk => {
  let visited = 0
  const open = new Set<unknown>()
  const visit = (depth: number): void => {
    visited += 1
    if (visited > limits.nodes) {
      throw new SchemaLimitError(`expands to more than ${limits.nodes} schema nodes once its \`$ref\`s are inlined`)
    }
    if (depth > limits.depth) throw new SchemaLimitError(`nests schemas more than ${limits.depth} levels deep`)
  }
  const follow = <A>(node: Readonly<Record<string, unknown>>, expand: (followed: Followed) => A): A => {
    const { $ref: ref, ...siblings } = node
    const written = String(ref)
    const target = resolveLocalRef(root, written)
    if (!isJsonObject(target)) return expand({ schema: siblings, ref: written, recursive: false })
    const schema = { ...target, ...siblings }
    if (open.has(target)) return expand({ schema, ref: written, recursive: true })
    open.add(target)
    try {
      return expand({ schema, ref: written, recursive: false })
    } finally {
      open.delete(target)
    }
  }
  return { visit, follow }
}
