/**
 * `BENCH_ONLY=http npm run bench`: the Streamable HTTP figure of the peer bench alone (figure 5 of
 * bench/peer.ts: 50 sessions, 1-row calls), in rounds. Each round starts the bare v2-SDK server and airlock
 * afresh, one after the other, in an order that turns each round, so that drift on a shared machine hits
 * every side; the table gives each round's ratio and their median. `BENCH_HTTP_ROUNDS` (default 3) and
 * `BENCH_PEER_HTTP_CALLS` (default 10,000 per run) set the size. `BENCH_AIRLOCK_CLI_B=<path to cli.js>` adds a
 * second airlock build to each round (another checkout's `dist/bundle/cli.js`: an A/B of two commits in the
 * same run); `BENCH_HTTP_CPU_PROF=<dir>` runs the airlock sides under `node --cpu-prof` into that directory.
 */
import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpThroughput, type HttpRun, type HttpServerSpec } from './http-throughput.js';
import { median } from './rpc.js';
import { airlockHttp, auditOf, bareHttp, httpLoad, peerSetup } from './peer.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 3);

/** Each round's runs, the sides turned by one place per round. */
export async function httpBench(adminUrl: string, work: string): Promise<string[]> {
  const setup = await peerSetup(adminUrl, work);
  const load = httpLoad(setup);
  const profileDir = process.env.BENCH_HTTP_CPU_PROF;
  const profiled = profileDir === undefined || profileDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`];
  const other = process.env.BENCH_AIRLOCK_CLI_B;
  const audits: string[] = [];
  const airlock = (label: string, cli?: string): (() => HttpServerSpec) => () => {
    const dir = mkdtempSync(join(work, 'audit-http-'));
    if (cli === undefined) audits.push(dir);
    return { ...airlockHttp(setup, dir, { label, ...(cli === undefined ? {} : { cli }) }), nodeOptions: profiled };
  };
  const sides: { readonly name: string; readonly spec: () => HttpServerSpec }[] = [
    { name: 'bare', spec: () => bareHttp(setup) },
    { name: 'airlock', spec: airlock('airlock') },
    ...(other === undefined || other === '' ? [] : [{ name: 'airlock B', spec: airlock('airlock B', resolve(ROOT, other)) }]),
  ];
  const runs = new Map<string, HttpRun[]>(sides.map((s) => [s.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = sides.map((_, i) => sides[(i + round) % sides.length] as (typeof sides)[number]);
    for (const side of order) {
      process.stderr.write(`http: round ${round + 1}/${ROUNDS}, ${side.name}, ${load.sessions} sessions, ${load.calls} calls\n`);
      runs.get(side.name)?.push(await httpThroughput(side.spec(), load));
    }
  }
  const bare = runs.get('bare') ?? [];
  const cell = (r: HttpRun | undefined, base: HttpRun | undefined): string =>
    r === undefined || base === undefined ? '' : `${r.callsPerSecond.toFixed(0)}/s (${(r.callsPerSecond / base.callsPerSecond).toFixed(2)}×), ${r.cpuMsPerCall.toFixed(3)} ms CPU, ${r.errors} err`;
  const names = sides.map((s) => s.name);
  const ratios = (name: string): number[] => (runs.get(name) ?? []).map((r, i) => r.callsPerSecond / (bare[i]?.callsPerSecond ?? Number.NaN));
  const lastAudit = audits.at(-1);
  const audit = lastAudit === undefined ? undefined : auditOf(lastAudit, setup.env);
  return [
    `Streamable HTTP, ${load.sessions} sessions, ${load.calls.toLocaleString('en-US')} 1-row calls per run, ${ROUNDS} round(s), sides turned each round; throughput (ratio to the bare server of the same round), server CPU per call, errors. Node ${process.version}.`,
    '',
    `| round | ${names.join(' | ')} |`,
    `|---|${names.map(() => '---|').join('')}`,
    ...bare.map((b, i) => `| ${i + 1} | ${names.map((n) => cell(runs.get(n)?.[i], b)).join(' | ')} |`),
    `| median ratio | ${names.map((n) => `**${median(ratios(n)).toFixed(2)}×**`).join(' | ')} |`,
    ...(other === undefined || other === ''
      ? []
      : [`| airlock / airlock B, median of rounds | | ${median((runs.get('airlock') ?? []).map((r, i) => r.callsPerSecond / (runs.get('airlock B')?.[i]?.callsPerSecond ?? Number.NaN))).toFixed(2)}× | |`]),
    '',
    audit === undefined ? '' : `airlock's audit store of the last round: ${audit.toolCalls} query_sql record(s) (${audit.ok} ok; expected ${load.calls}: ${audit.toolCalls === load.calls ? 'yes' : '**NO**'}); \`airlock audit verify\`: exit ${audit.verifyExit}`,
  ];
}
