import { startAuthentication } from "@simplewebauthn/browser";
import { useState } from "preact/hooks";
import type { RequestView } from "../../../src/http/contract.ts";
import { message, post } from "../api.ts";

/**
 * Approve (with a comment) or deny (with a reason) exactly the request on the screen: the digest
 * sent is the one displayed. For roles that take WebAuthn the authenticator signs a challenge the
 * daemon derived from this request's id and digest.
 */
export function Decide({ req, onDone }: { req: RequestView; onDone: (text: string) => void }) {
  const [comment, setComment] = useState("");
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  const methods = req.stepUp?.methods ?? [];
  const webauthn = methods.includes("webauthn");
  const cliOnly = req.stepUp !== undefined && !webauthn;

  const run = async (what: () => Promise<string>) => {
    setBusy(true);
    setStatus(null);
    try {
      onDone(await what());
    } catch (err) {
      setStatus({ ok: false, text: message(err) });
    } finally {
      setBusy(false);
    }
  };

  const approve = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const body: Record<string, unknown> = {
        digest: req.digest,
        ...(comment.trim() ? { comment: comment.trim() } : {}),
      };
      if (webauthn) {
        const optionsJSON = await post<Parameters<typeof startAuthentication>[0]["optionsJSON"]>(
          `/v1/requests/${req.id}/webauthn`,
          { digest: req.digest },
        );
        body.factor = { kind: "webauthn", response: await startAuthentication({ optionsJSON }) };
      }
      const after = await post<RequestView>(`/v1/requests/${req.id}/approve`, body);
      return after.state === "issued"
        ? `Approved: certificate issued to ${after.requester}.`
        : `Approved (${after.approvals.length} of ${after.approvalsRequired}).`;
    });
  };
  const deny = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await post(`/v1/requests/${req.id}/deny`, { reason: reason.trim() });
      return "Denied.";
    });
  };

  return (
    <div class="decide">
      {cliOnly ? (
        <p class="muted">
          Role {req.role} takes {methods.join(" or ")} as second factor: approve from the CLI (sshca approve {req.id}).
        </p>
      ) : (
        <form onSubmit={approve} aria-label={`Approve ${req.id}`}>
          <label for={`comment-${req.id}`}>Comment (optional)</label>
          <textarea
            id={`comment-${req.id}`}
            rows={2}
            maxLength={500}
            value={comment}
            onInput={(e) => setComment(e.currentTarget.value)}
          />
          <button type="submit" class="primary" disabled={busy}>
            {webauthn ? "Approve with security key" : "Approve"}
          </button>
        </form>
      )}
      <form onSubmit={deny} aria-label={`Deny ${req.id}`}>
        <label for={`reason-${req.id}`}>Reason for denying</label>
        <input
          id={`reason-${req.id}`}
          required
          maxLength={500}
          value={reason}
          onInput={(e) => setReason(e.currentTarget.value)}
        />
        <button type="submit" class="danger" disabled={busy || !reason.trim()}>
          Deny
        </button>
      </form>
      {status ? (
        <p role={status.ok ? "status" : "alert"} class={status.ok ? "ok" : "error"}>
          {status.text}
        </p>
      ) : null}
    </div>
  );
}
