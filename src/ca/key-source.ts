import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { SshcaError } from "../errors.js";
import type { CaKeyRecord } from "../domain/ca.js";
import type { AgentClient } from "./agent/client.js";
import { agentProblem, agentSigner } from "./agent-signer.js";
import { type CaKeyType, createCaKeyIfMissing, createRotationKey, exists, readCaKey } from "./custody.js";
import type { NewKey } from "./keyset.js";
import { type CaSigner, describeKey, parseCaPublicKey } from "./signer.js";

/**
 * Where a CA's private keys are, behind one interface: files sshcad reads (0600 in a 0700
 * directory), or an ssh-agent that holds them and signs for sshcad (ca.signer: agent), so that the
 * daemon never reads the key.
 */
export interface KeySource {
  readonly custody: "file" | "agent";
  /**
   * The key the config names (ca.keyFile, or with an agent its public half): the first key of a
   * new CA, and how a key replaced outside of a rotation is noticed. `create` makes a missing key
   * file. Undefined when there is none.
   */
  configured(create: boolean): Promise<{ key: NewKey; created: boolean; path: string } | undefined>;
  /** The signer for a key of the set; fails saying what is missing on this replica. */
  load(record: CaKeyRecord): Promise<CaSigner>;
  /** A new key for a rotation: a new file, or (agent) the given public key, which the agent must hold. */
  stage(publicKeyLine: string | undefined): Promise<NewKey & { path?: string }>;
  /** Why this replica cannot sign with `record` (undefined: it can). */
  problem(record: CaKeyRecord): Promise<string | undefined>;
}

/** The key files of one CA: the configured file, and rotation keys beside it. */
export function fileKeySource(o: {
  /** The configured key file (ca.keyFile or its default). */
  path: string;
  keyType: CaKeyType;
  comment: string;
  passphrase?: string | undefined;
}): KeySource {
  const dir = dirname(o.path);
  const prefix = basename(o.path);
  const pathOf = (record: CaKeyRecord): string => {
    if (!record.file)
      throw new SshcaError(
        "config_invalid",
        `CA key ${record.fingerprint} has no key file here (it was made for an ssh-agent, or only its public half is known); use ca.signer: agent, or rotate to a new key`,
      );
    return join(dir, record.file);
  };
  const load = async (record: CaKeyRecord): Promise<CaSigner> => {
    const path = pathOf(record);
    const signer = await readCaKey(path, o.passphrase);
    if (signer.fingerprint !== record.fingerprint)
      throw new SshcaError(
        "config_invalid",
        `CA key file ${path} holds ${signer.fingerprint}, not ${record.fingerprint}; copy the right key file here`,
      );
    return signer;
  };
  return {
    custody: "file",
    configured: async (create) => {
      const created = create ? await createCaKeyIfMissing(o.path, o.keyType, o.comment, o.passphrase) : false;
      if (!(await exists(o.path))) return undefined;
      const signer = await readCaKey(o.path, o.passphrase);
      return {
        key: { fingerprint: signer.fingerprint, publicKey: signer.publicKeyLine, file: prefix },
        created,
        path: o.path,
      };
    },
    load,
    stage: async (publicKeyLine) => {
      if (publicKeyLine !== undefined)
        throw new SshcaError(
          "bad_request",
          "with ca.signer: file, sshcad makes the next key itself; --public-key is for ca.signer: agent",
        );
      const made = await createRotationKey(dir, prefix, o.keyType, o.comment, o.passphrase);
      const signer = await readCaKey(made.path, o.passphrase);
      return { fingerprint: signer.fingerprint, publicKey: signer.publicKeyLine, file: made.file, path: made.path };
    },
    problem: async (record) => {
      try {
        await load(record);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
  };
}

/** Keys an ssh-agent holds; sshcad knows only their public halves. */
export function agentKeySource(o: { agent: AgentClient; publicKeyFile: string }): KeySource {
  return {
    custody: "agent",
    configured: async () => {
      let text: string;
      try {
        text = await readFile(o.publicKeyFile, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw new SshcaError("config_invalid", `cannot read ${o.publicKeyFile}: ${(err as Error).message}`);
      }
      const key = parseCaPublicKey(text);
      return {
        key: { fingerprint: key.fingerprint, publicKey: key.publicKeyLine },
        created: false,
        path: o.publicKeyFile,
      };
    },
    load: async (record) => agentSigner(o.agent, parseCaPublicKey(record.publicKey)),
    stage: async (publicKeyLine) => {
      if (publicKeyLine === undefined)
        throw new SshcaError(
          "bad_request",
          "with ca.signer: agent, add the next key to the agent first and name its public key: --public-key FILE",
        );
      const key = parseCaPublicKey(publicKeyLine);
      const problem = await agentProblem(o.agent, key);
      if (problem) throw new SshcaError("conflict", problem);
      return { fingerprint: key.fingerprint, publicKey: key.publicKeyLine };
    },
    problem: (record) => agentProblem(o.agent, parseCaPublicKey(record.publicKey)),
  };
}

/** A public key as a NewKey (history: keys whose private half sshcad never had). */
export function publicOnly(line: string): NewKey {
  const k = describeKey(parseCaPublicKey(line).publicKey);
  return { fingerprint: k.fingerprint, publicKey: k.publicKeyLine };
}
