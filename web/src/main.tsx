import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { AuthMethodsView, ConsoleSessionView, WhoamiView } from "../../src/http/contract.ts";
import { get, loadSession, message, post } from "./api.ts";
import { AuditPage } from "./pages/audit.tsx";
import { CertificatesPage } from "./pages/certificates.tsx";
import { KeysPage } from "./pages/keys.tsx";
import { MinePage } from "./pages/mine.tsx";
import { RequestPage } from "./pages/request.tsx";
import { ScansPage } from "./pages/scans.tsx";
import { WaitingPage } from "./pages/waiting.tsx";
import { navigate, usePath } from "./router.ts";

export interface PageProps {
  me: WhoamiView;
  /** Moves whenever a request the user may see changes (server-sent events): pages reload their data. */
  tick: number;
}

const NAV: { path: string; label: string; show: (me: WhoamiView) => boolean }[] = [
  { path: "/console/", label: "Waiting for me", show: () => true },
  { path: "/console/mine", label: "My access", show: () => true },
  { path: "/console/certificates", label: "Active certificates", show: (m) => m.admin || m.approvableRoles.length > 0 },
  { path: "/console/scans", label: "Scans", show: () => true },
  { path: "/console/audit", label: "Audit", show: (m) => m.admin || m.auditor },
  { path: "/console/keys", label: "Security keys", show: () => true },
];

function SignIn() {
  const [methods, setMethods] = useState<AuthMethodsView | null>(null);
  useEffect(() => {
    get<AuthMethodsView>("/v1/auth/methods").then(setMethods, () => setMethods(null));
  }, []);
  return (
    <main class="signin">
      <h1>sshca console</h1>
      <p>Approve access requests, watch live certificates, review scans and the audit trail.</p>
      {methods?.oidc ? (
        <p>
          <a class="button primary" href="/console/signin">
            Sign in with your identity provider
          </a>
        </p>
      ) : null}
      <p>
        {methods?.oidc ? "Or, from" : "From"} a terminal where you are signed in to sshca, run{" "}
        <code>sshca console</code>: it opens this console signed in as you.
      </p>
    </main>
  );
}

function Page({ path, me, tick }: { path: string; me: WhoamiView; tick: number }) {
  const request = /^\/console\/requests\/(rq_[a-z2-7]{16})$/.exec(path);
  if (request) return <RequestPage id={request[1]!} me={me} tick={tick} />;
  switch (path.replace(/\/$/, "")) {
    case "/console":
      return <WaitingPage me={me} tick={tick} />;
    case "/console/mine":
      return <MinePage me={me} tick={tick} />;
    case "/console/certificates":
      return <CertificatesPage me={me} tick={tick} />;
    case "/console/scans":
      return <ScansPage me={me} tick={tick} />;
    case "/console/audit":
      return <AuditPage me={me} tick={tick} />;
    case "/console/keys":
      return <KeysPage me={me} tick={tick} />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>There is no page {path}.</p>
        </section>
      );
  }
}

function App() {
  const path = usePath();
  const [session, setSession] = useState<ConsoleSessionView | null | undefined>(undefined);
  const [me, setMe] = useState<WhoamiView | undefined>(undefined);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);

  useEffect(() => {
    loadSession().then(
      async (s) => {
        setSession(s);
        if (s) setMe(await get<WhoamiView>("/v1/whoami"));
      },
      (err: unknown) => setError(message(err)),
    );
  }, []);

  // Live updates: the daemon says which request changed; the page fetches what it shows again.
  useEffect(() => {
    if (!session) return;
    const events = new EventSource("/v1/events");
    events.addEventListener("request", () => setTick((t) => t + 1));
    events.addEventListener("open", () => setTick((t) => t + 1));
    return () => events.close();
  }, [session]);

  if (error) return <p role="alert">{error}</p>;
  if (session === undefined) return <p class="loading">Loading the console…</p>;
  if (session === null) return <SignIn />;
  if (!me) return <p class="loading">Loading the console…</p>;

  const signOut = async () => {
    await post("/v1/auth/logout", {}).catch(() => undefined);
    window.location.assign("/console/");
  };
  const current = path.replace(/\/$/, "") || "/console";
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span class="brand">sshca</span>
        <nav aria-label="Console">
          <ul>
            {NAV.filter((n) => n.show(me)).map((n) => (
              <li key={n.path}>
                <a href={n.path} aria-current={current === n.path.replace(/\/$/, "") ? "page" : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          {me.user}
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} me={me} tick={tick} />
      </main>
    </>
  );
}

// Links inside the console move without reloading the page.
document.addEventListener("click", (e) => {
  const a = (e.target as Element | null)?.closest?.("a");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin || !url.pathname.startsWith("/console/")) return;
  if (/^\/console\/(signin|callback|link)$/.test(url.pathname)) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

render(<App />, document.getElementById("app")!);
