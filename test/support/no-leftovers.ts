/**
 * Runs in every test file (a vitest setup file): after the file's own hooks, any process the file started
 * that is still running (a child of this worker, or its child) fails the file by name and is stopped, so a
 * leak is blamed on the test that caused it rather than found at the end of the run.
 */
import { afterAll } from 'vitest';
import { describeProcesses, findLeftovers, settle, stopProcesses } from './leaks.mjs';

// Registered before the file's own hooks, so it runs after them (vitest runs afterAll hooks as a stack).
afterAll(async () => {
  const left = await settle(() => findLeftovers({ rootPid: process.pid }));
  if (left === undefined || left.length === 0) return;
  const stubborn = await stopProcesses(left);
  const tail = stubborn.length > 0 ? `\nstill alive after SIGKILL:\n${describeProcesses(stubborn)}` : '';
  throw new Error(`this test file left ${left.length} process(es) running (now stopped); stop every process you start in a finally:\n${describeProcesses(left)}${tail}`);
}, 30_000);
