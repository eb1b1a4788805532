/**
 * The little of `oidc-provider` (which ships no types) the tests' issuer uses (`oidcIssuer.ts`).
 */
declare module "oidc-provider" {
  import type { RequestListener } from "node:http"

  interface Account {
    readonly accountId: string
    readonly claims: () => Record<string, unknown>
  }

  interface Token {
    readonly kind: string
    readonly accountId?: string
    readonly clientId?: string
  }

  interface Client {
    readonly grantTypeAllowed: (grant: string) => boolean
  }

  interface Configuration {
    readonly clients: ReadonlyArray<Record<string, unknown>>
    readonly jwks: { readonly keys: ReadonlyArray<Record<string, unknown>> }
    readonly findAccount: (context: unknown, sub: string) => Account | undefined
    readonly claims?: Record<string, ReadonlyArray<string>>
    readonly scopes?: ReadonlyArray<string>
    readonly pkce?: { readonly required: () => boolean }
    readonly features?: Record<string, { readonly enabled: boolean } & Record<string, unknown>>
    readonly extraTokenClaims?: (context: unknown, token: Token) => Record<string, unknown> | undefined
    readonly issueRefreshToken?: (context: unknown, client: Client) => boolean
    readonly ttl?: Record<string, number>
    readonly cookies?: { readonly keys: ReadonlyArray<string> }
  }

  export default class Provider {
    constructor(issuer: string, configuration: Configuration)
    callback(): RequestListener
    /** `grant.success`: a token endpoint's answer given (its body the tokens). */
    on(event: "grant.success", listener: (context: { readonly body: unknown }) => void): this
  }
}
