/**
 * OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`, as
 * both sides write it: the gateway answering its clients, and the simulator
 * playing OpenAI (Chat Completions and Responses).
 */

/** The JSON text of OpenAI's error body. */
export const openAiErrorJson = (message: string, type: string, param: string | null, code: string | null): string =>
  JSON.stringify({ error: { message, type, param, code } })
