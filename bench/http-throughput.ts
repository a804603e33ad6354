/**
 * The Streamable HTTP workload the process benchmarks share: one server process, `sessions` 2025-era
 * sessions each keeping one call in flight, until `calls` calls in all have been answered. Reports calls/s,
 * the latency of each call as the client saw it, the server's CPU per call (from /proc) and every error.
 */
import { spawn } from 'node:child_process';
import { cpuMsOf, HttpSession, keepAliveAgent, percentile, RpcFailure, stopChild } from './rpc.js';

export interface HttpServerSpec {
  /** What the progress lines and errors call it. */
  readonly label: string;
  /** `node` arguments that start it on `port`. */
  readonly args: (port: number) => string[];
  /** `stdout`: ready once it prints `listening`; `healthz`: once `GET /healthz` answers 200. */
  readonly ready: 'stdout' | 'healthz';
  /** The `tools/call` params of every call. */
  readonly params: unknown;
  /** Throws unless the first answer is what the server must return (the bench compares servers doing their job). */
  readonly check: (answer: string) => void;
  /** Node options placed before the script (`--cpu-prof`, …). */
  readonly nodeOptions?: readonly string[];
  /** Runs once the calls are done and before the server stops (a scrape of its metrics, …). */
  readonly after?: (port: number) => Promise<void>;
}

export interface HttpLoad {
  readonly sessions: number;
  readonly calls: number;
  readonly env: NodeJS.ProcessEnv;
  /** A free loopback port for this run. */
  readonly port: () => Promise<number>;
}

export interface HttpRun {
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuMsPerCall: number;
  readonly errors: number;
  readonly firstError: string;
}

/** Every call must succeed; counted cheaply on every answer, checked in full on the first. */
export const failed = (answer: string): boolean => answer.includes('"isError":true') || answer.includes('"error":{');

async function waitFor(check: () => Promise<boolean>, exited: () => boolean, label: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (exited()) throw new RpcFailure(`${label} exited before it was ready`);
    if (Date.now() > deadline) throw new RpcFailure(`${label} was not ready within 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the server, drives the load, stops the server (also when the run fails). */
export async function httpThroughput(spec: HttpServerSpec, load: HttpLoad): Promise<HttpRun> {
  const port = await load.port();
  const child = spawn(process.execPath, [...(spec.nodeOptions ?? []), ...spec.args(port)], { env: load.env, stdio: ['pipe', 'pipe', 'ignore'] });
  const agent = keepAliveAgent(load.sessions);
  const sessions: HttpSession[] = [];
  try {
    const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
    if (spec.ready === 'stdout') {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      await waitFor(() => Promise.resolve(out.includes('listening')), exited, spec.label);
    } else {
      child.stdout.resume();
      await waitFor(() => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false), exited, spec.label);
    }
    const url = new URL(`http://127.0.0.1:${port}/mcp`);
    for (let i = 0; i < load.sessions; i++) {
      const session = new HttpSession(url, agent);
      await session.initialize();
      sessions.push(session);
    }
    spec.check(await (sessions[0] as HttpSession).request('tools/call', spec.params));
    let issued = 1;
    let errors = 0;
    let firstError = '';
    const times: number[] = [];
    const cpu0 = cpuMsOf(child.pid ?? 0);
    const started = performance.now();
    await Promise.all(
      sessions.map(async (session) => {
        while (issued < load.calls) {
          issued++;
          const t = performance.now();
          try {
            const answer = await session.request('tools/call', spec.params);
            if (failed(answer)) throw new RpcFailure(answer.slice(0, 300));
            times.push(performance.now() - t);
          } catch (error) {
            errors++;
            if (firstError === '') firstError = error instanceof Error ? error.message : String(error);
          }
        }
      }),
    );
    const elapsed = performance.now() - started;
    const cpuMsPerCall = (cpuMsOf(child.pid ?? 0) - cpu0) / (load.calls - 1);
    await Promise.all(sessions.map(async (s) => s.close()));
    await spec.after?.(port);
    return { callsPerSecond: ((load.calls - 1) / elapsed) * 1000, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), cpuMsPerCall, errors, firstError };
  } finally {
    await stopChild(child, 10_000);
    agent.destroy();
  }
}
