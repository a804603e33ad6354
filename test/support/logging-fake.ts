/**
 * A local Cloud Logging server speaking the real gRPC API (google.logging.v2.LoggingServiceV2), built from
 * the protos that @google-cloud/logging ships. It keeps written entries in memory. Loopback only.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const require = createRequire(import.meta.url);

function protoRoots(): string[] {
  const loggingApi = dirname(require.resolve('@google-cloud/logging-api/package.json'));
  const gax = join(dirname(require.resolve('google-gax')), '..', '..', 'build', 'protos');
  return [join(loggingApi, 'build', 'protos'), gax];
}

type Value = { nullValue?: unknown; numberValue?: number; stringValue?: string; boolValue?: boolean; structValue?: Struct; listValue?: { values?: Value[] }; kind?: string };
type Struct = { fields?: Record<string, Value> };

/** google.protobuf.Struct → plain JSON. */
export function structToJson(struct: Struct | undefined): unknown {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(struct?.fields ?? {})) out[k] = valueToJson(v);
  return out;
}

function valueToJson(v: Value): unknown {
  switch (v.kind) {
    case 'nullValue':
      return null;
    case 'numberValue':
      return v.numberValue;
    case 'stringValue':
      return v.stringValue;
    case 'boolValue':
      return v.boolValue;
    case 'structValue':
      return structToJson(v.structValue);
    case 'listValue':
      return (v.listValue?.values ?? []).map(valueToJson);
    default:
      return undefined;
  }
}

export interface FakeEntry {
  readonly logName: string;
  readonly insertId: string;
  readonly severity: string;
  readonly labels: Record<string, string>;
  readonly timestamp: { seconds: string; nanos: number } | undefined;
  readonly resource: { type: string; labels: Record<string, string> } | undefined;
  readonly jsonPayload: unknown;
}

export interface FakeLogging {
  readonly endpoint: string;
  readonly port: number;
  readonly entries: FakeEntry[];
  /** While true, WriteLogEntries fails with UNAVAILABLE. */
  failing: boolean;
  close(): Promise<void>;
}

export async function startFakeLogging(): Promise<FakeLogging> {
  const [apiRoot, gaxRoot] = protoRoots() as [string, string];
  const definition = protoLoader.loadSync(join(apiRoot, 'google', 'logging', 'v2', 'logging.proto'), {
    includeDirs: [apiRoot, gaxRoot],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const proto = grpc.loadPackageDefinition(definition) as unknown as { google: { logging: { v2: { LoggingServiceV2: { service: grpc.ServiceDefinition } } } } };
  const server = new grpc.Server();
  const state: FakeLogging = {
    endpoint: '',
    port: 0,
    entries: [],
    failing: false,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  server.addService(proto.google.logging.v2.LoggingServiceV2.service, {
    WriteLogEntries(call: grpc.ServerUnaryCall<{ logName: string; entries: (FakeEntry & { jsonPayload?: Struct; logName: string })[]; labels: Record<string, string>; resource?: FakeEntry['resource'] }, unknown>, callback: grpc.sendUnaryData<unknown>) {
      if (state.failing) return callback({ code: grpc.status.UNAVAILABLE, details: 'fake outage' });
      for (const e of call.request.entries) {
        state.entries.push({
          logName: e.logName === '' ? call.request.logName : e.logName,
          insertId: e.insertId,
          severity: e.severity,
          labels: { ...call.request.labels, ...e.labels },
          timestamp: e.timestamp,
          resource: e.resource ?? call.request.resource,
          jsonPayload: structToJson(e.jsonPayload),
        });
      }
      return callback(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return Object.assign(state, { endpoint: `127.0.0.1:${port}`, port });
}
