import { existsSync } from "node:fs";
import { AesKeyWrapKey, RsaKey } from "@azure-cse/core-envelope";
import { EXIT, parseArgs, UsageError, type CommandDef } from "../framework.js";
import { StagedOutputs } from "../files.js";

export const commands: CommandDef[] = [
  {
    path: ["key", "generate"],
    usage: "key generate --alg A256KW|RSA-OAEP|RSA-OAEP-256 --kid ID --out FILE [--bits 2048..16384]",
    async run(argv, io) {
      const a = parseArgs(argv, { alg: { value: true, required: true }, kid: { value: true, required: true }, out: { value: true, required: true }, bits: { value: true } });
      if (a.positionals.length) throw new UsageError(`unexpected argument ${a.positionals[0]}`);
      const alg = a.get("alg")!;
      const kid = a.get("kid")!;
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
        } else if (alg === "RSA-OAEP" || alg === "RSA-OAEP-256") {
          const bits = a.int("bits") ?? 2048;
          if (bits < 2048 || bits > 16384 || bits % 8 !== 0) throw new UsageError("--bits must be a multiple of 8 from 2048 to 16384");
          jwk = RsaKey.generate(kid, bits, alg).toJwk();
        } else {
          throw new UsageError("--alg must be A256KW, A192KW, A128KW, RSA-OAEP or RSA-OAEP-256");
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
  },
];
