import { writeFileSync } from "node:fs";
import { AesKeyWrapKey, RsaKey } from "@azure-cse/core-envelope";
import { EXIT, parseArgs, UsageError, type CommandDef } from "../framework.js";

export const commands: CommandDef[] = [
  {
    path: ["key", "generate"],
    usage: "key generate --alg A256KW|RSA-OAEP|RSA-OAEP-256 --kid ID --out FILE",
    async run(argv, io) {
      const a = parseArgs(argv, { alg: { value: true, required: true }, kid: { value: true, required: true }, out: { value: true, required: true }, bits: { value: true } });
      const alg = a.get("alg")!;
      const kid = a.get("kid")!;
      let jwk: Record<string, unknown>;
      if (alg === "A256KW" || alg === "A192KW" || alg === "A128KW") {
        jwk = AesKeyWrapKey.generate(kid, (Number(alg.slice(1, 4)) / 8) as 16 | 24 | 32).toJwk();
      } else if (alg === "RSA-OAEP" || alg === "RSA-OAEP-256") {
        const bits = a.int("bits") ?? 2048;
        if (bits < 2048) throw new UsageError("--bits must be at least 2048");
        jwk = RsaKey.generate(kid, bits, alg).toJwk();
      } else {
        throw new UsageError("--alg must be A256KW, A192KW, A128KW, RSA-OAEP or RSA-OAEP-256");
      }
      // The file holds a private key: create it readable by the owner only, never overwrite.
      try {
        writeFileSync(a.get("out")!, JSON.stringify(jwk, null, 2) + "\n", { mode: 0o600, flag: "wx" });
      } catch (e) {
        if ((e as { code?: string }).code === "EEXIST") throw new UsageError(`${a.get("out")} already exists; refusing to overwrite a key file`);
        throw e;
      }
      io.stdout(JSON.stringify({ kid, alg, out: a.get("out") }) + "\n");
      return EXIT.ok;
    },
  },
];
