import type { Config } from "../config/schema.js";

/**
 * The web console's origin (https://HOST[:PORT]): console.url when configured, else
 * https://localhost on the port the daemon listens on (the default TLS certificate names
 * localhost; WebAuthn refuses IP-address origins, so never https://127.0.0.1).
 */
export function consoleOrigin(config: Config, apiUrl: string | undefined): string {
  if (config.console.url) return config.console.url;
  const parsed = apiUrl ? URL.parse(apiUrl) : null;
  const port = parsed?.port ? `:${parsed.port}` : "";
  return `https://localhost${port}`;
}
