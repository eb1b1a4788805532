/**
 * A provider's root URL normalised, as it names the endpoint its keys belong to (`KeyPool.Options.endpoint`, built by
 * `ProviderConfig`) and as status shows it (`Router.DeploymentLoad.endpoint`): two spellings of one root are one
 * endpoint, and what is shown never holds the credentials a root may carry (`https://user:secret@proxy/v1`).
 */

/**
 * A root normalised as `URL` reads it, its path's trailing slashes and its fragment (never sent) dropped; its
 * credentials kept when `credentials`. An unparsable root stays as it is.
 */
function normalised(baseUrl: string, credentials: boolean): string {
  if (!URL.canParse(baseUrl)) return baseUrl
  const url = new URL(baseUrl)
  const user = credentials && (url.username !== "" || url.password !== "")
    ? `${url.username}${url.password === "" ? "" : `:${url.password}`}@`
    : ""
  return `${url.protocol}//${user}${url.host}${url.pathname.replace(/\/+$/, "")}${url.search}`
}

/** The root normalised, credentials included: to compare, never to show. */
export function normalBaseUrl(baseUrl: string): string {
  return normalised(baseUrl, true)
}

/** The root as status shows it: normalised, without the credentials it may hold. */
export function shownBaseUrl(baseUrl: string): string {
  return URL.canParse(baseUrl) ? normalised(baseUrl, false) : "an unparsable URL"
}
