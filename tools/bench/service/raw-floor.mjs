// The "raw floor" of the service benchmark: the least work any in-process implementation of protocol 2.0
// must do, written directly on node:crypto and the plain @azure/storage-blob SDK (no @azure-cse code).
// One AES-256-GCM cipher per 4 MiB region, outputs handed to the request as they come, decrypted plaintext
// held until its region's tag verified — and nothing else: no EncryptionData, no key wrapping, no replay
// buffer for SDK retries, no ETag pinning, no typed errors, no range planning. Comparing the encrypted
// client with this floor separates what the library costs from what AES-GCM itself costs on the machine.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";

const REGION = 4 * 1024 * 1024;
const NONCE = 12;
const TAG = 16;

export function rawFloor() {
  const key = randomBytes(32);
  const storedLength = (n) => n + Math.ceil(n / REGION) * (NONCE + TAG);

  /** Ciphertext pieces (nonce, update outputs, tag) of `chunks`, regions of exactly REGION plaintext bytes. */
  async function* encrypt(chunks) {
    let cipher;
    let inRegion = 0;
    let index = 0;
    for await (const chunk of chunks) {
      for (let pos = 0; pos < chunk.length; ) {
        if (!cipher) {
          const nonce = Buffer.alloc(NONCE);
          nonce.writeUInt32BE(index++, NONCE - 4);
          cipher = createCipheriv("aes-256-gcm", key, nonce);
          yield nonce;
        }
        const n = Math.min(chunk.length - pos, REGION - inRegion);
        yield cipher.update(chunk.subarray(pos, pos + n));
        pos += n;
        inRegion += n;
        if (inRegion === REGION) {
          cipher.final();
          yield cipher.getAuthTag();
          cipher = undefined;
          inRegion = 0;
        }
      }
    }
    if (cipher) {
      cipher.final();
      yield cipher.getAuthTag();
    }
  }

  /** One Put Blob whose body is encrypted while it is sent. */
  async function put(blockBlobClient, data) {
    await blockBlobClient.upload(() => Readable.from(encrypt([data]), { objectMode: false }), storedLength(data.length));
    return data.length;
  }

  /**
   * Staged blocks of `blockSize` stored bytes with Content-MD5, `concurrency` in flight, then Put Block List:
   * the ciphertext of `chunks` (any sizes, e.g. a stream's 64 KiB chunks) is copied into one buffer per block.
   */
  async function staged(blockBlobClient, chunks, blockSize, concurrency) {
    const ids = [];
    const inFlight = new Set();
    let total = 0;
    let buf = Buffer.allocUnsafe(blockSize);
    let fill = 0;
    const stage = async (body) => {
      const id = Buffer.from(`raw-${String(ids.length).padStart(6, "0")}`).toString("base64");
      ids.push(id);
      const p = blockBlobClient
        .stageBlock(id, body, body.length, { transactionalContentMD5: createHash("md5").update(body).digest() })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    };
    const counted = async function* () {
      for await (const chunk of chunks) {
        total += chunk.length;
        yield chunk;
      }
    };
    for await (const piece of encrypt(counted())) {
      for (let pos = 0; pos < piece.length; ) {
        const n = Math.min(piece.length - pos, blockSize - fill);
        piece.copy(buf, fill, pos, pos + n);
        pos += n;
        fill += n;
        if (fill === blockSize) {
          await stage(buf);
          buf = Buffer.allocUnsafe(blockSize);
          fill = 0;
        }
      }
    }
    if (fill) await stage(buf.subarray(0, fill));
    await Promise.all(inFlight);
    await blockBlobClient.commitBlockList(ids);
    return total;
  }

  /**
   * Streaming GET: the plaintext as a Readable (what a download API hands out), each region's plaintext
   * released once its tag verified. The region layout follows from the stored length (every region but
   * the last holds REGION bytes).
   */
  async function download(blobClient) {
    const res = await blobClient.download();
    const body = res.readableStreamBody;
    let remaining = res.contentLength; // stored bytes not yet assigned to a field
    async function* plaintext() {
      let decipher;
      let held = [];
      let field = "nonce";
      let want = NONCE; // bytes left in the current field
      let small = []; // nonce / tag bytes collected so far
      for await (let chunk of body) {
        while (chunk.length) {
          const k = Math.min(want, chunk.length);
          const part = chunk.subarray(0, k);
          chunk = chunk.subarray(k);
          want -= k;
          if (field === "ct") held.push(decipher.update(part));
          else small.push(part);
          if (want) continue;
          if (field === "nonce") {
            decipher = createDecipheriv("aes-256-gcm", key, Buffer.concat(small));
            small = [];
            remaining -= NONCE;
            field = "ct";
            want = Math.min(REGION, remaining - TAG);
            remaining -= want + TAG;
          } else if (field === "ct") {
            field = "tag";
            want = TAG;
          } else {
            decipher.setAuthTag(Buffer.concat(small));
            decipher.final();
            small = [];
            const out = held;
            held = [];
            yield* out;
            field = "nonce";
            want = NONCE;
          }
        }
      }
      if (field !== "nonce" || want !== NONCE || remaining !== 0) throw new Error("raw floor: truncated body");
    }
    return Readable.from(plaintext(), { objectMode: false });
  }

  return { put, staged, download, storedLength };
}
