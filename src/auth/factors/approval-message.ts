/**
 * What an approver's second factor covers: exactly this request, as reviewed, and what is done
 * with it (an approval and a scan override are different acts: a signature for one is no proof
 * of the other).
 */
export function approvalMessage(p: {
  request: string;
  digest: string;
  approver: string;
  action?: "approve" | "override";
}): string {
  return [
    "sshca approval",
    `request=${p.request}`,
    `action=${p.action ?? "approve"}`,
    `digest=${p.digest}`,
    `approver=${p.approver}`,
    "",
  ].join("\n");
}
