/**
 * The simulator's Responses wire format (`simulator/OpenAiResponses.ts`) of one organisation (`organization.ts`), and
 * its `/v1/responses/compact` (`compact.ts`): each simulator serves those of its own organisation.
 */
import * as OpenAiChat from "../../../simulator/OpenAiChat.js"
import type { Extra } from "../../../simulator/OpenAiResponses.js"
import type { WireFormat } from "../../../simulator/WireFormat.js"
import { malformed } from "../../wire/openAiResponses/writer.js"
import { responsesCachePrefixes } from "../openAiCachePrefixes.js"
import type { Organization } from "./organization.js"
import { failedResponse, renderError, renderReply, renderStream, renderStreamError } from "./render.js"
import { decode } from "./request.js"

/** The Responses wire format of `organization`: the encrypted content it makes and takes back is that one's. */
export function formatOf(organization: Organization): WireFormat<Extra> {
  return {
    apiKey: OpenAiChat.format.apiKey,
    decode: (body) => decode(body, organization),
    cachePrefixes: responsesCachePrefixes,
    renderError,
    renderReply: (reply, meta, extra) => renderReply(organization.seal, reply, meta, extra),
    renderStream: (reply, meta, extra) => renderStream(organization.seal, reply, meta, extra),
    renderStreamError,
    renderBodyError: (_shape, meta) => failedResponse(meta),
    malformedEvent: malformed,
    streamContentType: "text/event-stream; charset=utf-8",
    idPrefix: "resp_"
  }
}
