import { existsSync } from "node:fs";
import { AesKeyWrapKey, RsaKey } from "@azure-cse/core-envelope";
import { defineCommand, EXIT, UsageError, type CommandDef } from "../framework.js";
import { StagedOutputs } from "../files.js";

/** The algorithms of `key generate`: one list for its usage, help and errors. */
export const KEY_GENERATE_ALGS = ["A256KW", "A192KW", "A128KW", "RSA-OAEP", "RSA-OAEP-256"] as const;

export const commands: CommandDef[] = [
  defineCommand({
    path: ["key", "generate"],
    summary: "Writes a new private JWK (mode 0600; never overwrites an existing file).",
    flags: {
      alg: { value: true, required: true, arg: KEY_GENERATE_ALGS.join("|"), help: "AES key wrap (A*KW) or RSA (RSA-OAEP*) key" },
      kid: { value: true, required: true, arg: "ID", help: "the key id stored with the data (1-1024 characters)" },
      out: { value: true, required: true, arg: "FILE", help: "the new key file (refused when it exists)" },
      bits: { value: true, arg: "2048..16384", help: "RSA modulus size (default 2048)" },
    },
    async run(a, io) {
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const alg = a.get("alg")!;
      const kid = a.get("kid")!;
      if (!(KEY_GENERATE_ALGS as readonly string[]).includes(alg)) throw new UsageError(`--alg must be one of ${KEY_GENERATE_ALGS.join(", ")}`);
      if (kid.length === 0 || kid.length > 1024) throw new UsageError("--kid must be 1 to 1024 characters");
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f\u007f-\u009f]/.test(kid)) throw new UsageError("--kid must not contain control characters");
      // The file holds a private key: staged (0600) and linked into place only if nothing is there (never overwrites).
      if (existsSync(a.get("out")!)) throw new UsageError(`--out: ${a.get("out")} already exists; refusing to overwrite a key file`);
      const outputs = new StagedOutputs([{ label: "--out", path: a.get("out") }]);
      let jwk: Record<string, unknown>;
      try {
        if (alg === "A256KW" || alg === "A192KW" || alg === "A128KW") {
          if (a.has("bits")) throw new UsageError("--bits applies to RSA keys only");
          jwk = AesKeyWrapKey.generate(kid, (Number(alg.slice(1, 4)) / 8) as 16 | 24 | 32).toJwk();
        } else {
          const bits = a.int("bits") ?? 2048;
          if (bits < 2048 || bits > 16384 || bits % 8 !== 0) throw new UsageError("--bits must be a multiple of 8 from 2048 to 16384");
          jwk = RsaKey.generate(kid, bits, alg as "RSA-OAEP" | "RSA-OAEP-256").toJwk();
        }
        outputs.writeFile(0, JSON.stringify(jwk, null, 2) + "\n");
        outputs.commit({ exclusive: true });
      } catch (e) {
        outputs.abort();
        throw e;
      }
      io.stdout(JSON.stringify({ kid, alg, out: a.get("out") }) + "\n");
      return EXIT.ok;
    },
  }),
];
