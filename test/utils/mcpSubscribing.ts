/**
 * An official SDK client's resource subscriptions through the gateway, as the subscriptions' tests drive them: a
 * client that notes the changes it is told, its subscribe and unsubscribe, and an upstream telling a change until the
 * client has heard it.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js"
import * as Effect from "effect/Effect"
import { eventually } from "./eventually.js"
import { sdkClient } from "./mcpClient.js"
import type { Subscribable } from "./mcpUpstreams.js"

/** An official SDK client of `url` with `key`, for the scope's life: the URIs it has been told changed. */
export const listening = (url: string, key: string) =>
  Effect.map(sdkClient(url, key), (client) => {
    const updated: Array<string> = []
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
      updated.push(notification.params.uri)
    })
    return { client, updated }
  })

export const subscribe = (client: Client, uri: string) => Effect.promise(() => client.subscribeResource({ uri }))
export const unsubscribe = (client: Client, uri: string) => Effect.promise(() => client.unsubscribeResource({ uri }))

/**
 * The upstream tells `uris` changed, in order, again and again, until `done`: a session's stream may be between its
 * openings (the gateway replays what it missed, the upstream does not), so the last URI is the one waited for.
 */
export const tellUntil = (upstream: Subscribable, uris: ReadonlyArray<string>, done: () => boolean) =>
  eventually(
    "the change told",
    Effect.promise(async () => {
      for (const uri of uris) await upstream.update(uri)
      await new Promise((resolve) => setTimeout(resolve, 200))
      return done()
    }),
    (told) => told,
    { within: "25 seconds", every: "100 millis" }
  )
