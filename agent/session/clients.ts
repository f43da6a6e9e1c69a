// gRPC clients for the dispatcher, one per manager address, shared by every session in the
// process: a thousand hollow agents (or one real agent reconnecting many times) cost one HTTP/2
// connection per manager, not one per session.
import { credentials } from '@grpc/grpc-js';
import * as pb from '../../proto/gen/dispatcher.js';

/** Where a session gets the client for a manager address. */
export interface DispatcherClientSource {
  get(address: string): pb.DispatcherServiceClient;
}

export class DispatcherClients implements DispatcherClientSource {
  private readonly clients = new Map<string, pb.DispatcherServiceClient>();
  private closed = false;

  get(address: string): pb.DispatcherServiceClient {
    if (this.closed) throw new Error('dispatcher clients are closed');
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new pb.DispatcherServiceClient(address, credentials.createInsecure());
      this.clients.set(address, c);
    }
    return c;
  }

  /** Closes every client; stop the sessions using them first. */
  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** A source that always answers one given client (its owner closes it): no failover. */
export const singleClient = (client: pb.DispatcherServiceClient): DispatcherClientSource => ({
  get: () => client,
});
