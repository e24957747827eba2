import { SshcaError } from "../errors.js";
import type { AgentClient } from "./agent/client.js";
import { SSH_AGENT_RSA_SHA2_512 } from "./agent/protocol.js";
import { verifySignatureBlob } from "./signature-check.js";
import { type CaPublicKey, type CaSigner, signatureAlgorithmFor } from "./signer.js";
import { SshReader } from "./ssh-wire.js";

/**
 * The agent signer: the CA key stays in an ssh-agent (or a PKCS#11 token behind it, ssh-add -s);
 * sshcad knows only its public half and asks the agent for each signature. An RSA key is asked
 * for rsa-sha2-512 (SSH_AGENT_RSA_SHA2_512, draft-miller-ssh-agent 6.6.1): without the flag
 * the agent signs with SHA-1 ("ssh-rsa"), which OpenSSH >= 8.2 refuses.
 *
 * Every signature is verified against the public key before it is used, so an agent that signs
 * with another key or another hash makes issuance fail (503, retried) instead of handing out a
 * certificate no sshd accepts.
 */
export function agentSigner(agent: AgentClient, key: CaPublicKey): CaSigner {
  const signatureAlgorithm = signatureAlgorithmFor(key.publicKey);
  const blob = key.publicKey.toBuffer("rfc4253");
  const flags = key.publicKey.type === "rsa" ? SSH_AGENT_RSA_SHA2_512 : 0;
  return {
    ...key,
    signatureAlgorithm,
    custody: "agent",
    sign: async (data) => {
      const sig = await agent.sign(blob, data, flags);
      let alg = "";
      try {
        alg = new SshReader(sig).text();
      } catch {
        // judged below
      }
      if (alg !== signatureAlgorithm || !verifySignatureBlob(blob, data, sig)) {
        throw new SshcaError(
          "unavailable",
          `the ssh-agent at ${agent.socketPath} answered a signature that does not verify as ${signatureAlgorithm} by ${key.fingerprint}${alg && alg !== signatureAlgorithm ? ` (it used ${alg})` : ""}`,
        );
      }
      return sig;
    },
  };
}

/** Whether the agent holds the key (for start-up and /readyz): undefined when it does, else why not. */
export async function agentProblem(agent: AgentClient, key: CaPublicKey): Promise<string | undefined> {
  try {
    const blob = key.publicKey.toBuffer("rfc4253");
    const ids = await agent.identities();
    return ids.some((id) => id.blob.equals(blob))
      ? undefined
      : `the ssh-agent at ${agent.socketPath} does not hold the CA key ${key.fingerprint} (ssh-add it, or ssh-add -s the PKCS#11 token)`;
  } catch (err) {
    return (err as Error).message;
  }
}
