/**
 * Who holds what among MQTT sessions: which identity owns the stored session under a client id, which
 * connection holds a client id, and which connections each device has. The in-memory implementation
 * (`memory-session-registry.ts`) serves one node; a shared one (Redis, PostgreSQL) can replace it when
 * several nodes share stored sessions, without touching the CONNECT steps that use it.
 *
 * Two halves with different reach:
 * - **Stored sessions** (clean session 0) outlive connections and, with a shared broker persistence,
 *   nodes: `claimStoredSession` may answer asynchronously, and CONNECT checks the connection again
 *   after it answers.
 * - **Live connections** are sockets of this node: always node-local and synchronous, so that a
 *   revocation notice finds every connection of a device in the same turn of the event loop.
 */

/** The identity a session belongs to. */
export interface SessionOwner {
  tenantId: string;
  deviceId: string;
}

export interface SessionRegistry<Connection> {
  /**
   * Records `owner` as the maker of the session under `clientId` and answers true, or answers false
   * and records nothing when `resume` (clean session 0) asks for a stored session another identity
   * made. This is the tenant-isolation rule: a client id's stored session is resumed only by the
   * identity that owns it (manufacturer serials used as client ids can repeat across tenants).
   */
  claimStoredSession(clientId: string, owner: SessionOwner, resume: boolean): Promise<boolean>;

  /** The connection aedes has registered under `clientId` (its `client` event), if any. */
  holderOf(clientId: string): Connection | undefined;
  /** aedes registered `connection` under `clientId` (`client` event). */
  registered(clientId: string, connection: Connection): void;
  /** aedes unregistered `connection` (`clientDisconnect`); a later holder of the id is kept. */
  unregistered(clientId: string, connection: Connection): void;

  /**
   * `connection` authenticated as `deviceId`. It counts from the moment its credential is accepted,
   * not only once CONNACK is out, so that a revocation reaches connections still finishing CONNECT.
   */
  addLive(deviceId: string, connection: Connection): void;
  /** `connection` of `deviceId` closed. */
  removeLive(deviceId: string, connection: Connection): void;
  /** The live connections of one device on this node. */
  liveOf(deviceId: string): Iterable<Connection>;
  /** Every live device connection on this node. */
  allLive(): Iterable<Connection>;
}
