import type { IncomingMessage } from 'node:http';

/**
 * A body-parser `verify` hook that keeps the request's raw bytes on `req.rawBody`, so oncely
 * fingerprints exactly what the client sent (JSON canonicalized from those bytes, anything else
 * byte for byte) rather than the parsed `req.body`.
 *
 * @example
 * ```ts
 * app.use(express.json({ verify: keepRawBody }));
 * app.use(express.urlencoded({ extended: false, verify: keepRawBody }));
 * ```
 */
export function keepRawBody(req: IncomingMessage, _res: unknown, buffer: Buffer): void {
  (req as IncomingMessage & { rawBody?: Buffer }).rawBody = buffer;
}
