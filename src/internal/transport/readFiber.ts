/**
 * The reads of a streamed body, made by a fiber of their own: one read a pull,
 * none ahead, so that a read in progress can be ended from outside (`stop`,
 * when a phase limit passes) whatever the client's body stream does when it is
 * cancelled. Some clients' streams end a waiting read when cancelled from
 * another fiber (this library's undici client, fetch's); others leave it
 * waiting forever (`NodeHttpClient`'s, over a Node `Readable`).
 *
 * A race per read would do the same at a cost per read (two fibers each); this
 * costs one fiber a stream and a hand-over a read (figures in
 * docs/performance.md).
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

export interface ReadFiber<A, E> {
  /** The next read, made by the fiber: `undefined` once the body has ended, or once stopped. */
  readonly read: Effect.Effect<A | undefined, E>
  /** Ends the read in progress (with `undefined`) and every read after it, and interrupts the fiber. */
  readonly stop: Effect.Effect<void>
}

const ended = Effect.succeed(undefined)

/** A fiber making the reads of `read`, each when a caller asks for it. */
export const readFiber = <A, E>(read: Effect.Effect<A | undefined, E>): Effect.Effect<ReadFiber<A, E>> =>
  Effect.suspend(() => {
    // The caller waiting for a read's result.
    let waiting: ((result: Effect.Effect<A | undefined, E>) => void) | undefined
    // The fiber waiting to be asked; or a request made before it waited.
    let idle: (() => void) | undefined
    let asked = false
    let stopped = false
    const request = Effect.callback<void>((resume) => {
      if (!asked) {
        idle = () => resume(Effect.void)
        return
      }
      asked = false
      resume(Effect.void)
    })
    const hand = (exit: Effect.Effect<A | undefined, E>) => {
      const caller = waiting
      waiting = undefined
      caller?.(exit)
    }
    const loop: Effect.Effect<never> = Effect.flatMap(
      request,
      () => Effect.flatMap(Effect.exit(read), (exit) => Effect.suspend(() => (hand(exit), loop)))
    )
    // Forked as a task of the scheduler, not at once: started in the caller's turn, it made an `Llm` stream's reads
    // dearer (docs/performance.md).
    return Effect.map(Effect.forkDetach(loop), (fiber): ReadFiber<A, E> => ({
      read: Effect.callback((resume) => {
        if (stopped) return resume(ended)
        waiting = resume
        const wake = idle
        if (wake === undefined) asked = true
        else {
          idle = undefined
          wake()
        }
        // A caller interrupted while the fiber reads: what it reads is dropped (the stream is being closed).
        return Effect.sync(() => {
          if (waiting === resume) waiting = undefined
        })
      }),
      stop: Effect.suspend(() => {
        stopped = true
        hand(ended)
        return Fiber.interrupt(fiber)
      })
    }))
  })
