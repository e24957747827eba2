import type { Settings } from "./settings.js";

/** TLS options for https calls: none yet beyond the system trust store. */
export function tlsOptions(_settings: Settings): Record<string, unknown> {
  return {};
}
