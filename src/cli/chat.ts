/**
 * `effect-llm-router chat`: one prompt to one model, the reply streamed to stdout.
 *
 * Arguments are parsed in `chatArgs.ts`; the model comes from `chatSource.ts`, routed by `route.ts`; the reply is
 * printed by `chatOutput.ts`. This module runs the call between them.
 */
import * as Effect from "effect/Effect"
import * as ChatChunk from "../ChatChunk.js"
import type { Input as ChatRequest } from "../ChatRequest.js"
import { definedFields } from "../internal/json.js"
import * as Llm from "../Llm.js"
import type { LlmError } from "../LlmError.js"
import * as Message from "../Message.js"
import { type Args, parse } from "./chatArgs.js"
import { printStream, toJson } from "./chatOutput.js"
import { resolve, type RunOptions } from "./chatSource.js"
import { ExitCode, type Io, runParsed, withEnv } from "./io.js"
import { chatUsage, UsageError } from "./usage.js"

const readPrompt = (args: Args, io: Io) =>
  Effect.gen(function*() {
    if (args.prompt !== undefined && args.prompt.trim() !== "") return args.prompt
    if (args.prompt === undefined && io.readStdin !== undefined) {
      const read = io.readStdin
      const text = yield* Effect.promise(() => read())
      if (text.trim() !== "") return text.replace(/\r?\n$/, "")
    }
    return yield* new UsageError({ reason: "no prompt: pass PROMPT, or pipe it into stdin" })
  })

const request = (args: Args, prompt: string): ChatRequest => ({
  messages: args.system === undefined ? [Message.user(prompt)] : [Message.system(args.system), Message.user(prompt)],
  ...definedFields({
    // Through a router, --model addresses a deployment, group or model of it.
    model: args.routing.router === undefined ? undefined : args.source.model,
    temperature: args.temperature,
    maxTokens: args.maxTokens
  })
})

const converse = (args: Args, prompt: string, io: Io): Effect.Effect<void, LlmError, Llm.Llm> => {
  const req = request(args, prompt)
  if (args.json) {
    const response = args.stream ? ChatChunk.collect(Llm.chatStream(req)) : Llm.chat(req)
    return Effect.map(response, (reply) => io.stdout(`${JSON.stringify(toJson(reply))}\n`))
  }
  if (!args.stream) return Effect.map(Llm.chat(req), (reply) => io.stdout(`${reply.text}\n`))
  return printStream(Llm.chatStream(req), io)
}

/**
 * Runs `chat` and gives the exit code: 0 done, 1 the call or the configuration failed (first stderr line
 * `<ErrorTag>: <message>`; with `--json`, the error as one JSON object on stdout), 2 bad flags. Interrupting it aborts
 * the request.
 */
export const run = (argv: ReadonlyArray<string>, io: Io, options: RunOptions = {}): Effect.Effect<number> =>
  runParsed(
    io,
    "chat",
    chatUsage,
    Effect.fromResult(parse(argv)),
    (args, secrets) =>
      Effect.gen(function*() {
        if (args.source._tag === "Direct" && args.source.key !== undefined) secrets.push(args.source.key)
        const prompt = yield* readPrompt(args, io)
        const resolved = yield* resolve(args, io, options)
        secrets.push(...resolved.secrets)
        yield* Effect.provide(converse(args, prompt, io), resolved.layer)
        return ExitCode.ok
      }),
    (args) => args.json
  ).pipe(withEnv(io))
