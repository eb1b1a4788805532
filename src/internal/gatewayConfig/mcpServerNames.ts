/**
 * What may name an MCP server of the configuration (`Gateway.Config.mcpServers`, provider.json's `mcp_servers`): the
 * gateway serves each server's tools as `<server>__<tool>` (docs/mcp.md), so a name never holds `__`.
 */

export const maxServerName = 64

// Letters and digits, with single `-` or `_` between them: never `__`, so a qualified name splits at its first `__`.
const serverNameShape = /^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$/

/** Whether `name` may name an MCP server of the configuration. */
export function isServerName(name: string): boolean {
  return name.length <= maxServerName && serverNameShape.test(name)
}

/** What a server's name must be, in words, for the messages that refuse one. */
export const serverNameRule =
  `letters and digits, with single - or _ between them (never __, which joins a server's name and its tool's), at ` +
  `most ${maxServerName} characters`
