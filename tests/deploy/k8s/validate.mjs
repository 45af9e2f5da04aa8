// deploy/k8s rendered by a real kustomize (`kubectl kustomize`, offline; the kubectl 1.33 that
// npm ci unpacks into node_modules/.kubectl, see k8s/unpack_kubectl.mjs) and checked without a
// cluster: every object against the Kubernetes schemas of kubernetes-models (types, required
// fields, formats) and against the declared fields (no unknown field), then what the project
// needs of it: probes on /healthz and /readyz on the service's COAPGW_HTTP_LISTEN port,
// resources, non-root; every COAPGW_ name a container gets is a setting of its binary and the
// required ones are given; bus and RD addresses name Services that reach those pods; singletons
// stay single; the observer has an HPA and a PDB; the RD Service exposes UDP 5683.
//   node validate.mjs --source DIR --bin DIR
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { Checks, checkSettingNames, findTool, hostPort, parseArgs, skip } from "../common.mjs";
import { declarationOf, unknownFields } from "./strict_fields.mjs";

const args = parseArgs(process.argv.slice(2));
// The npm package's kubectl is linux/amd64; elsewhere a kubectl in PATH renders, if there is one.
const pinnedKubectl = join(
  dirname(dirname(fileURLToPath(import.meta.url))),
  "node_modules/.kubectl/kubectl",
);
const kubectl =
  process.platform === "linux" && process.arch === "x64" ? pinnedKubectl : findTool("kubectl");
if (!kubectl) {
  skip(`kubectl not found: none pinned for ${process.platform}/${process.arch}, none in PATH`);
}
if (!existsSync(kubectl)) {
  console.error(`${kubectl} is missing: run scripts/install-deps (npm ci --prefix tests/deploy)`);
  process.exit(1);
}
const checks = new Checks("deploy.k8s");

// Secrets the base uses but does not create (deploy/k8s/base/kustomization.yaml), with their keys.
const externalSecrets = {
  "coapgw-database": ["COAPGW_DATABASE_URL"],
  "coapgw-platform": ["COAPGW_PLATFORM_USER", "COAPGW_PLATFORM_PASSWORD"],
};
const singletons = [
  "coapgw-bus",
  "coapgw-rd",
  "coapgw-ws-connector",
  "coapgw-executer",
  "coapgw-pinger",
];

/** The objects of a kustomization folder, rendered by kubectl kustomize. */
function render(dir) {
  const text = execFileSync(kubectl, ["kustomize", dir], { encoding: "utf8", maxBuffer: 1 << 26 });
  const objects = parseAllDocuments(text)
    .map((doc) => doc.toJS())
    .filter(Boolean);
  // kustomize wraps long base64 values of Secrets over lines; the API server's decoder skips the
  // line breaks, the "byte" format of the schemas does not.
  for (const secret of objects.filter((o) => o.kind === "Secret" && o.data)) {
    for (const key of Object.keys(secret.data)) {
      secret.data[key] = secret.data[key].replace(/[\r\n]/g, "");
    }
  }
  return objects;
}

/** Schema validation through the kubernetes-models class of the object's apiVersion/kind. */
async function validateModel(object, where) {
  const modulePath = `kubernetes-models/${object.apiVersion}/${object.kind}`;
  let Model;
  try {
    Model = (await import(modulePath))[object.kind];
  } catch {
    checks.expect(
      false,
      `${where}: no kubernetes-models class for ${object.apiVersion} ${object.kind}`,
    );
    return;
  }
  try {
    new Model(object).validate();
    checks.expect(true, "");
  } catch (error) {
    checks.expect(false, `${where}: ${error.message}`);
  }
  const unknown = unknownFields(object, declarationOf(object.apiVersion, object.kind));
  checks.expect(unknown.length === 0, `${where}: unknown fields ${unknown.join(", ")}`);
}

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value);

/** "registry/path/coapgw-rd:0.1.0" -> {name: "coapgw-rd", tag: "0.1.0"}. */
function imageOf(reference) {
  const last = reference.split("/").at(-1);
  const [name, tag] = last.split(":");
  return { name, tag };
}

/** The environment a container gets: Map name -> value (undefined: from an external Secret). */
function environmentOf(container, objects, external, where) {
  const env = new Map();
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    const kind = source.configMapRef ? "ConfigMap" : "Secret";
    const found = objects.find((o) => o.kind === kind && o.metadata.name === ref.name);
    let entries = null;
    if (found) {
      entries = Object.entries(found.data ?? found.stringData ?? {}).map(([k, v]) => [
        k,
        kind === "Secret" && found.data ? Buffer.from(v, "base64").toString() : v,
      ]);
    } else if (kind === "Secret" && external[ref.name]) {
      entries = external[ref.name].map((k) => [k, undefined]);
    }
    if (checks.expect(entries, `${where}: ${kind} ${ref.name} is not part of the rendering`)) {
      for (const [key, value] of entries) {
        env.set(`${source.prefix ?? ""}${key}`, value);
      }
    }
  }
  for (const variable of container.env ?? []) {
    env.set(variable.name, variable.value);
  }
  return env;
}

/** The workload (Deployment/StatefulSet) whose pods a selector picks, or undefined. */
const workloadFor = (objects, selector) =>
  objects.find(
    (o) =>
      ["Deployment", "StatefulSet"].includes(o.kind) &&
      matches(selector, o.spec.template.metadata?.labels),
  );

/** Checks that `address` (host:port) is a Service of `objects` that reaches `workloadName`. */
function checkServiceAddress(objects, address, workloadName, where) {
  const service = objects.find((o) => o.kind === "Service" && o.metadata.name === address?.host);
  if (!checks.expect(service, `${where}: ${address?.host} is not a Service`)) {
    return;
  }
  checks.expect(
    workloadFor(objects, service.spec.selector)?.metadata.name === workloadName,
    `${where}: Service ${service.metadata.name} does not select ${workloadName}`,
  );
  checks.expect(
    service.spec.ports.some((p) => p.port === address.port),
    `${where}: Service ${service.metadata.name} has no port ${address.port}`,
  );
}

function checkWorkload(workload, objects, external, where) {
  const pod = workload.spec.template.spec;
  for (const container of pod.containers) {
    const at = `${where} container ${container.name}`;
    const nonRoot = container.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
    const user = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
    checks.expect(nonRoot === true && user !== 0, `${at}: must run as non-root (runAsNonRoot)`);
    checks.expect(
      container.securityContext?.allowPrivilegeEscalation === false,
      `${at}: allowPrivilegeEscalation must be false`,
    );
    for (const kind of ["requests", "limits"]) {
      for (const resource of ["cpu", "memory"]) {
        checks.expect(
          container.resources?.[kind]?.[resource] !== undefined,
          `${at}: resources.${kind}.${resource} is not set`,
        );
      }
    }
    checks.expect(
      container.livenessProbe && container.readinessProbe,
      `${at}: needs liveness and readiness probes`,
    );
    const image = imageOf(container.image);
    checks.expect(
      image.tag && image.tag !== "latest",
      `${at}: image ${container.image} needs a fixed tag`,
    );
    if (!image.name.startsWith("coapgw-")) {
      continue;
    }
    const env = environmentOf(container, objects, external, at);
    checkSettingNames(checks, args.bin, image.name, [...env.keys()], at);
    const http = hostPort(env.get("COAPGW_HTTP_LISTEN"));
    const portNumber = (port) =>
      typeof port === "number"
        ? port
        : container.ports?.find((p) => p.name === port)?.containerPort;
    for (const [probe, path] of [
      ["livenessProbe", "/healthz"],
      ["readinessProbe", "/readyz"],
    ]) {
      const get = container[probe]?.httpGet;
      checks.expect(get?.path === path, `${at}: ${probe} must GET ${path}`);
      checks.expect(
        http && portNumber(get?.port) === http.port,
        `${at}: ${probe} port ${get?.port} is not COAPGW_HTTP_LISTEN (${env.get("COAPGW_HTTP_LISTEN")})`,
      );
    }
    if (image.name !== "coapgw-bus") {
      for (const key of ["COAPGW_BUS_PUB", "COAPGW_BUS_SUB"]) {
        checkServiceAddress(objects, hostPort(env.get(key)), "coapgw-bus", `${at} ${key}`);
      }
    }
    if (env.has("COAPGW_RD_URI")) {
      checkServiceAddress(
        objects,
        hostPort(env.get("COAPGW_RD_URI")),
        "coapgw-rd",
        `${at} COAPGW_RD_URI`,
      );
    }
    // An in-cluster database (a host name without dots): the Service of the PostgreSQL workload.
    const database = /^postgres(?:ql)?:\/\/[^@]*@([^:/.]+):(\d+)\//.exec(
      env.get("COAPGW_DATABASE_URL") ?? "",
    );
    if (database) {
      const address = { host: database[1], port: Number(database[2]) };
      checkServiceAddress(objects, address, "coapgw-postgres", `${at} COAPGW_DATABASE_URL`);
    }
  }
}

async function checkRendering(dir, namespace, external) {
  const objects = render(join(args.source, dir));
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const named = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  for (const object of objects) {
    await validateModel(object, `${dir} ${object.kind}/${object.metadata?.name}`);
    if (namespace && object.kind !== "Namespace") {
      checks.expect(
        object.metadata.namespace === namespace,
        `${dir} ${object.kind}/${object.metadata.name}: not in namespace ${namespace}`,
      );
    }
  }
  if (namespace) {
    checks.expect(named("Namespace", namespace), `${dir}: no Namespace ${namespace}`);
  }

  for (const name of [...singletons, "coapgw-observer"]) {
    checks.expect(named("Deployment", name), `${dir}: no Deployment ${name}`);
  }
  for (const workload of [...byKind("Deployment"), ...byKind("StatefulSet")]) {
    checkWorkload(workload, objects, external, `${dir} ${workload.kind}/${workload.metadata.name}`);
  }
  for (const name of singletons) {
    const deployment = named("Deployment", name);
    checks.expect(
      (deployment?.spec.replicas ?? 1) === 1 && deployment?.spec.strategy?.type === "Recreate",
      `${dir} ${name}: must be one replica with strategy Recreate (two would conflict)`,
    );
  }

  // Services reach pods on ports the pods declare.
  for (const service of byKind("Service")) {
    const where = `${dir} Service/${service.metadata.name}`;
    const workload = workloadFor(objects, service.spec.selector);
    if (!checks.expect(workload, `${where}: selects no workload`)) {
      continue;
    }
    const ports = workload.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
    for (const port of service.spec.ports) {
      checks.expect(
        ports.some(
          (p) =>
            (p.name === port.targetPort || p.containerPort === port.targetPort) &&
            (p.protocol ?? "TCP") === (port.protocol ?? "TCP"),
        ),
        `${where}: port ${port.name} targets ${port.targetPort}/${port.protocol}, not a port of ${workload.metadata.name}`,
      );
    }
  }
  const rdServices = byKind("Service").filter(
    (s) => workloadFor(objects, s.spec.selector)?.metadata.name === "coapgw-rd",
  );
  checks.expect(
    rdServices.some((s) => s.spec.ports.some((p) => p.port === 5683 && p.protocol === "UDP")),
    `${dir}: no Service exposes the RD on UDP 5683`,
  );

  // The observer scales: replicas, an HPA on it, a PDB over its pods.
  const observer = named("Deployment", "coapgw-observer");
  const hpa = byKind("HorizontalPodAutoscaler").find(
    (h) =>
      h.spec.scaleTargetRef.kind === "Deployment" &&
      h.spec.scaleTargetRef.name === "coapgw-observer",
  );
  if (
    checks.expect(
      observer && hpa,
      `${dir}: the observer needs a Deployment and a HorizontalPodAutoscaler`,
    )
  ) {
    checks.expect(
      observer.spec.replicas >= 2,
      `${dir}: observer replicas ${observer.spec.replicas} < 2`,
    );
    checks.expect(
      hpa.spec.minReplicas <= observer.spec.replicas &&
        observer.spec.replicas <= hpa.spec.maxReplicas,
      `${dir}: observer replicas ${observer.spec.replicas} outside the HPA's ${hpa.spec.minReplicas}..${hpa.spec.maxReplicas}`,
    );
    checks.expect(
      byKind("PodDisruptionBudget").some((p) =>
        matches(p.spec.selector.matchLabels, observer.spec.template.metadata.labels),
      ),
      `${dir}: no PodDisruptionBudget covers the observer pods`,
    );
  }
}

// The base uses Secrets it does not create; the example overlay must create every one it uses.
await checkRendering("deploy/k8s/base", null, externalSecrets);
await checkRendering("deploy/k8s/overlays/example", "coapgw", {});
checks.finish();
