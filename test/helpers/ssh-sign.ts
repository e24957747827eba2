import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./procs.js";
import { tempDir } from "./tmp.js";
import { tool } from "./tools.js";

/** Signs `message` with the private key file `key` under `namespace` (real ssh-keygen -Y sign); answers the armored signature. */
export async function sshSign(key: string, namespace: string, message: string): Promise<string> {
  const file = join(tempDir("sign"), "m");
  writeFileSync(file, message);
  const signed = await run(tool("ssh-keygen"), ["-Y", "sign", "-f", key, "-n", namespace, file]);
  if (signed.code !== 0) throw new Error(`ssh-keygen -Y sign failed: ${signed.stderr}`);
  return readFileSync(`${file}.sig`, "utf8");
}
