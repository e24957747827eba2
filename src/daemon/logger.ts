import pino, { type Logger } from "pino";

/**
 * JSON lines on stdout, for journald. Known secret-bearing paths are censored as a second
 * line of defence; code never passes tokens or keys to the logger in the first place.
 */
export function createLogger(
  env: NodeJS.ProcessEnv,
  // Synchronous: the last lines before exit (SIGTERM, a refused start) must not be lost.
  destination: pino.DestinationStream = pino.destination({ dest: 1, sync: true }),
): Logger {
  return pino(
    {
      base: { service: "sshcad" },
      level: env.SSHCAD_LOG_LEVEL ?? "info",
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "token",
          "*.token",
          "secret",
          "*.secret",
          "authorization",
          "*.authorization",
          "*.headers.authorization",
        ],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
