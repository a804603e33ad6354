/**
 * Cloud Audit Logs payloads (`google.cloud.audit.AuditLog`) in both directions.
 *
 * Over gRPC, Cloud Logging sends `protoPayload` as a `google.protobuf.Any`: a type URL and the serialized
 * message. `@google-cloud/logging` does not decode it (its protos do not include AuditLog and its loader
 * does not expand `Any`), so `entry.data` of an audit entry read with `getEntries()` or `tailEntries()` is
 * `{ typeUrl, value: Buffer }`. {@link decodeProtoPayload} turns that into the Logging REST JSON shape
 * (`authenticationInfo.principalEmail`, `methodName`, `request`, …) for masking; {@link encodeAuditLog} is
 * the reverse, for the local Logging server.
 *
 * `@google-cloud/logging` ships no `audit_log.proto`, so the messages are declared here with the field
 * numbers of googleapis' `google/cloud/audit/audit_log.proto`; the status and attribute types come from the
 * protos that `google-gax` ships. Fields declared here are decoded; others (delegation chains, policy
 * violation details) are skipped as unknown fields, never misread.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { protobuf, serializer } from 'google-gax';

/** The type URL of an audit log payload. */
export const AUDIT_LOG_TYPE_URL = 'type.googleapis.com/google.cloud.audit.AuditLog';

const AUDIT_LOG_PROTO = `
syntax = "proto3";
package google.cloud.audit;
import "google/protobuf/any.proto";
import "google/protobuf/struct.proto";
import "google/rpc/context/attribute_context.proto";
import "google/rpc/status.proto";

message AuditLog {
  string service_name = 7;
  string method_name = 8;
  string resource_name = 11;
  ResourceLocation resource_location = 20;
  google.protobuf.Struct resource_original_state = 19;
  int64 num_response_items = 12;
  google.rpc.Status status = 2;
  AuthenticationInfo authentication_info = 3;
  repeated AuthorizationInfo authorization_info = 9;
  RequestMetadata request_metadata = 4;
  google.protobuf.Struct request = 16;
  google.protobuf.Struct response = 17;
  google.protobuf.Struct metadata = 18;
  google.protobuf.Any service_data = 15;
}

message AuthenticationInfo {
  string principal_email = 1;
  string authority_selector = 2;
  google.protobuf.Struct third_party_principal = 4;
  string service_account_key_name = 5;
  string principal_subject = 8;
}

message AuthorizationInfo {
  string resource = 1;
  string permission = 2;
  bool granted = 3;
  google.rpc.context.AttributeContext.Resource resource_attributes = 5;
}

message RequestMetadata {
  string caller_ip = 1;
  string caller_supplied_user_agent = 2;
  string caller_network = 3;
  google.rpc.context.AttributeContext.Request request_attributes = 7;
  google.rpc.context.AttributeContext.Peer destination_attributes = 8;
}

message ResourceLocation {
  repeated string current_locations = 1;
  repeated string original_locations = 2;
}
`;

let cached: { root: protobuf.Root; auditLog: protobuf.Type; any: protobuf.Type } | undefined;

function types(): NonNullable<typeof cached> {
  if (cached !== undefined) return cached;
  const require = createRequire(import.meta.url);
  const gaxProtos = join(dirname(require.resolve('google-gax')), '..', 'protos');
  const root = new protobuf.Root();
  // google/protobuf/* come bundled with protobufjs; google/rpc/* from google-gax's protos.
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(gaxProtos, target));
  root.loadSync(['google/rpc/status.proto', 'google/rpc/context/attribute_context.proto']);
  protobuf.parse(AUDIT_LOG_PROTO, root);
  root.resolveAll();
  cached = { root, auditLog: root.lookupType('google.cloud.audit.AuditLog'), any: root.lookupType('google.protobuf.Any') };
  return cached;
}

/**
 * Serializes an audit log given in the Logging REST JSON shape (an `@type` key, if present, is ignored).
 * Throws (TypeError) when a value does not fit its field; keys the message does not declare are dropped,
 * as the proto3 JSON mapping does.
 */
export function encodeAuditLog(json: Record<string, unknown>): Buffer {
  const { auditLog } = types();
  const fields = { ...json };
  delete fields['@type'];
  let message: protobuf.Message | null;
  try {
    message = serializer.fromProto3JSON(auditLog, fields as serializer.JSONObject);
  } catch (error) {
    throw new TypeError(`AuditLog: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (message === null) throw new TypeError('AuditLog: not an object');
  return Buffer.from(auditLog.encode(message).finish());
}

/** A `google.protobuf.Any` as the client's loader gives it (`typeUrl`) or as written by hand (`type_url`). */
export interface AnyPayload {
  readonly typeUrl?: string;
  readonly type_url?: string;
  readonly value?: Uint8Array | string | null;
}

/**
 * The Logging REST JSON form of an entry's `protoPayload` as `@google-cloud/logging` returns it over gRPC
 * (`entry.data` or `entry.metadata.protoPayload`): `{ '@type': AUDIT_LOG_TYPE_URL, ...fields }` for an audit
 * log. Undefined when the payload is of another type or cannot be decoded: the caller must then treat it as
 * opaque and never show its bytes.
 */
export function decodeProtoPayload(payload: AnyPayload | null | undefined): Record<string, unknown> | undefined {
  const typeUrl = payload?.typeUrl ?? payload?.type_url;
  if (typeUrl !== AUDIT_LOG_TYPE_URL || payload?.value === undefined || payload.value === null) return undefined;
  const bytes = typeof payload.value === 'string' ? Buffer.from(payload.value, 'base64') : payload.value;
  const { auditLog } = types();
  try {
    const json = serializer.toProto3JSON(auditLog.decode(bytes));
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
    return { '@type': AUDIT_LOG_TYPE_URL, ...json };
  } catch {
    return undefined;
  }
}
