# Ops interop peer: the official Python SDK (azure-storage-blob) writes the blobs that `azcse migrate` /
# `azcse rotate-key` work on, and reads them back afterwards. Run through runPython() from
# @azure-cse/testkit (PYTHON_KEK_PRELUDE is prepended; one JSON request on stdin; JSON result on the last
# stdout line). Batched: one interpreter start per request.
#
# {"op": "write", "cs", "container", "blobs": [{"name", "protocol": "1.0"|"2.0", "data_b64" | "size"+"seed",
#    "kek": <oct JWK>, "metadata", "content_settings", "tags", "tier", "max_single_put_size", "max_block_size"}]}
# {"op": "read", "cs", "container", "keks": [<oct JWK>...], "names": [...]}  → per blob: sha256 | error,
#    metadata, content settings, tags, tier, protocol and kid from encryptiondata
# {"op": "overwrite", "cs", "container", "name", "kek", "data_b64"}  (plain re-upload with CSE 2.0)
import hashlib
import time
import warnings

from azure.storage.blob import BlobClient, ContentSettings, StandardBlobTier

warnings.simplefilter("ignore")
req = json.loads(sys.stdin.read())


def payload(b):
    if "data_b64" in b:
        return base64.b64decode(b["data_b64"])
    # Deterministic bytes from a seed (the test computes the same ones).
    out = bytearray()
    counter = 0
    while len(out) < b["size"]:
        out += hashlib.sha256(("%s:%d" % (b["seed"], counter)).encode()).digest()
        counter += 1
    return bytes(out[: b["size"]])


def client(name, kek=None, resolver=None, protocol="2.0", config=None):
    kw = dict(config or {})
    c = BlobClient.from_connection_string(req["cs"], req["container"], name, require_encryption=True, encryption_version=protocol, **kw)
    c.key_encryption_key = kek
    c.key_resolver_function = resolver
    return c


if req["op"] == "write":
    out = []
    for b in req["blobs"]:
        config = {k: b[k] for k in ("max_single_put_size", "max_block_size") if b.get(k)}
        c = client(b["name"], kek=kek_from_jwk(b["kek"]), protocol=b.get("protocol", "2.0"), config=config)
        kw = {}
        if b.get("content_settings"):
            kw["content_settings"] = ContentSettings(**b["content_settings"])
        if b.get("tags"):
            kw["tags"] = b["tags"]
        if b.get("tier"):
            kw["standard_blob_tier"] = StandardBlobTier(b["tier"])
        data = payload(b)
        c.upload_blob(data, overwrite=True, metadata=b.get("metadata"), **kw)
        out.append({"name": b["name"], "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    print(json.dumps({"ok": True, "blobs": out}))
elif req["op"] == "read":
    keks = {j["kid"]: kek_from_jwk(j) for j in req["keks"]}
    resolver = lambda kid: keks.get(kid)
    first = kek_from_jwk(req["keks"][0])
    out = {}
    for name in req["names"]:
        # The SDK insists on key_encryption_key for reads; the resolver then picks the key by kid.
        c = client(name, kek=first, resolver=resolver, config={"retry_total": 0})
        r = {}
        t0 = time.time()
        try:
            data = c.download_blob().readall()
            r["size"] = len(data)
            r["sha256"] = hashlib.sha256(data).hexdigest()
        except Exception as e:  # reported, never hidden: the test asserts on it
            r["error"] = type(e).__name__ + ": " + str(e)[:200]
        p = BlobClient.from_connection_string(req["cs"], req["container"], name).get_blob_properties()
        ed = json.loads(p.metadata.get("encryptiondata", "{}") or "{}")
        r["protocol"] = ed.get("EncryptionAgent", {}).get("Protocol")
        r["kid"] = ed.get("WrappedContentKey", {}).get("KeyId")
        r["metadata"] = {k: v for k, v in p.metadata.items() if k != "encryptiondata"}
        cs = p.content_settings
        r["content_settings"] = {"content_type": cs.content_type, "content_language": cs.content_language,
                                 "content_disposition": cs.content_disposition, "cache_control": cs.cache_control,
                                 "content_encoding": cs.content_encoding}
        r["tier"] = p.blob_tier
        r["tier_inferred"] = p.blob_tier_inferred
        try:
            r["tags"] = BlobClient.from_connection_string(req["cs"], req["container"], name).get_blob_tags()
        except Exception as e:
            r["tags_error"] = str(e)[:200]
        r["ms"] = int((time.time() - t0) * 1000)
        out[name] = r
    print(json.dumps({"ok": True, "blobs": out}))
elif req["op"] == "overwrite":
    c = client(req["name"], kek=kek_from_jwk(req["kek"]))
    data = base64.b64decode(req["data_b64"])
    c.upload_blob(data, overwrite=True, metadata={"writer": "python-overwrite"})
    print(json.dumps({"ok": True, "sha256": hashlib.sha256(data).hexdigest()}))
else:
    raise SystemExit("unknown op " + str(req["op"]))
