import { connect } from "node:net";
import { SshcaError } from "../../errors.js";
import {
  frame,
  parseIdentities,
  parseSignResponse,
  readFrame,
  SSH_AGENT_FAILURE,
  SSH_AGENT_IDENTITIES_ANSWER,
  SSH_AGENT_SIGN_RESPONSE,
  SSH_AGENTC_REQUEST_IDENTITIES,
  signRequest,
} from "./protocol.js";

/** How long one agent exchange may take (a key in a hardware token signs in well under this). */
export const AGENT_TIMEOUT_MS = 15_000;

/**
 * A client of an ssh-agent listening on a unix socket. Each exchange uses its own connection:
 * nothing can get out of step after an error, and concurrent signatures do not queue behind one
 * another in this process (the agent serves each connection in turn).
 */
export class AgentClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = AGENT_TIMEOUT_MS,
  ) {}

  /** The public key blobs (and comments) the agent holds. */
  async identities(): Promise<{ blob: Buffer; comment: string }[]> {
    const answer = await this.exchange(frame(SSH_AGENTC_REQUEST_IDENTITIES), "list its keys");
    if (answer.type !== SSH_AGENT_IDENTITIES_ANSWER) throw this.refused("list its keys", answer.type);
    try {
      return parseIdentities(answer.body);
    } catch (err) {
      throw this.broken(`its key list is malformed (${(err as Error).message})`);
    }
  }

  /** The signature blob by the key `keyBlob` over `data`; `flags` picks RSA's hash. */
  async sign(keyBlob: Buffer, data: Buffer, flags: number): Promise<Buffer> {
    const answer = await this.exchange(signRequest(keyBlob, data, flags), "sign");
    if (answer.type !== SSH_AGENT_SIGN_RESPONSE) throw this.refused("sign", answer.type);
    try {
      return parseSignResponse(answer.body);
    } catch (err) {
      throw this.broken(`its signature is malformed (${(err as Error).message})`);
    }
  }

  private refused(what: string, type: number): SshcaError {
    return type === SSH_AGENT_FAILURE
      ? new SshcaError("unavailable", `the ssh-agent at ${this.socketPath} refused to ${what} (is the CA key loaded?)`)
      : this.broken(`it answered message type ${type}`);
  }

  private broken(why: string): SshcaError {
    return new SshcaError("unavailable", `the ssh-agent at ${this.socketPath} cannot be used: ${why}`);
  }

  /** Sends one request and reads one answer, on a new connection, within the timeout. */
  private exchange(request: Buffer, what: string): Promise<{ type: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const socket = connect(this.socketPath);
      let buf = Buffer.alloc(0);
      let settled = false;
      const finish = (err: Error | undefined, answer?: { type: number; body: Buffer }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve(answer!);
      };
      const timer = setTimeout(
        () => finish(this.broken(`no answer within ${this.timeoutMs / 1000}s when asked to ${what}`)),
        this.timeoutMs,
      );
      socket.on("connect", () => socket.write(request));
      socket.on("data", (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        try {
          const f = readFrame(buf);
          if (f) finish(undefined, { type: f.type, body: f.body });
        } catch (err) {
          finish(this.broken((err as Error).message));
        }
      });
      socket.on("error", (err: NodeJS.ErrnoException) =>
        finish(this.broken(`${err.code ?? err.message} (is the agent running, and may sshcad use its socket?)`)),
      );
      socket.on("close", () => finish(this.broken(`it closed the connection when asked to ${what}`)));
    });
  }
}
