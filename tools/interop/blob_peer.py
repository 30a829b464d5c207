# Blob interop peer: drives the official Python SDK (azure-storage-blob) against Azurite for the
# @azure-cse/storage-blob interop tests and the demo. Run through runPython() from @azure-cse/testkit,
# which prepends PYTHON_KEK_PRELUDE (AesKek/RsaKek, kek_from_jwk) and passes one JSON request on stdin;
# the JSON result is printed on the last stdout line.
#
# Request: {"op": "upload" | "download", "connection_string", "container", "blob", "kek": <oct JWK>,
#           "protocol": "1.0" | "2.0", "in_file", "out_file", "metadata", "max_single_put_size",
#           "max_block_size", "offset", "length"}
import hashlib
import warnings

from azure.storage.blob import BlobClient

warnings.simplefilter("ignore")
req = json.loads(sys.stdin.read())
kek = kek_from_jwk(req["kek"])
config = {}
for k in ("max_single_put_size", "max_block_size", "max_single_get_size", "max_chunk_get_size"):
    if req.get(k):
        config[k] = req[k]
client = BlobClient.from_connection_string(
    req["connection_string"], req["container"], req["blob"],
    key_encryption_key=kek, require_encryption=True,
    encryption_version=req.get("protocol", "2.0"), **config)

if req["op"] == "upload":
    with open(req["in_file"], "rb") as f:
        data = f.read()
    client.upload_blob(data, overwrite=True, metadata=req.get("metadata"))
    props = client.get_blob_properties()
    print(json.dumps({"ok": True, "size": len(data), "metadata": props.metadata}))
elif req["op"] == "download":
    kwargs = {}
    if req.get("offset") is not None:
        kwargs["offset"] = req["offset"]
    if req.get("length") is not None:
        kwargs["length"] = req["length"]
    try:
        data = client.download_blob(**kwargs).readall()
    except Exception as e:  # reported, never hidden: the test asserts on it
        print(json.dumps({"ok": False, "error": type(e).__name__ + ": " + str(e)[:300]}))
        sys.exit(0)
    with open(req["out_file"], "wb") as f:
        f.write(data)
    print(json.dumps({"ok": True, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}))
else:
    raise SystemExit("unknown op " + str(req["op"]))
