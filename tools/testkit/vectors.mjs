// The Python SDK vector set (tools/python-sdk-vectors): its manifest, files and key-encryption keys, shared by the
// packages' vector tests. Key objects are made by the caller's classes (testkit depends on no workspace package).
import { readFileSync } from "node:fs";
import path from "node:path";
import { vectorsDir } from "./index.mjs";

let manifestCache;
/** manifest.json of the vector set (parsed once). */
export function vectorManifest() {
  manifestCache ??= JSON.parse(readFileSync(path.join(vectorsDir, "manifest.json"), "utf8"));
  return manifestCache;
}

/** A file of the vector set, by its path relative to the set. */
export function vectorFile(rel) {
  return readFileSync(path.join(vectorsDir, rel));
}

/** The manifest's cases of one kind (and, for negative cases, one target kind). */
export function vectorCases(kind, targetKind) {
  return vectorManifest().cases.filter((c) => c.kind === kind && (targetKind === undefined || c.target_kind === targetKind));
}

/** One KEK of the manifest by its key id. */
export function vectorKek(kid) {
  const k = vectorManifest().keks.find((x) => x.kid === kid);
  if (!k) throw new Error(`no KEK ${kid}`);
  return k;
}

/** The manifest's KEKs as key objects: A256KW from its bytes, RSA-OAEP from its PKCS#8 PEM. */
export function vectorKeks({ AesKeyWrapKey, RsaKey }) {
  return vectorManifest().keks.map((k) => {
    if (k.algorithm === "A256KW") return new AesKeyWrapKey(k.kid, Buffer.from(k.key_b64, "base64"));
    if (k.algorithm === "RSA-OAEP" && k.private_key_pkcs8_pem) return RsaKey.fromPem(k.kid, k.private_key_pkcs8_pem, "RSA-OAEP");
    throw new Error(`unexpected KEK ${k.kid} (${k.algorithm})`);
  });
}
