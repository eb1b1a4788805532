/**
 * The configuration a generation serves, as its routes see it: its engine, the application's options, the gateway's
 * clock and its metrics. Provided once where the routes are built (`app.ts`), and read by each route as it is built.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Sql from "../../persistence/sql.js"
import type * as Auth from "../access/authentication.js"
import type { Drain } from "../drain.js"
import type { Engine } from "../engine.js"
import type { Instance } from "../identity/instance.js"
import type { Oidc } from "../identity/oidc.js"
import type * as McpEndpoint from "../mcp/endpoint.js"
import type * as McpPins from "../mcp/pins.js"
import type * as McpSessions from "../mcp/sessions.js"
import type * as Logs from "../observe/metrics.js"

/** What the application needs besides the engine. */
export interface AppOptions {
  /** The largest request body, in bytes; larger ones get 413. */
  readonly maxBodyBytes: number
  /** The gateway keys: who may call, and what. */
  readonly auth: Auth.Auth
  /** Whether each request is logged. */
  readonly logRequests: boolean
  /** Whether `GET /llm/model-load/<model>` is served (to admin keys). */
  readonly modelLoadDetails: boolean
  /** The `Host` values served, on a gateway listening on loopback (`Intake.loopbackHosts`); any, elsewhere. */
  readonly hosts: ReadonlySet<string> | undefined
  /** The streams in flight, cut when the gateway shuts down. */
  readonly drain: Drain
  /** The gateway's database (keys, teams, spend, the request log), if it has one. */
  readonly database: Sql.Database["Service"] | undefined
  /**
   * Whether keys and teams made here would be this instance's alone (`Policy.localOnly`: its limits shared through
   * Redis, its database a SQLite file of its own): making them is then refused.
   */
  readonly keysLocalOnly: boolean
  /** `POST /admin/reload`: the configuration read again and served (`Gateway.Service.reload`); the names it serves. */
  readonly reload: Effect.Effect<ReadonlyArray<string>, { readonly message: string }>
  /** The MCP endpoints (`/mcp`, `/mcp/<server>`) of a configuration with MCP servers. */
  readonly mcp: McpEndpoint.Endpoints | undefined
  /** The MCP tools' pins, kept for the gateway's life (`/admin/mcp/pins`). */
  readonly mcpPins: McpPins.Pins
  /** How many MCP sessions, and bytes of them, are kept (taken at start). */
  readonly mcpSessionBounds: McpSessions.Bounds
  /** Sign-on's identity provider, when the configuration has one (`gateway.oidc`). */
  readonly oidc: Oidc | undefined
  /** What `GET /admin/instance` proves (`Gateway.Options.instanceSecret`), when `serve` gave a secret. */
  readonly instance: Instance | undefined
  /**
   * The deployments' provider keys (`Gateway.Config.providerKeys`): a batch id signed under one of them, as ids were
   * before the gateway signed them under its own secret, is still answered (`batches/ids.ts`).
   */
  readonly providerKeys: ReadonlyArray<Redacted.Redacted<string>>
}

/** What a generation serves. */
export interface Service {
  readonly engine: Engine
  readonly options: AppOptions
  /** The time, in milliseconds, from the gateway's `Clock`. */
  readonly now: () => number
  readonly metrics: Logs.Metrics
}

/** The configuration the routes are built over. */
export class Configuration extends Context.Service<Configuration, Service>()(
  "effect-llm-router/gateway/serving/Configuration"
) {}
