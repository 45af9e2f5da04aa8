// Shared by the checks of tests/deploy: arguments, the settings of each coapgw executable (from
// its --help, the source of truth), and a list of failures reported at the end.
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join } from "node:path";

/** The path of executable `name` in PATH, or null. */
export function findTool(name) {
  for (const dir of (process.env.PATH ?? "").split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this folder
    }
  }
  return null;
}

/** --name value pairs of argv as an object; a missing value is "". */
export function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i].startsWith("--")) {
      const next = argv[i + 1];
      args[argv[i].slice(2)] = next !== undefined && !next.startsWith("--") ? argv[++i] : "";
    }
  }
  return args;
}

/** Ends the process as a skipped ctest test (SKIP_RETURN_CODE 77), saying why. */
export function skip(reason) {
  console.log(`skipped: ${reason}`);
  process.exit(77);
}

/** Collects failures, so that one run reports all of them. */
export class Checks {
  constructor(name) {
    this.name = name;
    this.failures = [];
    this.count = 0;
  }

  /** Records a failure with `message` unless `condition` holds. */
  expect(condition, message) {
    this.count += 1;
    if (!condition) {
      this.failures.push(message);
    }
    return condition;
  }

  /** Prints the outcome and exits 0 (all passed) or 1. */
  finish() {
    for (const failure of this.failures) {
      console.error(`FAIL ${this.name}: ${failure}`);
    }
    const passed = this.count - this.failures.length;
    console.log(`${this.name}: ${passed} passed, ${this.failures.length} failed`);
    process.exit(this.failures.length === 0 ? 0 : 1);
  }
}

const settingsCache = new Map();

/**
 * The settings of executable `name` in `binDir`, from `name --help`:
 * Map of COAPGW_* name -> {required: bool}. Throws when the executable is missing.
 */
export function settingsOf(binDir, name) {
  if (!settingsCache.has(name)) {
    const path = join(binDir, name);
    if (!existsSync(path)) {
      throw new Error(`${path} not built: build the project first (cmake --build)`);
    }
    const help = execFileSync(path, ["--help"], { encoding: "utf8" });
    const settings = new Map();
    for (const match of help.matchAll(/^ {6}(COAPGW_[A-Z0-9_]+): (.*)$/gm)) {
      settings.set(match[1], { required: match[2].endsWith("[required]") });
    }
    if (settings.size === 0) {
      throw new Error(`${name} --help lists no COAPGW_ setting`);
    }
    settingsCache.set(name, settings);
  }
  return settingsCache.get(name);
}

/**
 * Checks the environment `names` given to executable `binary` (in `where`): every COAPGW_ name
 * is one of its settings (a typo fails) and, unless `required` is false, every required setting
 * is given.
 */
export function checkSettingNames(checks, binDir, binary, names, where, required = true) {
  const settings = settingsOf(binDir, binary);
  for (const name of names) {
    if (name.startsWith("COAPGW_")) {
      checks.expect(settings.has(name), `${where}: ${name} is not a setting of ${binary}`);
    }
  }
  for (const [name, spec] of settings) {
    if (required && spec.required) {
      checks.expect(names.includes(name), `${where}: required setting ${name} is not set`);
    }
  }
}

/** "host:port" or "[v6]:port" (also tcp://host:port, coap://host:port) -> {host, port}. */
export function hostPort(text) {
  const match = /^(?:[a-z]+:\/\/)?(\[[^\]]*\]|[^:/]*):(\d+|\*)/.exec(text ?? "");
  return match ? { host: match[1], port: match[2] === "*" ? 0 : Number(match[2]) } : null;
}
