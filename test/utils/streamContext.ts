/** A stream parser's context as an adapter makes it, for parsers built directly in tests: no clock, no headers. */
import * as Redacted from "effect/Redacted"
import type { StreamContext } from "../../src/internal/providers/adapter.js"
import { OutputDecodeError } from "../../src/LlmError.js"

/** The context of one stream of `provider`'s `gpt-test`; its errors are decode errors. */
export const streamContext = (provider = "openai"): StreamContext => ({
  provider,
  model: "gpt-test",
  keyId: "k1",
  secret: Redacted.make("sk-test-0123456789"),
  request: { messages: [] },
  startMillis: 0,
  now: () => 0,
  requestId: () => undefined,
  errorOf: () => new OutputDecodeError({ provider, model: "gpt-test", detail: "error event", raw: "" }),
  decodeError: (detail, raw) => new OutputDecodeError({ provider, model: "gpt-test", detail, raw }),
  maxResponseBytes: 1024 * 1024
})
