import * as z from 'zod';
import { compileCustomPattern } from '../masking/custom.js';
import { DETECTOR_NAMES } from '../masking/names.js';
import { SECRET_TYPES } from '../masking/secrets.js';
import { SQL_CLASSES } from './sql/classes.js';
import { LogFilterError, parseLogFilter } from './log-filter.js';

/**
 * The policies.json schema. Every object is strict: a misspelled key must never widen access.
 */

/** Secrets are referenced, never written inline. */
export const SecretRef = z
  .string()
  .regex(/^env:[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must be a secret reference like "env:DATABASE_URL", never an inline value' });

const Name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
  message: 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
});

const Glob = z.string().min(1).max(256);

/** A Logging filter policy forces on calls: it must parse, so a typo fails the load instead of every call. */
const LogFilterText = z
  .string()
  .min(1)
  .max(2000)
  .superRefine((text, ctx) => {
    try {
      parseLogFilter(text);
    } catch (error) {
      if (!(error instanceof LogFilterError)) throw error;
      ctx.addIssue({ code: 'custom', message: `is not a valid Logging filter: ${error.message}` });
    }
  });

const ColumnPattern = z.string().regex(/^[^.\s]+\.[^.\s]+(\.[^.\s]+)?$/, {
  message: 'must be "table.column" or "schema.table.column" (globs allowed, e.g. "customers.card_number", "*.*ssn*")',
});

/** A duration like "15m", "24h" or "7d" (seconds, minutes, hours, days). */
export const Duration = z.string().regex(/^[1-9][0-9]{0,5}[smhd]$/, { message: 'must be a duration like "90s", "15m", "24h" or "7d"' });

const Limits = z.strictObject({
  maxRows: z.int().min(1).max(100_000).optional(),
  maxBytes: z.int().min(1024).max(64 * 1024 * 1024).optional(),
  timeoutMs: z.int().min(100).max(600_000).optional(),
  /** tail_logs: the longest time window one call may read (default 24h). */
  maxWindow: Duration.optional(),
  /** tail_logs: the longest live tail (`follow_seconds`) one call may run (default 60; 0 turns it off). */
  maxFollowSeconds: z.int().min(0).max(600).optional(),
});

/** Cloud SQL for PostgreSQL through the Cloud SQL connector, with IAM database authentication (no password). */
const CloudSql = z.strictObject({
  /** "project:region:instance" */
  instanceConnectionName: z.string().regex(/^[a-z0-9.:-]+:[a-z0-9-]+:[a-z0-9-]+$/, { message: 'must be "project:region:instance"' }),
  ipType: z.enum(['PUBLIC', 'PRIVATE', 'PSC']).default('PRIVATE'),
  /** The IAM database user airlock logs in as, e.g. "airlock-reader@project.iam" (service account without ".gserviceaccount.com"). */
  iamUser: z.string().min(3).max(128),
  database: z.string().min(1).max(63),
});

const Connection = z
  .strictObject({
    engine: z.literal('postgres').default('postgres'),
    description: z.string().max(500).optional(),
    url: SecretRef.optional(),
    cloudSql: CloudSql.optional(),
    limits: Limits.optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.url === undefined) === (c.cloudSql === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of "url" (a secret reference) or "cloudSql" (IAM database authentication)' });
    }
  });

/** A Cloud Storage bucket agents may read through airlock. */
const Bucket = z.strictObject({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/, { message: 'must be a Cloud Storage bucket name' }),
  description: z.string().max(500).optional(),
  limits: Limits.optional(),
});

/** A Cloud Logging scope (project and optional log names) agents may read through airlock. */
const LogScope = z.strictObject({
  project: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, { message: 'must be a Google Cloud project id' }),
  logNames: z.array(z.string().regex(/^[A-Za-z0-9_./%-]{1,512}$/, { message: 'must be a log id like "app" or "cloudaudit.googleapis.com/activity"' })).min(1).optional(),
  /** A Logging filter every call on this scope is narrowed by (ANDed with whatever the agent asks). */
  filter: LogFilterText.optional(),
  description: z.string().max(500).optional(),
  limits: Limits.optional(),
});

/**
 * Who a rule or override is for. Absent means everyone; when present it must narrow: an empty block
 * would read as "these callers" and match every caller, as `"groups": []` would.
 */
const Principals = z
  .strictObject({
    groups: z.array(z.string().min(1)).min(1).optional(),
    emails: z.array(Glob).min(1).optional(),
    subs: z.array(z.string().min(1)).min(1).optional(),
    issuers: z.array(z.string().min(1)).min(1).optional(),
  })
  .refine((p) => Object.values(p).some((v) => v !== undefined), {
    message: 'give at least one of "groups", "emails", "subs" or "issuers" (an empty "principals" would match every caller; leave it out to mean everyone)',
  });

const Approval = z
  .strictObject({
    /** Who decides: verified identities in any of these groups, never the caller. */
    approverGroups: z.array(z.string().min(1)).min(1).optional(),
    /**
     * The caller's own user confirms the exact call (MCP elicitation) before it runs or is sent to the
     * approvers: a check against mistakes, not a separation of duties, so it never counts as an approval.
     */
    confirmByCaller: z.boolean().default(false),
    quorum: z.int().min(1).max(10).default(1),
    timeoutSeconds: z.int().min(10).max(86_400).default(900),
    justificationRequired: z.boolean().default(false),
  })
  .superRefine((approval, ctx) => {
    if (approval.approverGroups === undefined && !approval.confirmByCaller) {
      ctx.addIssue({
        code: 'custom',
        path: ['approverGroups'],
        message: 'say who approves: "approverGroups": [...] for human approvers, "confirmByCaller": true for a confirmation by the caller\'s own user, or both',
      });
    }
  });

const Rule = z
  .strictObject({
    id: Name,
    description: z.string().max(1000).optional(),
    effect: z.enum(['allow', 'approve', 'deny']),
    principals: Principals.optional(),
    tools: z.array(z.string()).min(1),
    resources: z.array(Glob).min(1).optional(),
    sql: z
      .strictObject({
        classes: z.array(z.enum(SQL_CLASSES)).min(1).optional(),
        /** Table globs ("orders", "public.*"). allow/approve: every table named must match; deny: any. */
        tables: z.array(Glob).min(1).optional(),
        /** Globs for the tables the statement writes (DML targets, DDL targets). Same reading as `tables`. */
        tablesWritten: z.array(Glob).min(1).optional(),
        /** Function globs ("lower", "*xml*"). allow/approve: every function called must match; deny: any. */
        functions: z.array(Glob).min(1).optional(),
        /** Column patterns ("orders.*", "public.customers.email"). allow/approve: every column read must match; deny: any. */
        columns: z.array(ColumnPattern).min(1).optional(),
      })
      .refine((sql) => Object.values(sql).some((v) => v !== undefined), {
        message: 'give at least one of "classes", "tables", "tablesWritten", "functions" or "columns"',
      })
      .optional(),
    /** Object paths in a bucket (globs): allow/approve and deny alike match the object the call reads. */
    objects: z.array(Glob).min(1).optional(),
    /** Log names (globs): allow/approve: every log the call reads must match; deny: any. */
    logNames: z.array(Glob).min(1).optional(),
    /** Globs over the log filter the call gives (log calls only; a call with no filter has the empty filter). */
    logFilter: z.array(z.string().max(2000)).min(1).optional(),
    /**
     * allow/approve: a Logging filter the calls this rule decides are narrowed by (ANDed with the scope's
     * filter, every other deciding rule's and the agent's own).
     */
    forceLogFilter: LogFilterText.optional(),
    reason: z.string().min(1).max(500).optional(),
    approval: Approval.optional(),
    limits: Limits.optional(),
  })
  .superRefine((rule, ctx) => {
    if (rule.effect === 'approve' && rule.approval === undefined) {
      ctx.addIssue({ code: 'custom', path: ['approval'], message: 'an "approve" rule needs "approval": { "approverGroups": [...] } and/or { "confirmByCaller": true }' });
    }
    if (rule.effect !== 'approve' && rule.approval !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['approval'], message: `"approval" only applies to "approve" rules (this rule is "${rule.effect}")` });
    }
    if (rule.effect === 'deny' && rule.forceLogFilter !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['forceLogFilter'], message: '"forceLogFilter" narrows what an allow or approve rule lets through; a deny rule lets nothing through' });
    }
    if (rule.effect === 'deny' && rule.reason === undefined) {
      ctx.addIssue({ code: 'custom', path: ['reason'], message: 'a "deny" rule needs a "reason" (it is shown to the agent)' });
    }
  });

const ServiceAccountEmail = z
  .string()
  .regex(/^[a-z][a-z0-9-]{4,61}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/, {
    message: 'must be a service account email like "reader@project-id.iam.gserviceaccount.com"',
  });

/** Which Google service account airlock impersonates for a principal (first matching entry wins). */
const Downstream = z.strictObject({
  impersonation: z
    .strictObject({
      lifetimeSeconds: z.int().min(60).max(900).default(900),
      byGroup: z.array(z.strictObject({ groups: z.array(z.string().min(1)).min(1), serviceAccount: ServiceAccountEmail })).min(1),
    })
    .optional(),
});

/** Detectors on by default; the others are enabled per policy (`masking.detectors`). */
export const DETECTORS = ['CREDIT_CARD'] as const;

/**
 * A sensitive column: "table.column" or "schema.table.column" (globs allowed), or a column name alone
 * ("*ssn*"), which means that name in any table and in any result, and is kept as "*.name".
 */
const MaskColumnPattern = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+){0,2}$/, {
    message: 'must be "table.column", "schema.table.column" or a column name alone (globs allowed, e.g. "customers.card_number", "*ssn*")',
  })
  .transform((p) => (p.includes('.') ? p : `*.${p}`));

/** An operator-defined detector: a regex run on V8's linear-time engine, with optional validation. */
const CustomDetector = z
  .strictObject({
    name: z.string().regex(/^[A-Z][A-Z0-9_]{1,39}$/, { message: 'must be 2-40 upper-case letters, digits or "_", starting with a letter (it is shown in placeholders like [NAME_1])' }),
    pattern: z.string().min(1).max(2000),
    flags: z.string().max(4).optional(),
    validate: z
      .strictObject({
        /** The digits of a match must pass the Luhn check. */
        luhn: z.boolean().optional(),
        /** Shannon entropy of a match, in bits per character, at least this. */
        minEntropy: z.number().min(0).max(8).optional(),
        /** The match must be the value of one of these keys (globs, any case): `name=`, `"name": "`. */
        keyNames: z.array(z.string().min(1).max(64)).min(1).optional(),
      })
      .optional(),
    /** Secrets are always fully redacted; false lets the style (last4 does not apply; hmac does). Default true. */
    secret: z.boolean().optional(),
  })
  .superRefine((d, ctx) => {
    try {
      compileCustomPattern(d.pattern, d.flags);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      ctx.addIssue({ code: 'custom', path: reason.startsWith('flags ') ? ['flags'] : ['pattern'], message: reason.startsWith('flags ') ? reason : `pattern ${JSON.stringify(d.pattern)} ${reason}` });
    }
  });

/**
 * Detectors for some calls only: by caller, tool and resource (connection, bucket or log scope name).
 * Every matching override applies; a detector one adds stays on even if another removes it (more
 * masking wins). Secrets cannot be removed.
 */
const MaskingOverride = z
  .strictObject({
    id: Name,
    description: z.string().max(1000).optional(),
    principals: Principals.optional(),
    tools: z.array(z.string()).min(1).optional(),
    resources: z.array(Glob).min(1).optional(),
    add: z.array(z.enum(DETECTOR_NAMES)).min(1).optional(),
    remove: z.array(z.enum(DETECTOR_NAMES)).min(1).optional(),
  })
  .superRefine((o, ctx) => {
    if (o.principals === undefined && o.tools === undefined && o.resources === undefined) {
      ctx.addIssue({ code: 'custom', path: ['resources'], message: 'say which calls it is for: "principals", "tools" and/or "resources" (for every call, change "masking.detectors")' });
    }
    if (o.add === undefined && o.remove === undefined) {
      ctx.addIssue({ code: 'custom', path: ['add'], message: 'give "add" and/or "remove": the detectors to turn on or off for these calls' });
    }
    (o.remove ?? []).forEach((name, i) => {
      if (SECRET_TYPES.has(name)) ctx.addIssue({ code: 'custom', path: ['remove', i], message: `"${name}" is a secret and is always masked; it cannot be removed` });
    });
  });

const Masking = z
  .strictObject({
    detectors: z.array(z.enum(DETECTOR_NAMES)).default([...DETECTORS]),
    /**
     * How found values are shown. Secrets are always numbered placeholders. `last4`: card and phone
     * numbers keep their last four digits; `redact`: numbered placeholders; `hmac`: keyed tokens like
     * `[EMAIL:hmac:3f9a1c2b4d5e]`, stable across calls (needs `hmacKey`).
     */
    style: z.enum(['last4', 'redact', 'hmac']).default('last4'),
    /** The per-deployment key for style "hmac", by reference only ("env:NAME"). */
    hmacKey: SecretRef.optional(),
    /**
     * Sensitive columns, masked whole whatever they hold: every SQL output derived from them (lineage),
     * and result columns and CSV columns by name (a name alone always; "table.column" where no lineage).
     */
    columns: z.array(MaskColumnPattern).default([]),
    /** Operator-defined detectors, always on when listed. */
    custom: z.array(CustomDetector).max(64).optional(),
    /** Who approves a query that uses a sensitive column outside its output, or cannot be resolved. */
    sensitiveUse: z.strictObject({ approverGroups: z.array(z.string().min(1)).min(1) }).optional(),
    /** Detectors added or removed for some callers, tools or resources (see MaskingOverride). */
    overrides: z.array(MaskingOverride).max(64).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.columns.length > 0 && m.sensitiveUse === undefined) {
      ctx.addIssue({ code: 'custom', path: ['sensitiveUse'], message: 'with sensitive "columns", say who approves their use in WHERE/JOIN/ORDER BY: "sensitiveUse": { "approverGroups": [...] }' });
    }
    if (m.style === 'hmac' && m.hmacKey === undefined) {
      ctx.addIssue({ code: 'custom', path: ['hmacKey'], message: 'style "hmac" needs "hmacKey": a reference like "env:AIRLOCK_MASKING_KEY" to the per-deployment key' });
    }
    if (m.style !== 'hmac' && m.hmacKey !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['hmacKey'], message: `"hmacKey" only applies to style "hmac" (this style is "${m.style}")` });
    }
    const ids = new Map<string, number>();
    (m.overrides ?? []).forEach((o, i) => {
      const first = ids.get(o.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['overrides', i, 'id'], message: `duplicate override id "${o.id}" (also overrides[${first}])` });
      else ids.set(o.id, i);
    });
    const seen = new Map<string, number>();
    (m.custom ?? []).forEach((d, i) => {
      if ((DETECTOR_NAMES as readonly string[]).includes(d.name) || d.name === 'SENSITIVE_COLUMN' || d.name === 'MASKED') {
        ctx.addIssue({ code: 'custom', path: ['custom', i, 'name'], message: `"${d.name}" is a built-in name; give the custom detector its own` });
      }
      const first = seen.get(d.name);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['custom', i, 'name'], message: `duplicate custom detector "${d.name}" (also custom[${first}])` });
      else seen.set(d.name, i);
    });
  });

export const PolicyFileSchema = z.strictObject({
  $schema: z.string().optional(),
  version: z.literal(1),
  description: z.string().max(2000).optional(),
  resources: z
    .strictObject({
      connections: z.record(Name, Connection).default({}),
      buckets: z.record(Name, Bucket).default({}),
      logScopes: z.record(Name, LogScope).default({}),
    })
    .default({ connections: {}, buckets: {}, logScopes: {} }),
  defaults: z
    .strictObject({ limits: Limits.default({}) })
    .default({ limits: {} }),
  rules: z.array(Rule),
  masking: Masking.default({ detectors: [...DETECTORS], style: 'last4', columns: [] }),
  downstream: Downstream.default({}),
});

export type PolicyFile = z.output<typeof PolicyFileSchema>;
export type PolicyRule = PolicyFile['rules'][number];
export type PolicyConnection = PolicyFile['resources']['connections'][string];
export type MaskingSettings = PolicyFile['masking'];
