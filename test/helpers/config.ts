import { parseConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";

/** A small valid config as plain data; tests spread their changes over it. */
export const baseConfig = () => ({
  groups: { dev: {}, sre: {}, leads: {}, auditors: {}, admins: {} },
  rights: { admin: ["admins"], audit: ["auditors"] },
  hosts: {
    "web-1": { address: "10.0.0.1", expectedPorts: [22] },
    "web-2": { address: "10.0.0.2", expectedPorts: [22, 443] },
    "db-1": { address: "db1.internal.example", expectedPorts: [22, 5432] },
  },
  roles: {
    debug: {
      principals: ["debug"],
      hosts: ["web-1", "web-2"],
      requesters: ["dev"],
      approvers: ["sre"],
      maxTtl: "1h",
    },
    dba: {
      principals: ["postgres", "dba"],
      hosts: ["db-1"],
      requesters: ["dev"],
      approvers: ["sre", "leads"],
      approvalsRequired: 2,
      extensions: ["permit-pty", "permit-port-forwarding"],
      criticalOptions: {
        forceCommand: "/usr/bin/psql",
        sourceAddress: ["10.0.0.0/8", "192.168.1.1"],
      },
    },
    auto: { principals: ["viewer"], hosts: ["web-1"], requesters: ["dev"], autoApprove: true },
  },
});

export const config = (patch: (c: ReturnType<typeof baseConfig>) => void = () => undefined): Config => {
  const c = baseConfig();
  patch(c);
  return parseConfig(c, "test");
};
