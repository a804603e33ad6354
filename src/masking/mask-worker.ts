/**
 * Worker thread entry: masks the jobs the pool posts, one at a time, with Maskers built from each job's
 * settings (see offload.ts). Maskers are kept per settings: building one compiles its detectors, and a
 * policy version keeps its settings for many calls.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { Masker } from './masker.js';
import type { OffloadReply, OffloadRequest } from './offload.js';

/** Maskers kept at most (policy versions and override sets in use at once are few). */
const MAX_MASKERS = 8;
const maskers = new Map<string, Masker>();

function maskerFor(request: OffloadRequest): Masker {
  const { settings, hmacKey } = request.job;
  const key = JSON.stringify([settings, hmacKey ?? null]);
  let masker = maskers.get(key);
  if (masker !== undefined) {
    // Most recently used last: the oldest is the one dropped.
    maskers.delete(key);
  } else {
    masker = new Masker(settings, { hmacKey });
    if (maskers.size >= MAX_MASKERS) maskers.delete(maskers.keys().next().value as string);
  }
  maskers.set(key, masker);
  return masker;
}

parentPort?.on('message', (request: OffloadRequest) => {
  const { id, job } = request;
  let reply: OffloadReply;
  try {
    reply = { id, threadId, ok: true, masked: maskerFor(request).maskResult(job.result, job.wholeColumns, { lineageKnown: job.lineageKnown }) };
  } catch (error) {
    reply = { id, threadId, ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
