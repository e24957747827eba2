/** What an approver's second factor covers: exactly this request, as reviewed. */
export function approvalMessage(p: { request: string; digest: string; approver: string }): string {
  return ["sshca approval", `request=${p.request}`, `digest=${p.digest}`, `approver=${p.approver}`, ""].join("\n");
}
