/**
 * The last entries of something a simulator keeps for its callers to read (arrival times, billed usage), bounded:
 * trimmed by half once it holds twice its limit, so a long run neither grows without end nor copies on every push.
 */
export class Recent<A> {
  private entries: Array<A> = []

  constructor(private readonly limit: number) {}

  push(entry: A): void {
    if (this.entries.length === 2 * this.limit) this.entries = this.entries.slice(this.limit)
    this.entries.push(entry)
  }

  /** The last `limit` entries at most, oldest first. */
  get last(): ReadonlyArray<A> {
    return this.entries.slice(-this.limit)
  }
}
