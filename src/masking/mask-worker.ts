/** Worker thread entry: masks one result with a Masker built from the job's settings (see offload.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { Masker } from './masker.js';
import type { OffloadJob, OffloadReply } from './offload.js';

const job = workerData as OffloadJob;
let reply: OffloadReply;
try {
  const masker = new Masker(job.settings, { hmacKey: job.hmacKey });
  reply = { ok: true, masked: masker.maskResult(job.result, job.wholeColumns, { lineageKnown: job.lineageKnown }) };
} catch (error) {
  reply = { ok: false, message: error instanceof Error ? error.message : String(error) };
}
parentPort?.postMessage(reply);
