import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { api } from "../helpers/api.js";
import { auditRecords } from "../helpers/audit-files.js";
import { addVirtualAuthenticator, launchBrowser, screenshot, step, type TestBrowser } from "../helpers/browser.js";
import { SSHCA, startDaemon, type TestDaemon, writeConfig } from "../helpers/daemon.js";
import { type IdpUser, startIdp, type TestIdp } from "../helpers/idp.js";
import { listen } from "../helpers/listeners.js";
import { json, makePerson, type Person } from "../helpers/people.js";
import { run } from "../helpers/procs.js";
import { e2eConfig, LOGIN, targetHost, waitingId } from "../helpers/scenario.js";
import { freePort } from "../helpers/listeners.js";
import { ssh, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tmp.js";

/**
 * The web console in a real browser (Debian's chromium through playwright-core) against a real
 * sshcad: an approver signs in through a real OpenID provider, registers a virtual WebAuthn
 * authenticator and approves alice's request with it while alice's real `sshca login` waits; then
 * a real ssh login. Deny, relinquish, revoke, a stale digest, CSRF, cross-site posts and framing;
 * and, on a daemon without single sign-on, `sshca console`'s one-time link.
 */

const user = (login: string, groups: string[]): IdpUser => ({
  password: `${login}-pw`,
  sub: `sub-${login}`,
  claims: { preferred_username: login, email: `${login}@example.test`, groups },
});

const hosts = (extraPort: number) => ({
  // web-1 has one port open that it should not have: the console must point it out.
  "web-1": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22, extraPort] } },
  "web-2": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } },
  "db-1": { address: "127.0.0.1", expectedPorts: [22], scan: { ports: [22] } },
});
const guarded = {
  principals: [LOGIN],
  hosts: ["web-1"],
  requesters: ["dev"],
  approvers: ["sre"],
  stepUp: { methods: ["webauthn"], userVerification: true },
};

let idp: TestIdp;
let daemon: TestDaemon;
let browser: TestBrowser;
let origin: string;
let alice: Person;
let dave: Person;
let opsToken: string;
let stray: Awaited<ReturnType<typeof listen>>;
let web1: TestSshd | undefined;
let attacker: Server | undefined;
let bobPage: Page;

/** A request as the CLI shows it. */
const show = async (p: Person, id: string) =>
  json<{ state: string; digest: string; approvals: unknown[]; revocation?: { by: string; kind: string } }>(
    await p.sshca(["request", "show", id, "--json"]),
  );

/** Signs in at the console through the identity provider, as a person does. */
async function signInWithProvider(page: Page, login: string): Promise<void> {
  await step(page, `console-sign-in-${login}`, async () => {
    await page.goto(`${origin}/console/`);
    await page.getByRole("link", { name: "Sign in with your identity provider" }).click();
    await page.getByLabel("Username").fill(login);
    await page.getByLabel("Password").fill(`${login}-pw`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${origin}/console/`);
    await page.getByRole("button", { name: "Sign out" }).waitFor();
  });
}

beforeAll(async () => {
  const port = await freePort();
  origin = `https://localhost:${port}`;
  stray = await listen("127.0.0.1");
  idp = await startIdp({
    users: { bob: user("bob", ["SRE"]) },
    // The console is a web client of the provider: the redirect is the console's own origin.
    client: {
      application_type: "web",
      redirect_uris: [`${origin}/console/callback`],
      grant_types: ["authorization_code", "refresh_token"],
    },
  });
  const config = e2eConfig({
    roles: { guarded },
    extra: {
      listen: { address: "127.0.0.1", port },
      hosts: hosts(stray.port),
      console: { url: origin },
      auth: {
        oidc: {
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecretFile: idp.clientSecretFile,
          caFile: idp.caFile,
          scopes: ["openid", "profile", "email", "groups"],
          groupMap: { SRE: "sre" },
          sessionTtl: "1h",
        },
      },
    },
  });
  daemon = await startDaemon({ configPath: writeConfig(config) });
  alice = await makePerson("alice", daemon, await daemon.addUser("alice", ["dev"]));
  dave = await makePerson("dave", daemon, await daemon.addUser("dave", ["leads"]));
  opsToken = await daemon.addUser("ops", ["admins"]);
  browser = await launchBrowser({ trust: [idp.caFile, join(daemon.dataDir, "tls", "ca.crt")] });
});
afterAll(async () => {
  await web1?.stop();
  await browser?.close();
  await daemon?.stop();
  await idp?.stop();
  await stray?.close();
  await new Promise((r) => (attacker ? attacker.close(r) : r(undefined)));
});

describe("an approver in the console", () => {
  let earlier = "";

  test("signs in through the identity provider, registers a WebAuthn authenticator (audited)", async () => {
    // alice held access before (debug on web-2, approved by dave from the CLI): her past window.
    earlier = json<{ id: string }>(
      await alice.sshca(["login", "--role", "debug", "--host", "web-2", "--reason", "INC-1", "--no-wait", "--json"]),
    ).id;
    expect((await dave.sshca(["approve", earlier])).code).toBe(0);
    // web-1's latest scan, with the stray port open.
    const scan = await api(daemon, "POST", "/v1/scans", { token: opsToken, body: { host: "web-1" } });
    expect(scan.status, JSON.stringify(scan.body)).toBe(201);

    bobPage = await browser.newPage();
    await addVirtualAuthenticator(bobPage);
    await signInWithProvider(bobPage, "bob");
    const cookies = await bobPage.context().cookies(origin);
    expect(cookies.find((c) => c.name === "__Host-sshca-console")).toMatchObject({
      httpOnly: true,
      secure: true,
      sameSite: "Strict",
    });
    await screenshot(bobPage, "console-waiting-empty");
    // Loading the sign-in page is not a failed sign-in (no auth.failed, nothing counted).
    expect(auditRecords(daemon.dataDir).filter((r) => r.type === "auth.failed")).toEqual([]);

    await step(bobPage, "register-authenticator", async () => {
      await bobPage.getByRole("link", { name: "Security keys" }).click();
      await bobPage.getByLabel("Name").fill("laptop fingerprint");
      await bobPage.getByRole("button", { name: "Add security key" }).click();
      await bobPage.getByRole("status").filter({ hasText: "Added laptop fingerprint" }).waitFor();
    });
    await screenshot(bobPage, "console-security-keys");
    const added = auditRecords(daemon.dataDir).find((r) => r.type === "auth.factor_added");
    expect(added?.fields).toMatchObject({ user: "bob", kind: "webauthn", name: "laptop fingerprint", origin });
  });

  test("sees alice's request arrive live with its scan and past windows, approves with WebAuthn; alice's login gets the certificate and ssh works", async () => {
    await step(bobPage, "waiting", () => bobPage.getByRole("link", { name: "Waiting for me" }).click());
    await bobPage.getByText("Nothing waits for your approval").waitFor();
    const login = alice.spawn([
      "login",
      "--role",
      "guarded",
      "--host",
      "web-1",
      "--reason",
      "INC-9 disk full",
      "--no-agent",
    ]);
    const id = await waitingId(login);
    const { digest } = await show(alice, id);

    // No reload: the event stream brings it.
    const card = bobPage.getByRole("article").filter({ hasText: "alice asks for guarded on web-1" });
    await step(bobPage, "live-arrival", () => card.waitFor());
    await expect.poll(() => card.locator(".digest").innerText()).toBe(digest);
    await expect
      .poll(() => card.locator(".port.unexpected").allInnerTexts())
      // nmap names the service when the random port is in nmap-services; the port is exact.
      .toEqual([expect.stringMatching(new RegExp(`^${stray.port}/tcp( [\\w.-]+)? \\(unexpected\\)$`))]);
    await step(bobPage, "windows", () =>
      card.getByRole("table", { name: "alice's recent windows" }).getByText("debug").waitFor(),
    );
    await expect.poll(() => card.innerText()).toMatch(/INC-9 disk full/);
    await screenshot(bobPage, "console-waiting-for-me");
    await bobPage.setViewportSize({ width: 390, height: 844 });
    await screenshot(bobPage, "console-waiting-for-me-phone");
    await bobPage.setViewportSize({ width: 1280, height: 800 });

    await step(bobPage, "approve", async () => {
      await card.getByLabel("Comment (optional)").fill("matches INC-9");
      await card.getByRole("button", { name: "Approve with security key" }).click();
      await bobPage.getByRole("status").filter({ hasText: "certificate issued to alice" }).waitFor();
    });
    const done = await login.done;
    expect(done.code, done.stderr).toBe(0);
    const approved = auditRecords(daemon.dataDir).find((r) => r.type === "request.approved" && r.fields.request === id);
    expect(approved?.fields).toMatchObject({
      digest,
      comment: "matches INC-9",
      factor: { kind: "webauthn", userVerified: true },
    });
    web1 = await targetHost(alice, "web-1");
    const r = await ssh({ port: web1.port, user: LOGIN, key: alice.key, command: "echo via-console" });
    expect(r.stdout.trim(), r.stderr).toBe("via-console");

    await step(bobPage, "timeline", async () => {
      await bobPage.goto(`${origin}/console/requests/${id}`);
      await bobPage.getByRole("heading", { name: `Request ${id}` }).waitFor();
      await bobPage.getByText("certificate.issued").waitFor();
    });
    await screenshot(bobPage, "console-request-timeline");
  });

  test("a request changed after the page loaded cannot be approved with the digest on the screen", async () => {
    const { id, digest } = json<{ id: string; digest: string }>(
      await alice.sshca([
        "login",
        "--role",
        "guarded",
        "--host",
        "web-1",
        "--reason",
        "INC-10",
        "--no-wait",
        "--new",
        "--json",
      ]),
    );
    // What the page loaded earlier: the same request before it changed (another digest).
    const old = `sha256:${"ab".repeat(32)}`;
    await bobPage.route("**/v1/requests?state=pending", async (route) => {
      const res = await api(daemon, "GET", "/v1/requests?state=pending", { token: opsToken });
      const body = res.body as { requests: { id: string; digest: string }[] };
      for (const r of body.requests) if (r.id === id) r.digest = old;
      await route.fulfill({ status: res.status, json: body });
    });
    await bobPage.goto(`${origin}/console/`);
    const cardOf = (rid: string) =>
      bobPage.getByRole("article").filter({ has: bobPage.locator(`a[href="/console/requests/${rid}"]`) });
    const card = cardOf(id);
    await expect.poll(() => card.locator(".digest").innerText()).toBe(old);
    await card.getByRole("button", { name: "Approve with security key" }).click();
    await step(bobPage, "stale", () =>
      card
        .getByRole("alert")
        .filter({ hasText: /digest/ })
        .waitFor(),
    );
    await screenshot(bobPage, "console-stale-digest");
    await bobPage.unroute("**/v1/requests?state=pending");
    expect(await show(alice, id)).toMatchObject({ state: "pending", digest, approvals: [] });

    // Deny, with a reason.
    await bobPage.goto(`${origin}/console/`);
    const fresh = cardOf(id);
    await fresh.getByLabel("Reason for denying").fill("not during the freeze");
    await fresh.getByRole("button", { name: "Deny" }).click();
    await step(bobPage, "deny", () => bobPage.getByRole("status").filter({ hasText: "Denied." }).waitFor());
    expect(await show(alice, id)).toMatchObject({ state: "denied" });
    const denied = auditRecords(daemon.dataDir).find((r) => r.type === "request.denied" && r.fields.request === id);
    expect(denied).toMatchObject({ actor: "bob", fields: { reason: "not during the freeze" } });
  });

  test("revokes a live certificate from Active certificates, with a reason", async () => {
    await bobPage.goto(`${origin}/console/certificates`);
    const row = bobPage.getByRole("listitem").filter({ hasText: "debug on web-2" });
    await step(bobPage, "certificates", () => row.waitFor());
    await screenshot(bobPage, "console-active-certificates");
    await row.getByLabel("Reason for revoking").fill("INC-1 is over");
    await row.getByRole("button", { name: "Revoke" }).click();
    await step(bobPage, "revoke", () => bobPage.getByRole("status").filter({ hasText: "Revoked serial" }).waitFor());
    expect(await show(alice, earlier)).toMatchObject({ state: "revoked", revocation: { by: "bob", kind: "revoke" } });
  });

  test("scans side by side, and the audit page with the chain's status", async () => {
    await bobPage.goto(`${origin}/console/scans`);
    await step(bobPage, "scans", () => bobPage.getByRole("table").first().waitFor());
    await screenshot(bobPage, "console-scans");
    const ops = await browser.newPage();
    // ops (an admin) has no provider account: the one-time link from the CLI.
    const opsCli = await makePerson("ops", daemon, opsToken, { BROWSER: "/bin/true" });
    const link = (await opsCli.sshca(["console"])).stdout.trim();
    await ops.goto(link);
    await step(ops, "audit", async () => {
      await ops.getByRole("link", { name: "Audit" }).click();
      await ops.getByRole("status").filter({ hasText: "Hash chain verified" }).waitFor();
      await ops.getByRole("cell", { name: "certificate.revoked" }).first().waitFor();
    });
    await screenshot(ops, "console-audit");
  });
});

describe("what the console refuses", () => {
  let pending = "";

  beforeAll(async () => {
    pending = json<{ id: string }>(
      await alice.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-11", "--no-wait", "--json"]),
    ).id;
    // A page on another site (127.0.0.1 is not localhost) that posts to the console and frames it.
    attacker = createServer((req, res) => {
      res.setHeader("content-type", "text/html");
      if (req.url === "/post")
        res.end(
          `<form method="post" action="${origin}/v1/requests/${pending}/deny" enctype="text/plain">` +
            `<input name='{"reason":"forged","x":"' value='"}'></form><script>document.forms[0].submit()</script>`,
        );
      else res.end(`<h1>evil</h1><iframe src="${origin}/console/"></iframe>`);
    });
    await new Promise<void>((r) => attacker!.listen(0, "127.0.0.1", r));
  });
  const attackerUrl = (path: string) => `http://127.0.0.1:${(attacker!.address() as { port: number }).port}${path}`;

  test("a change without the CSRF token, or from another origin, is refused", async () => {
    await bobPage.goto(`${origin}/console/`);
    const noToken = await bobPage.evaluate(async (id) => {
      const r = await fetch(`/v1/requests/${id}/deny`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ reason: "no token" }),
      });
      return { status: r.status, body: (await r.json()) as { error: { message: string } } };
    }, pending);
    expect(noToken.status).toBe(403);
    expect(noToken.body.error.message).toMatch(/missing CSRF token/);

    // Right cookie and token, wrong origin.
    const cookie = (await bobPage.context().cookies(origin)).find((c) => c.name === "__Host-sshca-console")!;
    const csrf = await bobPage.evaluate(
      async () => ((await (await fetch("/v1/console/session")).json()) as { csrf: string }).csrf,
    );
    const forged = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const body = JSON.stringify({ reason: "forged" });
      const req = httpsRequest(
        `${daemon.url}/v1/requests/${pending}/deny`,
        {
          method: "POST",
          ca: readFileSync(join(daemon.dataDir, "tls", "ca.crt")),
          headers: {
            cookie: `${cookie.name}=${cookie.value}`,
            "x-csrf-token": csrf,
            origin: "https://localhost.evil.example",
            "content-type": "application/json",
          },
        },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    expect(forged.status).toBe(403);
    expect(forged.body).toMatch(/from the console's own origin/);
    expect(await show(alice, pending)).toMatchObject({ state: "pending" });
  });

  test("a cross-site form post carries no session and changes nothing; a framed console does not load", async () => {
    const evil = await bobPage.context().newPage();
    const answer = evil.waitForResponse((r) => r.url().endsWith(`/v1/requests/${pending}/deny`));
    await evil.goto(attackerUrl("/post"));
    const res = await answer;
    expect(res.status()).toBe(401);
    expect(await show(alice, pending)).toMatchObject({ state: "pending" });

    const framed = evil.waitForResponse((r) => r.url() === `${origin}/console/`);
    await evil.goto(attackerUrl("/frame"));
    const headers = (await framed).headers();
    expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(headers["x-frame-options"]).toBe("DENY");
    const frame = evil.frames().find((f) => f !== evil.mainFrame())!;
    await expect.poll(() => frame.url()).toMatch(/^chrome-error:/);
    await screenshot(evil, "console-framed-refused");
  });
});

describe("without single sign-on: sshca console", () => {
  let plain: TestDaemon;
  let a: Person;
  let c: Person;
  let pending = "";
  let issued = "";

  beforeAll(async () => {
    const port = await freePort();
    plain = await startDaemon({
      configPath: writeConfig(
        e2eConfig({ extra: { listen: { address: "127.0.0.1", port }, scanning: { enabled: false } } }),
      ),
    });
    a = await makePerson("alice", plain, await plain.addUser("alice", ["dev"]), { BROWSER: "/bin/true" });
    c = await makePerson("carol", plain, await plain.addUser("carol", ["dev"]), { BROWSER: "/bin/true" });
    issued = json<{ id: string }>(
      await a.sshca([
        "login",
        "--role",
        "selfserve",
        "--host",
        "web-1",
        "--reason",
        "deploy",
        "--no-wait",
        "--no-agent",
        "--json",
      ]),
    ).id;
    pending = json<{ id: string }>(
      await a.sshca(["login", "--role", "debug", "--host", "web-1", "--reason", "INC-12", "--no-wait", "--json"]),
    ).id;
  });
  afterAll(() => plain?.stop());

  test("sshca console never puts the one-time link in the browser's argv (other local users read /proc)", async () => {
    const dir = tempDir("browser-argv");
    const argvFile = join(dir, "argv");
    const fake = join(dir, "browser.sh");
    writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$@" > ${argvFile}\n`, { mode: 0o755 });
    const r = await run(process.execPath, [SSHCA, "console"], { env: { ...a.env, BROWSER: fake } });
    expect(r.code, r.stderr).toBe(0);
    const code = /code=([A-Za-z0-9_-]{43})/.exec(r.stdout)![1]!;
    for (let i = 0; i < 50 && !existsSync(argvFile); i++) await new Promise((x) => setTimeout(x, 50));
    const argv = readFileSync(argvFile, "utf8").trim();
    expect(argv).not.toContain(code);
    expect(argv).toMatch(/^file:\/\/\/.*\/open\.html$/);
    const page = fileURLToPath(argv);
    expect((statSync(page).mode & 0o777).toString(8)).toBe("600");
    expect((statSync(dirname(page)).mode & 0o777).toString(8)).toBe("700");
    expect(readFileSync(page, "utf8")).toContain(code);
  });

  test("the link signs alice in once; she relinquishes from My access; signing out ends the session", async () => {
    const r = await a.sshca(["console"]);
    expect(r.code, r.stderr).toBe(0);
    const link = r.stdout.trim();
    expect(link).toMatch(new RegExp(`^https://localhost:\\d+/console/link\\?code=[A-Za-z0-9_-]{43}$`));
    const b = await launchBrowser({ trust: [join(plain.dataDir, "tls", "ca.crt")] });
    try {
      const page = await b.newPage();
      await page.goto(link);
      expect(page.url()).toMatch(/\/console\/$/); // the code left the address bar
      await step(page, "mine", async () => {
        await page.getByRole("link", { name: "My access" }).click();
        await page.getByText(/left \(until/).waitFor();
      });
      await screenshot(page, "console-my-access");
      await page.getByRole("button", { name: "Relinquish selfserve on web-1" }).click();
      await step(page, "relinquish", () => page.getByRole("status").filter({ hasText: "Relinquished" }).waitFor());
      expect(
        json<{ state: string; revocation: { kind: string } }>(await a.sshca(["request", "show", issued, "--json"])),
      ).toMatchObject({
        state: "revoked",
        revocation: { kind: "relinquish" },
      });

      // The link worked once.
      const again = await (await b.newPage()).goto(link);
      expect(again?.status()).toBe(401);

      await page.getByRole("button", { name: "Sign out" }).click();
      await page
        .getByRole("link", { name: /Sign in/ })
        .or(page.getByText("sshca console", { exact: false }))
        .first()
        .waitFor();
      const after = await page.evaluate(async () => (await fetch("/v1/console/session")).status);
      expect(after).toBe(401);
      expect(
        auditRecords(plain.dataDir).filter((x) => x.type === "auth.signed_out" && x.fields.user === "alice"),
      ).toHaveLength(1);
    } finally {
      await b.close();
    }
  });

  test("a non-approver sees nothing to approve and cannot open the request", async () => {
    const link = (await c.sshca(["console"])).stdout.trim();
    const b = await launchBrowser({ trust: [join(plain.dataDir, "tls", "ca.crt")] });
    try {
      const page = await b.newPage();
      await page.goto(link);
      await step(page, "nothing", () => page.getByText("You approve no role").waitFor());
      expect(await page.getByRole("article").count()).toBe(0);
      await screenshot(page, "console-non-approver");
      await page.goto(link.replace(/\/console\/link.*$/, `/console/requests/${pending}`));
      await step(page, "hidden", () =>
        page
          .getByRole("alert")
          .filter({ hasText: `no request ${pending}` })
          .first()
          .waitFor(),
      );
      const noLink = await api(plain, "POST", "/v1/console/links", { body: {} });
      expect(noLink.status).toBe(401);
    } finally {
      await b.close();
    }
  });
});
