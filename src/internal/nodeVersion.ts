/**
 * Refuses a Node older than the package supports, in words, as it is imported: Effect 4's Node platform loads
 * undici 8, which on Node 20 fails deep inside its own code with a `TypeError` that names neither. The package's entry
 * points import this module first, and ES modules evaluate their imports in order, so the refusal comes before undici
 * is loaded.
 *
 * @since 0.2.0
 */

/** The oldest Node major version the package runs on. */
export const minimumNodeMajor = 22

/** Why this package cannot run on the Node of `version` (`process.versions.node`), or `undefined` when it can. */
export function unsupportedNode(version: string): string | undefined {
  if (Number(version.split(".")[0]) >= minimumNodeMajor) return undefined
  return `effect-llm-router needs Node ${minimumNodeMajor} or later; this is Node ${version}. ` +
    `In your project, run it on Node ${minimumNodeMajor} or later, or add one as a development dependency ` +
    "(`npm install --save-dev node@24`) and run through npm scripts or npx, which then use it. " +
    "Inside the effect-llm-router repository, npm scripts and npx already use the Node it brings."
}

const refusal = unsupportedNode(process.versions.node)
if (refusal !== undefined) throw new Error(refusal)
