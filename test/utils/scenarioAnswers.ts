/**
 * A scripted simulator asked over Chat Completions, as the scenario tests read it: a request's answer by `fetch`, an
 * answer as `status:text`, and a simulator playing a scenario asked requests in turn (each once the one before was
 * answered, as an agent asks), so a test reads as its script, its requests and the answers they get.
 */
import * as Effect from "effect/Effect"
import * as Simulator from "../../src/simulator/Simulator.js"

/** What the tests read of a Chat Completions answer's body. */
export interface ChatBody {
  readonly choices: ReadonlyArray<{ readonly message: { readonly content: string | null } }>
  readonly usage: Record<string, unknown>
  readonly error: { readonly code: string; readonly message: string }
}

/** The key sent: a simulator made without `apiKeys` takes any, one made with it must list this one. */
export const scenarioKey = "sk-simulator-scenario-0001"

/** A Chat Completions request's answer, by `fetch`: its status and its body. */
export async function chat(
  url: string,
  body: unknown,
  headers: Record<string, string> = {}
): Promise<{ readonly status: number; readonly body: ChatBody }> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${scenarioKey}`, ...headers },
    body: JSON.stringify(body)
  })
  return { status: response.status, body: await response.json() as ChatBody }
}

/** A Chat Completions answer as `status:text` (the text only of a 200). */
export async function answered(asked: Promise<{ readonly status: number; readonly body: ChatBody }>): Promise<string> {
  const { body, status } = await asked
  return `${status}:${status === 200 ? body.choices[0]!.message.content : ""}`
}

/** A simulator playing `scenario` (closed with the scope) asked `requests` in turn: each answer as `status:text`. */
export const answersInTurn = (scenario: Simulator.Scenario, requests: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const sim = yield* Simulator.make({ scenario })
    return yield* Effect.promise(async () => {
      const answers: Array<string> = []
      for (const request of requests) answers.push(await answered(chat(sim.url, request)))
      return answers
    })
  })
