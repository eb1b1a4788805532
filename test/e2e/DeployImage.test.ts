/**
 * The gateway's image as `npm run image` builds it (scripts/build-image.mjs: a root file system staged from the `node`
 * package's binary, its libraries, CA certificates and the packed package, then deploy/image/Dockerfile built over it
 * by `buildah bud` and written as an OCI archive), its contents and size read from the archive, then run with podman
 * and runc: read-only, as its non-root user, Node as PID 1 answering /health, /ready, a chat and a stream through the
 * official `openai` client, reloading on SIGHUP, and on SIGTERM letting a stream in flight complete before it exits 0.
 * Then the chart's Deployment, rendered for three replicas over Redis and Postgres, played by `podman kube play` with
 * its ConfigMap and Secrets: three gateway pods starting together on one empty database (migrated once), one key's
 * budget spent by calls spread over the three, exact to the cent. buildah and podman run in a configuration of the
 * test's own (`containers.ts`); without them (or helm) the tests are skipped, naming what is missing.
 *
 * The pods share the host's network, which reaches the test's Redis, Postgres and simulator on loopback (the machine
 * has no registry to pull their images from, and the servers are Debian's either way). On one network the three
 * replicas cannot all listen on the chart's port as three pods with addresses of their own do: each replica is played
 * as the rendered Deployment with one replica, its name and its port its own (and no port declared, which podman would
 * map and the host's network cannot), and the test is their Service, spreading the calls over them.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment"
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap"
import type { ISecret } from "kubernetes-models/v1/Secret"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import OpenAI from "openai"
import type { TestContext } from "vitest"
import * as Yaml from "yaml"
import * as Simulator from "../../src/simulator/Simulator.js"
import { helmHome, type KubeObject, render } from "../utils/chart.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { type Containers, containers } from "../utils/containers.js"
import { eventually } from "../utils/eventually.js"
import { freePort } from "../utils/freePort.js"
import { helm } from "../utils/helm.js"
import { orSkip } from "../utils/pinnedCli.js"
import { postgresServer } from "../utils/postgresServer.js"
import { redisServer } from "../utils/redisServer.js"

const root = path.resolve(import.meta.dirname, "../..")
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { readonly version: string }
const tag = `effect-llm-router:${manifest.version}`
const archive = path.join(root, "build", "effect-llm-router.oci.tar")
const providerKey = "sk-image-provider-0001"
const adminKey = "gw-image-admin-4c1d9e7a2b"
const appKey = "gw-image-app-8e2f6a1c3d"

interface Built {
  readonly containers: Containers
  /** The archive unpacked: its OCI layout. */
  readonly layout: string
}

const scope = Effect.runSync(Scope.make())
let built: Built | { readonly skipped: string } = { skipped: "the image was not built" }

/** Runs `effect` in the file's scope: what it acquires lasts until the file's tests are done. */
const inFileScope = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.provide(effect, scope))

beforeAll(() =>
  inFileScope(
    Effect.gen(function*() {
      const tools = yield* containers
      const build = yield* spawnProcess(process.execPath, [path.join(root, "scripts", "build-image.mjs")], {
        cwd: root,
        env: tools.env,
        timeoutMs: 540_000
      })
      if (build.code !== 0) throw new Error(`npm run image's script exited ${build.code}:\n${build.stderr}`)
      const layout = fs.mkdtempSync(path.join(os.tmpdir(), "elr-oci-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(layout, { recursive: true, force: true })))
      execFileSync("tar", ["-xf", archive, "-C", layout])
      yield* tools.podmanOk(["load", "--quiet", "--input", archive], 300_000)
      built = { containers: tools, layout }
    }).pipe(
      Effect.catchTag("ContainerToolsMissing", (missing) => Effect.sync(() => built = { skipped: missing.message }))
    )
  ), 600_000)

afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 300_000)

/** The built image, or the test skipped saying why there is none. */
const image = (ctx: TestContext): Built => {
  if ("skipped" in built) ctx.skip(built.skipped)
  return built as Built
}

const blob = (layout: string, digest: string) => path.join(layout, "blobs", ...(digest.split(":") as [string, string]))

interface Descriptor {
  readonly digest: string
  readonly size: number
  readonly annotations?: Record<string, string>
}

/** The archive's manifest, config and layers, as the OCI image layout keeps them. */
const readImage = (layout: string) => {
  const index = JSON.parse(fs.readFileSync(path.join(layout, "index.json"), "utf8")) as {
    readonly manifests: ReadonlyArray<Descriptor>
  }
  const manifestOf = JSON.parse(fs.readFileSync(blob(layout, index.manifests[0]!.digest), "utf8")) as {
    readonly config: Descriptor
    readonly layers: ReadonlyArray<Descriptor & { readonly mediaType: string }>
  }
  const config = JSON.parse(fs.readFileSync(blob(layout, manifestOf.config.digest), "utf8")) as {
    readonly config: {
      readonly User: string
      readonly Entrypoint: ReadonlyArray<string>
      readonly Cmd: ReadonlyArray<string>
      readonly Env: ReadonlyArray<string>
      readonly Labels: Record<string, string>
    }
  }
  const files = manifestOf.layers.flatMap((layer) =>
    execFileSync("tar", ["-tzf", blob(layout, layer.digest)], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
      .split("\n").filter((line) => line !== "").map((line) => line.replace(/^\.\//, ""))
  )
  return { name: index.manifests[0]!.annotations?.["org.opencontainers.image.ref.name"], manifestOf, config, files }
}

describe("the image", () => {
  it.live("is an OCI archive tagged with the version, at most 50 MB compressed, of Node, CA certificates and the package", (ctx) =>
    Effect.sync(() => {
      const { layout } = image(ctx)
      const { config, files, manifestOf, name } = readImage(layout)
      expect(name).toBe(tag)
      expect(manifestOf.layers.every((layer) => layer.mediaType.endsWith("tar+gzip"))).toBe(true)
      const compressed = manifestOf.layers.reduce((total, layer) => total + layer.size, 0)
      expect(compressed).toBeLessThanOrEqual(50_000_000)
      // The Dockerfile's configuration: its user, its entry point, its labels.
      expect(config.config.User).toBe("10001:10001")
      expect(config.config.Entrypoint).toEqual([
        "/usr/local/bin/node",
        "/app/node_modules/effect-llm-router/bin/effect-llm-router.js"
      ])
      expect(config.config.Cmd[0]).toBe("serve")
      expect(config.config.Labels["org.opencontainers.image.version"]).toBe(manifest.version)
      expect(config.config.Env).toContain("NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt")
      const regular = files.filter((file) => !file.endsWith("/"))
      expect(regular).toContain("usr/local/bin/node")
      expect(regular).toContain("etc/ssl/certs/ca-certificates.crt")
      expect(regular).toContain("app/node_modules/effect-llm-router/dist/cli/main.js")
      expect(regular).toContain("app/node_modules/@effect/sql-pg/package.json")
      // Nothing else: no shell, no package manager, no sources, types or maps.
      const allowed =
        /^(usr\/local\/bin\/node|lib\/[^/]+\/[^/]+\.so(\.\d+)*|lib64\/ld-linux[^/]*|etc\/(passwd|group)|etc\/ssl\/certs\/ca-certificates\.crt|app\/node_modules\/.+)$/
      expect(regular.filter((file) => !allowed.test(file))).toEqual([])
      expect(regular.filter((file) => /(^|\/)(sh|bash|npm|npx|apt-get|dpkg)$/.test(file))).toEqual([])
      const licence = (file: string) => /\/(licen[cs]e|notice)[^/]*$/i.test(file)
      expect(regular.filter((file) => /\.(map|d\.ts|md)$/.test(file) && !licence(file))).toEqual([])
      expect(regular.filter((file) => file.includes("/node_modules/npm/"))).toEqual([])
    }))

  it.live(
    "runs read-only as its own user, Node as PID 1: /health, /ready, a chat and a stream with the openai client; " +
      "SIGHUP reloads provider.json; SIGTERM lets a stream in flight complete, and the exit is 0",
    (ctx) =>
      Effect.gen(function*() {
        const { containers: { podmanOk } } = image(ctx)
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 40, tokensPerSecond: 40 })
        const config = yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "elr-image-config-"))),
          (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
        )
        const provider = (models: ReadonlyArray<string>) =>
          fs.writeFileSync(
            path.join(config, "provider.json"),
            JSON.stringify({
              sim: models.map((model) => ({
                model_name: model,
                base_url: `${simulator.url}/v1`,
                api_keys: [providerKey]
              })),
              gateway: {
                keys: [{ name: "app", key: "env:APP_KEY" }],
                admin_keys: [{ name: "ops", key: "env:ADMIN_KEY" }]
              }
            })
          )
        provider(["gpt-4o-mini"])
        fs.chmodSync(config, 0o755)
        const port = yield* Effect.promise(freePort)
        const name = `elr-image-${port}`
        yield* podmanOk(["volume", "create", `${name}-data`])
        yield* podmanOk([
          "run",
          "--detach",
          "--name",
          name,
          "--read-only",
          "--env",
          `APP_KEY=${appKey}`,
          "--env",
          `ADMIN_KEY=${adminKey}`,
          "--volume",
          `${config}:/etc/effect-llm-router:ro`,
          "--volume",
          `${name}-data:/data`,
          tag,
          "serve",
          "--host",
          "0.0.0.0",
          "--port",
          String(port),
          "--data",
          "/data",
          "--config",
          "/etc/effect-llm-router/provider.json"
        ])
        const url = `http://127.0.0.1:${port}`
        const get = (route: string) =>
          Effect.promise(() =>
            fetch(`${url}${route}`, { headers: { authorization: `Bearer ${appKey}` } }).then(
              async (response) => ({ status: response.status, body: await response.text() }),
              () => ({ status: 0, body: "" })
            )
          )
        yield* eventually("/ready answers 200", get("/ready"), (answer) => answer.status === 200)
        expect(yield* get("/health")).toEqual({ status: 200, body: `{"status":"ok"}` })

        // Read-only, its own user, Node as PID 1.
        expect(yield* podmanOk(["inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", name])).toBe("true")
        const [user, pid1, command] = (yield* podmanOk(["top", name, "user", "pid", "args"])).split("\n")[1]!.trim()
          .split(/\s+/)
        expect([user, pid1, command]).toEqual(["gateway", "1", "/usr/local/bin/node"])
        const pid = yield* podmanOk(["inspect", "--format", "{{.State.Pid}}", name])
        expect(fs.readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^Uid:\s+10001\s+10001\s+10001\s+10001$/m)

        const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: appKey, maxRetries: 0 })
        const request = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "Hello" }] }
        const chat = yield* Effect.promise(() => client.chat.completions.create(request))
        const text = chat.choices[0]!.message.content!
        expect(text.length).toBeGreaterThan(0)

        // SIGHUP: the file read again, its new model served.
        provider(["gpt-4o-mini", "gpt-4.1"])
        yield* podmanOk(["kill", "--signal", "HUP", name])
        yield* eventually(
          "the reloaded model listed",
          get("/v1/models"),
          (answer) => answer.body.includes(`"gpt-4.1"`)
        )

        // SIGTERM once the stream has begun: it completes, then the process exits 0.
        const stream = yield* Effect.promise(() => client.chat.completions.create({ ...request, stream: true }))
        const chunks = stream[Symbol.asyncIterator]()
        const first = yield* Effect.promise(() => chunks.next())
        expect(first.done).toBe(false)
        yield* podmanOk(["kill", "--signal", "TERM", name])
        let streamed = first.value!.choices[0]?.delta.content ?? ""
        let finish: string | null | undefined
        while (true) {
          const next = yield* Effect.promise(() => chunks.next())
          if (next.done === true) break
          streamed += next.value.choices[0]?.delta.content ?? ""
          finish = next.value.choices[0]?.finish_reason ?? finish
        }
        expect(finish).toBe("stop")
        expect(streamed).toBe(text)
        expect(yield* podmanOk(["wait", name], 60_000)).toBe("0")
      }).pipe(Effect.scoped),
    180_000
  )
})

/** A request to a gateway: its status and body as JSON (`{}` when it has none). */
const send = (url: string, method: string, route: string, key: string, body?: unknown) =>
  Effect.promise(() =>
    fetch(`${url}${route}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    }).then(
      async (response) => ({ status: response.status, body: JSON.parse((await response.text()) || "{}") }),
      () => ({ status: 0, body: {} as Record<string, unknown> })
    )
  )

/** `effect`, or the test failed naming `what` once `seconds` pass on the wall clock. */
const within = (what: string, seconds: number) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutOrElse(effect, {
    duration: Duration.seconds(seconds),
    orElse: () => Effect.die(new Error(`${what}: not done within ${seconds} s`))
  })

/** The one rendered object of `kind`. */
const ofKind = <A>(objects: ReadonlyArray<KubeObject>, kind: string): A =>
  objects.find((object) => object.kind === kind) as unknown as A

/** A podman secret as `kube play` reads one for `secretKeyRef`: the Secret's data, each value in base64. */
const podmanSecret = (data: Readonly<Record<string, string>>) => JSON.stringify(data)

const base64 = (text: string) => Buffer.from(text).toString("base64")

describe("the chart's Deployment, played", () => {
  it.live(
    "three replicas on Redis and Postgres start together, migrate once, and spend one key's budget exactly",
    (ctx) =>
      Effect.gen(function*() {
        const { containers: { podman, podmanOk } } = image(ctx)
        const binary = yield* helm.pipe(orSkip(ctx))
        const redis = yield* redisServer
        const postgres = yield* postgresServer
        const database = yield* postgres.database("fleet")
        // A cent a call: ten output tokens at $1,000 a million, nothing for the input.
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 10 })
        const values = {
          replicaCount: 3,
          redis: { existingSecret: "fleet-redis", secretKey: "url" },
          postgres: { existingSecret: "fleet-postgres", secretKey: "url" },
          config: {
            sim: [{
              model_name: "gpt-4o-mini",
              base_url: `${simulator.url}/v1`,
              api_keys: ["env:PROVIDER_KEY"],
              pricing: { input_per_mtok: 0, output_per_mtok: 1000 }
            }]
          },
          env: [{ name: "PROVIDER_KEY", valueFrom: { secretKeyRef: { name: "fleet-provider", key: "key" } } }]
        }
        const home = yield* helmHome
        const rendered = yield* render(binary, home, values, "fleet")
        if ("refused" in rendered) throw new Error(`helm template refused: ${rendered.refused.stderr}`)
        const deployment = ofKind<IDeployment>(rendered.objects, "Deployment")
        expect(deployment.spec?.replicas).toBe(3)
        const adminSecret = ofKind<ISecret>(rendered.objects, "Secret")
        const admin = Buffer.from(adminSecret.data!["admin-key"]!, "base64").toString()

        // The Secrets the Deployment reads: the chart's admin key, and those a team gives it.
        const secrets: Record<string, Record<string, string>> = {
          [adminSecret.metadata!.name!]: adminSecret.data!,
          "fleet-redis": { url: base64(redis.url) },
          "fleet-postgres": { url: base64(database) },
          "fleet-provider": { key: base64(providerKey) }
        }
        for (const [name, data] of Object.entries(secrets)) {
          const file = path.join(home, `${name}.json`)
          fs.writeFileSync(file, podmanSecret(data))
          yield* podmanOk(["secret", "create", name, file])
        }
        const configMap = path.join(home, "configmap.yaml")
        fs.writeFileSync(configMap, Yaml.stringify(ofKind<IConfigMap>(rendered.objects, "ConfigMap")))

        // Each replica: the rendered Deployment with one replica, on a port of its own.
        const ports = yield* Effect.promise(() => Promise.all([freePort(), freePort(), freePort()]))
        const replicas = ports.map((port, index) => {
          const replica = structuredClone(deployment)
          replica.metadata!.name = `${deployment.metadata!.name}-${index}`
          replica.spec!.replicas = 1
          const gateway = replica.spec!.template.spec!.containers[0]!
          const args = gateway.args!
          args[args.indexOf("--port") + 1] = String(port)
          // A port the pod declares is one podman would map, which the host's network has no use for.
          delete gateway.ports
          const file = path.join(home, `replica-${index}.yaml`)
          fs.writeFileSync(file, Yaml.stringify(replica))
          return { url: `http://127.0.0.1:${port}`, file, pod: `${replica.metadata!.name}-pod-0` }
        })
        // Stopped before Redis and Postgres are.
        yield* Effect.addFinalizer(() =>
          Effect.ignore(podmanOk(["pod", "rm", "--force", "--time", "5", ...replicas.map((replica) => replica.pod)]))
        )
        // What each pod said, with any failure from here on (before the pods go): a status alone does not tell why.
        yield* Effect.addFinalizer((exit) =>
          Exit.isSuccess(exit) ? Effect.void : Effect.forEach(replicas, (replica) =>
            Effect.flatMap(
              podman(["logs", `${replica.pod}-gateway`]),
              (logs) => Effect.sync(() => ctx.annotate(`${replica.pod}: ${logs.stdout}${logs.stderr}`))
            ), { discard: true })
        )
        // Started together, on one empty database. Each step is bound on the wall clock, well inside the test's
        // timeout, so that one which never ends fails naming itself, with the pods' logs.
        yield* Effect.forEach(
          replicas,
          (replica) => podmanOk(["kube", "play", "--network", "host", "--configmap", configMap, replica.file], 240_000),
          { concurrency: "unbounded" }
        )
        yield* Effect.forEach(replicas, (replica) =>
          eventually(
            `${replica.pod} ready`,
            send(replica.url, "GET", "/ready", admin),
            (answer) => answer.status === 200,
            { every: "100 millis", within: "120 seconds" }
          ), { concurrency: "unbounded" }).pipe(within("the three replicas ready", 180))
        const migrations = execFileSync("psql", [
          database,
          "-At",
          "-c",
          "SELECT COUNT(*), COUNT(DISTINCT migration_id) FROM effect_sql_migrations"
        ], { encoding: "utf8" }).trim().split("|").map(Number)
        expect(migrations[0]).toBeGreaterThan(0)
        expect(migrations[0]).toBe(migrations[1])

        // A key with ten cents a day, made on one replica, known to all three.
        const made = yield* send(replicas[0]!.url, "POST", "/admin/keys", admin, {
          name: "fleet",
          budget: { limit: 0.1, period: "1 day" }
        }).pipe(within("a key made", 60))
        expect(made.status).toBe(201)
        const key = made.body.key as string
        yield* Effect.forEach(replicas, (replica) =>
          eventually(
            `the key known to ${replica.pod}`,
            send(replica.url, "GET", "/v1/models", key),
            (answer) => answer.status === 200
          )).pipe(within("the key known to the three replicas", 120))
        // Twelve calls round the three replicas: ten fit the budget, the two after are refused.
        const statuses = yield* Effect.forEach(Array.from({ length: 12 }, (_, call) => call), (call) =>
          Effect.map(
            send(replicas[call % 3]!.url, "POST", "/v1/chat/completions", key, {
              model: "gpt-4o-mini",
              max_tokens: 10,
              messages: [{ role: "user", content: `Call ${call}` }]
            }),
            (answer) => answer.status
          )).pipe(within("twelve calls round the replicas", 120))
        expect(statuses).toEqual([...Array<number>(10).fill(200), 429, 429])
        for (const replica of replicas) {
          const read = yield* send(replica.url, "GET", `/admin/keys/${made.body.id as string}`, admin)
          expect(Math.round((read.body.spend as { readonly spent: number }).spent * 100)).toBe(10)
          expect((read.body.spend as { readonly spent: number }).spent).toBeCloseTo(0.1, 9)
        }
      }).pipe(Effect.scoped),
    720_000
  )
})
