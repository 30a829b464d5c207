// Shared fixtures for the data-tables tests: the Python vector set, its keys, raw Azurite requests.
import { createHmac } from "node:crypto";
import { AesKeyWrapKey, ClientSideEncryptionError, RsaKey, createLocalKeyResolver, type ClientSideEncryptionPolicy, type KeyEncryptionKey } from "@azure-cse/core-envelope";
import { PYTHON_KEK_PRELUDE, type AzuriteHandle } from "@azure-cse/testkit";
import { typedErrorAssertions } from "@azure-cse/testkit/assertions";
import { vectorCases, vectorFile, vectorKeks as keksOfManifest, vectorManifest } from "@azure-cse/testkit/vectors";

export { seededRandom } from "@azure-cse/testkit/random";

/** `caught(fn)`: the ClientSideEncryptionError `fn` throws (fails the test otherwise); `expectCode` checks its code. */
export const { caught, expectCode } = typedErrorAssertions(ClientSideEncryptionError);

export interface VectorKek {
  kid: string;
  algorithm: string;
  key_b64: string;
  private_key_pkcs8_pem?: string;
}
export interface ExpectedProperty {
  name: string;
  type: string;
  value: unknown;
}
export interface TableCase {
  id: string;
  kind: "table";
  kek_algorithm: string;
  partition_key: string;
  row_key: string;
  encrypted_properties: string[];
  wire: { request_file: string };
  service_response: { file: string };
  expected_decrypted: { partition_key: string; row_key: string; properties: ExpectedProperty[] };
  debug: { entity_iv_b64: string; property_iv_b64: Record<string, string> };
}
export interface TableNegative {
  id: string;
  kind: "negative";
  target_kind: string;
  error_category: string;
  wire: { file: string };
}
export const manifest = vectorManifest();
export const tableCases = vectorCases<TableCase>("table");
export const tableNegatives = vectorCases<TableNegative>("negative", "table");
export { vectorFile };

export function vectorKeks(): KeyEncryptionKey[] {
  return keksOfManifest<KeyEncryptionKey>({ AesKeyWrapKey, RsaKey });
}

/** Resolver over every vector KEK, no default KEK (reads only). */
export function vectorReadPolicy(extra: ClientSideEncryptionPolicy = {}): ClientSideEncryptionPolicy {
  return { keyResolver: createLocalKeyResolver(vectorKeks()), ...extra };
}

let tableCounter = 0;
export function uniqueTableName(prefix = "t"): string {
  return `${prefix}${Date.now().toString(36)}${(tableCounter++).toString(36)}`.replace(/[^A-Za-z0-9]/g, "").slice(0, 60);
}

/** A raw, SharedKeyLite-signed request to Azurite's table endpoint (bytes sent exactly as given). */
export async function rawTableRequest(
  az: AzuriteHandle,
  method: string,
  resourcePath: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const date = new Date().toUTCString();
  const canonical = `/${az.accountName}/${az.accountName}/${resourcePath.split("?")[0]}`;
  const sig = createHmac("sha256", Buffer.from(az.accountKey, "base64")).update(`${date}\n${canonical}`).digest("base64");
  const r = await fetch(`${az.tableUrl}/${resourcePath}`, {
    method,
    body,
    headers: {
      "x-ms-date": date,
      "x-ms-version": "2019-02-02",
      Authorization: `SharedKeyLite ${az.accountName}:${sig}`,
      Accept: "application/json;odata=minimalmetadata",
      "Content-Type": "application/json",
      DataServiceVersion: "3.0;NetFx",
      MaxDataServiceVersion: "3.0",
      ...headers,
    },
  });
  return { status: r.status, text: await r.text() };
}

export async function rawGetEntity(az: AzuriteHandle, table: string, pk: string, rk: string): Promise<Record<string, unknown>> {
  const q = (s: string) => encodeURIComponent(s.replace(/'/g, "''"));
  const r = await rawTableRequest(az, "GET", `${table}(PartitionKey='${q(pk)}',RowKey='${q(rk)}')`);
  if (r.status !== 200) throw new Error(`GET entity: HTTP ${r.status} ${r.text}`);
  return JSON.parse(r.text);
}

/** Python prelude of the legacy table SDK peer: reads {cs, aes_kid, aes_key, rsa_kid, rsa_pem, ...} from stdin; `ts`, `keks`, `dump(entity)`. */
export const PY_SETUP = `${PYTHON_KEK_PRELUDE}
from azure.cosmosdb.table import TableService, EntityProperty, EdmType
d = json.load(sys.stdin)
ts = TableService(connection_string=d['cs'])
keks = {d['aes_kid']: AesKek(d['aes_kid'], base64.b64decode(d['aes_key'])), d['rsa_kid']: RsaKek(d['rsa_kid'], d['rsa_pem'])}
def plain(v):
    if isinstance(v, EntityProperty):
        val = v.value
        if isinstance(val, (bytes, bytearray)): val = base64.b64encode(val).decode()
        return {'type': v.type, 'value': val if isinstance(val, (str, int, float, bool)) else str(val)}
    if isinstance(v, int) and not isinstance(v, bool): return {'int': str(v)}
    if isinstance(v, (str, float, bool)) or v is None: return v
    return str(v)
def dump(e):
    return {k: plain(v) for k, v in e.items() if k not in ('Timestamp', 'etag')}
`;
