/**
 * The input files clients upload to `/v1/files` (`purpose: batch`) for `/v1/batches` to read: held in the memory of
 * the instance that took the upload, each its uploader's, for `ttl` or until `maxFiles` newer ones push it out. A
 * batch made from one carries what it needs in its own id (`ids.ts`); the file is not read again after that.
 */

/** An uploaded input file. */
export interface InputFile {
  readonly id: string
  readonly filename: string
  readonly content: string
  readonly bytes: number
  readonly createdAt: number
  /** The uploader's `Caller.id`; empty without gateway keys. */
  readonly owner: string
}

/** How long an input file is kept, and how many at most. */
export const ttlMillis = 24 * 60 * 60 * 1000
export const maxFiles = 1024

/** The input files of this instance. */
export interface InputFiles {
  readonly put: (file: InputFile) => void
  /** The file of `id` when `owner` uploaded it and it is kept at `now`. */
  readonly get: (id: string, owner: string, now: number) => InputFile | undefined
}

/** An empty store of input files, in this instance's memory. */
export function memory(): InputFiles {
  const files = new Map<string, InputFile>()
  return {
    put: (file) => {
      if (files.size >= maxFiles) files.delete(files.keys().next().value!)
      files.set(file.id, file)
    },
    get: (id, owner, now) => {
      const file = files.get(id)
      if (file === undefined || now - file.createdAt > ttlMillis) {
        files.delete(id)
        return undefined
      }
      return file.owner === owner ? file : undefined
    }
  }
}
