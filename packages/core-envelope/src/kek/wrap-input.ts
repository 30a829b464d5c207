// What is handed to a key-encryption key and what comes back, for every backend (Node, Web Crypto) and for key
// rotation: the bare 32-byte CEK for protocol 1.0, `protocol ‖ 00×5 ‖ CEK` for 2.x (the prefix is checked on
// unwrap: downgrade protection). Crypto-free and Buffer-free, so the browser bundles share it.
import { decryptionFailed, invalidArgument } from "../errors.js";
import type { EncryptionProtocol } from "../schema/encryption-data.js";

export const CEK_LENGTH = 32;

/** The 8-byte prefix wrapped before a 2.x CEK: ASCII protocol padded with NUL bytes. */
export function protocolPrefixBytes(protocol: "2.0" | "2.1"): Uint8Array {
  const p = new Uint8Array(8);
  for (let i = 0; i < protocol.length; i++) p[i] = protocol.charCodeAt(i);
  return p;
}

/** Bytes handed to wrapKey (a new array; the caller wipes it): the bare CEK for 1.0, `protocol ‖ 00×5 ‖ CEK` for 2.x. */
export function wrapInputBytes(protocol: EncryptionProtocol, cek: Uint8Array): Uint8Array {
  if (cek.length !== CEK_LENGTH) throw invalidArgument("A content-encryption key must be 32 bytes.");
  if (protocol === "1.0") return cek.slice();
  const input = new Uint8Array(8 + CEK_LENGTH);
  input.set(protocolPrefixBytes(protocol));
  input.set(cek, 8);
  return input;
}

/** Checks an unwrapped value and returns the CEK (a copy). Anything unexpected is DECRYPTION_FAILED. */
export function contentKeyFromUnwrappedBytes(protocol: EncryptionProtocol, unwrapped: Uint8Array): Uint8Array {
  if (protocol === "1.0") {
    if (unwrapped.length !== CEK_LENGTH) throw decryptionFailed();
    return unwrapped.slice();
  }
  const prefix = protocolPrefixBytes(protocol);
  let d = unwrapped.length === CEK_LENGTH + 8 ? 0 : 1;
  for (let i = 0; i < 8 && d === 0; i++) d |= unwrapped[i]! ^ prefix[i]!;
  if (d !== 0) throw decryptionFailed();
  return unwrapped.slice(8);
}
