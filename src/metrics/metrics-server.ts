import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TesseraError } from '../core/errors.js';
import type { TesseraMetrics } from './metrics.js';

/** A running `/metrics` endpoint. */
export interface MetricsServer {
  /** The port it listens on (the one asked, or the one the system chose for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format) for a process that has no HTTP server of its own, such as
 * `tessera stream --metrics-port`. One route; anything else is 404.
 *
 * @example
 * const server = await serveMetrics(processMetrics(), { port: 9464 });
 * // curl http://127.0.0.1:9464/metrics
 * await server.close();
 */
export async function serveMetrics(
  metrics: TesseraMetrics,
  opts: { port: number; host?: string },
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    metrics.scrape().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.contentType }).end(req.method === 'HEAD' ? '' : text);
      },
      (e: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new TesseraError(
          `cannot serve metrics on port ${opts.port}: ${e.message}`,
          { field: 'metrics-port', hint: 'choose a free port (0 picks one)' },
          'INVALID_CONFIG',
          e,
        ),
      ),
    );
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
