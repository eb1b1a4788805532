/**
 * How each agent CLI names its tools and their arguments (a file read, a text replaced in a file, a shell command), for
 * the scenarios its tests script; `work` is the workspace's path, for the agents whose tools take absolute paths.
 */
import * as path from "node:path"
import type { AgentTools } from "./agentSession.js"

/** Claude Code's Read, Edit and Bash. */
export const claudeCodeTools = (work: string): AgentTools => ({
  read: (file) => ({ name: "Read", arguments: { file_path: path.join(work, file) } }),
  edit: (file, from, to) => ({
    name: "Edit",
    arguments: { file_path: path.join(work, file), old_string: from, new_string: to }
  }),
  run: (command) => ({ name: "Bash", arguments: { command } })
})

/** Gemini CLI's `read_file`, `replace` and `run_shell_command`. */
export const geminiCliTools = (work: string): AgentTools => ({
  read: (file) => ({ name: "read_file", arguments: { file_path: path.join(work, file) } }),
  edit: (file, from, to) => ({
    name: "replace",
    arguments: { file_path: path.join(work, file), old_string: from, new_string: to, instruction: "Edit it." }
  }),
  run: (command) => ({ name: "run_shell_command", arguments: { command } })
})

/** opencode's `read`, `edit` and `bash`. */
export const opencodeTools = (work: string): AgentTools => ({
  read: (file) => ({ name: "read", arguments: { filePath: path.join(work, file) } }),
  edit: (file, from, to) => ({
    name: "edit",
    arguments: { filePath: path.join(work, file), oldString: from, newString: to }
  }),
  run: (command) => ({ name: "bash", arguments: { command, description: `Runs ${command}` } })
})

// Codex reads, edits and runs through its one shell tool, waiting for the command's output as long as it may (its
// default is 10 s, after which a command still starting on a loaded machine answers with a session id, not its output).
const codexCommand = (cmd: string) => ({ name: "exec_command", arguments: { cmd, yield_time_ms: 30_000 } })

/** Codex's `exec_command`, for all three. */
export const codexTools: AgentTools = {
  read: (file) => codexCommand(`cat ${file}`),
  edit: (file, from, to) => codexCommand(`sed -i 's/${from}/${to.replaceAll("\n", "\\n")}/' ${file}`),
  run: codexCommand
}
