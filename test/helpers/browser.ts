import { createHash, X509Certificate } from "node:crypto";
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { ROOT } from "./daemon.js";

/**
 * A real browser for sign-in tests: Debian's chromium driven by playwright-core (test tools cannot
 * download browsers here). Pages are found by role and label, as a person would find them; the
 * names are those of test/idp/pages.ts.
 */
export const CHROMIUM = "/usr/bin/chromium";
/** Screenshots and HTML of failed browser steps (gitignored). */
export const ARTIFACTS = join(ROOT, "test-artifacts");

/** A missing browser fails the test with the install command, never skips it. */
export function chromiumPath(): string {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return CHROMIUM;
  } catch {
    throw new Error(`${CHROMIUM} is not installed: apt-get install -y chromium (npm run test:all does this)`);
  }
}

export interface TestBrowser {
  browser: Browser;
  /** A page in a new context: its own cookies, so its own provider session. */
  newPage(): Promise<Page>;
  /** Requests pages made to anything but 127.0.0.0/8, ::1 or localhost (tests never leave the machine). */
  offLoopback: string[];
  close(): Promise<void>;
}

/** base64(SHA-256(SubjectPublicKeyInfo)), the form of Chromium's --ignore-certificate-errors-spki-list. */
function spkiHash(caFile: string): string {
  const spki = new X509Certificate(readFileSync(caFile)).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

/**
 * Launches headless chromium. `trust`: CA files (an IdP's caFile) whose chains the browser accepts;
 * any other certificate error still fails the page. Playwright gives every launch a fresh
 * temporary profile (--user-data-dir) and removes it on close.
 */
export async function launchBrowser(opts: { trust?: string[] } = {}): Promise<TestBrowser> {
  const trust = (opts.trust ?? []).map(spkiHash);
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      // Without these chromium floods the closed network with refused connections.
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      ...(trust.length ? [`--ignore-certificate-errors-spki-list=${trust.join(",")}`] : []),
    ],
  });
  const offLoopback: string[] = [];
  return {
    browser,
    offLoopback,
    newPage: async () => {
      const context = await browser.newContext();
      context.on("request", (r) => {
        const u = URL.parse(r.url());
        const local = u && (/^127\.\d+\.\d+\.\d+$/.test(u.hostname) || ["[::1]", "localhost"].includes(u.hostname));
        if (u && /^(https?|wss?):$/.test(u.protocol) && !local) offLoopback.push(r.url());
      });
      // Fail well inside vitest's 60 s test timeout, with a screenshot.
      context.setDefaultTimeout(15_000);
      context.setDefaultNavigationTimeout(15_000);
      return context.newPage();
    },
    close: () => browser.close(),
  };
}

/** Runs a browser step; on failure saves a screenshot and the HTML into test-artifacts/ and says where. */
export async function step<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    mkdirSync(ARTIFACTS, { recursive: true });
    const base = join(ARTIFACTS, `${new Date().toISOString().replace(/[:.]/g, "-")}-${name}`);
    const saved = await page
      .screenshot({ path: `${base}.png`, fullPage: true })
      .then(async () => writeFileSync(`${base}.html`, await page.content()))
      .then(
        () => `${base}.png`,
        (e: unknown) => `no screenshot: ${String(e)}`,
      );
    const e = err instanceof Error ? err : new Error(String(err));
    e.message = `${name} at ${page.url()} failed: ${e.message}\n  (${saved})`;
    throw e;
  }
}

export interface Credentials {
  login: string;
  password: string;
}

async function refusal(page: Page): Promise<Error> {
  const alert = page.getByRole("alert");
  const text = (await alert.count()) ? await alert.first().innerText() : await page.title();
  return new Error(`the provider refused: ${text.replace(/\s+/g, " ").trim()}`);
}

/**
 * Opens an authorization URL, signs in if the provider asks (no form when the context still has a
 * session), and waits until the browser is sent to the loopback callback. Throws, with a
 * screenshot, when the provider refuses (wrong password, bad request).
 */
export async function signInAtProvider(
  page: Page,
  url: string,
  creds: Credentials,
  opts: { callback?: RegExp } = {},
): Promise<{ callbackUrl: URL; loginShown: boolean }> {
  // RFC 8252 section 7.3 loopback redirect, any port.
  const callback = opts.callback ?? /^http:\/\/127\.0\.0\.1:\d+\/callback\?/;
  const atCallback = () => callback.test(page.url());
  return step(page, "sign-in", async () => {
    // The provider answers with HTTP redirects only, so after goto the page is the last stop.
    await page.goto(url);
    if (atCallback()) return { callbackUrl: new URL(page.url()), loginShown: false };
    const username = page.getByLabel("Username");
    if (!(await username.count())) throw await refusal(page);
    await username.fill(creds.login);
    await page.getByLabel("Password").fill(creds.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => callback.test(u.href) || u.pathname.endsWith("/login"), { waitUntil: "commit" });
    if (!atCallback()) throw await refusal(page);
    return { callbackUrl: new URL(page.url()), loginShown: true };
  });
}

async function enterUserCode(page: Page, verificationUri: string, userCode: string): Promise<void> {
  await page.goto(verificationUri);
  await page.getByLabel("Code").fill(userCode);
  await page.getByRole("button", { name: "Continue" }).click();
  const confirm = page.getByRole("button", { name: "Confirm" });
  await confirm.or(page.getByRole("alert")).waitFor();
  if (!(await confirm.count())) throw await refusal(page);
}

/**
 * RFC 8628 section 3.3 as a person does it: opens the verification URI, enters the user code,
 * confirms, signs in if asked, and waits for the provider's "Sign-in complete" page.
 */
export async function confirmDeviceCode(
  page: Page,
  verificationUri: string,
  userCode: string,
  creds: Credentials,
): Promise<{ loginShown: boolean }> {
  return step(page, "device-confirm", async () => {
    await enterUserCode(page, verificationUri, userCode);
    await page.getByRole("button", { name: "Confirm" }).click();
    const done = page.getByRole("heading", { name: "Sign-in complete" });
    const username = page.getByLabel("Username");
    await done.or(username).or(page.getByRole("alert")).waitFor();
    const loginShown = (await username.count()) > 0;
    if (loginShown) {
      await username.fill(creds.login);
      await page.getByLabel("Password").fill(creds.password);
      await page.getByRole("button", { name: "Sign in" }).click();
      await done.or(page.getByRole("alert")).waitFor();
    }
    if (!(await done.count())) throw await refusal(page);
    return { loginShown };
  });
}

/** Enters the user code and presses Abort: the device's next poll gets access_denied. */
export async function abortDeviceCode(page: Page, verificationUri: string, userCode: string): Promise<void> {
  await step(page, "device-abort", async () => {
    await enterUserCode(page, verificationUri, userCode);
    await page.getByRole("button", { name: "Abort" }).click();
    await page.getByRole("alert").filter({ hasText: "Sign-in aborted." }).waitFor();
  });
}

/**
 * A virtual WebAuthn authenticator for `page` (Chrome DevTools Protocol, WebAuthn domain): a CTAP2
 * platform authenticator that verifies the user (as a fingerprint reader would) and answers at
 * once. Without one, navigator.credentials.create() in headless Chromium never settles.
 */
export async function addVirtualAuthenticator(page: Page, opts: { userVerified?: boolean } = {}): Promise<string> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: opts.userVerified ?? true,
      automaticPresenceSimulation: true,
    },
  });
  return authenticatorId;
}

/** Saves a full-page screenshot as test-artifacts/<name>.png (looked at by people, kept out of git). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
