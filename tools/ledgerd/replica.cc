#include "replica.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "benefit_ledger/format.h"

namespace ledgerd {

using ledger::Status;
namespace c = cluster;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

etcd::Op Put(std::string key, std::string value, int64_t lease = 0) {
  etcd::Op op;
  op.kind = etcd::Op::Kind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

etcd::Op Get(std::string key) {
  etcd::Op op;
  op.kind = etcd::Op::Kind::kRange;
  op.key = std::move(key);
  return op;
}

etcd::Compare CreateRevisionIs(std::string key, int64_t revision) {
  etcd::Compare cmp;
  cmp.key = std::move(key);
  cmp.target = etcd::Compare::Target::kCreateRevision;
  cmp.number = revision;
  return cmp;
}

}  // namespace

Replica::Replica(Options options, OnWriter on_writer, Log log, OnRefused refused)
    : options_(std::move(options)),
      prefix_(c::Prefix(options_.ledger_id)),
      on_writer_(std::move(on_writer)),
      log_(std::move(log)),
      on_refused_(std::move(refused)) {}

Replica::~Replica() {
  Stop();
}

Status Replica::Start() {
  etcd::Client::Options eo;
  eo.endpoints = options_.etcd_endpoints;
  eo.request_timeout_ms = options_.etcd_timeout_ms;
  Status s = etcd::Client::Make(eo, &etcd_);
  if (s.ok()) s = etcd::Client::Make(eo, &commit_etcd_);
  if (s.ok()) s = SyncHead();
  if (!s.ok()) return s;
  etcd::RangeResult head;
  if (!(s = etcd_->Range(c::HeadKey(prefix_), "", 0, &head)).ok()) {
    return Status::IOError(fmt::format("etcd at {}: {}", fmt::join(options_.etcd_endpoints, ","), s.ToString()));
  }
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Replica::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ || !thread_.joinable()) return;
    stop_ = true;
    wake_.notify_all();
  }
  thread_.join();
  if (writable_.exchange(false)) {
    (void)etcd_->LeaseRevoke(lease_);  // The next leader need not wait for the lease to lapse.
    log_("info", "replica_resigned", fmt::format("\"term\":{}", term_.load()));
  }
  if (!refused_) Record("stopped");  // A refused member's record keeps saying why.
}

void Replica::Sleep(int ms) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stop_; });
}

// The control loop: a follower follows and campaigns, the leader renews its lease, re-reads
// etcd after a failed commit and deletes applied groups; both record where they are.
void Replica::Run() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    Status s = writable_ ? LeaderTick() : FollowerTick();
    if (s.code() == Status::Code::kCorruption) return Refuse(s);
    if (!s.ok() && s.ToString() != last_warning_) {
      last_warning_ = s.ToString();
      log_("warn", "replica_retrying", fmt::format("\"reason\":{}", ledger::JsonString(last_warning_)));
    }
    if (s.ok()) last_warning_.clear();
    if (NowMs() >= next_record_ms_) {
      next_record_ms_ = NowMs() + 1000;
      if (writable_) (void)SyncHead();
      Record(writable_ ? "leader" : "follower");
    }
    Sleep(options_.poll_ms);
  }
}

Status Replica::FollowerTick() {
  Status s = CatchUp();
  if (!s.ok()) return s;
  etcd::RangeResult leader;
  if (!(s = etcd_->Range(c::LeaderKey(prefix_), "", 0, &leader)).ok()) return s;
  {
    std::lock_guard lock(mu_);
    hint_ = leader.kvs.empty() ? "" : leader.kvs[0].value;
  }
  return leader.kvs.empty() ? Campaign() : Status::Ok();
}

// Takes P leader on a new lease if it is free; then applies every committed group, checks the
// head and arms the committer. Losing the race is ok (the winner's key is the hint).
Status Replica::Campaign() {
  int64_t lease = 0, ttl = 0;
  Status s = etcd_->LeaseGrant(options_.lease_seconds, &lease, &ttl);
  if (!s.ok()) return s;
  etcd::TxnResult won;
  s = etcd_->Txn({CreateRevisionIs(c::LeaderKey(prefix_), 0)},
                 {Put(c::LeaderKey(prefix_), options_.node_id + " " + options_.address, lease)},
                 {Get(c::LeaderKey(prefix_))}, &won);
  if (!s.ok() || !won.succeeded) {
    (void)etcd_->LeaseRevoke(lease);
    return s;
  }
  term_ = won.revision;  // The leader key's create_revision.
  lease_ = lease;
  lease_ms_ = ttl * 1000;  // etcd may raise the TTL asked to its minimum.
  {
    std::lock_guard lock(mu_);
    hint_ = options_.node_id + " " + options_.address;
  }
  last_renewed_ms_ = NowMs();
  next_keepalive_ms_ = last_renewed_ms_ + lease_ms_ / 3;
  log_("info", "replica_campaign_won",
       fmt::format("\"term\":{},\"applied_seq\":{}", term_.load(), applied_seq_.load()));
  next_head_check_ms_ = 0;
  s = CatchUp();  // With the head compared (and seeded if there is none).
  if (s.ok()) s = ArmCommitter();
  if (!s.ok()) {
    StepDown("could not take over: " + s.ToString());
    return s;
  }
  log_("info", "replica_leading", fmt::format("\"term\":{},\"head_seq\":{}", term_.load(), applied_seq_.load()));
  Record("leader");
  return Status::Ok();
}

Status Replica::ArmCommitter() {
  const int64_t term = term_;
  Status s = on_writer_([this, term](ledger::Ledger& l) {
    l.SetGroupCommitter([this, term](const ledger::GroupEntries& g) { return Commit(term, g); });
    return Status::Ok();
  });
  if (s.ok()) writable_ = true;
  return s;
}

Status Replica::LeaderTick() {
  bool lost = false;
  Status s = KeepAlive(&lost);
  if (lost) {
    StepDown(s.ok() ? "its lease lapsed" : s.ToString());
    return Status::Ok();
  }
  if (commit_failed_.exchange(false)) {
    // A commit failed or its outcome is unknown: take no writes until etcd is read again (a group
    // that was committed after all is applied from there), and the key is still this term's.
    writable_ = false;
    log_("warn", "replica_resync", fmt::format("\"term\":{}", term_.load()));
    etcd::RangeResult leader;
    if (s.ok()) s = etcd_->Range(c::LeaderKey(prefix_), "", 0, &leader);
    if (s.ok() && (leader.kvs.empty() || leader.kvs[0].create_revision != term_)) {
      StepDown("another node leads");
      return Status::Ok();
    }
    next_head_check_ms_ = 0;
    if (s.ok()) s = SyncHead();  // The groups committed and written since the last record.
    if (s.ok()) s = CatchUp();
    if (s.ok()) s = ArmCommitter();
    if (!s.ok()) commit_failed_ = true;  // Again at the next tick.
    return s;
  }
  if (NowMs() >= next_gc_ms_) {
    next_gc_ms_ = NowMs() + options_.gc_seconds * 1000;
    CollectGarbage();
  }
  return s;
}

// Renews the lease every third of its TTL; *lost once it is gone, or could not be renewed for
// a whole TTL (it may have lapsed: another node may lead by now).
Status Replica::KeepAlive(bool* lost) {
  *lost = false;
  if (NowMs() < next_keepalive_ms_) return Status::Ok();
  int64_t ttl_left = 0;
  Status s = etcd_->LeaseKeepAlive(lease_, &ttl_left);
  if (s.ok() && ttl_left > 0) {
    last_renewed_ms_ = NowMs();
    next_keepalive_ms_ = last_renewed_ms_ + lease_ms_ / 3;
    return s;
  }
  next_keepalive_ms_ = NowMs() + 100;
  *lost = (s.ok() && ttl_left == 0) || NowMs() - last_renewed_ms_ >= lease_ms_;
  return s;
}

// No more writes here: queued groups meet a committer that refuses them (the cluster did not
// commit them; their callers hear so and retry on the new leader).
void Replica::StepDown(const std::string& why) {
  writable_ = false;
  std::string refusal =
      fmt::format("not committed: node {} no longer leads ledger {} ({})", options_.node_id, options_.ledger_id, why);
  (void)on_writer_([refusal](ledger::Ledger& l) {
    l.SetGroupCommitter([refusal](const ledger::GroupEntries&) { return Status::Busy(refusal); });
    return Status::Ok();
  });
  (void)etcd_->LeaseRevoke(lease_);
  (void)SyncHead();  // What it wrote as leader since its last record: a follower applies after it.
  log_("warn", "replica_stepped_down", fmt::format("\"term\":{},\"reason\":{}", term_.load(), ledger::JsonString(why)));
  term_ = 0;
  std::lock_guard lock(mu_);
  hint_.clear();
}

// The compares of every commit: P leader is this term's and P head is the group's base.
std::vector<etcd::Compare> Replica::Fence(int64_t term, uint64_t seq, const ledger::Hash& hash) const {
  etcd::Compare head;
  head.key = c::HeadKey(prefix_);
  head.target = etcd::Compare::Target::kValue;
  head.value = c::HeadText(seq, hash);
  return {CreateRevisionIs(c::LeaderKey(prefix_), term), head};
}

Status Replica::Commit(int64_t term, const ledger::GroupEntries& g) {
  const uint64_t last = g.first_seq + g.entries.size() - 1;
  std::string bytes = c::EncodeGroup(g);
  auto fence = Fence(term, g.first_seq - 1, g.prev_hash);
  std::string value = bytes;
  if (bytes.size() > c::kInlineGroupBytesMax) {  // Chunks first, each fenced; then the manifest.
    auto chunks = c::Chunks(bytes);
    for (size_t k = 0; k < chunks.size(); ++k) {
      etcd::TxnResult put;
      Status s =
          commit_etcd_->Txn(fence, {Put(c::ChunkKey(prefix_, g.first_seq, term, k), std::string(chunks[k]))}, {}, &put);
      if (!s.ok() || !put.succeeded) {
        commit_failed_ = true;
        return s.ok() ? Status::Busy("not committed: the leadership or the head changed") : s;
      }
    }
    value =
        c::EncodeManifest({g.first_seq, term, static_cast<uint32_t>(chunks.size()), bytes.size(), c::Sha256(bytes)});
    log_("info", "replica_chunked",
         fmt::format("\"first_seq\":{},\"entries\":{},\"bytes\":{},\"chunks\":{}", g.first_seq, g.entries.size(),
                     bytes.size(), chunks.size()));
  }
  etcd::TxnResult r;
  Status s = commit_etcd_->Txn(
      fence, {Put(c::GroupKey(prefix_, g.first_seq), value), Put(c::HeadKey(prefix_), c::HeadText(last, g.last_hash))},
      {Get(c::LeaderKey(prefix_)), Get(c::HeadKey(prefix_))}, &r);
  if (s.ok() && r.succeeded) {
    cluster_seq_ = last;
    return s;
  }
  commit_failed_ = true;
  wake_.notify_all();
  if (!s.ok()) return Status::IOError("the cluster's commit failed: " + s.ToString());
  const bool leads = r.ranges.size() == 2 && !r.ranges[0].empty() && r.ranges[0][0].create_revision == term;
  std::string head = r.ranges.size() == 2 && !r.ranges[1].empty() ? r.ranges[1][0].value : "none";
  return Status::Busy(leads ? fmt::format("not committed: the cluster's head is {}, not seq {}", head, g.first_seq - 1)
                            : fmt::format("not committed: node {} no longer leads (term {})", options_.node_id, term));
}

// Applies the groups after this copy's head, in order, until etcd has no more. A follower
// compares its head with etcd's once a second; a campaigning or resyncing leader every time.
Status Replica::CatchUp() {
  for (;;) {
    etcd::RangeResult groups;
    Status s =
        etcd_->Range(c::GroupKey(prefix_, applied_seq_ + 1), etcd::PrefixEnd(c::GroupsPrefix(prefix_)), 16, &groups);
    if (!s.ok()) return s;
    if (groups.kvs.empty()) {
      if (NowMs() < next_head_check_ms_ && term_ == 0) return Status::Ok();
      next_head_check_ms_ = NowMs() + 1000;
      bool behind = false;
      if (!(s = CheckHead(&behind)).ok() || !behind) return s;
      continue;  // Committed between the two reads.
    }
    for (const auto& kv : groups.kvs) {
      if (!(s = ApplyGroup(kv)).ok()) return s;
      bool lost = false;
      if (term_ != 0 && !(s = KeepAlive(&lost)).ok() && lost) return s;  // Campaigning: keep the lease.
    }
  }
}

Status Replica::ApplyGroup(const etcd::KeyValue& kv) {
  const uint64_t next = applied_seq_ + 1;
  const uint64_t seq = c::GroupKeySeq(prefix_, kv.key);
  if (seq != next) {
    return Status::Corruption(
        fmt::format("this copy needs the group from seq {}, and etcd holds groups from seq {} "
                    "on: it fell behind what etcd keeps; copy a member's ledger directory",
                    next, seq));
  }
  ledger::GroupEntries group;
  Status s = ReadGroup(kv, &group);
  if (s.ok()) s = on_writer_([&group](ledger::Ledger& l) { return l.ApplyEntries(group); });
  if (!s.ok()) return s;
  applied_seq_ = group.first_seq + group.entries.size() - 1;
  cluster_seq_ = std::max(cluster_seq_.load(), applied_seq_.load());
  std::lock_guard lock(mu_);
  applied_hash_ = group.last_hash;
  return Status::Ok();
}

Status Replica::ReadGroup(const etcd::KeyValue& kv, ledger::GroupEntries* group) {
  if (!c::IsManifest(kv.value)) return c::DecodeGroup(kv.value, group);
  c::Manifest m;
  Status s = c::DecodeManifest(kv.value, &m);
  if (!s.ok()) return s;
  std::string prefix = c::ChunkPrefix(prefix_, m.first_seq, m.term);
  etcd::RangeResult chunks;
  if (!(s = etcd_->Range(prefix, etcd::PrefixEnd(prefix), 0, &chunks)).ok()) return s;
  std::string bytes;
  for (const auto& chunk : chunks.kvs) bytes += chunk.value;
  if (chunks.kvs.size() != m.chunks || bytes.size() != m.bytes || c::Sha256(bytes) != m.sha256) {
    return Status::Corruption(
        fmt::format("the group of seq {}: its {} chunks in etcd do not make the group its "
                    "manifest names",
                    m.first_seq, chunks.kvs.size()));
  }
  return c::DecodeGroup(bytes, group);
}

ledger::Hash Replica::Applied() const {
  std::lock_guard lock(mu_);
  return applied_hash_;
}

// This copy's head against P head: the same entry at the same seq, or behind it with the group
// after it still in etcd (*behind: apply it). A head ahead of the cluster's or another hash at
// the same seq is not a copy of this cluster's ledger, and a copy behind the groups etcd still
// holds cannot catch up from it: both Corruption. The first leader of a cluster seeds P head.
Status Replica::CheckHead(bool* behind) {
  *behind = false;
  etcd::RangeResult head;
  Status s = etcd_->Range(c::HeadKey(prefix_), "", 0, &head);
  if (!s.ok()) return s;
  const uint64_t applied = applied_seq_;
  const std::string mine = c::HeadText(applied, Applied());
  if (head.kvs.empty()) {
    if (term_ == 0) return Status::Ok();  // A follower waits for a leader to seed it.
    etcd::TxnResult seeded;
    s = etcd_->Txn({CreateRevisionIs(c::HeadKey(prefix_), 0), CreateRevisionIs(c::LeaderKey(prefix_), term_)},
                   {Put(c::HeadKey(prefix_), mine)}, {}, &seeded);
    if (s.ok() && seeded.succeeded) log_("info", "replica_seeded", fmt::format("\"head\":\"{}\"", mine));
    return s.ok() && !seeded.succeeded ? Status::IOError("the cluster's head was seeded meanwhile") : s;
  }
  uint64_t seq = 0;
  ledger::Hash hash{};
  if (!c::ParseHead(head.kvs[0].value, &seq, &hash)) {
    return Status::Corruption(fmt::format("etcd's {} is not a head: \"{}\"", c::HeadKey(prefix_), head.kvs[0].value));
  }
  cluster_seq_ = seq;
  if (seq < applied || (seq == applied && hash != Applied())) {
    return Status::Corruption(
        fmt::format("this copy's head (seq {}) is not on the cluster's ({}): not a copy of "
                    "ledger {} as the cluster has it",
                    mine, head.kvs[0].value, options_.ledger_id));
  }
  if (seq == applied) return Status::Ok();
  etcd::RangeResult next;
  if (!(s = etcd_->Range(c::GroupKey(prefix_, applied + 1), "", 0, &next)).ok()) return s;
  if (next.kvs.empty()) {
    return Status::Corruption(
        fmt::format("this copy is at seq {}, the cluster at seq {}, and etcd no longer holds "
                    "the group after seq {}: copy a member's ledger directory to catch up",
                    applied, seq, applied));
  }
  *behind = true;
  return Status::Ok();
}

// Deletes the groups (and chunks) every member has applied, then compacts etcd's history.
void Replica::CollectGarbage() {
  etcd::RangeResult members;
  std::string p = c::MembersPrefix(prefix_);
  if (!etcd_->Range(p, etcd::PrefixEnd(p), 0, &members).ok() || members.kvs.empty()) return;
  uint64_t applied = applied_seq_;
  for (const auto& kv : members.kvs) applied = std::min(applied, c::DecodeMember(kv.value).applied_seq);
  if (applied <= collected_to_) return;
  int64_t deleted = 0;
  std::string end = c::GroupKey(prefix_, applied + 1);
  if (!etcd_->DeleteRange(c::GroupsPrefix(prefix_), end, &deleted).ok()) return;
  (void)etcd_->DeleteRange(c::ChunksPrefix(prefix_), c::ChunksPrefix(prefix_) + fmt::format("{:020}", applied + 1),
                           nullptr);
  collected_to_ = applied;
  etcd::RangeResult now;
  if (etcd_->Range(c::HeadKey(prefix_), "", 0, &now).ok()) (void)etcd_->Compact(now.revision);
  log_("info", "replica_collected", fmt::format("\"through_seq\":{},\"groups\":{}", applied, deleted));
}

Status Replica::SyncHead() {
  uint64_t seq = 0;
  ledger::Hash hash{};
  Status s = on_writer_([&](ledger::Ledger& l) {
    seq = l.head_seq();
    hash = l.head_hash();
    return Status::Ok();
  });
  if (!s.ok()) return s;
  applied_seq_ = seq;
  std::lock_guard lock(mu_);
  applied_hash_ = hash;
  return s;
}

namespace {

// The member record (cluster_layout.h) of the node `options` describes.
Status PutMember(etcd::Client* etcd, const Replica::Options& options, const std::string& role, uint64_t applied_seq,
                 const std::string& applied_hash_hex, const std::string& error) {
  c::MemberRecord m;
  m.node = options.node_id;
  m.address = options.address;
  m.role = role;
  m.applied_seq = applied_seq;
  m.applied_hash = applied_hash_hex;
  m.error = error;
  m.updated_unix_ms = UnixMs();
  return etcd->Put(c::MemberKey(c::Prefix(options.ledger_id), options.node_id), c::EncodeMember(m));
}

}  // namespace

void Replica::Record(const std::string& role, const std::string& error) {
  std::string hash;
  {
    std::lock_guard lock(mu_);
    hash = c::HashHex(applied_hash_);
  }
  Status s = PutMember(etcd_.get(), options_, role, applied_seq_, hash, error);
  if (!s.ok()) log_("warn", "replica_record_failed", fmt::format("\"reason\":{}", ledger::JsonString(s.ToString())));
}

Status Replica::RecordRefused(const Options& options, uint64_t applied_seq, const Status& why) {
  etcd::Client::Options eo;
  eo.endpoints = options.etcd_endpoints;
  eo.request_timeout_ms = options.etcd_timeout_ms;
  std::unique_ptr<etcd::Client> client;
  Status s = etcd::Client::Make(eo, &client);
  return s.ok() ? PutMember(client.get(), options, "refused", applied_seq, "", why.ToString()) : s;
}

void Replica::Refuse(const Status& why) {
  writable_ = false;
  refused_ = true;
  log_("error", "replica_refused", fmt::format("\"reason\":{}", ledger::JsonString(why.ToString())));
  Record("refused", why.ToString());
  if (term_ != 0) (void)etcd_->LeaseRevoke(lease_);
  on_refused_(why);
}

Status Replica::MayWrite() const {
  if (writable_) return Status::Ok();
  std::lock_guard lock(mu_);
  size_t space = hint_.find(' ');
  std::string leader = space == std::string::npos
                           ? "no node leads it yet (try again shortly)"
                           : fmt::format("node {} leads it, at {}", hint_.substr(0, space), hint_.substr(space + 1));
  return Status::Busy(fmt::format("not the leader: this node ({}) follows ledger {}; {}", options_.node_id,
                                  options_.ledger_id, leader));
}

std::string Replica::Describe() const {
  if (writable_) return fmt::format("leader of ledger {} (node {})", options_.ledger_id, options_.node_id);
  std::lock_guard lock(mu_);
  uint64_t applied = applied_seq_, cluster = cluster_seq_;
  return fmt::format("follower (node {}) of ledger {}{}, applied seq {}, {} entries behind the cluster's head",
                     options_.node_id, options_.ledger_id, hint_.empty() ? "" : ", led by node " + hint_, applied,
                     cluster > applied ? cluster - applied : 0);
}

}  // namespace ledgerd
