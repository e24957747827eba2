/** How many (request, token) deliveries are remembered; forgetting one only costs a repeated record. */
const REMEMBERED = 100_000;

/**
 * Which certificates were already handed to which token (API token or sign-in session), so
 * that a client fetching its request again and again does not append one fsync'd
 * `certificate.fetched` record each time: the first delivery of a certificate to each token is
 * audited, later ones to the same token are not. Kept in memory, least recently used first and
 * bounded, so after a restart (or once forgotten) the next fetch is recorded once more.
 */
export class Deliveries {
  private readonly seen = new Set<string>();

  /** True the first time this token gets this request's certificate (and remembers it). */
  first(request: string, token: string): boolean {
    const key = `${request} ${token}`;
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    for (const oldest of this.seen) {
      if (this.seen.size <= REMEMBERED) break;
      this.seen.delete(oldest);
    }
    return true;
  }

  /** Forgets a delivery whose record could not be written, so the next fetch records it. */
  forget(request: string, token: string): void {
    this.seen.delete(`${request} ${token}`);
  }
}
