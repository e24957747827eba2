import type { OidcSessionView } from "../../src/http/contract.js";
import type { ApiClient } from "../client.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The device authorization grant (RFC 8628) for a terminal without a browser: show the user
 * code and where to enter it, then poll sshcad at the interval it names. `pending` waits one
 * interval; `slow_down` waits the longer interval sshcad answers (RFC 8628 section 3.5: 5 s
 * more); a denied or expired code ends the command with the daemon's message (401).
 */
export async function deviceSignIn(client: ApiClient, say: (line: string) => void): Promise<OidcSessionView> {
  const start = await client.oidcDevice();
  say(
    [
      `To sign in, open ${start.verificationUri} and enter the code: ${start.userCode}`,
      ...(start.verificationUriComplete ? [`(or open ${start.verificationUriComplete})`] : []),
      `Waiting for you to confirm (until ${start.expiresAt})...`,
    ].join("\n"),
  );
  let interval = start.interval;
  for (;;) {
    await sleep(interval * 1000);
    const r = await client.oidcPoll(start.flow);
    if (r.status === "done") return r;
    interval = r.interval;
  }
}
