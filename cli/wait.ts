import { formatDuration, type RequestView } from "../src/http/contract.js";
import { isSignedBy, parseCertificate } from "./certificate.js";
import type { ApiClient } from "./client.js";
import type { Ctx } from "./context.js";
import { CliError, EXIT } from "./errors.js";
import { addToAgent, readPublicKey, writeCertificate } from "./keys.js";

/** Longest single long-poll; the server answers sooner on any change. */
const POLL_SECONDS = 25;

export interface WaitOptions {
  keyPath: string;
  agent: boolean;
  json: boolean;
  /** Give up after this many ms (undefined: until the request ends). */
  timeoutMs: number | undefined;
}

/** Follows a request until it is issued (then installs the certificate) or ends. */
export async function waitAndInstall(
  ctx: Ctx,
  client: ApiClient,
  first: RequestView,
  opts: WaitOptions,
): Promise<void> {
  let req = first;
  const deadline = opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeoutMs;
  if (req.state === "pending") {
    ctx.err(
      `Waiting for approval of ${req.id} (${req.approvals.length}/${req.approvalsRequired}); an approver runs: sshca approve ${req.id}`,
    );
  }
  let seen = req.approvals.length;
  let said = "";
  const announce = (r: RequestView) => {
    const line =
      r.state === "blocked"
        ? `Blocked by the pre-issue scan: ${r.gate?.reason}; an approver may override: sshca approve ${r.id} --override-scan --comment "why"`
        : r.state === "approved" && r.gate === undefined && r.approvals.length >= r.approvalsRequired
          ? "Approved; waiting for issuance (pre-issue scan or retry)"
          : "";
    if (line && line !== said) ctx.err(line);
    said = line || said;
  };
  announce(req);
  while (req.state === "pending" || req.state === "approved" || req.state === "blocked") {
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new CliError(
        `still ${req.state} after the timeout; resume with: sshca request wait ${req.id}`,
        EXIT.timeout,
      );
    }
    const seconds = Math.max(1, Math.min(POLL_SECONDS, Math.ceil(left / 1000)));
    req = await client.getRequest(req.id, { version: req.version, seconds });
    for (const a of req.approvals.slice(seen)) {
      ctx.err(
        `Approved by ${a.approver}${a.comment ? ` ("${a.comment}")` : ""} (${req.approvals.length}/${req.approvalsRequired})`,
      );
    }
    seen = req.approvals.length;
    announce(req);
  }
  if (req.state !== "issued") {
    const why =
      req.state === "denied"
        ? `denied by ${req.denial?.by}: ${req.denial?.reason}`
        : req.state === "cancelled"
          ? `cancelled by ${req.cancellation?.by}`
          : req.state === "revoked"
            ? `issued and then revoked by ${req.revocation?.by} (${req.revocation?.reason})`
            : `expired at ${req.expiresAt} without enough approvals`;
    throw new CliError(`request ${req.id} was ${why}`, EXIT.ended);
  }
  await install(ctx, client, req, opts);
}

/** Verifies the certificate against the CA key and this key, writes it, adds it to the agent. */
async function install(ctx: Ctx, client: ApiClient, req: RequestView, opts: WaitOptions): Promise<void> {
  if (!req.certificate) throw new CliError(`request ${req.id} is issued but the server did not return its certificate`);
  const [ca, pub] = await Promise.all([client.ca(), readPublicKey(opts.keyPath)]);
  let cert: ReturnType<typeof parseCertificate>;
  try {
    cert = parseCertificate(req.certificate);
  } catch (err) {
    throw new CliError(`the certificate from the server is malformed: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  if (!isSignedBy(cert, ca.publicKey))
    problems.push(`its signature does not verify against the CA key ${ca.fingerprint}`);
  if (cert.type !== 1) problems.push("it is not a user certificate");
  if (cert.subjectFingerprint !== pub.fingerprint)
    problems.push(`it certifies ${cert.subjectFingerprint}, not your key ${pub.fingerprint}`);
  if (cert.principals.length === 0 || cert.principals.join(",") !== req.principals.join(",")) {
    problems.push("its principals differ from the approved request");
  }
  if (req.serial !== undefined && cert.serial.toString() !== req.serial)
    problems.push("its serial differs from the request");
  if (cert.validBefore.getTime() <= Date.now()) problems.push("it has already expired");
  if (problems.length > 0) throw new CliError(`refusing the certificate for ${req.id}: ${problems.join("; ")}`);

  const { path: certPath } = await writeCertificate(opts.keyPath, req.certificate);
  const remaining = Math.floor((cert.validBefore.getTime() - Date.now()) / 1000);
  const agentWarning = opts.agent ? await addToAgent(opts.keyPath, remaining, ctx.env) : undefined;
  if (agentWarning && opts.agent) ctx.err(`warning: ${agentWarning}`);
  const agentAdded = opts.agent && agentWarning === undefined;
  if (opts.json) {
    ctx.out(JSON.stringify({ ...req, certificatePath: certPath, agent: agentAdded }, null, 2));
    return;
  }
  const logins = [...new Set(req.principals.map((p) => p.split("@")[0]))].join(", ");
  ctx.out(
    [
      `Certificate for ${req.id} issued: serial ${req.serial}, valid until ${req.validBefore} (${formatDuration(remaining)} left)`,
      `Principals  ${req.principals.join(", ")}`,
      `Written to  ${certPath}${agentAdded ? " and added to ssh-agent" : ""}`,
      `Now:        ssh ${logins.split(", ")[0]}@${req.hosts[0]}   (logins: ${logins})`,
    ].join("\n"),
  );
}
