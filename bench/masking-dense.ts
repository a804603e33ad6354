/**
 * The dense mixed log of the masking bench (issue 6, kept unchanged for issue 20 so figures stay
 * comparable): six line shapes, about one finding per 90 bytes (emails, IPs, cards, keyed secrets,
 * bearer JWTs) among request ids, paths, versions, commits and ticket ids.
 */
import { flatLines, rng, type GeneratedLog, type Rand } from './masking-rng.js';

const LINES: readonly ((r: Rand) => string)[] = [
  (r) => `2026-11-29T10:${String(Math.floor(r() * 60)).padStart(2, '0')}:00Z INFO request id=${Math.floor(r() * 1e9)} path=/api/orders/${Math.floor(r() * 1e6)} status=200 ms=${Math.floor(r() * 900)}`,
  (r) => `2026-11-29T10:00:00Z WARN user ana.silva${Math.floor(r() * 100)}@example.com failed login from 10.${Math.floor(r() * 255)}.3.4`,
  () => '2026-11-29T10:00:00Z INFO charge card=4111 1111 1111 1111 amount=12.50 currency=EUR',
  () => '2026-11-29T10:00:00Z DEBUG config {"db_password":"hunter2-prod","api_key":"q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F","region":"eu"}',
  (r) => `2026-11-29T10:00:00Z INFO build v1.${Math.floor(r() * 20)}.3 deployed commit=${Math.floor(r() * 1e12).toString(16)} ticket=PROJ-${Math.floor(r() * 9999)}`,
  () => '2026-11-29T10:00:00Z ERROR upstream Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln',
];

/** At least `megabytes` MiB of the dense mixed log (seed 42, as in issue 6). */
export function denseLog(megabytes: number, seed = 42): GeneratedLog {
  const r = rng(seed);
  const lines: string[] = [];
  let bytes = 0;
  while (bytes < megabytes * 1024 * 1024) {
    const line = (LINES[Math.floor(r() * LINES.length)] ?? LINES[0])!(r);
    lines.push(line);
    bytes += line.length + 1;
  }
  return { lines: flatLines(lines), bytes };
}
