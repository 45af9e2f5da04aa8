// docker-compose.yml through Debian's docker-compose (its own schema validation, `config -q`,
// with and without the demo profile), then the resolved file against the project: observers
// scale (no container_name, no host ports), every COAPGW_ name is a setting of the service's
// binary and the required ones are set, bus and RD addresses name compose services, health
// conditions have health checks, the RD publishes UDP 5683, PostgreSQL keeps a volume.
//   node compose_check.mjs --source DIR --bin DIR
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { Checks, checkSettingNames, findTool, hostPort, parseArgs, skip } from "./common.mjs";

const args = parseArgs(process.argv.slice(2));
const dockerCompose = findTool("docker-compose");
if (!dockerCompose) {
  skip(
    "docker-compose not found (Debian package docker-compose; scripts/install-deps installs it)",
  );
}
const checks = new Checks("deploy.compose");
const file = join(args.source, "docker-compose.yml");
const scratch = mkdtempSync(join(tmpdir(), "coapgw-compose-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
const emptyEnv = join(scratch, "empty.env");
writeFileSync(emptyEnv, "");

/** Runs docker-compose on the project's file; returns {status, output}. */
function compose(...extra) {
  try {
    // An empty env file: a .env of the checkout must not change what is checked.
    const options = ["--env-file", emptyEnv, "-f", file];
    const output = execFileSync(dockerCompose, [...options, ...extra], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return { status: 0, output };
  } catch (error) {
    return { status: error.status, output: `${error.stdout}${error.stderr}` };
  }
}

// No variable from the caller's environment may change what is checked.
for (const name of Object.keys(process.env)) {
  if (name.startsWith("COAPGW_") || name.startsWith("COMPOSE_")) {
    delete process.env[name];
  }
}
for (const profile of [[], ["--profile", "demo"]]) {
  const result = compose(...profile, "config", "-q");
  checks.expect(
    result.status === 0,
    `docker-compose ${profile.join(" ")} config -q failed: ${result.output.trim()}`,
  );
}
const resolved = compose("--profile", "demo", "config");
if (!checks.expect(resolved.status === 0, `docker-compose config: ${resolved.output}`)) {
  checks.finish();
}
const services = parse(resolved.output).services;
const names = Object.keys(services);
const binaries = {
  bus: "coapgw-bus",
  rd: "coapgw-rd",
  "ws-connector": "coapgw-ws-connector",
  executer: "coapgw-executer",
  pinger: "coapgw-pinger",
  observer: "coapgw-observer",
  "platform-sim": "coapgw-platform-sim",
  "device-sim": "coapgw-device-sim",
};
for (const name of [...Object.keys(binaries), "postgres"]) {
  checks.expect(names.includes(name), `service ${name} is missing`);
}

const portsOf = (service) =>
  (service.ports ?? []).map((p) =>
    typeof p === "object" ? `${p.target}/${p.protocol ?? "tcp"}` : String(p),
  );

for (const [name, service] of Object.entries(services)) {
  // Scaling any service (observer above all) needs docker-compose to choose container names.
  checks.expect(!service.container_name, `${name}: container_name prevents --scale`);
  for (const [dependency, condition] of Object.entries(service.depends_on ?? {})) {
    checks.expect(names.includes(dependency), `${name} depends on unknown ${dependency}`);
    if (condition.condition === "service_healthy") {
      checks.expect(
        services[dependency]?.healthcheck,
        `${name} waits for ${dependency} to be healthy, which has no healthcheck`,
      );
    }
    checks.expect(
      service.profiles || !services[dependency]?.profiles,
      `${name} (always on) depends on ${dependency}, which is only in a profile`,
    );
  }
  const binary = binaries[name];
  if (!binary) {
    continue;
  }
  checks.expect(
    service.build?.target === binary,
    `${name}: build target ${service.build?.target}, expected ${binary}`,
  );
  checks.expect(
    new RegExp(`(^|/)${binary}:[^:]+$`).test(service.image ?? ""),
    `${name}: image ${service.image} is not <registry>/${binary}:<tag>`,
  );
  const env = service.environment ?? {};
  checkSettingNames(checks, args.bin, binary, Object.keys(env), `${name} environment`);
  for (const key of ["COAPGW_BUS_PUB", "COAPGW_BUS_SUB", "COAPGW_RD_URI"]) {
    const address = hostPort(env[key]);
    if (name !== "bus" && address) {
      const target = key === "COAPGW_RD_URI" ? "rd" : "bus";
      checks.expect(
        address.host === target,
        `${name}: ${key}=${env[key]} is not the ${target} service`,
      );
    }
  }
  checks.expect(
    hostPort(env.COAPGW_HTTP_LISTEN)?.port > 0,
    `${name}: COAPGW_HTTP_LISTEN must be set (the image's health check uses it)`,
  );
}

const observer = services.observer ?? {};
checks.expect(!observer.ports, "observer: host ports prevent --scale observer=N");
checks.expect(!observer.profiles, "observer must run without a profile");
checks.expect(
  portsOf(services.rd ?? {}).some((p) => /(^|:)5683:5683\/udp$|^5683\/udp$/.test(p)),
  `rd must publish 5683/udp, has ${portsOf(services.rd ?? {}).join(", ")}`,
);
checks.expect(
  portsOf(services["platform-sim"] ?? {}).some((p) => /8093/.test(p)),
  "platform-sim must publish its console (8093)",
);
for (const name of ["platform-sim", "device-sim"]) {
  checks.expect(services[name]?.profiles?.includes("demo"), `${name} must be in profile demo`);
}
const postgres = services.postgres ?? {};
checks.expect(
  JSON.stringify(postgres.healthcheck?.test ?? "").includes("pg_isready"),
  "postgres: healthcheck must use pg_isready",
);
checks.expect(
  (postgres.volumes ?? []).some((v) => (v.source ?? String(v).split(":")[0]) === "pgdata"),
  "postgres: data must live on the named volume pgdata",
);
checks.expect(
  hostPort(services.bus?.environment?.COAPGW_BUS_PUB)?.host === "0.0.0.0",
  "bus must bind COAPGW_BUS_PUB on 0.0.0.0",
);

checks.finish();
