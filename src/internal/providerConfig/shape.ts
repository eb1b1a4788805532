/**
 * What a `provider.json` must be before it is decoded (docs/configuration.md, "Limits of the file"): at most
 * `maxBytes` long; at most `maxDepth` deep, since decoding recurses and a deeply nested file would overflow the stack;
 * no `__proto__` name, which a plain object cannot hold (assigned, it replaces the prototype: a provider would vanish).
 */

/** The largest file `load` reads: a provider.json is kilobytes. */
export const maxBytes = 4 * 1024 * 1024

/** The deepest nesting taken: a provider.json is under ten levels deep. */
export const maxDepth = 64

/** A problem of the file's shape, at a path of property names and indices. */
export interface ShapeIssue {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

// A too deep file's path is shown by its first steps: enough to find the place, not a line of brackets.
const deepPathShown = 3

/** Why `__proto__` names nothing in the file, as a property name or a `model_name`. */
export const protoName =
  "__proto__ cannot be a name here: a JavaScript object takes it for its prototype (the entry would vanish); rename it"

/**
 * The problems of a parsed file's shape: a `__proto__` name anywhere, and nesting past `maxDepth` (once, at the first
 * `deepPathShown` steps of its path). Walked with a stack of its own, so a deep file does not overflow.
 */
export function shapeIssues(json: unknown): ReadonlyArray<ShapeIssue> {
  const issues: Array<ShapeIssue> = []
  const pending: Array<{ readonly value: unknown; readonly path: ReadonlyArray<PropertyKey> }> = [{
    value: json,
    path: []
  }]
  while (pending.length > 0) {
    const { path, value } = pending.pop()!
    if (typeof value !== "object" || value === null) continue
    if (path.length >= maxDepth) {
      const shown = path.slice(0, deepPathShown)
      issues.push({
        path: shown,
        message: `nested more than ${maxDepth} levels deep${
          shown.length < path.length ? " (below this)" : ""
        }; a provider.json is a few levels deep`
      })
      break
    }
    // Pushed last first: taken from the stack in the file's order. A leaf has nothing to walk, so no path is made for
    // it (a long key list would make as many).
    if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index--) {
        const inner: unknown = value[index]
        if (typeof inner === "object" && inner !== null) pending.push({ value: inner, path: [...path, index] })
      }
      continue
    }
    for (const [key, inner] of Object.entries(value).reverse()) {
      if (key === "__proto__") issues.push({ path: [...path, key], message: protoName })
      else if (typeof inner === "object" && inner !== null) pending.push({ value: inner, path: [...path, key] })
    }
  }
  return issues
}
