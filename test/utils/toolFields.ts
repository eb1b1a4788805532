import type { Input as ChatRequest } from "../../src/ChatRequest.js"

/**
 * A request as every wire sends its tool fields: a tool choice and `parallelToolCalls` go with tools only (no API
 * takes a choice with nothing to choose from), so a request without tools reads back without them.
 */
export const toolFieldsSent = (request: ChatRequest): ChatRequest => {
  if ((request.tools?.length ?? 0) > 0) return request
  const { parallelToolCalls: _parallel, toolChoice: _choice, ...rest } = request
  return rest
}
