/**
 * The test provider's HTML: self-contained (no external fonts, scripts or images, since tests run
 * without the internet), every input labelled and every button named, so a browser test finds them
 * by role and name: textbox "Username", "Password", "Code"; buttons "Sign in", "Cancel",
 * "Continue", "Confirm", "Abort"; heading "Sign-in complete" after a device sign-in.
 */

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const STYLE =
  "body{font-family:sans-serif;max-width:24em;margin:2em auto}label{display:block;margin:.5em 0}" +
  "input[type=text],input[type=password]{display:block;width:100%}[role=alert]{color:#b00}";

/** A whole page; `body` must already be escaped. */
export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head>
<body><h1>${esc(title)}</h1>
${body}
</body>
</html>`;
}

/** The login prompt of an interaction. `error` is shown as an alert above the form. */
export function loginPage(opts: { action: string; abort: string; client: string; login?: string; error?: string }) {
  const alert = opts.error ? `<p role="alert">${esc(opts.error)}</p>` : "";
  return page(
    "Sign in",
    `<p>to continue to <strong>${esc(opts.client)}</strong></p>
${alert}
<form method="post" action="${esc(opts.action)}">
  <label for="login">Username</label>
  <input id="login" name="login" type="text" autocomplete="username" autofocus value="${esc(opts.login ?? "")}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password">
  <button type="submit">Sign in</button>
</form>
<form method="post" action="${esc(opts.abort)}"><button type="submit">Cancel</button></form>`,
  );
}

/**
 * RFC 8628 section 3.3 user-code page. `form` is oidc-provider's (it carries the XSRF token);
 * its text input gets an id so the label names it.
 */
export function userCodePage(form: string, error?: string): string {
  const labelled = form.replace('type="text" name="user_code"', 'type="text" id="user_code" name="user_code"');
  const alert = error ? `<p role="alert">${esc(error)}</p>` : "<p>Enter the code displayed on your device.</p>";
  return page(
    "Device sign-in",
    `${alert}
<label for="user_code">Code</label>
${labelled}
<button type="submit" form="op.deviceInputForm">Continue</button>`,
  );
}

/** Asks the person to compare the code with the one on their device (RFC 8628 section 5.4). */
export function confirmPage(form: string, client: string, userCode: string): string {
  return page(
    "Confirm device",
    `<p><strong>${esc(client)}</strong> asks to sign in with the code <code id="user-code">${esc(userCode)}</code>.</p>
<p>Only confirm if your device shows this code.</p>
${form}
<button type="submit" form="op.deviceConfirmForm">Confirm</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`,
  );
}

export const deviceDonePage = () =>
  page("Sign-in complete", "<p>Your device is signed in. You can close this page.</p>");

export function errorPage(title: string, fields: Record<string, unknown>): string {
  const rows = Object.entries(fields)
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(String(v))}</dd>`)
    .join("");
  return page(title, `<dl role="alert">${rows}</dl>`);
}

export function logoutPage(form: string, host: string): string {
  return page(
    "Sign out",
    `<p>Sign out from ${esc(host)}?</p>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<button type="submit" form="op.logoutForm">Stay signed in</button>`,
  );
}
