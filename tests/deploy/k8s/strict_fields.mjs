// Unknown-field check for Kubernetes objects. kubernetes-models validates types, required fields
// and formats, but accepts fields the API does not have (`replica:`, `livenessprobe:`), which an
// API server drops or rejects. The models' TypeScript declarations list every field of every
// type; this walks an object along them and reports each field that is not declared.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const modelsRoot = dirname(require.resolve("kubernetes-models/package.json"));
const parsed = new Map();

/** Resolves an import specifier of a .d.ts to the declaration file it names. */
function resolveDeclaration(fromFile, specifier) {
  if (specifier.startsWith(".")) {
    return `${resolve(dirname(fromFile), specifier)}.d.ts`;
  }
  // "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta"
  const parts = specifier.split("/");
  const packageName = parts[0].startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  const rest = parts.slice(packageName.split("/").length).join("/");
  const packageDir = dirname(
    require.resolve(`${packageName}/package.json`, { paths: [modelsRoot] }),
  );
  return `${join(packageDir, rest)}.d.ts`;
}

/** The fields of the first interface declared in `file`: Map name -> declaration file or null. */
function fieldsOf(file) {
  if (!parsed.has(file)) {
    let fields = null;
    if (existsSync(file)) {
      const text = readFileSync(file, "utf8");
      const imports = new Map();
      for (const match of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) {
        imports.set(match[1], match[2]);
      }
      const body = /export interface \w+(?: extends [\w, ]+)? \{([\s\S]*?)\n\}/.exec(text);
      if (body) {
        fields = new Map();
        // A map type ({ [key: string]: ... }, over several lines) is not descended into.
        for (const match of body[1].matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) {
          const type = /^(?:Array<)?(\w+)>?;$/.exec(match[2]);
          const source = type && imports.get(type[1]);
          fields.set(match[1], source ? resolveDeclaration(file, source) : null);
        }
      }
    }
    parsed.set(file, fields);
  }
  return parsed.get(file);
}

/** The declaration file of the model of apiVersion/kind, or null. */
export function declarationOf(apiVersion, kind) {
  const file = join(modelsRoot, apiVersion, `${kind}.d.ts`);
  return existsSync(file) ? file : null;
}

/** Paths (a.b[0].c) of the fields of `value` that its declaration `file` does not have. */
export function unknownFields(value, file, path = "") {
  const fields = file ? fieldsOf(file) : null;
  if (fields === null || value === null || typeof value !== "object") {
    return [];
  }
  if (Array.isArray(value)) {
    return value.flatMap((item, i) => unknownFields(item, file, `${path}[${i}]`));
  }
  const unknown = [];
  for (const [key, child] of Object.entries(value)) {
    const where = path ? `${path}.${key}` : key;
    if (!fields.has(key)) {
      unknown.push(where);
    } else {
      unknown.push(...unknownFields(child, fields.get(key), where));
    }
  }
  return unknown;
}
