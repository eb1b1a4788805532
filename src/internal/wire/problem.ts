import { Problem } from "../schemaCheck.js"

/** A request body's problem at `param`, its message the param and then `detail`. */
export function problem(param: string, detail: string): Problem {
  return new Problem(param, `${param}: ${detail}`)
}
