/**
 * The chart at deploy/helm/effect-llm-router as helm renders it (the binary of `helm.ts`), each object it renders
 * checked against Kubernetes' own schemas (the OpenAPI definitions `kubernetes-models` compiles, and the Prometheus
 * Operator's for a ServiceMonitor). helm runs with homes of its own in a temporary directory, never the machine's.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Yaml from "yaml"
import { envWithoutKeys, type Spawned, spawnProcess } from "./cliHarness.js"

export const chartDirectory = path.resolve(import.meta.dirname, "../../deploy/helm/effect-llm-router")

/** One rendered object, as its YAML reads. */
export type KubeObject = {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly [field: string]: unknown }
  readonly [field: string]: unknown
}

/** The model class of each kind the chart renders, by `apiVersion` and `kind`: a kind missing here fails its check. */
const models: Record<string, () => Promise<new(data: never) => { validate(): void }>> = {
  "v1/ConfigMap": async () => (await import("kubernetes-models/v1/ConfigMap")).ConfigMap,
  "v1/Secret": async () => (await import("kubernetes-models/v1/Secret")).Secret,
  "v1/Service": async () => (await import("kubernetes-models/v1/Service")).Service,
  "v1/PersistentVolumeClaim": async () =>
    (await import("kubernetes-models/v1/PersistentVolumeClaim")).PersistentVolumeClaim,
  "apps/v1/Deployment": async () => (await import("kubernetes-models/apps/v1/Deployment")).Deployment,
  "autoscaling/v2/HorizontalPodAutoscaler": async () =>
    (await import("kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler")).HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": async () =>
    (await import("kubernetes-models/policy/v1/PodDisruptionBudget")).PodDisruptionBudget,
  "monitoring.coreos.com/v1/ServiceMonitor": async () =>
    (await import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor")).ServiceMonitor
}

/** What Kubernetes' schema of its kind finds wrong with `object`, or `undefined` when nothing. */
export const schemaProblems = (object: KubeObject): Effect.Effect<string | undefined> =>
  Effect.promise(async () => {
    const model = models[`${object.apiVersion}/${object.kind}`]
    if (model === undefined) return `no schema for ${object.apiVersion} ${object.kind}`
    const Model = await model()
    try {
      new Model(object as never).validate()
      return undefined
    } catch (error) {
      return `${object.kind} ${object.metadata.name}: ${(error as Error).message}`
    }
  })

/** A temporary directory for helm's homes and the values files, removed with the scope. */
export const helmHome = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "elr-helm-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const helmEnv = (home: string, extra: Record<string, string> = {}): Record<string, string> => ({
  ...envWithoutKeys(),
  HELM_CACHE_HOME: path.join(home, "cache"),
  HELM_CONFIG_HOME: path.join(home, "config"),
  HELM_DATA_HOME: path.join(home, "data"),
  KUBECONFIG: path.join(home, "no-kubeconfig"),
  ...extra
})

/** `values` written as a values file (JSON is YAML) in `home`. */
const valuesFile = (home: string, values: object): string => {
  const file = fs.mkdtempSync(path.join(home, "values-"))
  fs.writeFileSync(path.join(file, "values.yaml"), JSON.stringify(values))
  return path.join(file, "values.yaml")
}

/** helm run with `args`, its homes in `home`. */
export const runHelm = (helm: string, home: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  spawnProcess(helm, args, { env: helmEnv(home, env), timeoutMs: 60_000 })

/** The chart rendered with `values` (`helm template`), its objects parsed; or helm's refusal. */
export const render = (helm: string, home: string, values: object, release = "gw") =>
  Effect.map(
    runHelm(helm, home, ["template", release, chartDirectory, "--namespace", "team", "-f", valuesFile(home, values)]),
    (run): { readonly objects: ReadonlyArray<KubeObject> } | { readonly refused: Spawned } =>
      run.code === 0
        ? {
          objects: Yaml.parseAllDocuments(run.stdout).map((document) => document.toJS() as KubeObject).filter((
            object
          ) => object !== null)
        }
        : { refused: run }
  )

/** `helm lint --strict` of the chart with `values` on top of its defaults. */
export const lint = (helm: string, home: string, values: object) =>
  runHelm(helm, home, ["lint", "--strict", chartDirectory, "-f", valuesFile(home, values)])

/**
 * What `helm install` prints with `values` (its notes included), on a dry run: helm asks a cluster its version and
 * API groups even then, which a loopback server answers as a Kubernetes 1.32 API server with only the core group
 * would; the release is kept in helm's memory driver, so nothing else is asked.
 */
export const installDryRun = (helm: string, home: string, values: object) =>
  Effect.acquireUseRelease(
    Effect.promise(() =>
      new Promise<http.Server>((resolve) => {
        const discovery: Record<string, object> = {
          "/version": { major: "1", minor: "32", gitVersion: "v1.32.0" },
          "/api": { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] },
          "/apis": { kind: "APIGroupList", apiVersion: "v1", groups: [] },
          "/api/v1": { kind: "APIResourceList", groupVersion: "v1", resources: [] }
        }
        const server = http.createServer((request, response) => {
          const answer = discovery[new URL(request.url ?? "/", "http://api").pathname]
          response.writeHead(answer === undefined ? 404 : 200, { "content-type": "application/json" })
          response.end(JSON.stringify(answer ?? { kind: "Status", code: 404 }))
        })
        server.listen(0, "127.0.0.1", () => resolve(server))
      })
    ),
    (server) => {
      const kubeconfig = path.join(home, "kubeconfig")
      fs.writeFileSync(
        kubeconfig,
        Yaml.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{
            name: "api",
            cluster: { server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
          }],
          contexts: [{ name: "api", context: { cluster: "api", user: "none" } }],
          users: [{ name: "none", user: {} }],
          "current-context": "api"
        })
      )
      const releases = path.join(home, "releases.yaml")
      fs.writeFileSync(releases, "")
      return runHelm(
        helm,
        home,
        ["install", "gw", chartDirectory, "--namespace", "team", "--dry-run=client", "-f", valuesFile(home, values)],
        { KUBECONFIG: kubeconfig, HELM_DRIVER: "memory", HELM_MEMORY_DRIVER_DATA: releases }
      )
    },
    (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )
