/**
 * A write of an SSE stream cut into its events, so the simulator sends each on its own (its per-token timing, and the
 * faults that count events); an event's data is one line of JSON, so an event ends at its first blank line.
 */

/** The SSE events of `text`, each ending with its blank line, appended to `into` (a new list by default). */
export function sseEvents(text: string, into: Array<string> = []): Array<string> {
  let from = 0
  for (let end = text.indexOf("\n\n"); end !== -1; end = text.indexOf("\n\n", from)) {
    into.push(text.slice(from, end + 2))
    from = end + 2
  }
  return into
}
