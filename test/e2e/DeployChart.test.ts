/**
 * The Helm chart (deploy/helm/effect-llm-router) as helm 3.17 renders it, for the matrix docs/deploy.md describes: one
 * replica on SQLite, three on Redis and Postgres, each with and without the autoscaler and the metrics monitor. Every
 * object rendered is checked against Kubernetes' schemas, `helm lint --strict` passes, and what the chart refuses
 * (several replicas without a shared store, a value its schema does not know) it refuses saying why. The notes
 * `helm install` prints say how to reach the gateway and its dashboard.
 */
import { describe, expect, it } from "@effect/vitest"
import type { IServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor"
import * as Effect from "effect/Effect"
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment"
import type { IHorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler"
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Yaml from "yaml"
import {
  chartDirectory,
  helmHome,
  installDryRun,
  type KubeObject,
  lint,
  render,
  schemaProblems
} from "../utils/chart.js"
import { helm } from "../utils/helm.js"
import { orSkip } from "../utils/pinnedCli.js"

const shared = {
  redis: { existingSecret: "gw-redis", secretKey: "url" },
  postgres: { existingSecret: "gw-postgres", secretKey: "url" }
}

/** The matrix: each case's values, and the kinds it renders. */
const matrix = {
  "one replica on SQLite": {
    values: {},
    kinds: ["Secret", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment"]
  },
  "one replica on SQLite with the metrics monitor": {
    values: { metrics: { serviceMonitor: { enabled: true } } },
    kinds: ["Secret", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment", "ServiceMonitor"]
  },
  "three replicas on Redis and Postgres": {
    values: { replicaCount: 3, ...shared },
    kinds: ["Secret", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget"]
  },
  "three replicas with the metrics monitor": {
    values: { replicaCount: 3, ...shared, metrics: { serviceMonitor: { enabled: true } } },
    kinds: ["Secret", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "ServiceMonitor"]
  },
  "autoscaled on Redis and Postgres, with the metrics monitor": {
    values: {
      ...shared,
      autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 6 },
      metrics: { serviceMonitor: { enabled: true } }
    },
    kinds: [
      "Secret",
      "ConfigMap",
      "Service",
      "Deployment",
      "HorizontalPodAutoscaler",
      "PodDisruptionBudget",
      "ServiceMonitor"
    ]
  }
} as const

type Case = keyof typeof matrix

const rendered = (values: object) =>
  Effect.gen(function*() {
    const home = yield* helmHome
    const result = yield* render(yield* helm, home, values)
    if ("refused" in result) throw new Error(`helm template refused: ${result.refused.stderr}`)
    return result.objects
  })

/** The one object of `kind` among `objects`, as its model's type reads it. */
const one = <A>(objects: ReadonlyArray<KubeObject>, kind: string): A => {
  const found = objects.filter((object) => object.kind === kind)
  expect(found).toHaveLength(1)
  return found[0] as unknown as A
}

/** What of provider.json the chart writes. */
interface ProviderJson {
  readonly gateway: { readonly admin_keys: ReadonlyArray<unknown> }
  readonly store?: { readonly redis: string; readonly sql: string; readonly instances: number }
}

const providerJson = (objects: ReadonlyArray<KubeObject>): ProviderJson =>
  JSON.parse(one<IConfigMap>(objects, "ConfigMap").data!["provider.json"]!)

describe("the Helm chart", () => {
  it.live("is what the package is: its appVersion is package.json's version", () =>
    Effect.sync(() => {
      const chart = Yaml.parse(fs.readFileSync(path.join(chartDirectory, "Chart.yaml"), "utf8"))
      const manifest = JSON.parse(fs.readFileSync(path.resolve(chartDirectory, "../../../package.json"), "utf8"))
      expect(chart.appVersion).toBe(manifest.version)
    }))

  for (const [name, { kinds, values }] of Object.entries(matrix) as Array<[Case, (typeof matrix)[Case]]>) {
    it.live(`${name}: lints strictly, renders ${kinds.join(", ")}, each valid by Kubernetes' schemas`, (ctx) =>
      Effect.gen(function*() {
        const binary = yield* helm.pipe(orSkip(ctx))
        const home = yield* helmHome
        const linted = yield* lint(binary, home, values)
        expect(linted.stdout).toContain("1 chart(s) linted, 0 chart(s) failed")
        expect(linted.code).toBe(0)
        const objects = yield* rendered(values)
        expect(objects.map((object) => object.kind).sort()).toEqual([...kinds].sort())
        const problems = yield* Effect.forEach(objects, schemaProblems)
        expect(problems.filter((problem) => problem !== undefined)).toEqual([])

        const deployment = one<IDeployment>(objects, "Deployment")
        const pod = deployment.spec!.template.spec!
        const gateway = pod.containers[0]!
        const args = gateway.args!
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } })
        expect(gateway.securityContext).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ["ALL"] }
        })
        expect(gateway.startupProbe?.httpGet).toEqual({ path: "/health", port: "http" })
        expect(gateway.readinessProbe?.httpGet).toEqual({ path: "/ready", port: "http" })
        expect(gateway.livenessProbe?.httpGet).toEqual({ path: "/health", port: "http" })
        // The pod is given time to drain past serve's own grace period.
        const grace = Number(args[args.indexOf("--grace-period") + 1])
        expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(grace)
        // The admin key is a Secret's, read by provider.json from the environment.
        const config = providerJson(objects)
        expect(config.gateway.admin_keys).toEqual([{ name: "admin", key: "env:EFFECT_LLM_ROUTER_ADMIN_KEY" }])
        expect(gateway.env?.[0]).toEqual({
          name: "EFFECT_LLM_ROUTER_ADMIN_KEY",
          valueFrom: { secretKeyRef: { name: "gw-effect-llm-router-admin", key: "admin-key" } }
        })
        const data = pod.volumes?.find((volume) => volume.name === "data")
        if (kinds.includes("PersistentVolumeClaim" as never)) {
          // One replica: its SQLite file on the claim, the old pod gone before the new one opens it.
          expect(deployment.spec?.replicas).toBe(1)
          expect(deployment.spec?.strategy).toEqual({ type: "Recreate" })
          expect(data?.persistentVolumeClaim).toEqual({ claimName: "gw-effect-llm-router" })
          expect(config.store).toBeUndefined()
        } else {
          // Several: every state in Redis and Postgres, a new pod ready before an old one drains.
          expect(deployment.spec?.strategy?.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 })
          expect(data).toEqual({ name: "data", emptyDir: {} })
          expect(config.store).toMatchObject({ redis: "env:REDIS_URL", sql: "env:DATABASE_URL" })
          expect(gateway.env?.slice(1, 3)).toEqual([
            { name: "REDIS_URL", valueFrom: { secretKeyRef: { name: "gw-redis", key: "url" } } },
            { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "gw-postgres", key: "url" } } }
          ])
        }
        if (kinds.includes("HorizontalPodAutoscaler" as never)) {
          expect(deployment.spec?.replicas).toBeUndefined()
          expect(one<IHorizontalPodAutoscaler>(objects, "HorizontalPodAutoscaler").spec).toMatchObject({
            minReplicas: 3,
            maxReplicas: 6
          })
          expect(config.store?.instances).toBe(6)
        }
        if (kinds.includes("ServiceMonitor" as never)) {
          expect(one<IServiceMonitor>(objects, "ServiceMonitor").spec.endpoints).toEqual([{
            port: "http",
            path: "/metrics",
            interval: "30s",
            authorization: { type: "Bearer", credentials: { name: "gw-effect-llm-router-admin", key: "admin-key" } }
          }])
        }
      }).pipe(Effect.scoped))
  }

  it.live("finds what Kubernetes' schemas refuse in a rendered object", (ctx) =>
    Effect.gen(function*() {
      yield* helm.pipe(orSkip(ctx))
      const objects = yield* rendered({})
      const broken = structuredClone(one<KubeObject & { spec: Record<string, unknown> }>(objects, "Deployment"))
      const ports = (broken.spec.template as NonNullable<IDeployment["spec"]>["template"]).spec!.containers[0]!.ports!
      Object.assign(ports[0]!, { containerPort: "http" })
      expect(yield* schemaProblems(broken)).toContain("containerPort must be integer")
      delete broken.spec.selector
      expect(yield* schemaProblems(broken)).toContain("data/spec must have required property selector")
    }).pipe(Effect.scoped))

  it.live("refuses several replicas without Redis and Postgres, saying why", (ctx) =>
    Effect.gen(function*() {
      const binary = yield* helm.pipe(orSkip(ctx))
      const home = yield* helmHome
      const three = yield* render(binary, home, { replicaCount: 3 })
      expect("refused" in three && three.refused.stderr).toContain(
        "more than one replica (replicaCount 3) needs a shared Redis and Postgres, and redis.existingSecret and " +
          "postgres.existingSecret are not set. Each replica would otherwise keep its own SQLite file and its own " +
          "limits"
      )
      const autoscaled = yield* render(binary, home, { autoscaling: { enabled: true }, redis: shared.redis })
      expect("refused" in autoscaled && autoscaled.refused.stderr).toContain(
        "(replicaCount 1, autoscaling enabled) needs a shared Redis and Postgres, and postgres.existingSecret is not set"
      )
      const typo = yield* render(binary, home, { replicas: 3 })
      expect("refused" in typo && typo.refused.stderr).toContain("Additional property replicas is not allowed")
    }).pipe(Effect.scoped))

  it.live("helm install's notes say how to reach the gateway, its dashboard and the admin key", (ctx) =>
    Effect.gen(function*() {
      const binary = yield* helm.pipe(orSkip(ctx))
      const home = yield* helmHome
      const bare = yield* installDryRun(binary, home, {})
      expect(bare.code).toBe(0)
      expect(bare.stdout.slice(bare.stdout.indexOf("NOTES:"))).toContain(
        "WARNING: `config` names no model, and the gateway does not start without one"
      )
      const installed = yield* installDryRun(binary, home, {
        config: { openai: [{ model_name: "gpt-4o-mini", api_keys: ["env:OPENAI_API_KEY"] }] }
      })
      expect(installed.code).toBe(0)
      const notes = installed.stdout.slice(installed.stdout.indexOf("NOTES:"))
      expect(notes).not.toContain("WARNING")
      expect(notes).toContain("kubectl --namespace team port-forward service/gw-effect-llm-router 4000:80")
      expect(notes).toContain("http://gw-effect-llm-router.team.svc:80/v1")
      expect(notes).toContain("http://127.0.0.1:4000/dashboard")
      expect(notes).toContain(
        "kubectl --namespace team get secret gw-effect-llm-router-admin -o jsonpath='{.data.admin-key}' | base64 -d"
      )
    }).pipe(Effect.scoped))
})
