import { secureRandomBytes } from "./internal/crypto.js";

/** Source of random bytes. The default is the platform CSPRNG; tests may inject a fixed one. */
export type RandomSource = (length: number) => Uint8Array;

export const defaultRandomSource: RandomSource = (n) => secureRandomBytes(n);
