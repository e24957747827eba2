import { startRegistration } from "@simplewebauthn/browser";
import { useState } from "preact/hooks";
import type { ConsoleSessionView, FactorView } from "../../../src/http/contract.ts";
import { get, message, post } from "../api.ts";
import { when } from "../format.ts";
import { useLoad } from "../hooks.ts";
import type { PageProps } from "../main.tsx";

/** Security keys: the second factors for step-up approvals; a WebAuthn authenticator is added here. */
export function KeysPage({ tick }: PageProps) {
  const factors = useLoad(() => get<{ factors: FactorView[] }>("/v1/factors"), [tick]);
  const session = useLoad(() => get<ConsoleSessionView>("/v1/console/session"), []);
  const [name, setName] = useState("");
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  const add = async (e: Event) => {
    e.preventDefault();
    setStatus(null);
    try {
      const optionsJSON = await post<Parameters<typeof startRegistration>[0]["optionsJSON"]>(
        "/v1/factors/webauthn/options",
        {
          name: name.trim(),
        },
      );
      const response = await startRegistration({ optionsJSON });
      const added = await post<FactorView>("/v1/factors/webauthn", { response });
      setStatus({ ok: true, text: `Added ${added.name ?? "the authenticator"}.` });
      setName("");
      factors.reload();
    } catch (err) {
      setStatus({ ok: false, text: message(err) });
    }
  };
  return (
    <section>
      <h1>Security keys</h1>
      <p>Roles with step-up take an approval only with a second factor that signs exactly that request.</p>
      <ul class="rows">
        {(factors.data?.factors ?? []).map((f) => (
          <li key={f.id} class="row">
            <span>
              <strong>{f.name ?? f.fingerprint ?? f.kind}</strong> · {f.kind}
            </span>
            <span class="muted">added {when(f.addedAt)}</span>
          </li>
        ))}
        {factors.data?.factors.length === 0 ? <li class="empty">No second factor yet.</li> : null}
      </ul>
      <h2>Add a security key or platform authenticator</h2>
      {session.data && !session.data.fresh ? (
        <p class="warn">Adding one needs a sign-in within the last 10 minutes: sign out and sign in again first.</p>
      ) : null}
      <form onSubmit={add} class="inline" aria-label="Add an authenticator">
        <label for="key-name">Name</label>
        <input
          id="key-name"
          required
          maxLength={64}
          placeholder="e.g. blue YubiKey"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <button type="submit" class="primary" disabled={!name.trim()}>
          Add security key
        </button>
      </form>
      {status ? (
        <p role={status.ok ? "status" : "alert"} class={status.ok ? "ok" : "error"}>
          {status.text}
        </p>
      ) : null}
    </section>
  );
}
