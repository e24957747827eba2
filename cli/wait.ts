import { formatDuration, type RequestView } from "../src/http/contract.js";
import { isSignedBy, parseCertificate } from "./certificate.js";
import type { ApiClient } from "./client.js";
import type { Ctx } from "./context.js";
import { CliError, EXIT } from "./errors.js";
import { accessText, openStagesText } from "./format.js";
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
  // Ctrl-C leaves the request as it is on the server: say so, and how to go on or withdraw it.
  let onInterrupt = () => {};
  const interrupted = new Promise<never>((_, reject) => {
    onInterrupt = () =>
      reject(
        new CliError(
          `interrupted; request ${req.id} is still ${req.state}: resume with: sshca request wait ${req.id}; withdraw it with: sshca request cancel ${req.id}`,
          EXIT.interrupted,
        ),
      );
  });
  process.on("SIGINT", onInterrupt);
  try {
    req = await Promise.race([follow(ctx, client, req, opts, (r) => (req = r)), interrupted]);
  } finally {
    process.off("SIGINT", onInterrupt);
  }
  await install(ctx, client, req, opts);
}

/** Long-polls until the request is issued (answered) or ends (thrown); `seen` tracks the latest view. */
async function follow(
  ctx: Ctx,
  client: ApiClient,
  first: RequestView,
  opts: WaitOptions,
  seen: (r: RequestView) => void,
): Promise<RequestView> {
  let req = first;
  const deadline = opts.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + opts.timeoutMs;
  if (req.state === "pending") {
    const open = openStagesText(req);
    ctx.err(
      `Waiting for approval of ${req.id} (${req.approvals.length}/${req.approvalsRequired}); an approver runs: sshca approve ${req.id}`,
    );
    // Two different times: how long it may wait for approvals, and the access it asks for.
    ctx.err(`Waits for approvals until ${req.expiresAt}; access: ${accessText(req)}${open ? `; open: ${open}` : ""}`);
  }
  let counted = req.approvals.length;
  let said = "";
  const announce = (r: RequestView) => {
    const line = announcement(r);
    // "Auto-approved (...)" after "Auto-approved (...); scanning ..." says nothing new.
    if (line && !said.startsWith(line)) ctx.err(line);
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
    seen(req);
    for (const a of req.approvals.slice(counted)) {
      const open = req.state === "pending" ? openStagesText(req) : "";
      ctx.err(
        `Approved by ${a.approver}${a.stage && (req.stages?.length ?? 0) > 1 ? ` for ${a.stage}` : ""}${a.comment ? ` ("${a.comment}")` : ""} (${req.approvals.length}/${req.approvalsRequired})${open ? `; still open: ${open}` : ""}`,
      );
    }
    counted = req.approvals.length;
    announce(req);
  }
  if (req.state !== "issued") {
    const why =
      req.state === "denied"
        ? `denied by ${req.denial?.by}: ${req.denial?.reason}`
        : req.state === "cancelled"
          ? `cancelled by ${req.cancellation?.by}`
          : req.state === "revoked"
            ? `issued and then ${req.revocation?.kind === "single-use" ? "used up" : `revoked by ${req.revocation?.by}`} (${req.revocation?.reason})`
            : `expired at ${req.expiresAt} without enough approvals`;
    throw new CliError(`request ${req.id} was ${why}`, EXIT.ended);
  }
  return req;
}

/**
 * What a waiting requester is told about a state change. An approved request that is not yet
 * issued waits for its pre-issue scan (or a retry); one the role auto-approved never waited
 * for people, so it is announced as auto-approved (invariant 2: never silent).
 */
function announcement(r: RequestView): string {
  const auto = r.approvals.some((a) => a.auto);
  if (r.breakGlass && r.reused !== true)
    return `BREAK-GLASS: issued without approval (role ${r.role}); every approver and auditor has been told, and an approver must review it: sshca review ${r.id} --comment "..."`;
  if (r.reused) return `Reusing the live certificate of ${r.id} (same role, hosts and key); no new request was made`;
  if (r.state === "blocked")
    return `Blocked by the pre-issue scan: ${r.gate?.reason}; an approver may override: sshca approve ${r.id} --override-scan --comment "why"`;
  if (auto && r.state === "approved" && r.gate === undefined)
    return `Auto-approved (role ${r.role} has autoApprove); scanning the hosts before issuing`;
  if (auto) return `Auto-approved (role ${r.role} has autoApprove)`;
  if (r.state === "approved" && r.gate === undefined && r.approvals.length >= r.approvalsRequired)
    return "Approved; waiting for issuance (pre-issue scan or retry)";
  return "";
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
  // Any key the CA publishes now: a rotation may switch signing keys while the request waits.
  if (!ca.keys.some((k) => isSignedBy(cert, k.publicKey)))
    problems.push(`its signature does not verify against the CA keys ${ca.keys.map((k) => k.fingerprint).join(", ")}`);
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

  const { path: certPath, replaced } = await writeCertificate(opts.keyPath, req.certificate);
  const remaining = Math.floor((cert.validBefore.getTime() - Date.now()) / 1000);
  const agentWarning = opts.agent ? await addToAgent(opts.keyPath, remaining, ctx.env) : undefined;
  if (agentWarning && opts.agent) ctx.err(`warning: ${agentWarning}`);
  const agentAdded = opts.agent && agentWarning === undefined;
  if (opts.json) {
    ctx.out(
      JSON.stringify({ ...req, certificatePath: certPath, replacedCertificate: replaced, agent: agentAdded }, null, 2),
    );
    return;
  }
  const logins = [...new Set(req.principals.map((p) => p.split("@")[0]))].join(", ");
  const scheduled = cert.validAfter.getTime() > Date.now();
  ctx.out(
    [
      scheduled
        ? `Certificate for ${req.id} issued for a scheduled window: serial ${req.serial}, valid from ${req.validAfter} until ${req.validBefore} (not before)`
        : `Certificate for ${req.id} issued: serial ${req.serial}, valid until ${req.validBefore} (${formatDuration(remaining)} left)`,
      `Principals  ${req.principals.join(", ")}`,
      `Written to  ${certPath}${replaced ? " (replaced the certificate that was there)" : ""}${agentAdded ? " and added to ssh-agent" : ""}`,
      `Now:        ssh ${logins.split(", ")[0]}@${req.hosts[0]}   (logins: ${logins})`,
    ].join("\n"),
  );
}
