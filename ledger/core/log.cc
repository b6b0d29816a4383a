#include "ledger/core/log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>
#include <unordered_map>

#include "ledger/core/entry.h"
#include "ledger/core/log_tree.h"
#include "ledger/util/assert.h"
#include "ledger/util/formats.h"

namespace ledger {
namespace {

namespace fs = std::filesystem;
using schema::Event;

std::string SecretPath(const std::string& dir) {
  return dir + "/secret";
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status WriteSecretFile(const std::string& path) {
  std::string secret(kSecretBytes, '\0');
  if (!RandomBytes({reinterpret_cast<uint8_t*>(secret.data()), secret.size()})) {
    return Status::IOError("cannot get random bytes for the ledger secret");
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return Status::IOError(fmt::format("creating {}: {}", path, strerror(errno)));
  bool ok = ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size()) && ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  return ok ? Status::Ok() : Status::IOError(fmt::format("writing {}: {}", path, strerror(saved)));
}

Status ReadSecretFile(const std::string& path, std::string* secret) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status::IOError(fmt::format("reading {}: {}", path, strerror(errno)));
  secret->assign(kSecretBytes + 1, '\0');
  ssize_t n = ::read(fd, secret->data(), secret->size());
  ::close(fd);
  if (n != static_cast<ssize_t>(kSecretBytes)) {
    return Status::Corruption(fmt::format("{} is not a {}-byte ledger secret", path, kSecretBytes));
  }
  secret->resize(kSecretBytes);
  return Status::Ok();
}

// An event id already in the ledger (or in a group not yet written) is "exists" if the event
// is the same, compared as canonical bytes after numbers are protected; else a conflict. Only a
// repeated id pays for this.
Status SameEvent(schema::Event::Reader event, uint64_t seq, std::string_view entry_bytes) {
  EntryReader stored;
  Status s = stored.Init(entry_bytes);
  if (!s.ok()) {
    return Status::Corruption(
        fmt::format("seq {}, the entry of event id \"{}\": {}", seq, event.getEventId().cStr(), s.reason()));
  }
  if (CanonicalEvent(event) == CanonicalEvent(stored.entry().getEvent())) return Status::Ok();
  return Status::Conflict("eventId", fmt::format("\"{}\" is already used by seq {} with different content",
                                                 event.getEventId().cStr(), seq));
}

}  // namespace

// One group of appended events (or of rebuilt entries) on its way into the database: what its
// events wrote, which its later events must see, and the batch that writes it. `previous` is the
// group still being written when this one is built (SubmitGroup): its writes are seen too.
struct Log::Group : StateSource {
  const Group* previous = nullptr;
  HeadValue head;  // Head of the log including this group's entries so far.
  std::unordered_map<std::string, HouseholdHead> households;
  struct PendingId {
    EventIdValue value;
    std::string household;
    std::string entry_bytes;  // Set for events of this group (not yet readable from the log).
  };
  std::unordered_map<std::string, PendingId> event_ids;
  StateRecords state;  // State records written by this group's events.
  // The committed state in memory (state_cache.h): what no group in flight wrote is read there,
  // then, if the cache does not know it, from the database. Nothing else writes the database
  // while a group is built (one writer; the groups' own writes are in `state`), so what is read
  // from the database is committed and goes into the cache.
  StateCache* cache = nullptr;
  rocksdb::WriteBatch batch;
  bool to_write = false;    // The batch is complete and to be written (SubmitGroup).
  bool ledger_own = false;  // May hold the ledger's own kinds (genesis.h): AppendOwnEvent's group.
  uint64_t state_seq = 0;   // The state cursor (meta state_seq) the batch writes, if to_write.
  const Store* store = nullptr;
  // With a committer (SetGroupCommitter): the group's entries as staged, for it.
  bool collect_entries = false;
  GroupEntries entries;

  Status EventIdOf(const std::string& id, bool* found, PendingId* out) const;
  Status HouseholdHeadOf(const std::string& id, HouseholdHead* out) const;
  // The state the rules read: this group's writes, the previous group's, the cache, then the database.
  Status Get(const std::string& key, std::string* value, bool* found) override {
    for (const Group* g = this; g != nullptr; g = g->previous) {
      if (auto it = g->state.find(key); it != g->state.end()) {
        *value = it->second;
        *found = true;
        return Status::Ok();
      }
    }
    switch (cache->Lookup(key, value)) {
      case StateCache::Answer::kFound: *found = true; return Status::Ok();
      case StateCache::Answer::kAbsent: *found = false; return Status::Ok();
      case StateCache::Answer::kUnknown: break;
    }
    // A read error fails the event (StateTxn::status) and is not cached: the next event reads again.
    Status s = store->Get(kState, key, value, found);
    if (!s.ok()) return s;
    cache->Fill(key, *found ? std::optional<std::string>(*value) : std::nullopt);
    return Status::Ok();
  }
};

Status Log::Group::EventIdOf(const std::string& id, bool* found, PendingId* out) const {
  for (const Group* g = this; g != nullptr; g = g->previous) {
    if (auto it = g->event_ids.find(id); it != g->event_ids.end()) {
      *found = true;
      *out = it->second;
      return Status::Ok();
    }
  }
  std::string value;
  Status s = store->Get(kEventId, id, &value, found);
  if (!s.ok() || !*found) return s;
  auto decoded = EventIdValue::Decode(value);
  if (!decoded) return Status::Corruption(fmt::format("event id index entry for {} is malformed", id));
  out->value = *decoded;
  std::string bytes;
  bool entry_found = false;
  s = store->Get(kLog, SeqKey(decoded->seq), &bytes, &entry_found);
  if (!s.ok()) return s;
  EntryReader reader;
  if (!entry_found || !(s = reader.Init(bytes)).ok()) {
    return Status::Corruption(fmt::format("event id {} points at seq {}, which does not read", id, decoded->seq));
  }
  out->household = reader.entry().getEvent().getHouseholdId().cStr();
  out->entry_bytes = std::move(bytes);
  return Status::Ok();
}

Status Log::Group::HouseholdHeadOf(const std::string& id, HouseholdHead* out) const {
  for (const Group* g = this; g != nullptr; g = g->previous) {
    if (auto it = g->households.find(id); it != g->households.end()) {
      *out = it->second;
      return Status::Ok();
    }
  }
  std::string value;
  bool found = false;
  Status s = store->Get(kHouseholdHead, id, &value, &found);
  if (!s.ok()) return s;
  *out = HouseholdHead{};
  if (!found) return Status::Ok();
  auto decoded = HouseholdHead::Decode(value);
  if (!decoded) return Status::Corruption(fmt::format("household head of {} is malformed", id));
  *out = *decoded;
  return Status::Ok();
}

Log::Log() = default;

std::string Log::DbPath(const std::string& dir) {
  return dir + "/db";
}

// A group still being written is waited for (and reported) before the database closes.
Log::~Log() {
  FlushGroups();
  if (!secondary_dir_.empty()) {
    store_.reset();
    std::error_code ec;
    fs::remove_all(secondary_dir_, ec);  // Best effort: a left temporary directory harms nothing.
  }
}

Status Log::Create(const StateMachine& machine, const std::string& dir, Policy policy,
                   const note::Verifier* checkpoint_key) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return Status::Invalid("dir", fmt::format("{} exists and is not empty", dir));
  }
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError(fmt::format("creating {}: {}", dir, ec.message()));
  Status s = WriteSecretFile(SecretPath(dir));
  if (!s.ok()) return s;
  std::unique_ptr<Store> store;
  s = Store::Open(DbPath(dir), /*create=*/true, &store);
  if (!s.ok()) return s;
  rocksdb::WriteBatch batch;
  batch.Put(store->cf(kMeta), std::string(kMetaFormat), std::string(kFormatVersion));
  batch.Put(store->cf(kMeta), std::string(kMetaHead), HeadValue{}.Encode());
  batch.Put(store->cf(kMeta), std::string(kMetaPolicy), PolicyName(policy));
  batch.Put(store->cf(kMeta), std::string(kMetaStateSeq), SeqKey(0));
  batch.Put(store->cf(kMeta), std::string(kMetaTreeSize), SeqKey(0));
  if (checkpoint_key) {
    batch.Put(store->cf(kMeta), std::string(kMetaOrigin), checkpoint_key->name);
    batch.Put(store->cf(kMeta), std::string(kMetaCheckpointKey), note::FormatVerifierKey(*checkpoint_key));
  }
  if (!(s = store->WriteSynced(&batch)).ok()) return s;
  store.reset();
  // The genesis is appended like any entry (tree, indexes); a crash before it leaves an empty
  // ledger without one, which Open refuses to append to and Upgrade completes.
  std::unique_ptr<Log> ledger;
  if (!(s = Open(machine, dir, &ledger)).ok()) return s;
  AppendResult result;
  return ledger->AppendGenesis(&result);
}

Status Log::Open(const StateMachine& machine, const std::string& dir, std::unique_ptr<Log>* out) {
  return OpenAs(machine, dir, /*read_only=*/false, out);
}

Status Log::OpenReadOnly(const StateMachine& machine, const std::string& dir, std::unique_ptr<Log>* out) {
  return OpenAs(machine, dir, /*read_only=*/true, out);
}

Status Log::OpenAs(const StateMachine& machine, const std::string& dir, bool read_only, std::unique_ptr<Log>* out) {
  std::error_code ec;
  if (!fs::exists(DbPath(dir), ec)) {
    return Status::NotFound(fmt::format("no ledger at {} (make one with: Ledger::Create)", dir));
  }
  auto ledger = std::unique_ptr<Log>(new Log());
  Status s = ReadSecretFile(SecretPath(dir), &ledger->secret_);
  if (!s.ok()) return s;
  if (read_only) {
    // The secondary instance's own files (its info log): a directory of its own, removed on close.
    std::string pattern = (fs::temp_directory_path(ec) / "benefit-ledger-reader-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return Status::IOError(fmt::format("making {}: {}", pattern, strerror(errno)));
    }
    ledger->secondary_dir_ = pattern;
    s = Store::OpenSecondary(DbPath(dir), ledger->secondary_dir_, &ledger->store_);
  } else {
    s = Store::Open(DbPath(dir), /*create=*/false, &ledger->store_);
  }
  if (!s.ok()) return s;
  if (!(s = ledger->Attach(machine, dir)).ok()) return s;
  *out = std::move(ledger);
  return Status::Ok();
}

Status Log::SnapshotView(std::unique_ptr<Log>* out) const {
  auto view = std::unique_ptr<Log>(new Log());
  view->secret_ = secret_;  // Fixed at open; nothing else of this object is read.
  view->store_ = store_->SnapshotView();
  Status s = view->Attach(*machine_, dir_);
  if (s.ok()) *out = std::move(view);
  return s;
}

// What Open reads of an open store: the format, head, policy, identity and state cursor. On a
// read-only store it writes nothing (a ledger without its stored tree gets it at its next
// writing open) and refuses appends.
Status Log::Attach(const StateMachine& machine, const std::string& dir) {
  machine_ = &machine;
  dir_ = dir;
  std::string value;
  bool found = false;
  Status s = store_->Get(kMeta, kMetaFormat, &value, &found);
  if (!s.ok()) return s;
  if (found && value == kFormatVersion1) {
    return Status::Busy(
        fmt::format("{} is a {} ledger: upgrade it first with Ledger::Upgrade (its indexes "
                    "are rewritten, its log is not)",
                    dir, value));
  }
  if (!found || value != kFormatVersion) {
    return Status::Corruption(fmt::format("{} is not a {} ledger (format: \"{}\")", dir, kFormatVersion, value));
  }
  s = store_->Get(kMeta, kMetaHead, &value, &found);
  if (!s.ok()) return s;
  auto head = found ? HeadValue::Decode(value) : std::nullopt;
  if (!head) return Status::Corruption("the ledger's head record is missing or malformed");
  head_ = *head;
  s = store_->Get(kMeta, kMetaPolicy, &value, &found);
  if (!s.ok()) return s;
  if (!found || !ParsePolicy(value, &policy_)) {
    return Status::Corruption(fmt::format("the ledger's policy record is missing or unknown (\"{}\")", value));
  }
  running_.policy = policy_;
  running_.secret_check = SecretCheck(AsBytes(secret_));
  if (!(s = store_->Get(kMeta, kMetaOrigin, &running_.origin, &found)).ok()) return s;
  if (!(s = store_->Get(kMeta, kMetaCheckpointKey, &running_.checkpoint_key, &found)).ok()) return s;
  if (store_->read_only()) {
    write_error_ = Status::Busy("this handle on the ledger is read-only (a snapshot or a secondary instance)");
  } else {
    // A ledger made before the Merkle tree was stored (no meta tree_size) gets it built from its
    // log here, once, in synced batches: a format upgrade within benefit-ledger/1. A tree that
    // cannot be built (a damaged log) blocks appends but not reading or verifying.
    if (!(s = CatchUpLogTree(store_.get(), head_.seq)).ok()) {
      if (s.code() == Status::Code::kIOError) return s;
      write_error_ = s;
    }
    tree_reader_ = std::make_unique<LogTree>(*store_);
    tree_ = std::make_unique<merkle::Appender>(tree_reader_.get(), head_.seq);
  }
  s = store_->Get(kMeta, kMetaStateSeq, &value, &found);
  if (!s.ok()) return s;
  auto state_seq = found ? ParseSeqKey(value) : std::nullopt;
  state_seq_ = state_seq.value_or(0);
  if (write_error_.ok() && (!state_seq || *state_seq != head_.seq)) {
    // Appending needs the state; reading and verifying do not.
    write_error_ = Status::Busy("the domain state is behind the log (an interrupted rebuild?): run Ledger::Rebuild");
  }
  return CheckIdentity();
}

Status Log::CheckIdentity() {
  logged_ = LogIdentity{};
  identity_error_ = Status::Ok();
  std::string event_id(kGenesisEventId);
  for (uint64_t n = 0;; ++n) {
    uint64_t seq = 0;
    std::string bytes;
    Status s = ReadEvent(event_id, &seq, &bytes);
    if (s.code() == Status::Code::kNotFound) break;
    EntryReader reader;
    if (s.ok()) s = reader.Init(bytes);
    if (s.ok()) s = CatchEntryDecodeErrors([&] { return logged_.Add(seq, reader.entry().getEvent()); });
    if (s.code() == Status::Code::kIOError) return s;
    if (!s.ok()) {
      identity_error_ =
          Status::Corruption(fmt::format("seq {}: {}: appends refused (run Ledger::Verify)", seq, s.reason()));
      return Status::Ok();
    }
    event_id = fmt::format("{}{}", kCheckpointKeyEventIdPrefix, n + 1);
  }
  if (!logged_.has_genesis()) {
    identity_error_ = Status::Busy(
        "the ledger has no genesis entry recording its policy, checkpoint key and keyed-hash secret (it was made "
        "by an older version, or its init was cut short): add it with Ledger::Upgrade");
    return Status::Ok();
  }
  std::string mismatch = IdentityMismatch(logged_.identity(), logged_.genesis_seq(), running_);
  if (!mismatch.empty()) identity_error_ = Status::Corruption(mismatch + ". Appends refused");
  return Status::Ok();
}

Status Log::AppendGenesis(AppendResult* result) {
  if (logged_.has_genesis()) return Status::Conflict("", "the ledger has its genesis entry already");
  capnp::MallocMessageBuilder message;
  BuildGenesis(running_, TodayUtc(), &message);
  Status s = AppendOwnEvent(&message, {}, result);
  return s.ok() ? CheckIdentity() : s;
}

Status Log::SetCheckpointKey(const note::Verifier& key, std::string_view reason) {
  if (!identity_error_.ok()) return identity_error_;
  if (!running_.checkpoint_key.empty()) {
    return Status::Conflict(
        "key", fmt::format("the ledger already has the checkpoint key {}: it is set once", running_.checkpoint_key));
  }
  capnp::MallocMessageBuilder message;
  std::string key_text = note::FormatVerifierKey(key);
  BuildCheckpointKeySet(logged_.key_sets() + 1, key.name, key_text, reason, TodayUtc(), &message);
  AppendResult result;
  Status s = AppendOwnEvent(
      &message, {{std::string(kMetaOrigin), key.name}, {std::string(kMetaCheckpointKey), key_text}}, &result);
  if (!s.ok()) return s;
  running_.origin = key.name;
  running_.checkpoint_key = key_text;
  return CheckIdentity();
}

// Like AppendGroup with one event, which may be a ledger-own kind, and `meta` rows in its batch.
Status Log::AppendOwnEvent(capnp::MessageBuilder* message, const std::vector<std::pair<std::string, std::string>>& meta,
                           AppendResult* result) {
  if (Status s = FlushGroups(); !s.ok()) return s;
  if (!write_error_.ok()) return write_error_;
  if (committer_) {
    return Status::Busy("the ledger's own entries are not replicated: set its checkpoint key before the cluster");
  }
  PrimeStateCache();
  Group group;
  group.store = store_.get();
  group.cache = &state_cache_;
  group.head = head_;
  group.ledger_own = true;
  std::vector<AppendResult> results;
  capnp::MessageBuilder* events[] = {message};
  Status s = Prepare(events, {}, GroupMode::kAllOrNothing, &group, &results);
  if (!s.ok()) return s;
  *result = results.front();
  if (result->outcome != AppendResult::Outcome::kCreated) {
    return result->error.ok() ? Status::Conflict("", "the ledger's own event is there already") : result->error;
  }
  for (const auto& [key, value] : meta) group.batch.Put(store_->cf(kMeta), key, value);
  if (!(s = store_->WriteSynced(&group.batch)).ok()) {
    write_error_ = Status::IOError("an earlier write failed; reopen the ledger: " + s.ToString());
    state_cache_.Forget();
    return s;
  }
  state_cache_.Commit(std::move(group.state));
  head_ = group.head;
  state_seq_ = group.state_seq;
  LEDGER_ASSERT(state_seq_ == head_.seq, "after a group the state cursor is seq {}, the head seq {}", state_seq_,
                head_.seq);
  return Status::Ok();
}

// Before the first append: the state in memory (state_cache.h). A read error leaves the cache
// partial, so the rules read through to the database, which reports the error to the event.
void Log::PrimeStateCache() {
  if (!state_cache_.primed()) (void)LoadState();
}

Status Log::LoadState() {
  if (state_cache_.primed()) return Status::Ok();
  Status s = state_cache_.Prime(*store_);
  LEDGER_ASSERT(s.ok() || !state_cache_.complete(), "a state cache that failed to load is complete");
  return s;
}

AppendResult Log::AppendOne(capnp::MessageBuilder* message, std::string_view submitted_by, Group* group) {
  AppendResult result;
  Status s = machine_->Admit(message, AsBytes(secret_));
  if (!s.ok()) {
    result.error = std::move(s);
    return result;
  }
  Event::Reader event = message->getRoot<Event>().asReader();
  if (IsLedgerOwnKind(event.which()) && !group->ledger_own) {
    result.error = Status::Invalid("", fmt::format("{} entries are written by the ledger itself (Ledger::Create, "
                                                   "SetCheckpointKey, Upgrade), never appended",
                                                   KindName(event)));
    return result;
  }
  return CheckAndStage(event, submitted_by, nullptr, group);
}

// The links of a new entry: after the group's head and the household's head.
static EntryLinks NextLinks(const HeadValue& head, const HouseholdHead& hh, int64_t now_us) {
  EntryLinks links;
  links.seq = head.seq + 1;
  links.recorded_at_us = std::max(now_us, head.recorded_at_us);
  links.prev_hash = head.hash;
  links.household_prev_seq = hh.last_seq;
  links.household_prev_hash = hh.last_hash;
  return links;
}

// Why an entry another copy wrote does not follow from this one's heads ("" if it does).
static std::string LinksMismatch(const EntryLinks& want, schema::Entry::Reader got) {
  auto same = [](capnp::Data::Reader data, const Hash& h) {
    return data.size() == h.size() && std::equal(h.begin(), h.end(), data.begin());
  };
  if (got.getSeq() != want.seq) return fmt::format("it is seq {}, the next here is {}", got.getSeq(), want.seq);
  if (!same(got.getPrevHash(), want.prev_hash)) return "its previous hash is not this copy's head";
  if (got.getRecordedAtUs() < want.recorded_at_us) return "it is recorded before the entry it follows";
  if (got.getHouseholdPrevSeq() != want.household_prev_seq ||
      !same(got.getHouseholdPrevHash(), want.household_prev_hash)) {
    return fmt::format("its household link (seq {}) is not this copy's household head (seq {})",
                       got.getHouseholdPrevSeq(), want.household_prev_seq);
  }
  return "";
}

// The checks of an append after Admit, and its staging. `given` is null for an append; for
// ApplyEntries it is the entry another copy wrote, which must come out byte for byte the same
// (its links and recorded time are taken; anything else that differs is Corruption).
AppendResult Log::CheckAndStage(Event::Reader event, std::string_view submitted_by, const Given* given, Group* group) {
  AppendResult result;
  auto fail = [&](Status s) {
    result.error = std::move(s);
    return result;
  };
  std::string event_id = event.getEventId();

  // Idempotency first, so that a retried event with an expected version is "exists".
  bool found = false;
  Group::PendingId existing;
  Status s = group->EventIdOf(event_id, &found, &existing);
  if (!s.ok()) return fail(s);
  if (found && given != nullptr) {
    return fail(Status::Invalid("eventId", fmt::format("\"{}\" is already at seq {}", event_id, existing.value.seq)));
  }
  if (found) {
    if (!(s = SameEvent(event, existing.value.seq, existing.entry_bytes)).ok()) return fail(s);
    result.outcome = AppendResult::Outcome::kExists;
    result.seq = existing.value.seq;
    return result;
  }

  std::string household = event.getHouseholdId();
  Group::PendingId target;
  if (event.isCorrection()) {
    std::string target_id = event.getCorrection().getTargetEventId();
    if (!(s = group->EventIdOf(target_id, &found, &target)).ok()) return fail(s);
    if (!found) {
      return fail(
          Status::NotFound(fmt::format("no event \"{}\" in the ledger", target_id), "correction.targetEventId"));
    }
    EntryReader target_reader;
    if (target_reader.Init(target.entry_bytes).ok() && IsLedgerOwnKind(target_reader.entry().getEvent().which())) {
      return fail(Status::Invalid("correction.targetEventId",
                                  fmt::format("\"{}\" is one of the ledger's own entries, which cannot be corrected: "
                                              "a ledger under another policy or secret is a new ledger",
                                              target_id)));
    }
    if (target.household != household) {
      return fail(Status::Invalid(
          "householdId", fmt::format("must be \"{}\", the household of the corrected event", target.household)));
    }
  }

  HouseholdHead hh;
  if (!household.empty() && !(s = group->HouseholdHeadOf(household, &hh)).ok()) return fail(s);
  if (event.getExpectedVersion().isExactly() && event.getExpectedVersion().getExactly() != hh.version) {
    return fail(Status::Conflict("expectedVersion.exactly",
                                 fmt::format("household \"{}\" has {} events, the event expects {}", household,
                                             hh.version, event.getExpectedVersion().getExactly())));
  }

  // The domain rules, against the state as this group has left it.
  EntryReader target_entry;
  bool has_target = event.isCorrection() && target_entry.Init(target.entry_bytes).ok();
  schema::Event::Reader target_event = has_target ? target_entry.entry().getEvent() : schema::Event::Reader();
  Decision decision =
      machine_->Decide(event, has_target ? &target_event : nullptr, group, /*replaying=*/false, submitted_by);
  if (!decision.refusal.ok()) return fail(decision.refusal);
  if (decision.refusing && policy_ == Policy::kEnforce) {
    const Finding first = decision.findings.at(*decision.refusing);
    result.findings = std::move(decision.findings);
    return fail(Status::Conflict(first.rule, first.message));
  }

  EntryLinks links = NextLinks(group->head, hh, given != nullptr ? 0 : NowUs());
  if (given != nullptr) {
    if (std::string why = LinksMismatch(links, given->reader->entry()); !why.empty()) {
      return fail(Status::Invalid("", why));
    }
    links.recorded_at_us = given->reader->entry().getRecordedAtUs();
  }
  StagedEntry staged{EncodeEntry(links, event, decision.findings, submitted_by), {}, links, hh};
  if (given != nullptr && staged.bytes != given->bytes) {
    return fail(Status::Invalid("", "checked here, the event gives another entry (its findings or fields differ)"));
  }
  staged.hash = LeafHash(AsBytes(staged.bytes));
  Stage(event, staged, std::move(decision.writes), group);

  result.findings = std::move(decision.findings);
  result.seq = links.seq;
  result.hash = staged.hash;
  result.outcome = AppendResult::Outcome::kCreated;
  return result;
}

// Puts an accepted entry's rows into the group's batch and its state into the group. Nothing
// here can fail, so an event is staged whole or not at all.
void Log::Stage(schema::Event::Reader event, const StagedEntry& e, std::map<std::string, std::string>&& state_writes,
                Group* group) {
  auto& batch = group->batch;
  batch.Put(store_->cf(kLog), SeqKey(e.links.seq), e.bytes);
  std::string household = event.getHouseholdId();
  if (!household.empty()) {
    batch.Put(store_->cf(kHousehold), ScopedSeqKey(household, e.links.seq), "");
    group->households[household] = {e.household_before.version + 1, e.links.seq, e.hash};
  }
  for (const auto& actor : ActorIdsOf(event)) batch.Put(store_->cf(kActor), ScopedSeqKey(actor, e.links.seq), "");
  std::string event_id = event.getEventId();
  EventIdValue id = EventIdValue::For(e.links.seq, e.hash);
  batch.Put(store_->cf(kEventId), event_id, id.Encode());
  group->event_ids[event_id] = {id, household, e.bytes};
  for (auto& [key, value] : state_writes) group->state[key] = std::move(value);  // Put once per group: PutGroupRecords.
  group->head = HeadValue{e.links.seq, e.hash, e.links.recorded_at_us};
  if (group->collect_entries) group->entries.entries.push_back(e.bytes);
}

// The group's write is a synced RocksDB write and needs no CPU while it waits on the disk, so
// the next group is checked meanwhile. Only SubmitGroup and FlushGroups touch in_flight_.
struct Log::InFlight {
  std::unique_ptr<Group> group;
  std::vector<AppendResult> results;
  GroupDone done;
  Status write;            // Set by `writer` before it ends.
  bool committed = false;  // The committer (if any) accepted the group: only then was it written.
  std::thread writer;
};

Status Log::AppendGroup(std::span<capnp::MessageBuilder* const> events, std::vector<AppendResult>* results,
                        GroupMode mode, std::span<const std::string> submitted_by) {
  Status s = SubmitGroup(
      events, mode, [results](std::vector<AppendResult>* r, const Status&) { *results = *r; }, submitted_by);
  Status written = FlushGroups();
  return s.ok() ? written : s;
}

Status Log::SubmitGroup(std::span<capnp::MessageBuilder* const> events, GroupMode mode, GroupDone done,
                        std::span<const std::string> submitted_by) {
  std::vector<AppendResult> results;
  for (const Status* refused : {&write_error_, &identity_error_, &commit_error_}) {
    if (refused->ok()) continue;
    done(&results, *refused);
    return *refused;
  }
  if (events.size() > kGroupEventsMax) {
    Status s = Status::Invalid("", fmt::format("a group of {} events: at most {} (Ledger::kGroupEventsMax) are "
                                               "appended together",
                                               events.size(), kGroupEventsMax));
    done(&results, s);
    return s;
  }
  if (!submitted_by.empty() && submitted_by.size() != events.size()) {
    Status s = Status::Invalid("submitted_by", fmt::format("{} submitters for {} events: one for each, or none",
                                                           submitted_by.size(), events.size()));
    done(&results, s);
    return s;
  }
  // The rules read the state as of the head: appends are refused (write_error_) until it is.
  LEDGER_ASSERT(state_seq_ == head_.seq, "appending with the state cursor at seq {}, the head at seq {}", state_seq_,
                head_.seq);
  PrimeStateCache();
  auto group = std::make_unique<Group>();
  group->store = store_.get();
  group->cache = &state_cache_;
  group->previous = in_flight_ ? in_flight_->group.get() : nullptr;
  group->head = in_flight_ ? in_flight_->group->head : head_;
  group->collect_entries = committer_ != nullptr;
  group->entries.first_seq = group->head.seq + 1;
  group->entries.prev_hash = group->head.hash;
  Status s = Prepare(events, submitted_by, mode, group.get(), &results);
  Status before = FlushGroups();  // The group before this one is durable, or failed.
  group->previous = nullptr;
  if (s.ok() && !before.ok()) s = Status::IOError("not written: the write of the group before it failed");
  if (!before.ok() && !commit_error_.ok()) {  // Not committed, so not written: the state is the head's.
    tree_ = std::make_unique<merkle::Appender>(tree_reader_.get(), head_.seq);  // Grown by this group too.
    MarkNotWritten(&results, "not written: the cluster did not commit the group before it");
    done(&results, before);
    return before;
  }
  if (!s.ok()) {
    write_error_ = Status::IOError("an earlier write failed; reopen the ledger: " + s.ToString());
    state_cache_.Forget();
    MarkNotWritten(&results, s.ToString());
    done(&results, s);
    return s;
  }
  if (!group->to_write) {
    done(&results, Status::Ok());
    return Status::Ok();
  }
  in_flight_ = std::make_unique<InFlight>();
  InFlight* f = in_flight_.get();
  f->group = std::move(group);
  f->results = std::move(results);
  f->done = std::move(done);
  f->group->entries.last_hash = f->group->head.hash;
  // A replicated ledger's group is committed elsewhere first (a quorum): only then is it ours.
  f->writer = std::thread([f, store = store_.get(), commit = committer_] {
    if (commit) f->write = commit(f->group->entries);
    f->committed = f->write.ok();
    if (f->committed) f->write = store->WriteSynced(&f->group->batch);
  });
  return Status::Ok();
}

Status Log::FlushGroups() {
  if (!in_flight_) return Status::Ok();
  std::unique_ptr<InFlight> f = std::move(in_flight_);
  f->writer.join();
  if (f->write.ok()) {
    state_cache_.Commit(std::move(f->group->state));
    head_ = f->group->head;
    state_seq_ = f->group->state_seq;
    LEDGER_ASSERT(state_seq_ == head_.seq, "after a group the state cursor is seq {}, the head seq {}", state_seq_,
                  head_.seq);
  } else if (!f->committed) {
    // The cluster did not commit it (or cannot say): nothing was written here, and the head and
    // the state in memory are this copy's still. Appends wait for a committer of a new term.
    tree_ = std::make_unique<merkle::Appender>(tree_reader_.get(), head_.seq);  // The frontier as written.
    commit_error_ = Status::Busy("appends refused after a group the cluster did not commit (" + f->write.ToString() +
                                 "): set a committer again (Ledger::SetGroupCommitter) once caught up");
    MarkNotWritten(&f->results,
                   "not written here: the cluster did not commit the group, or cannot say whether "
                   "it did (" +
                       f->write.ToString() + ")");
  } else {
    // Whether a failed synced write reached the disk is unknown, and so is the true head: this
    // object appends no more; reopening reads the head from the database.
    write_error_ = Status::IOError("an earlier write failed; reopen the ledger: " + f->write.ToString());
    state_cache_.Forget();
    MarkNotWritten(&f->results, "the group's write failed, it may or may not be in the ledger (reopen and look): " +
                                    f->write.ToString());
  }
  f->done(&f->results, f->write);
  return f->write;
}

Status Log::ApplyEntries(const GroupEntries& committed) {
  const auto& entries = committed.entries;
  if (Status s = FlushGroups(); !s.ok()) return s;
  for (const Status* refused : {&write_error_, &identity_error_}) {
    if (!refused->ok()) return *refused;
  }
  if (committed.first_seq != head_.seq + 1 || committed.prev_hash != head_.hash) {
    return Status::Corruption(fmt::format("seq {}: not applied: the group follows seq {}, the head here is seq {}{}",
                                          head_.seq + 1, committed.first_seq - 1, head_.seq,
                                          committed.first_seq == head_.seq + 1 ? " with another hash" : ""));
  }
  if (entries.empty()) return Status::Ok();
  if (entries.size() > kGroupEventsMax) {
    return Status::Invalid("entries",
                           fmt::format("{} entries: at most {} are applied together", entries.size(), kGroupEventsMax));
  }
  PrimeStateCache();
  Group group;
  group.store = store_.get();
  group.cache = &state_cache_;
  group.head = head_;
  std::vector<AppendResult> results;
  for (const std::string& bytes : entries) {
    const uint64_t seq = group.head.seq + 1;
    EntryReader reader;
    Status s = reader.Init(bytes);
    AppendResult r;
    if (s.ok()) {
      s = CatchEntryDecodeErrors([&] {
        schema::Event::Reader event = reader.entry().getEvent();
        if (IsLedgerOwnKind(event.which())) {
          return Status::Invalid("", fmt::format("a {} entry is the ledger's own and not replicated", KindName(event)));
        }
        Given given{&reader, bytes};
        r = CheckAndStage(event, reader.entry().getSubmittedBy().cStr(), &given, &group);
        return r.error;
      });
    }
    if (!s.ok()) {
      std::string why = fmt::format("seq {}: not applied: {}", seq, s.ToString());
      return s.code() == Status::Code::kIOError ? Status::IOError(why) : Status::Corruption(why);
    }
    results.push_back(std::move(r));
  }
  if (group.head.hash != committed.last_hash) {  // Entries changed alike, each following the one before.
    return Status::Corruption(
        fmt::format("seq {}: not applied: its hash is not the last hash the group was "
                    "committed with",
                    group.head.seq));
  }
  PutGroupRecords(&group);
  group.batch.Put(store_->cf(kMeta), std::string(kMetaHead), group.head.Encode());
  group.state_seq = group.head.seq;
  group.batch.Put(store_->cf(kMeta), std::string(kMetaStateSeq), SeqKey(group.state_seq));
  Status s = GrowTree(results, &group.batch);
  if (s.ok()) s = store_->WriteSynced(&group.batch);
  if (!s.ok()) {
    write_error_ = Status::IOError("an earlier write failed; reopen the ledger: " + s.ToString());
    state_cache_.Forget();
    return s;
  }
  state_cache_.Commit(std::move(group.state));
  head_ = group.head;
  state_seq_ = group.state_seq;
  return Status::Ok();
}

// Checks and stages `events` into `group`, and completes its batch (head, state seq, Merkle
// nodes) if there is anything to write. Non-ok only if the stored tree could not be read.
Status Log::Prepare(std::span<capnp::MessageBuilder* const> events, std::span<const std::string> submitted_by,
                    GroupMode mode, Group* group, std::vector<AppendResult>* results) {
  const uint64_t first_seq = group->head.seq + 1;
  results->reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    AppendResult r;
    std::string_view submitter = submitted_by.empty() ? std::string_view() : std::string_view(submitted_by[i]);
    group->batch.SetSavePoint();
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { r = AppendOne(events[i], submitter, group); })) {
      group->batch.RollbackToSavePoint();  // Nothing of a failed event stays in the batch.
      r = AppendResult{};
      r.error = Status::Invalid("", std::string("cannot read the event: ") + e->getDescription().cStr());
    } else {
      group->batch.PopSavePoint();
    }
    results->push_back(std::move(r));
  }
  if (mode == GroupMode::kAllOrNothing && RejectAllIfAnyRejected(results)) return Status::Ok();
  if (group->head.seq < first_seq) return Status::Ok();  // Nothing to write.
  const auto created = static_cast<uint64_t>(std::count_if(results->begin(), results->end(), [](const AppendResult& r) {
    return r.outcome == AppendResult::Outcome::kCreated;
  }));
  LEDGER_ASSERT(group->head.seq + 1 == first_seq + created,
                "the group's head is seq {}: {} entries created from seq {}", group->head.seq, created, first_seq);
  PutGroupRecords(group);
  group->batch.Put(store_->cf(kMeta), std::string(kMetaHead), group->head.Encode());
  group->state_seq = group->head.seq;  // The state below reflects the log up to the head.
  group->batch.Put(store_->cf(kMeta), std::string(kMetaStateSeq), SeqKey(group->state_seq));
  Status s = GrowTree(*results, &group->batch);
  if (s.ok()) {
    LEDGER_ASSERT(tree_->size() == group->head.seq, "the log tree has {} leaves, the log {} entries", tree_->size(),
                  group->head.seq);
  }
  group->to_write = s.ok();
  return s;
}

namespace {

// Puts `records` into `batch` in key order: the memtable inserts a run of ascending keys at about
// half the cost of the same keys in the hash table's order (FindSpliceForLevel, measured in rebuild).
void PutStateInOrder(const StateRecords& records, rocksdb::ColumnFamilyHandle* cf, rocksdb::WriteBatch* batch) {
  std::vector<const StateRecords::value_type*> sorted;
  sorted.reserve(records.size());
  for (const auto& record : records) sorted.push_back(&record);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* record : sorted) batch->Put(cf, record->first, record->second);
}

}  // namespace

// Puts the household heads and state records the group's entries wrote into its batch, each once
// at its last value: the events of a group often write the same record (a household's head and
// its record for each of its events, a county's funding totals for each payment), and RocksDB
// would keep only the last anyway. After the events, so that a rejected one adds nothing.
void Log::PutGroupRecords(Group* group) {
  for (const auto& [household, head] : group->households) {
    group->batch.Put(store_->cf(kHouseholdHead), household, head.Encode());
  }
  PutStateInOrder(group->state, store_->cf(kState), &group->batch);
}

// Puts the Merkle nodes of the group's created entries into its batch, in seq order, after the
// loop over the events rather than per event inside its savepoint: a rejected event (or an
// all-or-nothing group that failed) never gets here. tree_ keeps the tree's frontier in memory,
// so it never reads a node of a group not yet written.
Status Log::GrowTree(const std::vector<AppendResult>& results, rocksdb::WriteBatch* batch) {
  std::vector<merkle::Node> writes;
  for (const auto& r : results) {
    if (r.outcome != AppendResult::Outcome::kCreated) continue;
    LEDGER_ASSERT(r.seq == tree_->size() + 1, "seq {} is not the log tree's next leaf ({})", r.seq, tree_->size() + 1);
    Status s = tree_->Add(r.hash, &writes);
    if (!s.ok()) return s;
  }
  PutLogTreeNodes(*store_, writes, tree_->size(), batch);
  return Status::Ok();
}

// A group that was not written, or may not have been: each result that would have been created
// (or found to exist in a group not yet written) becomes an I/O error saying so.
void Log::MarkNotWritten(std::vector<AppendResult>* results, const std::string& why) const {
  for (auto& r : *results) {
    bool pending = r.outcome == AppendResult::Outcome::kCreated ||
                   (r.outcome == AppendResult::Outcome::kExists && r.seq > head_.seq);
    if (!pending) continue;
    r = AppendResult{};
    r.error = Status::IOError(why);
  }
}

namespace {

// Refuses (with a non-ok rocksdb::Status) the first row of a batch outside the evidence families
// (kCheckpoint, kHeads): log entries, their indexes, the log's tree, the state and meta are
// written by AppendGroup alone.
class EvidenceFamiliesOnly : public rocksdb::WriteBatch::Handler {
 public:
  explicit EvidenceFamiliesOnly(const Store& store)
      : checkpoint_(store.cf(kCheckpoint)->GetID()), heads_(store.cf(kHeads)->GetID()) {}
  rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice&, const rocksdb::Slice&) override { return Check(cf); }
  rocksdb::Status DeleteCF(uint32_t cf, const rocksdb::Slice&) override { return Check(cf); }
  rocksdb::Status SingleDeleteCF(uint32_t cf, const rocksdb::Slice&) override { return Check(cf); }
  rocksdb::Status DeleteRangeCF(uint32_t cf, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return Check(cf);
  }
  rocksdb::Status MergeCF(uint32_t cf, const rocksdb::Slice&, const rocksdb::Slice&) override { return Check(cf); }
  uint32_t refused_cf = 0;

 private:
  rocksdb::Status Check(uint32_t cf) {
    if (cf == checkpoint_ || cf == heads_) return rocksdb::Status::OK();
    refused_cf = cf;
    return rocksdb::Status::InvalidArgument("not an evidence family");
  }
  uint32_t checkpoint_;
  uint32_t heads_;
};

}  // namespace

Status Log::WriteEvidence(rocksdb::WriteBatch* batch) {
  FlushGroups();  // Sets write_error_ if it failed.
  if (!write_error_.ok()) return write_error_;
  if (!identity_error_.ok()) return identity_error_;
  EvidenceFamiliesOnly check(*store_);
  rocksdb::Status only_evidence = batch->Iterate(&check);
  LEDGER_ASSERT(only_evidence.ok(), "an evidence batch writes column family {} ({})", check.refused_cf,
                only_evidence.ToString());
  return store_->WriteSynced(batch);
}

// For an all-or-nothing group: if any event was rejected, turns every other result into a
// rejection naming it (the batch is then dropped unwritten). True if it did.
bool Log::RejectAllIfAnyRejected(std::vector<AppendResult>* results) {
  auto first = std::find_if(results->begin(), results->end(),
                            [](const AppendResult& r) { return r.outcome == AppendResult::Outcome::kRejected; });
  if (first == results->end()) return false;
  size_t index = static_cast<size_t>(first - results->begin());
  for (auto& r : *results) {
    if (r.outcome == AppendResult::Outcome::kRejected) continue;
    r = AppendResult{};
    r.dropped_with_group = true;
    r.error = Status::Invalid("", fmt::format("not appended: the group is all or nothing and event {} of it (from 0) "
                                              "was rejected",
                                              index));
  }
  return true;
}

// The rule ids of findings, in order, to compare what the rules say now with what was recorded.
static std::vector<std::string> RuleIds(const std::vector<Finding>& findings) {
  std::vector<std::string> ids;
  for (const auto& f : findings) ids.push_back(f.rule);
  return ids;
}

Status Log::Replay(const EntryReader& entry, Group* group, RebuildReport* report) {
  schema::Event::Reader event = entry.entry().getEvent();
  Group::PendingId target;
  bool found = false;
  EntryReader target_entry;
  bool has_target = event.isCorrection() &&
                    group->EventIdOf(event.getCorrection().getTargetEventId(), &found, &target).ok() && found &&
                    target_entry.Init(target.entry_bytes).ok();
  schema::Event::Reader target_event = has_target ? target_entry.entry().getEvent() : schema::Event::Reader();
  Decision decision = machine_->Decide(event, has_target ? &target_event : nullptr, group, /*replaying=*/true,
                                       entry.entry().getSubmittedBy().cStr());
  // A state record that could not be read stops the rebuild: the domain did not see it.
  if (decision.refusal.code() == Status::Code::kIOError) return decision.refusal;
  std::vector<std::string> recorded;
  for (auto f : entry.entry().getFindings()) recorded.emplace_back(f.getRule());
  std::string mismatch;
  if (!decision.refusal.ok()) {
    mismatch = "the rules now refuse it: " + decision.refusal.ToString();
  } else if (RuleIds(decision.findings) != recorded) {
    mismatch = fmt::format("the rules now find {} finding(s), the entry recorded {}", decision.findings.size(),
                           recorded.size());
  }
  if (!mismatch.empty() && report->mismatches++ == 0) {
    report->first_mismatch_seq = entry.entry().getSeq();
    report->first_mismatch = mismatch;
  }
  if (!decision.refusal.ok()) return Status::Ok();
  // Into the batch at the end of the group (CommitRebuilt), each record once, however often it changed.
  for (auto& [key, value] : decision.writes) group->state[key] = std::move(value);
  return Status::Ok();
}

// Writes what a group of rebuilt entries left in the state, and how far the rebuild got, synced.
Status Log::CommitRebuilt(Group* group, uint64_t entries) {
  PutStateInOrder(group->state, store_->cf(kState), &group->batch);
  group->batch.Put(store_->cf(kMeta), std::string(kMetaStateSeq), SeqKey(entries));
  Status s = store_->WriteSynced(&group->batch);
  if (s.ok()) {
    state_seq_ = entries;
    state_cache_.Commit(std::move(group->state));
  } else {
    state_cache_.Forget();
  }
  return s;
}

Status Log::Rebuild(RebuildReport* report) {
  auto start = std::chrono::steady_clock::now();
  *report = RebuildReport{};
  Status s = FlushGroups();
  if (!s.ok()) return s;
  rocksdb::WriteBatch clear;
  // State keys are a letter and "/" then an id: all sort below 0x7f.
  clear.DeleteRange(store_->cf(kState), rocksdb::Slice("", 0), rocksdb::Slice("\x7f", 1));
  clear.Put(store_->cf(kMeta), std::string(kMetaStateSeq), SeqKey(0));
  s = store_->WriteSynced(&clear);
  if (!s.ok()) return s;
  state_seq_ = 0;
  state_cache_.ResetEmpty();
  write_error_ = Status::Busy("a rebuild is under way");
  // Larger groups collapse more rewrites of the same record (a household's, a roll's) into one put.
  constexpr uint64_t kEntriesPerBatch = 20000;
  std::unique_ptr<rocksdb::Iterator> it(store_->NewIterator(kLog, ScanOptions()));
  auto group = std::make_unique<Group>();
  group->store = store_.get();
  group->cache = &state_cache_;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    EntryReader entry;
    if (!(s = entry.Init(it->value().ToStringView())).ok()) {
      return Status::Corruption(fmt::format("seq {}: {} (run verify)", report->entries + 1, s.reason()));
    }
    s = CatchEntryDecodeErrors([&] { return Replay(entry, group.get(), report); });
    if (s.code() == Status::Code::kCorruption) {
      return Status::Corruption(fmt::format("seq {}: {} (run verify)", report->entries + 1, s.reason()));
    }
    if (!s.ok()) return s;
    ++report->entries;
    if (report->entries % kEntriesPerBatch == 0) {
      if (!(s = CommitRebuilt(group.get(), report->entries)).ok()) return s;
      group = std::make_unique<Group>();  // Committed: later reads find it in the cache or the database.
      group->store = store_.get();
      group->cache = &state_cache_;
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the log");
  if (!(s = CommitRebuilt(group.get(), report->entries)).ok()) return s;
  write_error_ =
      report->entries == head_.seq ? Status::Ok() : Status::Corruption("the log and its head disagree (run verify)");
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::Ok();
}

Status Log::ReadEntry(uint64_t seq, std::string* bytes) const {
  bool found = false;
  Status s = store_->Get(kLog, SeqKey(seq), bytes, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound(fmt::format("no entry with seq {} (the log has {})", seq, head_.seq), "seq");
  return Status::Ok();
}

Status Log::ReadEvent(std::string_view event_id, uint64_t* seq, std::string* bytes) const {
  std::string value;
  bool found = false;
  Status s = store_->Get(kEventId, event_id, &value, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound(fmt::format("no event \"{}\"", event_id));
  auto decoded = EventIdValue::Decode(value);
  if (!decoded) return Status::Corruption(fmt::format("event id index entry for {} is malformed", event_id));
  *seq = decoded->seq;
  s = ReadEntry(*seq, bytes);
  if (s.code() == Status::Code::kNotFound) {
    return Status::Corruption(fmt::format("event id {} points at seq {}, which is not in the log", event_id, *seq));
  }
  if (s.ok() && !decoded->Checks(LeafHash(AsBytes(*bytes)))) {
    return Status::Corruption(
        fmt::format("seq {}: the entry's hash is not the one the event-id index recorded for {}: "
                    "the entry (or that row) was altered (run verify)",
                    *seq, event_id));
  }
  return s;
}

Status Log::ReadHousehold(std::string_view id, const std::function<void(const HouseholdEntry&)>& visit) const {
  std::string head_value;
  bool found = false;
  Status s = store_->Get(kHouseholdHead, id, &head_value, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound(fmt::format("no household \"{}\" in the ledger", id), "household");
  auto head = HouseholdHead::Decode(head_value);
  if (!head) return Status::Corruption(fmt::format("household head of {} is malformed", id));
  std::vector<uint64_t> seqs;
  if (!(s = HouseholdSeqs(id, &seqs)).ok()) return s;

  // Entry k is proven by the hash entry k+1 links to it with (the last one by the head's hash),
  // so each entry is visited once the next one has been read and checked. When that fails, the
  // entry's event-id row (which holds a check of its hash) tells whether it or the link was
  // altered: only then is it read.
  std::optional<HouseholdEntry> pending;
  auto fail = [&](Status problem) {
    if (pending && !MatchesEventIdRow(*pending)) {
      return Status::Corruption(fmt::format(
          "seq {}: its hash is not the one its event-id row and the household's next link record: it was altered",
          pending->seq));
    }
    if (pending) visit(*pending);
    return problem;
  };
  for (uint64_t seq : seqs) {
    HouseholdEntry e{seq, {}, {}};
    if (!(s = ReadEntry(seq, &e.bytes)).ok()) {
      return fail(Status::Corruption(fmt::format("seq {}: in the household index but not in the log", seq)));
    }
    e.hash = LeafHash(AsBytes(e.bytes));
    EntryReader reader;
    if (!(s = reader.Init(e.bytes)).ok()) return fail(Status::Corruption(fmt::format("seq {}: {}", seq, s.reason())));
    auto entry = reader.entry();
    const uint64_t prev_seq = pending ? pending->seq : 0;
    const Hash prev_hash = pending ? pending->hash : Hash{};
    bool in_chain = false;  // Reading a damaged text field throws: that entry is not in the chain.
    (void)kj::runCatchingExceptions([&] {
      in_chain = entry.getSeq() == seq && entry.getHouseholdPrevSeq() == prev_seq &&
                 entry.getEvent().getHouseholdId() == capnp::Text::Reader(id.data(), id.size());
    });
    if (!in_chain) {
      return fail(
          Status::Corruption(fmt::format("seq {}: household chain broken (previous is seq {})", seq, prev_seq)));
    }
    if (entry.getHouseholdPrevHash() != capnp::Data::Reader(prev_hash.data(), prev_hash.size())) {
      return fail(Status::Corruption(
          fmt::format("seq {}: its link to seq {} is not that entry's hash: the link was altered", seq, prev_seq)));
    }
    if (pending) visit(*pending);
    pending = std::move(e);
  }
  const uint64_t last_seq = pending ? pending->seq : 0;
  if (seqs.size() != head->version || last_seq != head->last_seq) {
    return fail(Status::Corruption(
        fmt::format("household head says {} events ending at seq {}; the index has {} ending at seq {}", head->version,
                    head->last_seq, seqs.size(), last_seq)));
  }
  if (!pending) return Status::Corruption(fmt::format("household head of {} names no entries", id));
  if (pending->hash != head->last_hash) {
    return fail(Status::Corruption(
        fmt::format("household head of {} holds another hash for seq {}: it was altered", id, last_seq)));
  }
  visit(*pending);
  return Status::Ok();
}

bool Log::MatchesEventIdRow(const HouseholdEntry& e) const {
  EntryReader reader;
  std::string event_id, value;
  bool found = false;
  if (!reader.Init(e.bytes).ok()) return false;
  if (kj::runCatchingExceptions([&] { event_id = reader.entry().getEvent().getEventId(); }) != nullptr) return false;
  if (!store_->Get(kEventId, event_id, &value, &found).ok() || !found) return false;
  auto id = EventIdValue::Decode(value);
  return id && id->seq == e.seq && id->Checks(e.hash);
}

Status Log::HouseholdSeqs(std::string_view id, std::vector<uint64_t>* seqs) const {
  rocksdb::ReadOptions ro;
  std::string limit = ScopedLimit(id);
  rocksdb::Slice upper(limit);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(store_->NewIterator(kHousehold, ro));
  for (it->Seek(ScopedPrefix(id)); it->Valid(); it->Next()) {
    std::string key_id;
    uint64_t seq = 0;
    if (!ParseScopedSeqKey(it->key().ToStringView(), &key_id, &seq) || key_id != id || !it->value().empty()) {
      return Status::Corruption(
          fmt::format("household index entry after seq {} is malformed", seqs->empty() ? 0 : seqs->back()));
    }
    seqs->push_back(seq);
  }
  return FromRocks(it->status(), "reading the household index");
}

}  // namespace ledger
