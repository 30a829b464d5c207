/** A key-encryption key of the manifest. */
export interface VectorKek {
  kid: string;
  algorithm: string;
  key_b64: string;
  private_key_pkcs8_pem?: string;
}
export interface VectorManifest {
  format: string;
  format_version: number;
  keks: VectorKek[];
  cases: ({ id: string; kind: string; target_kind?: string } & Record<string, unknown>)[];
}
/** manifest.json of the vector set (parsed once). */
export function vectorManifest(): VectorManifest;
/** A file of the vector set, by its path relative to the set. */
export function vectorFile(rel: string): Buffer;
/** The manifest's cases of one kind (and, for negative cases, one target kind), typed by the caller. */
export function vectorCases<T = VectorManifest["cases"][number]>(kind: string, targetKind?: string): T[];
/** One KEK of the manifest by its key id. */
export function vectorKek(kid: string): VectorKek;
/** The manifest's KEKs as key objects made by the given classes (core-envelope's AesKeyWrapKey and RsaKey). */
export function vectorKeks<K>(classes: {
  AesKeyWrapKey: new (kid: string, key: Buffer) => K;
  RsaKey: { fromPem(kid: string, pem: string, algorithm: "RSA-OAEP"): K };
}): K[];
