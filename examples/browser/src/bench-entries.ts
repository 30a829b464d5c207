// bench.mjs: the named exports an app doing blob upload + download would import (bundle-size figure).
export { uploadEncryptedBlob, downloadDecryptedBlob } from "@azure-cse/storage-blob/web";
export { webKeyFromJwk } from "@azure-cse/core-envelope/web";
