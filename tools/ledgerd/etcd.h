// etcd: a small synchronous client of etcd v3 (issue 18, replication on etcd), over etcd 3.4's
// JSON gRPC-gateway on plain HTTP/1.1 (POST /v3/kv/range and the like, rpc.proto's bindings).
//
// The wire: each call is one POST with a JSON body and Content-Length, on a keep-alive TCP
// connection per endpoint (TCP_NODELAY), reused from call to call; the answer is read by its
// Content-Length or chunked. Keys and values travel as base64, int64s as JSON strings, and an
// absent field means zero, false or empty (proto3 JSON). Every wait (connect, send, receive) is a
// poll() against the call's deadline: no call blocks longer than Options::request_timeout_ms.
//
// Errors are values (ledger::Status):
// - etcd itself refused the request (an HTTP error with a gRPC error body): the Status quotes
//   etcd's message, e.g. "etcdserver: mvcc: required revision has been compacted"; gRPC's
//   InvalidArgument and OutOfRange are kInvalidArgument, NotFound kNotFound, FailedPrecondition
//   and Aborted kConflict, the rest (no leader, timed out, leader changed) kIOError. Not retried.
// - The endpoint could not be reached or did not answer: the call moves on to the next endpoint
//   (round robin) within its deadline, except a write whose request was sent (below).
// - A write (Put, a Txn with a put or a delete, DeleteRange, LeaseRevoke, Compact) whose
//   request was sent but whose answer did not come has an UNKNOWN outcome: etcd may have
//   applied it. It is not retried (a txn could apply twice, or a retried compare-and-swap fail
//   on its own first write); the call returns kIOError whose reason says "outcome unknown" and
//   outcome_unknown() is true until the next call. The caller finds out by reading etcd again
//   (e.g. the key's mod_revision). Reads, LeaseKeepAlive and LeaseGrant are retried on the next
//   endpoint (a grant whose answer was lost leaves a lease nobody holds; it expires by its TTL).
//   Status and Defragment go to the endpoint named, and to no other.
//   A request is "sent" once its last byte is accepted by the kernel: one cut short before that
//   cannot have applied (the gateway needs the whole JSON body). A kept connection is checked
//   before each request (readable between answers: closed by etcd, dropped); one that etcd closes
//   in the instant after the check makes a write unknown too: rare, and on the safe side.
// - A request whose JSON body would exceed kRequestBytesMax is refused before anything is sent.
//
// Reads are linearizable (etcd's default; no serializable flag is ever sent).
//
// Threads: a Client is used by one thread at a time (it owns its connections and the state of
// the last call); several Clients, one per thread, may be used at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/status.h"

namespace ledgerd::etcd {

// etcd's default --max-request-bytes. Refused before sending: a JSON body above it (the body is
// the protobuf's size plus base64's third and the field names, so values up to ~1.1 MiB fit).
constexpr size_t kRequestBytesMax = 1536 * 1024;
// An answer above this is refused (the connection closed): bound the memory of one call.
constexpr size_t kResponseBytesMax = 256 * 1024 * 1024;

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0;  // The revision that created the key (0: no such key).
  int64_t mod_revision = 0;     // The revision of its last change.
  int64_t version = 0;          // Changes since creation (1 on creation).
  int64_t lease = 0;            // The lease it is attached to (0: none).
};

// One comparison of a Txn: `target` of `key` compared with `value` (kValue) or `number` (the
// others). A missing key has version, create_revision and mod_revision 0.
struct Compare {
  enum class Target { kValue, kVersion, kCreateRevision, kModRevision };
  enum class Result { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kValue;
  Result result = Result::kEqual;
  std::string value;
  int64_t number = 0;
};

// One operation of a Txn. range_end "" is the key alone (PrefixEnd(key): every key with that
// prefix); limit 0 is no limit; lease applies to kPut.
struct Op {
  enum class Kind { kPut, kRange, kDeleteRange };
  Kind kind = Kind::kPut;
  std::string key, value, range_end;
  int64_t lease = 0;
  int64_t limit = 0;
};

struct TxnResult {
  bool succeeded = false;                     // The compares held: the success ops ran (else the failure ops).
  int64_t revision = 0;                       // The store's revision after the txn.
  std::vector<std::vector<KeyValue>> ranges;  // One per Range op of the branch that ran, in order.
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  bool more = false;     // There are more keys in the range than `limit` returned.
  int64_t count = 0;     // Keys in the range (all of them, not only those returned).
  int64_t revision = 0;  // The store's revision when read.
};

// One member's view (maintenance/status).
struct EndpointStatus {
  std::string version;  // etcd's, e.g. "3.4.23".
  uint64_t member_id = 0;
  uint64_t leader_id = 0;  // 0: no leader known to this member.
  int64_t db_size_bytes = 0, db_size_in_use_bytes = 0;
  uint64_t raft_index = 0, raft_term = 0, raft_applied_index = 0;
  int64_t revision = 0;
  bool is_learner = false;
  std::vector<std::string> errors;  // e.g. "NOSPACE" alarms.
};

struct Member {
  uint64_t id = 0;
  std::string name;  // Empty for a member added but not started.
  std::vector<std::string> peer_urls, client_urls;
  bool is_learner = false;
};

class Client {
 public:
  struct Options {
    // "http://127.0.0.1:2379" or "127.0.0.1:2379" (http only; "https://" is refused).
    std::vector<std::string> endpoints;
    int request_timeout_ms = 3000;  // The deadline of a whole call, failovers included.
    int connect_timeout_ms = 500;   // Of one connection attempt (within the call's deadline).
  };

  // Parses the endpoints (at least one, at most 64) and the timeouts (> 0); does not connect.
  static ledger::Status Make(Options options, std::unique_ptr<Client>* out);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Keys from `key` up to `range_end` (excluded; "" is `key` alone), at most `limit` (0: all).
  // etcd refuses an empty key ("key is not provided"): every key is key "\0", range_end "\0".
  ledger::Status Range(std::string_view key, std::string_view range_end, int64_t limit, RangeResult* out);
  // Reads at `revision` (0: the latest); a compacted revision is kInvalidArgument.
  ledger::Status RangeAt(std::string_view key, std::string_view range_end, int64_t limit, int64_t revision,
                         RangeResult* out);
  ledger::Status Put(std::string_view key, std::string_view value, int64_t lease = 0);
  // If every compare holds, the success ops, else the failure ops, as one atomic step. A write
  // unless every op (of both branches) is a Range.
  ledger::Status Txn(const std::vector<Compare>& compare, const std::vector<Op>& success,
                     const std::vector<Op>& failure, TxnResult* out);
  // `deleted` (may be null): how many keys were deleted.
  ledger::Status DeleteRange(std::string_view key, std::string_view range_end, int64_t* deleted);

  // A lease of `ttl_seconds` (etcd may raise it to its minimum): its id and the TTL granted.
  ledger::Status LeaseGrant(int64_t ttl_seconds, int64_t* id, int64_t* granted_ttl);
  // Renews the lease once. ttl_left 0: the lease is gone (expired or revoked; not an error).
  ledger::Status LeaseKeepAlive(int64_t id, int64_t* ttl_left);
  // Revokes the lease and deletes its keys; a lease that is gone is kNotFound.
  ledger::Status LeaseRevoke(int64_t id);
  // Compacts the history up to `revision` and waits until it is physically done.
  ledger::Status Compact(int64_t revision);

  // Of one of Options::endpoints (by the same spelling, or normalized), without failover.
  ledger::Status Status(std::string_view endpoint, EndpointStatus* out);
  ledger::Status Defragment(std::string_view endpoint);
  ledger::Status MemberList(std::vector<Member>* out);

  // The endpoint the next call tries first, normalized ("http://127.0.0.1:2379").
  const std::string& current_endpoint() const;
  // Whether the last call was a write sent without an answer: it may or may not have applied.
  bool outcome_unknown() const { return outcome_unknown_; }

 private:
  struct Endpoint;
  enum class Kind { kRead, kWrite };                   // A write is not sent twice (see above).
  enum class Progress { kNotSent, kSent, kAnswered };  // How far one attempt got.
  explicit Client(Options options);
  ledger::Status Call(std::string_view path, const std::string& body, Kind kind, std::string* answer);
  ledger::Status CallOne(size_t index, std::string_view path, const std::string& body, int64_t deadline_ms,
                         std::string* answer, Progress* progress);
  ledger::Status FindEndpoint(std::string_view endpoint, size_t* index) const;

  Options options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  size_t current_ = 0;
  bool outcome_unknown_ = false;
};

// The range_end of "every key with this prefix": the prefix with its last byte below 0xff
// incremented (and the rest dropped); "\0" (every key) when there is none.
std::string PrefixEnd(std::string_view prefix);

}  // namespace ledgerd::etcd
