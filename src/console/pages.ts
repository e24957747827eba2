/**
 * The few pages the daemon renders itself (sign-in steps and their errors); everything else is
 * the bundled console (web/). No script, no inline style: they pass the console's CSP as they are.
 */
const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function page(title: string, body: string, head = ""): string {
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escape(title)} · sshca</title>${head}</head>`,
    `<body><main><h1>${escape(title)}</h1>${body}</main></body></html>`,
  ].join("");
}

/**
 * After the provider's redirect: the session cookie is SameSite=Strict, and a navigation that
 * began on another site does not carry Strict cookies, even after a redirect; so the browser
 * moves on from this page (a same-origin navigation), which does.
 */
export function continuePage(to: string): string {
  return page(
    "Signed in",
    `<p><a href="${escape(to)}">Continue to the console</a></p>`,
    `<meta http-equiv="refresh" content="0;url=${escape(to)}">`,
  );
}

export function errorPage(title: string, message: string): string {
  return page(title, `<p role="alert">${escape(message)}</p><p><a href="/console/">Back to the console</a></p>`);
}
