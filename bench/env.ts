/** A bench setting read from the environment: the number in `name`, or `fallback` when it is unset or empty. */
export const envNumber = (name: string, fallback: number): number => {
  const value = process.env[name]
  return value === undefined || value === "" ? fallback : Number(value)
}
