/** A caller's tool as the dialects declare it: its name, its description when it has one, then its parameters. */
import type { ToolDefinition } from "../../Message.js"
import { definedFields, type JsonObject } from "../json.js"

/** A tool's `name` and, when it has one, `description`: what every dialect's declaration of it begins with. */
export function namedTool(tool: ToolDefinition): JsonObject {
  return { name: tool.name, ...definedFields({ description: tool.description }) }
}

/** A tool's declaration with its parameters' schema under `schemaKey`, then its `strict` when it is set. */
export function toolDeclaration(tool: ToolDefinition, schemaKey: string): JsonObject {
  return { ...namedTool(tool), [schemaKey]: tool.parameters, ...definedFields({ strict: tool.strict }) }
}
