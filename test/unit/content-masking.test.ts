import { describe, expect, it } from 'vitest';
import { MaskingFailedError } from '../../src/errors.js';
import { maskContent } from '../../src/masking/content.js';
import { DETECTOR_NAMES } from '../../src/masking/detectors.js';
import { MaskContext, Masker } from '../../src/masking/masker.js';
import { OFFLOAD_MIN_CHARS } from '../../src/masking/offload.js';
import type * as OffloadModule from '../../src/masking/offload.js';
import type { CallContext } from '../../src/pipeline/context.js';
import { maskStage } from '../../src/pipeline/stages/mask.js';
import type * as MaskStageModule from '../../src/pipeline/stages/mask.js';
import { parsePolicy } from '../../src/policy/load.js';
import type { ContentFormat, JsonResult } from '../../src/tool.js';

const masker = new Masker({ detectors: [...DETECTOR_NAMES], style: 'last4', columns: ['internal_notes'] });

function mask(text: string, format: ContentFormat): { text: string; counts: Record<string, number> } {
  const ctx = new MaskContext();
  const out = maskContent(masker, text, format, ctx);
  return { text: out, counts: Object.fromEntries(ctx.counts) };
}

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nq8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F+/=\n-----END PRIVATE KEY-----\n';
const SA_KEY = {
  type: 'service_account',
  project_id: 'proj-alpha',
  private_key_id: '0123456789abcdef0123456789abcdef01234567',
  private_key: PEM,
  client_email: 'etl@proj-alpha.iam.gserviceaccount.com',
  client_id: '104857600123456789012',
};
const CONFIG = {
  service: 'billing',
  database: { host: 'db.internal', port: 5432, user: 'billing', password: 'Tr0ub4dor&3-billing' },
  stripe: { api_key: 'q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1Fm0Pa' },
  admins: ['ops@example.com', 'sre@example.com'],
  token: [['Zx9Qw8Er7Ty6Ui5Op4AsDf3Gh'], []],
  credentials: SA_KEY,
  limits: { retries: 3, ratio: 0.75, big: 1.5e3, neg: -0, on: true, off: false, none: null },
  note: 'contact ana\u00e9 at ana@example.com, tab\there',
};

describe('maskContent csv (issue 18)', () => {
  const CSV =
    'id,name,email,card_number,ssn,internal_notes,amount\n' +
    '1,Ana Silva,ana@example.com,4111 1111 1111 1111,123-45-6789,"VIP, call first",12.50\n' +
    '2,Bo Chen,bo@example.com,5500 0000 0000 0004,234567891,,7.00\n';

  it('masks every record by its header: content detectors, a keyed ssn column, a column rule by name', () => {
    expect(mask(CSV, 'csv')).toEqual({
      text:
        'id,name,email,card_number,ssn,internal_notes,amount\n' +
        '1,Ana Silva,[EMAIL_1],**** **** **** 1111,[US_SSN_1],"[SENSITIVE_COLUMN_1]",12.50\n' +
        '2,Bo Chen,[EMAIL_2],**** **** **** 0004,[US_SSN_2],,7.00\n',
      counts: { EMAIL: 2, CREDIT_CARD: 2, US_SSN: 2, SENSITIVE_COLUMN: 1 },
    });
  });

  it('keeps the header context when the last record is cut at the byte cap', () => {
    const cut = `${CSV}3,Cy Diaz,cy@example.com,3782 822463 10005,345678912,"secret pla`;
    expect(mask(cut, 'csv').text).toBe(
      'id,name,email,card_number,ssn,internal_notes,amount\n' +
        '1,Ana Silva,[EMAIL_1],**** **** **** 1111,[US_SSN_1],"[SENSITIVE_COLUMN_1]",12.50\n' +
        '2,Bo Chen,[EMAIL_2],**** **** **** 0004,[US_SSN_2],,7.00\n' +
        '3,Cy Diaz,[EMAIL_3],**** ****** *0005,[US_SSN_3],"[SENSITIVE_COLUMN_2]',
    );
    // Cut inside the first record: the header still applies (the guess for free text would refuse it).
    expect(mask('ssn,internal_notes,x\n234567891,plans', 'csv').text).toBe('ssn,internal_notes,x\n[US_SSN_1],[SENSITIVE_COLUMN_1]');
  });

  it('reads a header alone, a ragged first record, a single column and a tab-separated file', () => {
    expect(mask('email,ssn\n', 'csv').text).toBe('email,ssn\n');
    expect(mask('name,ssn,internal_notes\nana,234567891\nbo,345678912,x\n', 'csv').text).toBe('name,ssn,internal_notes\nana,[US_SSN_1]\nbo,[US_SSN_2],[SENSITIVE_COLUMN_1]\n');
    expect(mask('ssn\n234567891\n345678912\n', 'csv').text).toBe('ssn\n[US_SSN_1]\n[US_SSN_2]\n');
    expect(mask('user\tdb_password\nana\ts3cr3t!\n', 'csv').text).toBe('user\tdb_password\nana\t[PASSWORD_1]\n');
  });

  it('masks CSV whose header names nothing as text', () => {
    expect(mask('a,b\nana@example.com,234567891\n', 'csv').text).toBe('a,b\n[EMAIL_1],234567891\n');
  });
});

describe('maskContent json (issue 18)', () => {
  it('masks a config with a service-account key, passwords and API keys under their key names, byte for byte elsewhere', () => {
    const text = JSON.stringify(CONFIG, null, 2);
    const out = mask(text, 'json');
    const escapedPem = JSON.stringify(PEM);
    const expected = text
      .replace('"Tr0ub4dor&3-billing"', '"[PASSWORD_1]"')
      .replace('"q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1Fm0Pa"', '"[GENERIC_API_KEY_1]"')
      .replace('"ops@example.com"', '"[EMAIL_1]"')
      .replace('"sre@example.com"', '"[EMAIL_2]"')
      .replace('"Zx9Qw8Er7Ty6Ui5Op4AsDf3Gh"', '"[GENERIC_API_KEY_2]"')
      .replace(escapedPem, '"[GCP_SA_KEY_1]"')
      .replace('"etl@proj-alpha.iam.gserviceaccount.com"', '"[EMAIL_3]"')
      .replace('ana@example.com,', '[EMAIL_4],');
    expect(out.text).toBe(expected);
    expect(out.counts).toEqual({ PASSWORD: 1, GENERIC_API_KEY: 2, EMAIL: 4, GCP_SA_KEY: 1 });
  });

  it('decodes escapes before detection and re-encodes the masked string as valid JSON', () => {
    const text = '{"email":"ana\\u0040example.com","msg":"card:\\t4111\\u00201111 1111 1111 \\"paid\\"","path":"a\\/b"}';
    const out = mask(text, 'json');
    expect(out.text).toBe('{"email":"[EMAIL_1]","msg":"card:\\t**** **** **** 1111 \\"paid\\"","path":"a\\/b"}');
    expect(JSON.parse(out.text)).toEqual({ email: '[EMAIL_1]', msg: 'card:\t**** **** **** 1111 "paid"', path: 'a/b' });
  });

  it('masks numbers: under a keyed name, and long ones as maskValue does (a 19-digit card by its digits)', () => {
    expect(mask('{"ssn": 234567891, "n": 234567891, "card": 4111111111111111, "pan19": 6221260000000000001, "id": 6221260000000000002 }', 'json').text).toBe(
      '{"ssn": "[US_SSN_1]", "n": 234567891, "card": "************1111", "pan19": "***************0001", "id": 6221260000000000002 }',
    );
    expect(mask('[4012888888881881003]', 'json').text).toBe('["***************1003"]');
  });

  it('scans keys like values, and items of an array (nested too) under the array\'s key', () => {
    expect(mask('{"ana@example.com": {"password": ["hunter2x", ["s3cr3t!"]], "x": ["hunter2x"]}}', 'json').text).toBe(
      '{"[EMAIL_1]": {"password": ["[PASSWORD_1]", ["[PASSWORD_2]"]], "x": ["hunter2x"]}}',
    );
  });

  it('leaves text with nothing to mask exactly as it was (whitespace, escapes, number forms, unicode)', () => {
    const text = ' \r\n{ "a" :[1 , -0.5e+3,true,false , null,{}, [] ,"\\u00e9\\n\\"q\\""] ,\t"b":{"c":"日本語 ✓"}}\n';
    expect(mask(text, 'json')).toEqual({ text, counts: {} });
  });

  it('counts the same findings and gives the same value as maskValue on the parsed document', () => {
    const docs = [
      CONFIG,
      { entries: [{ user: { email: 'a@example.com', ssn: '123-45-6789' }, card: '4111 1111 1111 1111', ip: '10.1.2.3' }, { token: 'Bearer abcdefghijklmnop0123456789', phone: '+1 415 555 2671' }] },
      { deep: [[[{ secret: 'Zx9Qw8Er7Ty6Ui5Op4AsDf3Gh' }]]], api_key: ['q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1Fm0Pa', 'Zx9Qw8Er7Ty6Ui5Op4AsDf3Gh'], aws_secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
    ];
    for (const doc of docs) {
      for (const text of [JSON.stringify(doc), JSON.stringify(doc, null, 4)]) {
        const ctx = new MaskContext();
        const viaValue = masker.maskValue(JSON.parse(text), ctx);
        const out = mask(text, 'json');
        expect(JSON.parse(out.text)).toEqual(viaValue);
        expect(out.counts).toEqual(Object.fromEntries(ctx.counts));
        expect(Object.keys(out.counts).length).toBeGreaterThan(0);
      }
    }
  });

  it('never returns a secret of a document cut anywhere (every byte position), masking what it cannot follow as text', () => {
    const text = JSON.stringify({ ok: 1, email: 'ana@example.com', password: 'hunter2-long-pass', key: SA_KEY, card: '4111 1111 1111 1111', note: 'x\u0040y' }, null, 1);
    const secrets = ['ana@example.com', 'hunter2-long-pass', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw', '4111 1111 1111 1111', 'etl@proj-alpha.iam.gserviceaccount.com'];
    for (let cut = 0; cut <= text.length; cut++) {
      const part = text.slice(0, cut);
      const out = mask(part, 'json').text;
      for (const s of secrets) if (part.includes(s)) expect(out, `cut at ${cut}`).not.toContain(s);
      // A password cut short is still a password (its key is known).
      const at = part.indexOf('"password": "');
      if (at >= 0 && part.length > at + 14) expect(out, `cut at ${cut}`).not.toContain('hunter2');
    }
  });

  it('masks the rest as text where the JSON is invalid, with the key before it as context', () => {
    expect(mask("{\"a\": 'single', \"email\": \"ana@example.com\", password=hunter2x }", 'json').text).toBe("{\"a\": 'single', \"email\": \"[EMAIL_1]\", password=[PASSWORD_1] }");
    expect(mask('{"a": [1, 2, }, "ssn": "123-45-6789"', 'json').text).toBe('{"a": [1, 2, }, "ssn": "[US_SSN_1]"');
    expect(mask('{"msg": "raw\ttab ana@example.com"}', 'json').text).toBe('{"msg": "raw\ttab [EMAIL_1]"}');
    // Not an object or array: text.
    expect(mask('ana@example.com 4111 1111 1111 1111', 'json').text).toBe('[EMAIL_1] **** **** **** 1111');
    // Documents one after another; then trailing text.
    expect(mask('{"e":"ana@example.com"} {"e":"bo@example.com"} tail cy@example.com', 'json').text).toBe('{"e":"[EMAIL_1]"} {"e":"[EMAIL_2]"} tail [EMAIL_3]');
  });
});

describe('maskContent ndjson (issue 18)', () => {
  it('masks application log lines field by field and a line that is not JSON as text', () => {
    const lines = [
      '{"ts":"2026-12-01T10:00:00Z","level":"info","msg":"login","user":"ana@example.com","ip":"203.0.113.9"}',
      '{"ts":"2026-12-01T10:00:01Z","level":"info","msg":"charge","card":"4111111111111111","amount":12.5}',
      'panic: goroutine 7 [running]: user=bo@example.com password=hunter2x',
      '',
      '{"ts":"2026-12-01T10:00:02Z","headers":{"authorization":"Bearer abcdefghijklmnop0123456789","x-api-key":"Zx9Qw8Er7Ty6Ui5Op4AsDf3Gh"}}',
      '{"ts":"2026-12-01T10:00:03Z","password":"hun',
    ];
    const out = mask(lines.join('\n'), 'ndjson');
    expect(out.text.split('\n')).toEqual([
      '{"ts":"2026-12-01T10:00:00Z","level":"info","msg":"login","user":"[EMAIL_1]","ip":"[IP_ADDRESS_1]"}',
      '{"ts":"2026-12-01T10:00:01Z","level":"info","msg":"charge","card":"************1111","amount":12.5}',
      'panic: goroutine 7 [running]: user=[EMAIL_2] password=[PASSWORD_1]',
      '',
      '{"ts":"2026-12-01T10:00:02Z","headers":{"authorization":"Bearer [GENERIC_API_KEY_1]","x-api-key":"[GENERIC_API_KEY_2]"}}',
      '{"ts":"2026-12-01T10:00:03Z","password":"[PASSWORD_2]',
    ]);
    expect(out.counts).toEqual({ EMAIL: 2, IP_ADDRESS: 1, CREDIT_CARD: 1, PASSWORD: 2, GENERIC_API_KEY: 2 });
  });

  it('keeps CRLF line ends and a trailing newline', () => {
    expect(mask('{"e":"ana@example.com"}\r\n{"e":1}\r\n', 'ndjson').text).toBe('{"e":"[EMAIL_1]"}\r\n{"e":1}\r\n');
  });
});

describe('maskContent text (issue 18)', () => {
  it('masks free text as maskText does', () => {
    const text = 'user ana@example.com paid with 4111 1111 1111 1111\npassword: hunter2x';
    const ctx = new MaskContext();
    expect(mask(text, 'text').text).toBe(masker.maskText(text, ctx));
    expect(mask(text, 'text').text).toBe('user [EMAIL_1] paid with **** **** **** 1111\npassword: [PASSWORD_1]');
  });
});

describe('maskValue (issue 18)', () => {
  it('masks the items of an array under a keyed name as values of that name', () => {
    expect(masker.maskValue({ password: ['hunter2x', ['s3cr3t!']], ssn: [234567891] }, new MaskContext())).toEqual({ password: ['[PASSWORD_1]', ['[PASSWORD_2]']], ssn: ['[US_SSN_1]'] });
  });
});

// ---------- the result contract: contentFormats and render through the mask stage ----------

const policy = parsePolicy(
  JSON.stringify({ version: 1, rules: [], masking: { detectors: [...DETECTOR_NAMES], style: 'last4', columns: ['internal_notes'], sensitiveUse: { approverGroups: ['security'] } } }),
  'policies.json',
  [],
);
const policySource = { current: () => policy };

function callWith(result: JsonResult): CallContext {
  return { id: 'c1', startedAt: 0, sessionId: 's', transport: 'stdio', toolName: 'read_bucket', rawArguments: {}, credential: { kind: 'none' }, signal: new AbortController().signal, result } as unknown as CallContext;
}

const CSV_BODY = 'email,card,internal_notes\nana@example.com,4111 1111 1111 1111,call first\n';

function objectResult(content: string, render: JsonResult['render']): JsonResult {
  return {
    kind: 'json',
    value: { object: 'exports/ana@example.com.csv', size: content.length, content },
    text: `unmasked ${content}`,
    contentFormats: { content: 'csv' },
    ...(render === undefined ? {} : { render }),
  };
}

const renderObject = (calls: Readonly<Record<string, unknown>>[]) => (v: Readonly<Record<string, unknown>>): string => {
  calls.push(v);
  return `${String(v.object)} (${String(v.size)} bytes)\n${String(v.content)}`;
};

describe('mask stage with contentFormats and render (issue 18)', () => {
  it('masks content by its format and the rest as values, and renders the text from the masked value', async () => {
    const calls: Readonly<Record<string, unknown>>[] = [];
    const ctx = callWith(objectResult(CSV_BODY, renderObject(calls)));
    await maskStage({ policy: policySource })(ctx, () => Promise.resolve());
    const masked = ctx.result as JsonResult;
    expect(masked.value).toEqual({ object: 'exports/[EMAIL_1]', size: CSV_BODY.length, content: 'email,card,internal_notes\n[EMAIL_2],**** **** **** 1111,[SENSITIVE_COLUMN_1]\n' });
    expect(masked.text).toBe(`exports/[EMAIL_1] (${CSV_BODY.length} bytes)\nemail,card,internal_notes\n[EMAIL_2],**** **** **** 1111,[SENSITIVE_COLUMN_1]\n`);
    expect(calls).toEqual([masked.value]);
    expect(ctx.maskReport?.findings).toEqual({ EMAIL: 2, CREDIT_CARD: 1, SENSITIVE_COLUMN: 1 });
  });

  it('masks the tool\'s own text as text when there is no render', async () => {
    const ctx = callWith(objectResult(CSV_BODY, undefined));
    await maskStage({ policy: policySource })(ctx, () => Promise.resolve());
    expect((ctx.result as JsonResult).text).toBe('unmasked email,card,internal_notes\n[EMAIL_2],**** **** **** 1111,[SENSITIVE_COLUMN_1]\n');
  });

  it('fails closed with MASKING_FAILED when render throws', async () => {
    const ctx = callWith(
      objectResult(CSV_BODY, () => {
        throw new Error('render broke');
      }),
    );
    await expect(maskStage({ policy: policySource })(ctx, () => Promise.resolve())).rejects.toBeInstanceOf(MaskingFailedError);
    expect(ctx.maskReport).toBeUndefined();
  });

  // The worker runs only from the compiled code (dist/), as in production: the stage and offload modules
  // are loaded from there.
  it('masks a result past the offload size on a worker and renders it on the main thread', async () => {
    const dist = new URL('../../dist/src/', import.meta.url);
    const stageModule = (await import(new URL('pipeline/stages/mask.js', dist).href)) as typeof MaskStageModule;
    const offloadModule = (await import(new URL('masking/offload.js', dist).href)) as typeof OffloadModule;
    const row = 'bo@example.com,5500 0000 0000 0004,vip\n';
    const rows = Math.ceil(OFFLOAD_MIN_CHARS / row.length) + 10;
    const big = CSV_BODY + row.repeat(rows);
    const calls: Readonly<Record<string, unknown>>[] = [];
    const result = objectResult(big, renderObject(calls));
    expect(offloadModule.shouldOffload(result)).toBe(true);
    const ctx = callWith(result);
    await stageModule.maskStage({ policy: policySource })(ctx, () => Promise.resolve());
    const masked = ctx.result as JsonResult;
    const content = String(masked.value.content);
    expect(content.startsWith('email,card,internal_notes\n[EMAIL_2],**** **** **** 1111,[SENSITIVE_COLUMN_1]\n[EMAIL_3],**** **** **** 0004,[SENSITIVE_COLUMN_2]\n')).toBe(true);
    expect(content).not.toContain('@example.com');
    expect(content).not.toContain('vip');
    expect(calls).toHaveLength(1);
    expect(calls[0]?.content).toBe(content);
    expect(masked.text).toBe(`exports/[EMAIL_1] (${big.length} bytes)\n${content}`);
    expect(ctx.maskReport?.findings).toEqual({ EMAIL: rows + 2, CREDIT_CARD: rows + 1, SENSITIVE_COLUMN: rows + 1 });

    const failing = callWith(
      objectResult(big, () => {
        throw new Error('render broke');
      }),
    );
    const error = await stageModule.maskStage({ policy: policySource })(failing, () => Promise.resolve()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as { code?: string } | undefined)?.code).toBe('MASKING_FAILED');
    expect(failing.maskReport).toBeUndefined();
  });
});
