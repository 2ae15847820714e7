/**
 * A body worker's thread (body-parsers.ts): prepares each AuthZReq body it is sent, so that a large body never holds
 * up the main thread, which answers every other call meanwhile.
 */
import { parentPort } from 'node:worker_threads';
import { prepareRequest } from '../recognition/prepared';
import type { BodyJob, BodyResult } from './body-parsers';

parentPort?.on('message', ({ id, body }: BodyJob) => {
  let result: BodyResult;
  try {
    result = { id, prepared: prepareRequest(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) };
  } catch (error) {
    result = { id, failed: String(error) };
  }
  parentPort!.postMessage(result);
});
