import { z } from "zod";

/**
 * Where the live state, the audit chain and the work queue live: `embedded` (files in the
 * data directory, one sshcad) or `postgres` (one PostgreSQL database shared by several sshcad
 * replicas). The database URL carries its password, so it is never written here: it comes
 * from a file (urlFile) or the systemd credential `postgres-url`.
 */
export const storageSchema = z
  .strictObject({
    backend: z.enum(["embedded", "postgres"]).default("embedded"),
    /** A file (mode 0600) holding postgresql://user:password@host:port/database. */
    urlFile: z.string().min(1).optional(),
    /** Accepted by the parser only to be refused with a message that says what to do instead. */
    url: z.unknown().optional(),
  })
  .superRefine((s, ctx) => {
    if (s.url !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        message:
          "the database URL carries its password and does not belong in the config file: put it in a file (mode 0600) named by storage.urlFile, or in the systemd credential postgres-url",
      });
    }
    if (s.urlFile !== undefined && s.backend !== "postgres") {
      ctx.addIssue({
        code: "custom",
        path: ["urlFile"],
        message: "storage.urlFile applies only with backend: postgres",
      });
    }
  })
  .transform(({ backend, urlFile }) => ({ backend, ...(urlFile === undefined ? {} : { urlFile }) }))
  .prefault({});

export type StorageConfig = z.output<typeof storageSchema>;
