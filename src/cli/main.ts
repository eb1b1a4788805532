/**
 * The `effect-llm-router` command line: parses the command word, runs the command as an Effect, and turns its result
 * into the exit code. Flags use Node's `util.parseArgs` (strict) rather than `effect/cli`, which prints its own help
 * and error formats and decides exits on its own terms: the command line promises an exact contract (2 with a
 * one-line reason and where the usage is, 1 with `<ErrorTag>: <message>` first on stderr, 130 on Ctrl-C). Commands
 * are imported only when they run, so `--help` and `--version` load almost nothing.
 */
import type * as Effect from "effect/Effect"
import type { Io } from "./io.js"
import {
  auditUsage,
  batchUsage,
  chatUsage,
  helpHint,
  keysUsage,
  loginUsage,
  logoutUsage,
  programName,
  serveUsage,
  simulateUsage,
  spendUsage,
  teamsUsage,
  usage,
  version
} from "./usage.js"

interface Command {
  readonly run: (argv: ReadonlyArray<string>, io: Io) => Promise<Effect.Effect<number>>
  /** The exit code when a signal stops the command. */
  readonly onSignal: (signal: NodeJS.Signals) => number
  /** What `help <command>` prints. */
  readonly usage: string
}

type Word = "audit" | "batch" | "chat" | "keys" | "login" | "logout" | "serve" | "simulate" | "spend" | "teams"

// 128 + the signal's number, as shells report it.
const interrupted = (signal: NodeJS.Signals): number => (signal === "SIGTERM" ? 143 : 130)
// Stopping (after a server's drain) is how a server is meant to end.
const stopped = () => 0

/** A command: how it runs, its help, and its exit code once a signal stops it. */
const defineCommand = (run: Command["run"], usage: string, onSignal = interrupted): Command => ({
  run,
  onSignal,
  usage
})

const commands: Readonly<Record<Word, Command>> = {
  audit: defineCommand(async (argv, io) => (await import("./audit.js")).run(argv, io), auditUsage),
  batch: defineCommand(async (argv, io) =>
    (await import("./batch.js")).run(argv, io, {
      terminal: process.stderr.isTTY === true ? { columns: () => process.stderr.columns } : undefined
    }), batchUsage),
  chat: defineCommand(async (argv, io) => (await import("./chat.js")).run(argv, io), chatUsage),
  keys: defineCommand(async (argv, io) => (await import("./keys.js")).run(argv, io), keysUsage),
  login: defineCommand(async (argv, io) => (await import("./login.js")).run(argv, io), loginUsage),
  logout: defineCommand(async (argv, io) => (await import("./login.js")).runLogout(argv, io), logoutUsage),
  serve: defineCommand(async (argv, io) => (await import("./serve.js")).run(argv, io), serveUsage, stopped),
  simulate: defineCommand(async (argv, io) => (await import("./simulate.js")).run(argv, io), simulateUsage, stopped),
  spend: defineCommand(async (argv, io) => (await import("./spend.js")).run(argv, io), spendUsage),
  teams: defineCommand(async (argv, io) => (await import("./teams.js")).run(argv, io), teamsUsage)
}

const commandOf = (word: string): Command | undefined =>
  Object.hasOwn(commands, word) ? commands[word as Word] : undefined

const readStdin = (): Promise<string> =>
  new Promise((resolve, reject) => {
    let text = ""
    process.stdin.setEncoding("utf8")
    process.stdin.on("data", (chunk: string) => {
      text += chunk
    })
    process.stdin.once("end", () => resolve(text))
    process.stdin.once("error", reject)
  })

const io: Io = {
  stdout: (text) => {
    process.stdout.write(text)
  },
  stderr: (text) => {
    process.stderr.write(text)
  },
  env: process.env,
  readStdin: process.stdin.isTTY === true ? undefined : readStdin
}

const finish = (code: number) => {
  process.exitCode = code
  // A stdin still being read (the command ended before it did) must not hold the process.
  process.stdin.destroy()
  // Nothing should keep the process alive once the command is done; if a stray handle does, leave anyway (unref'd, so
  // it never delays a clean exit).
  setTimeout(() => process.exit(code), 2000).unref()
}

// The reason and where the usage is, never the usage: it is asked for with --help.
const usageError = (reason: string) => {
  process.stderr.write(`${programName}: ${reason}\n${helpHint(undefined)}\n`)
  finish(2)
}

const runCommand = async (command: Command, argv: ReadonlyArray<string>) => {
  const { runFork } = await import("effect/Effect")
  const fiber = runFork(await command.run(argv, io))
  let signalled: NodeJS.Signals | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    // A second Ctrl-C does not wait for a slow cleanup.
    if (signalled !== undefined) process.exit(command.onSignal(signal))
    signalled = signal
    fiber.interruptUnsafe()
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  fiber.addObserver((exit) => {
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
    finish(
      signalled !== undefined
        ? command.onSignal(signalled)
        : exit._tag === "Success"
        ? exit.value
        : 1
    )
  })
}

const main = async (argv: ReadonlyArray<string>) => {
  // A reader that closes the pipe early (`| head`) is not an error worth a stack trace.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0)
    throw error
  })
  const [word, ...rest] = argv
  if (word === undefined) return usageError("no command")
  if (word === "--version" || word === "version") {
    process.stdout.write(`${version()}\n`)
    return finish(0)
  }
  if (word === "--help" || word === "-h" || word === "help") {
    const topic = word === "help" ? rest[0] : undefined
    const help = topic === undefined ? usage : commandOf(topic)?.usage
    if (help === undefined) return usageError(`no help for "${topic}"`)
    process.stdout.write(help)
    return finish(0)
  }
  const command = commandOf(word)
  if (command === undefined) {
    return usageError(
      word.startsWith("-") ? `unknown option "${word}" before the command` : `unknown command "${word}"`
    )
  }
  await runCommand(command, rest)
}

await main(process.argv.slice(2))
