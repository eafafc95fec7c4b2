import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunningApp } from './register';

/**
 * Listen on an ephemeral loopback port and answer a {@link RunningApp} whose `close` also drops
 * open connections (no waiting on keep-alive sockets).
 */
export function listen(server: Server): Promise<RunningApp> {
  return new Promise<RunningApp>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
