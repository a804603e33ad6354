import type { AnyTool } from '../src/tool.js';
import { approvalStatus } from './approval_status.js';
import { explainPolicy } from './explain_policy.js';
import { listResources } from './list_resources.js';
import { querySql } from './query_sql.js';
import { readBucket } from './read_bucket.js';
import { tailLogs } from './tail_logs.js';
import { whoami } from './whoami.js';

/** Every governed tool airlock serves, in the order tools/list shows them. */
export const ALL_TOOLS: readonly AnyTool[] = [querySql, readBucket, tailLogs, listResources, explainPolicy, whoami, approvalStatus];
