/**
 * How the store's Lua scripts are declared and their arguments built: the `Redis.script` parameter list is each
 * script's one layout of its arguments (`overKeys` for a per-call list of keys, `overArgv` and `overArgvOf` for none),
 * and what a caller sends is built from it at once (`argsOf`) or once per caller with the one per-call value left open
 * (`template`).
 */
import * as Redis from "effect/persistence/Redis"

type AnyScript = Redis.Script<{ readonly params: ReadonlyArray<unknown>; readonly result: unknown }>

const readNow = `
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`

/**
 * A script over a per-call list of keys (keys first, then the other arguments), reading Redis' clock into `now` (epoch
 * milliseconds) before its body.
 */
export const overKeys = <Rest extends ReadonlyArray<unknown>>(
  argv: (...rest: Rest) => ReadonlyArray<unknown>,
  lua: string
) =>
  Redis.script((keys: ReadonlyArray<string>, ...rest: Rest) => [...keys, ...argv(...rest)], {
    numberOfKeys: (keys: ReadonlyArray<string>, ..._rest: Rest) => keys.length,
    lua: readNow + lua
  })

/** A script of no keys (it makes them from its arguments), whose arguments `argv` makes of its parameters. */
export const overArgvOf = <Params extends ReadonlyArray<unknown>>(
  argv: (...params: Params) => ReadonlyArray<unknown>,
  lua: string
) => Redis.script(argv, { numberOfKeys: 0, lua })

/**
 * A script of no keys, whose arguments are its parameters in their order (it makes its keys from them): `Params`
 * names them, `Result` types its reply.
 */
export const overArgv = <Params extends ReadonlyArray<string | number>, Result>(lua: string) =>
  overArgvOf((...params: Params) => params, lua).withReturnType<Result>()

/** A script's arguments as sent: the number of keys, then the keys and the other arguments, as strings. */
export const argsOf = <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
  script: Redis.Script<Config>,
  params: Config["params"]
): Array<string> => {
  const args = (script as AnyScript).params(...params)
  const out = new Array<string>(args.length + 1)
  out[0] = String((script as AnyScript).numberOfKeys(...params))
  for (let i = 0; i < args.length; i++) out[i + 1] = String(args[i])
  return out
}

/** Where `template` leaves the value that varies per call. */
export const open: unique symbol = Symbol("effect-llm-router/Store/open")

type Open<Params extends ReadonlyArray<unknown>> = { readonly [K in keyof Params]: Params[K] | typeof open }

/**
 * The script's arguments for `params`, made strings once, one of them `open`: the returned function gives a copy with
 * `value` in its place.
 */
export const template = <Config extends { readonly params: ReadonlyArray<unknown>; readonly result: unknown }>(
  script: Redis.Script<Config>,
  ...params: Open<Config["params"]>
): (value: string) => ReadonlyArray<string> => {
  const raw = (script as AnyScript).params(...params)
  const at = raw.indexOf(open) + 1
  if (at === 0 || raw.indexOf(open, at) >= 0) throw new Error("a script's template leaves exactly one argument open")
  const args = argsOf(script as AnyScript, params)
  return (value) => {
    const copy = args.slice()
    copy[at] = value
    return copy
  }
}
