/**
 * A JSON Schema's local `$ref` (`#/$defs/Point`) resolved against the root
 * schema, for the code that reads schemas: Gemini's codec, which inlines refs
 * into its OpenAPI subset, and the simulator, which generates values that fit.
 */

/**
 * The node a local JSON Pointer `$ref` names in `root` (`~1` and `~0` unescaped),
 * or `undefined` when it is not local or names nothing.
 */
export const resolveLocalRef = (root: unknown, ref: string): unknown => {
  if (!ref.startsWith("#/")) return undefined
  let node: unknown = root
  for (const part of ref.slice(2).split("/")) {
    if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined
    node = (node as Readonly<Record<string, unknown>>)[part.replace(/~1/g, "/").replace(/~0/g, "~")]
  }
  return node
}
