/**
 * Loaded with Node's `--import` before the command line's `serve` (`src/cli/main.ts`) in the gateway side's
 * process: it answers the bench's questions (`sideMonitor.ts`), and when the bench goes (its IPC channel closes)
 * it stops `serve` as Ctrl-C would, with SIGTERM.
 */
import { answerSideQuestions } from "./sideMonitor.js"

answerSideQuestions()
process.on("disconnect", () => process.kill(process.pid, "SIGTERM"))
