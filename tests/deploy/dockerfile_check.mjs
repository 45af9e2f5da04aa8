// deploy/docker/Dockerfile against the project: one runtime target per executable CMake builds
// (and none for a removed one), each running that binary as a non-root user with a health check;
// ENV names that are settings of that binary; listen ports exposed; the builder's packages those
// of scripts/install-deps; the runtime's packages covering every library the binaries link.
//   node dockerfile_check.mjs --source DIR --bin DIR --executables coapgw-bus,coapgw-rd,...
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Checks, checkSettingNames, hostPort, parseArgs } from "./common.mjs";

const args = parseArgs(process.argv.slice(2));
const checks = new Checks("deploy.dockerfile");
const executables = args.executables.split(",").filter(Boolean);
checks.expect(executables.length >= 8, `CMake reported only ${executables.join(", ")}`);

/** Stages of a Dockerfile: [{name, from, instructions: [{op, args}]}], continuations joined. */
function parseDockerfile(text) {
  const joined = text.replace(/\\\n(\s*#.*\n)*/g, " ");
  const stages = [];
  for (const line of joined.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) {
      continue;
    }
    const [op, ...rest] = trimmed.split(/\s+/);
    const instruction = { op: op.toUpperCase(), args: rest.join(" ") };
    if (instruction.op === "FROM") {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      stages.push({ name: match[2] ?? "", from: match[1], instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1).instructions.push(instruction);
    }
  }
  return stages;
}

/** The instructions of `stage` and of the stages it is built FROM, base first. */
function chain(stages, stage) {
  const parent = stages.find((s) => s.name === stage.from);
  return parent ? [...chain(stages, parent), ...stage.instructions] : stage.instructions;
}

/** ENV KEY=VALUE pairs of a list of instructions. */
function envOf(instructions) {
  const env = new Map();
  for (const { op, args: text } of instructions.filter((i) => i.op === "ENV")) {
    for (const match of text.matchAll(/([A-Z0-9_]+)=(\S+)/g)) {
      env.set(match[1], match[2]);
    }
  }
  return env;
}

/** Package names of the `apt-get install` in a list of instructions. */
function aptPackages(instructions) {
  const packages = [];
  for (const { args: text } of instructions.filter((i) => i.op === "RUN")) {
    const match = /apt-get install ((?:-\S+\s+)*)([^&]+)/.exec(text);
    if (match) {
      packages.push(...match[2].trim().split(/\s+/));
    }
  }
  return packages;
}

const dockerfile = join(args.source, "deploy/docker/Dockerfile");
const stages = parseDockerfile(readFileSync(dockerfile, "utf8"));
const builder = stages.find((s) => s.name === "builder");
const runtime = stages.find((s) => s.name === "runtime");
checks.expect(builder && runtime, "stages builder and runtime are required");

// One target per executable, and no target for an executable that no longer exists.
for (const exe of executables) {
  const stage = stages.find((s) => s.name === exe);
  if (!checks.expect(stage, `no target ${exe} (CMake builds it)`)) {
    continue;
  }
  const instructions = chain(stages, stage);
  checks.expect(stage.from === "runtime", `${exe}: must be built FROM runtime`);
  checks.expect(
    stage.instructions.some(
      (i) => i.op === "COPY" && i.args.startsWith(`--from=builder /build/bin/${exe} `),
    ),
    `${exe}: does not copy /build/bin/${exe} from the builder`,
  );
  const entrypoint = instructions.filter((i) => i.op === "ENTRYPOINT").at(-1);
  checks.expect(
    entrypoint && JSON.parse(entrypoint.args)[0] === `/usr/local/bin/${exe}`,
    `${exe}: ENTRYPOINT is not /usr/local/bin/${exe}`,
  );
  const user = instructions.filter((i) => i.op === "USER").at(-1);
  checks.expect(
    user && /^[1-9]\d*(:\d+)?$/.test(user.args),
    `${exe}: USER must be a numeric non-root uid (runAsNonRoot can check it)`,
  );
  checks.expect(
    instructions.some((i) => i.op === "HEALTHCHECK"),
    `${exe}: no HEALTHCHECK`,
  );

  const env = envOf(instructions);
  // Required settings (database, platform) are the deployment's to give, not the image's.
  checkSettingNames(checks, args.bin, exe, [...env.keys()], `${exe} ENV`, false);
  const exposed = instructions.filter((i) => i.op === "EXPOSE").flatMap((i) => i.args.split(/\s+/));
  for (const [key, value] of env) {
    const address = hostPort(value);
    const binds =
      /_(LISTEN|CONTROL)$/.test(key) ||
      (exe === "coapgw-bus" && /^COAPGW_BUS_(PUB|SUB)$/.test(key));
    if (binds && address && address.port !== 0) {
      const protocol = key === "COAPGW_RD_LISTEN" ? "udp" : "tcp";
      checks.expect(
        exposed.includes(`${address.port}/${protocol}`),
        `${exe}: ${key}=${value} but ${address.port}/${protocol} is not exposed`,
      );
    }
  }
}
for (const stage of stages.filter((s) => s.name.startsWith("coapgw-"))) {
  checks.expect(
    executables.includes(stage.name),
    `target ${stage.name} names no executable CMake builds`,
  );
}

// The builder installs the build packages of scripts/install-deps (every library, no stranger).
const installDeps = readFileSync(join(args.source, "scripts/install-deps"), "utf8");
const groups = new Map();
let group = "";
for (const line of /packages=\(([\s\S]*?)\n\)/.exec(installDeps)[1].split("\n")) {
  const comment = /^\s*#\s*(.*)$/.exec(line);
  if (comment) {
    group = comment[1];
  } else {
    groups.set(group, [...(groups.get(group) ?? []), ...line.trim().split(/\s+/).filter(Boolean)]);
  }
}
const allDeps = [...groups.values()].flat();
const builderPackages = aptPackages(builder.instructions);
for (const name of builderPackages) {
  checks.expect(
    allDeps.includes(name),
    `builder installs ${name}, which scripts/install-deps does not`,
  );
}
for (const name of groups.get("libraries") ?? []) {
  checks.expect(
    builderPackages.includes(name),
    `builder lacks library package ${name} of scripts/install-deps`,
  );
}

// The runtime stage has a package for every shared library an executable needs (NEEDED entries;
// libc, libstdc++ and libgcc_s come with the base image; sanitizer runtimes are test builds only).
const runtimePackages = new Set([
  ...aptPackages(runtime.instructions),
  "libc6",
  "libstdc++6",
  "libgcc-s1",
]);
const packageOf = new Map();
for (const exe of executables) {
  if (!checks.expect(existsSync(join(args.bin, exe)), `${join(args.bin, exe)} is not built`)) {
    continue;
  }
  const dump = execFileSync("objdump", ["-p", join(args.bin, exe)], { encoding: "utf8" });
  for (const [, soname] of dump.matchAll(/^\s+NEEDED\s+(\S+)$/gm)) {
    if (/^lib(asan|ubsan|tsan|lsan)\./.test(soname)) {
      continue;
    }
    if (!packageOf.has(soname)) {
      const owners = execFileSync("dpkg", ["-S", soname], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.endsWith(`/${soname}`))
        .map((l) => l.split(":")[0]);
      packageOf.set(soname, owners);
    }
    const owners = packageOf.get(soname);
    checks.expect(
      owners.some((p) => runtimePackages.has(p)),
      `${exe} needs ${soname} (${owners.join(", ") || "no package"}), not installed by the runtime stage`,
    );
  }
}

checks.finish();
