// The stored side of evidence.h: checkpoints and their heads maps, building proofs,
// and verify's audit of all of it. JSON and the offline check are in evidence_proof.cc.
#include "ledger/evidence/evidence.h"

#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "ledger/core/entry.h"
#include "ledger/core/log_tree.h"
#include "ledger/util/assert.h"
#include "ledger/util/formats.h"

namespace ledger::evidence {
namespace {

Status ReadMeta(const Store& store, std::string_view key, std::string* value, bool* found) {
  return store.Get(kMeta, key, value, found);
}

// The heads of every household, sorted by id, as the household_head family holds them now.
Status ReadHeads(const Store& store, std::vector<HeadsLeaf>* out) {
  std::unique_ptr<rocksdb::Iterator> it(store.NewIterator(kHouseholdHead, ScanOptions()));
  out->clear();
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto head = HouseholdHead::Decode(it->value().ToStringView());
    if (!head) return Status::Corruption(fmt::format("household head of {} is malformed", it->key().ToString()));
    out->push_back({it->key().ToString(), *head});
  }
  return FromRocks(it->status(), "reading the household heads");
}

// Reads the heads map of one stored checkpoint.
class HeadsTree : public merkle::NodeReader {
 public:
  HeadsTree(const Store& store, uint64_t size) : store_(store), size_(size) {}
  Status Get(merkle::NodeId id, Hash* out) override {
    std::string value;
    bool found = false;
    Status s = store_.Get(kHeads, HeadsNodeKey(size_, id.level, id.index), &value, &found);
    if (!s.ok()) return s;
    if (!found || !ToHash(value, out)) {
      return Status::Corruption(fmt::format("heads map of checkpoint {}: node (level {}, index {}) is {}", size_,
                                            id.level, id.index, found ? "malformed" : "missing"));
    }
    return Status::Ok();
  }

 private:
  const Store& store_;
  uint64_t size_;
};

// A household row of a heads map: leaf index (8 BE) ‖ HouseholdHead (48).
bool DecodeHeadsRow(std::string_view id, std::string_view value, HeadsLeafProof* out) {
  if (value.size() != 8 + 48) return false;
  auto head = HouseholdHead::Decode(value.substr(8));
  auto index = ParseSeqKey(value.substr(0, 8));
  if (!head || !index) return false;
  *out = HeadsLeafProof{*index, {std::string(id), *head}, {}};
  return true;
}

}  // namespace

Status LogRoot(const Log& ledger, uint64_t size, Hash* root) {
  LogTree tree(ledger.store());
  return merkle::Root(tree, size, root);
}

// ---- The household heads map ----------------------------------------------------------------------

std::string HeadsLeafBytes(std::string_view household, const HouseholdHead& head) {
  return std::string(household) + '\0' + head.Encode();
}

std::string FormatHeadsLine(const HeadsCommitment& heads) {
  return fmt::format("households {} {}", heads.count, note::Base64(heads.root));
}

bool ParseHeadsLine(std::string_view line, HeadsCommitment* heads) {
  constexpr std::string_view kPrefix = "households ";
  if (line.substr(0, kPrefix.size()) != kPrefix) return false;
  line.remove_prefix(kPrefix.size());
  size_t space = line.find(' ');
  if (space == std::string_view::npos) return false;
  std::string_view count = line.substr(0, space);
  bool canonical = !count.empty() && count.size() <= 19 && count.find_first_not_of("0123456789") == std::string::npos &&
                   (count == "0" || count[0] != '0');
  std::string root;
  if (!canonical || !note::ParseBase64(line.substr(space + 1), &root) || !ToHash(root, &heads->root)) return false;
  heads->count = std::stoull(std::string(count));
  return true;
}

void HeadsRows(uint64_t size, std::span<const HeadsLeaf> leaves, std::vector<std::pair<std::string, std::string>>* rows,
               HeadsCommitment* commitment) {
  rows->clear();
  merkle::Appender tree(nullptr, 0);  // Built from leaf 0: never reads.
  std::vector<merkle::Node> nodes;
  for (size_t i = 0; i < leaves.size(); ++i) {
    LEDGER_ASSERT(i == 0 || leaves[i - 1].household < leaves[i].household, "heads leaves out of order at {}", i);
    Status s = tree.Add(LeafHash(AsBytes(HeadsLeafBytes(leaves[i].household, leaves[i].head))), &nodes);
    LEDGER_ASSERT(s.ok(), "a tree built from leaf 0 never reads: {}", s.ToString());
    rows->emplace_back(HeadsHouseholdKey(size, leaves[i].household), SeqKey(i) + leaves[i].head.Encode());
  }
  for (const merkle::Node& node : nodes) {
    rows->emplace_back(HeadsNodeKey(size, node.id.level, node.id.index), HashBytes(node.hash));
  }
  std::sort(rows->begin(), rows->end());
  commitment->count = leaves.size();
  Status s = tree.Root(&commitment->root);
  LEDGER_ASSERT(s.ok(), "a tree built from leaf 0 never reads: {}", s.ToString());
}

// ---- Checkpoints --------------------------------------------------------------------------------------

Status ReadCheckpointKey(const Log& ledger, note::Verifier* key) {
  std::string origin, text;
  bool has_origin = false, has_key = false;
  Status s = ReadMeta(ledger.store(), kMetaOrigin, &origin, &has_origin);
  if (s.ok()) s = ReadMeta(ledger.store(), kMetaCheckpointKey, &text, &has_key);
  if (!s.ok()) return s;
  if (!has_key) {
    return Status::NotFound(
        "the ledger has no checkpoint key (it was made before checkpoints, or by the library alone)");
  }
  if (!(s = note::ParseVerifierKey(text, key)).ok()) {
    return Status::Corruption("the meta checkpoint_key record is not a verifier key: " + s.ToString());
  }
  if (!has_origin || origin != key->name) {
    return Status::Corruption(
        fmt::format("the meta origin \"{}\" is not the checkpoint key's name \"{}\"", origin, key->name));
  }
  return Status::Ok();
}

Status SetCheckpointKey(Log* ledger, const note::Verifier& key, std::string_view reason) {
  note::Verifier existing;
  Status s = ReadCheckpointKey(*ledger, &existing);
  if (s.ok()) {
    return Status::Conflict("key", fmt::format("the ledger already has the checkpoint key {}: it is set once",
                                               note::FormatVerifierKey(existing)));
  }
  if (s.code() != Status::Code::kNotFound) return s;
  return ledger->SetCheckpointKey(key, reason);
}

Status OpenCheckpoint(std::string_view note_text, const note::Verifier& key, SignedCheckpoint* out) {
  std::string body;
  Status s = note::OpenNote(note_text, key, &body);
  if (s.ok()) s = note::ParseCheckpoint(body, &out->checkpoint);
  if (!s.ok()) return s.WithFieldPrefix("checkpoint");
  const note::Checkpoint& cp = out->checkpoint;
  if (cp.origin != key.name) {
    return Status::Invalid(
        "checkpoint.origin",
        fmt::format("is \"{}\", the key is \"{}\": not this ledger's checkpoint", cp.origin, key.name));
  }
  if (cp.extension_lines.size() != 1 || !ParseHeadsLine(cp.extension_lines[0], &out->heads)) {
    return Status::Invalid("checkpoint.extensionLines",
                           "must be the one line \"households <count> <base64 root>\" of the household heads map");
  }
  out->note = std::string(note_text);
  return Status::Ok();
}

Status MakeCheckpoint(Log* ledger, const note::KeyPair& key, SignedCheckpoint* out, bool* made) {
  note::Verifier verifier;
  Status s = ReadCheckpointKey(*ledger, &verifier);
  if (!s.ok()) return s;
  if (key.name != verifier.name || key.public_key != verifier.public_key) {
    return Status::Invalid("key",
                           fmt::format("is not the ledger's checkpoint key {}", note::FormatVerifierKey(verifier)));
  }
  const Store& store = ledger->store();
  const uint64_t size = ledger->head().seq;
  *made = false;
  if ((s = ReadCheckpoint(*ledger, size, out)).code() != Status::Code::kNotFound) return s;
  Hash root;
  std::vector<HeadsLeaf> leaves;
  if (!(s = LogRoot(*ledger, size, &root)).ok() || !(s = ReadHeads(store, &leaves)).ok()) return s;
  std::vector<std::pair<std::string, std::string>> rows;
  HeadsCommitment heads;
  HeadsRows(size, leaves, &rows, &heads);
  std::string body, signed_note;
  if (!(s = note::FormatCheckpoint({verifier.name, size, root, {FormatHeadsLine(heads)}}, &body)).ok()) return s;
  if (!(s = note::SignNote(body, key, &signed_note)).ok()) return s;
  rocksdb::WriteBatch batch;
  batch.Put(store.cf(kCheckpoint), SeqKey(size), signed_note);
  for (const auto& [row_key, value] : rows) batch.Put(store.cf(kHeads), row_key, value);
  if (!(s = ledger->WriteEvidence(&batch)).ok()) return s;
  *made = true;
  return ReadCheckpoint(*ledger, size, out);  // Read back, opened with the ledger's key.
}

Status ListCheckpoints(const Log& ledger, std::vector<SignedCheckpoint>* out) {
  out->clear();
  note::Verifier key;
  Status s = ReadCheckpointKey(ledger, &key);
  if (s.code() == Status::Code::kNotFound) return Status::Ok();  // None can have been made.
  if (!s.ok()) return s;
  const Store& store = ledger.store();
  std::unique_ptr<rocksdb::Iterator> it(store.NewIterator(kCheckpoint, Reading(nullptr)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    SignedCheckpoint cp;
    auto size = ParseSeqKey(it->key().ToStringView());
    s = OpenCheckpoint(it->value().ToStringView(), key, &cp);
    if (!size || !s.ok() || cp.checkpoint.tree_size != *size) {
      return Status::Corruption(fmt::format("the stored checkpoint of size {} does not open: {} (run verify)",
                                            size.value_or(0), s.ok() ? "another size is signed" : s.ToString()));
    }
    out->push_back(std::move(cp));
  }
  return FromRocks(it->status(), "reading the checkpoints");
}

Status ReadCheckpoint(const Log& ledger, std::optional<uint64_t> size, SignedCheckpoint* out) {
  const Store& store = ledger.store();
  std::unique_ptr<rocksdb::Iterator> it(store.NewIterator(kCheckpoint, Reading(nullptr)));
  if (size) {
    it->Seek(SeqKey(*size));
  } else {
    it->SeekToLast();
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the checkpoints");
  bool found = it->Valid() && (!size || ParseSeqKey(it->key().ToStringView()) == size);
  if (!found && !size) {
    return Status::NotFound("the ledger has no checkpoint yet", "size");
  }
  if (!found) {
    return Status::NotFound(fmt::format("no checkpoint of size {}", *size), "size");
  }
  note::Verifier key;
  Status s = ReadCheckpointKey(ledger, &key);
  if (s.ok()) s = OpenCheckpoint(it->value().ToStringView(), key, out);
  if (!s.ok()) return Status::Corruption("the stored checkpoint does not open: " + s.ToString() + " (run verify)");
  return Status::Ok();
}

// ---- Proofs --------------------------------------------------------------------------------------------

namespace {

std::string OriginOf(const Log& ledger) {
  std::string origin;
  bool found = false;
  return ReadMeta(ledger.store(), kMetaOrigin, &origin, &found).ok() && found ? origin : "";
}

// The household rows at and around `household` in the heads map of checkpoint `size`.
struct HeadsNeighbourhood {
  std::optional<HeadsLeafProof> head, before, after;
};

Status FindInHeads(const Store& store, uint64_t size, std::string_view household, HeadsNeighbourhood* out) {
  const std::string lower = HeadsHouseholdKey(size, ""), at = HeadsHouseholdKey(size, household);
  const std::string upper = HeadsPrefix(size) + static_cast<char>(kHeadsHouseholdTag + 1);
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  rocksdb::ReadOptions ro = Reading(nullptr);
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(store.NewIterator(kHeads, ro));
  auto take = [&](std::optional<HeadsLeafProof>* slot) {
    HeadsLeafProof row;
    std::string_view key = it->key().ToStringView();
    if (!DecodeHeadsRow(key.substr(lower.size()), it->value().ToStringView(), &row)) {
      return Status::Corruption(fmt::format("heads map of checkpoint {}: a household row is malformed", size));
    }
    *slot = std::move(row);
    return Status::Ok();
  };
  Status s;
  it->Seek(at);
  bool exact = it->Valid() && it->key().ToStringView() == at;
  if (exact && !(s = take(&out->head)).ok()) return s;
  if (exact) it->Next();
  if (it->Valid() && !(s = take(&out->after)).ok()) return s;
  it->SeekForPrev(at);
  if (it->Valid() && it->key().ToStringView() == at) it->Prev();
  if (it->Valid() && !(s = take(&out->before)).ok()) return s;
  return FromRocks(it->status(), "reading the heads map");
}

// Fills the heads-tree inclusion proof of `leaf`.
Status ProveHeadsLeaf(const Store& store, uint64_t size, const HeadsCommitment& heads,
                      std::optional<HeadsLeafProof>* leaf) {
  if (!*leaf) return Status::Ok();
  if ((*leaf)->index >= heads.count) {
    return Status::Corruption(fmt::format("heads map of checkpoint {}: household {} has index {} of {} (run verify)",
                                          size, (*leaf)->leaf.household, (*leaf)->index, heads.count));
  }
  HeadsTree tree(store, size);
  return merkle::InclusionProof(tree, (*leaf)->index, heads.count, &(*leaf)->path);
}

// The household's entries up to its head, walked back from the head along the householdPrev
// links (the chain the verifier will check), with their inclusion proofs in the tree of `size`.
Status ProveHouseholdEntries(const Log& ledger, std::string_view household, const HouseholdHead& head, uint64_t size,
                             std::vector<EntryProof>* out) {
  out->clear();
  LogTree tree(ledger.store());
  for (uint64_t seq = head.last_seq; seq != 0;) {
    if (out->size() >= head.version || seq > size) {
      return Status::Corruption(
          fmt::format("household {}: its chain does not end after {} entries (run verify)", household, head.version));
    }
    EntryProof e;
    e.seq = seq;
    EntryReader reader;
    Status s = ledger.ReadEntry(seq, &e.entry);
    if (s.ok()) s = reader.Init(e.entry);
    if (s.ok()) s = merkle::InclusionProof(tree, seq - 1, size, &e.path);
    if (!s.ok())
      return Status::Corruption(fmt::format("household {}: seq {}: {} (run verify)", household, seq, s.ToString()));
    seq = reader.entry().getHouseholdPrevSeq();
    out->push_back(std::move(e));
  }
  std::reverse(out->begin(), out->end());
  return Status::Ok();
}

}  // namespace

Status ProveInclusion(const Log& ledger, uint64_t seq, std::optional<uint64_t> size, Proof* out) {
  const uint64_t m = size.value_or(ledger.head().seq);
  if (m > ledger.head().seq) {
    return Status::NotFound(fmt::format("the log has {}, not {}", Counted(ledger.head().seq, "entry", "entries"), m),
                            "size");
  }
  if (seq == 0 || seq > m) {
    return Status::NotFound(
        fmt::format("no entry with seq {} in the tree of {} (seq counts from 1)", seq, Counted(m, "entry", "entries")),
        "seq");
  }
  *out = Proof{};
  out->type = ProofType::kInclusion;
  out->origin = OriginOf(ledger);
  InclusionProof& p = out->inclusion;
  p.seq = seq;
  p.leaf_index = seq - 1;
  p.tree_size = m;
  p.entry.emplace();
  LogTree tree(ledger.store());
  Status s = ledger.ReadEntry(seq, &*p.entry);
  if (s.ok()) s = merkle::InclusionProof(tree, p.leaf_index, m, &p.path);
  if (s.ok()) s = merkle::Root(tree, m, &p.root);
  p.leaf_hash = LeafHash(AsBytes(*p.entry));
  return s;
}

Status ProveConsistency(const Log& ledger, uint64_t size1, uint64_t size2, Proof* out) {
  if (size2 > ledger.head().seq) {
    return Status::NotFound(
        fmt::format("the log has {}, not {}", Counted(ledger.head().seq, "entry", "entries"), size2), "size2");
  }
  if (size1 > size2) return Status::Invalid("size1", fmt::format("must not exceed size2 ({})", size2));
  *out = Proof{};
  out->type = ProofType::kConsistency;
  out->origin = OriginOf(ledger);
  ConsistencyProof& p = out->consistency;
  p.size1 = size1;
  p.size2 = size2;
  LogTree tree(ledger.store());
  Status s = merkle::ConsistencyProof(tree, size1, size2, &p.path);
  if (s.ok()) s = merkle::Root(tree, size1, &p.root1);
  if (s.ok()) s = merkle::Root(tree, size2, &p.root2);
  return s;
}

Status ProveHousehold(const Log& ledger, std::string_view household, std::optional<uint64_t> size, Proof* out) {
  SignedCheckpoint cp;
  Status s = ReadCheckpoint(ledger, size, &cp);
  if (!s.ok()) return s;
  *out = Proof{};
  out->type = ProofType::kHousehold;
  out->origin = cp.checkpoint.origin;
  HouseholdProof& p = out->household;
  p.household = std::string(household);
  p.tree_size = cp.checkpoint.tree_size;
  p.root = cp.checkpoint.root_hash;
  p.heads = cp.heads;
  const Store& store = ledger.store();
  HeadsNeighbourhood around;
  if (!(s = FindInHeads(store, p.tree_size, household, &around)).ok()) return s;
  p.head = std::move(around.head);
  p.before = std::move(around.before);
  p.after = std::move(around.after);
  for (auto* leaf : {&p.head, &p.before, &p.after}) {
    if (!(s = ProveHeadsLeaf(store, p.tree_size, p.heads, leaf)).ok()) return s;
  }
  if (!p.head) return Status::Ok();  // Absent: the neighbours show it.
  return ProveHouseholdEntries(ledger, household, p.head->leaf.head, p.tree_size, &p.entries);
}

// ---- Verify's part ---------------------------------------------------------------------------------------

EvidenceAudit::EvidenceAudit(const Store& store, const rocksdb::Snapshot* snapshot)
    : store_(store), snapshot_(snapshot) {
  std::string text;
  if (Lookup(kMeta, std::string(kMetaCheckpointKey), &text)) {
    note::Verifier key;
    if (note::ParseVerifierKey(text, &key).ok()) {
      key_ = key;
    } else {
      Fail(0, "the meta checkpoint_key record is not a verifier key");
    }
  }
  std::unique_ptr<rocksdb::Iterator> it(store_.NewIterator(kCheckpoint, Reading(snapshot_)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto size = ParseSeqKey(it->key().ToStringView());
    if (!size) {
      Fail(0, fmt::format("the checkpoint family holds a key of {} bytes, not a size", it->key().size()));
      break;
    }
    checkpoints_.emplace_back(*size, it->value().ToString());
  }
  if (!it->status().ok() && io_.ok()) io_ = FromRocks(it->status(), "reading the checkpoints");
}

bool EvidenceAudit::Lookup(Cf cf, const std::string& key, std::string* value) {
  bool found = false;
  Status s = store_.Get(cf, key, value, &found, snapshot_);
  if (!s.ok() && io_.ok()) io_ = s;
  return s.ok() && found;
}

void EvidenceAudit::Fail(uint64_t seq, std::string what) {
  if (failed_) return;
  failed_ = true;
  bad_seq_ = seq;
  problem_ = std::move(what);
}

void EvidenceAudit::Add(uint64_t seq, const Hash& hash,
                        const std::unordered_map<std::string, HouseholdHead>& households) {
  static const std::unordered_map<std::string, HouseholdHead> kNone;
  if (seq == 1 && !checkpoints_.empty() && checkpoints_[0].first == 0) CheckCheckpoint(0, kNone);
  std::vector<merkle::Node> writes;
  Status s = tree_.Add(hash, &writes);  // Built from leaf 0: never reads.
  LEDGER_ASSERT(s.ok() && tree_.size() == seq, "seq {} is not the audit tree's next leaf (size {}): {}", seq,
                tree_.size(), s.ToString());
  CheckNodes(writes);
  if (next_checkpoint_ < checkpoints_.size() && checkpoints_[next_checkpoint_].first == seq) {
    CheckCheckpoint(seq, households);
  }
}

// Nodes come in index order within each level, so each level is read with one iterator moving
// forward (a Next per node instead of a point read).
bool EvidenceAudit::StoredNode(uint8_t level, uint64_t index, std::string_view* value) {
  auto& it = levels_[level];
  const std::string key = MerkleKey(level, index);
  if (!it) {
    it.reset(store_.NewIterator(kMerkle, ScanOptions(snapshot_)));
    it->Seek(key);
  }
  while (it->Valid() && it->key().ToStringView() < key) it->Next();  // extra rows: CheckCounts names them
  if (!it->status().ok() && io_.ok()) io_ = FromRocks(it->status(), "reading the merkle family");
  if (!it->Valid() || it->key().ToStringView() != key) return false;
  *value = it->value().ToStringView();
  return true;
}

void EvidenceAudit::CheckNodes(const std::vector<merkle::Node>& writes) {
  for (const merkle::Node& node : writes) {
    if (failed_) return;
    if (node.id.level < kMerkleLowestStoredLevel) continue;
    const auto [level, index] = node.id;
    uint64_t last_seq = (index + 1) << level;
    std::string_view value;
    if (!StoredNode(level, index, &value)) {
      Fail(last_seq, fmt::format("Merkle node ({}) is missing", DescribeNode(level, index)));
    } else if (value != HashBytes(node.hash)) {
      Fail(last_seq, fmt::format("Merkle node ({}) is not the hash of its children as recomputed from the log",
                                 DescribeNode(level, index)));
    }
  }
}

void EvidenceAudit::CheckCheckpoint(uint64_t size, const std::unordered_map<std::string, HouseholdHead>& households) {
  const std::string& stored = checkpoints_[next_checkpoint_++].second;
  if (failed_) return;
  SignedCheckpoint cp;
  Status s = key_ ? OpenCheckpoint(stored, *key_, &cp) : Status::NotFound("the ledger has no checkpoint key");
  if (!s.ok()) return Fail(size, fmt::format("the stored checkpoint of size {} does not open: {}", size, s.ToString()));
  Hash root;
  s = tree_.Root(&root);
  LEDGER_ASSERT(s.ok(), "a tree built from leaf 0 never reads: {}", s.ToString());
  if (cp.checkpoint.tree_size != size || cp.checkpoint.root_hash != root) {
    return Fail(size, fmt::format("the stored checkpoint of size {} signs size {} and a root that is {}the log's", size,
                                  cp.checkpoint.tree_size, cp.checkpoint.root_hash == root ? "" : "not "));
  }
  std::vector<HeadsLeaf> leaves;
  for (const auto& [id, head] : households) leaves.push_back({id, head});
  std::sort(leaves.begin(), leaves.end(), [](const auto& a, const auto& b) { return a.household < b.household; });
  std::vector<std::pair<std::string, std::string>> rows;
  HeadsCommitment expected;
  HeadsRows(size, leaves, &rows, &expected);
  if (cp.heads != expected) {
    return Fail(size, fmt::format("the checkpoint of size {} signs a household heads map ({} households, root {}) that "
                                  "is not the one the log implies ({} households, root {})",
                                  size, cp.heads.count, note::Base64(cp.heads.root), expected.count,
                                  note::Base64(expected.root)));
  }
  CheckHeadsRows(size, rows);
}

namespace {

// "household \"H1\"" or "node (level 0, index 3)" for a heads key after its size.
std::string DescribeHeadsKey(std::string_view key) {
  if (key.size() > 9 && key[8] == kHeadsHouseholdTag) return fmt::format("household \"{}\"", key.substr(9));
  uint8_t level = 0;
  uint64_t index = 0;
  if (key.size() > 9 && key[8] == kHeadsNodeTag && ParseMerkleKey(key.substr(9), &level, &index)) {
    return fmt::format("node (level {}, index {})", level, index);
  }
  return fmt::format("a malformed key of {} bytes", key.size());
}

}  // namespace

void EvidenceAudit::CheckHeadsRows(uint64_t size, const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string lower = HeadsPrefix(size), upper = HeadsPrefix(size + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro = Reading(snapshot_);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(store_.NewIterator(kHeads, ro));
  auto row = rows.begin();
  for (it->Seek(lower); it->Valid() && row != rows.end(); it->Next(), ++row) {
    if (it->key().ToStringView() != row->first) break;
    if (it->value().ToStringView() != row->second) {
      return Fail(size, fmt::format("heads map of checkpoint {}: the row of {} is not the one the log implies", size,
                                    DescribeHeadsKey(row->first)));
    }
  }
  if (!it->status().ok() && io_.ok()) io_ = FromRocks(it->status(), "reading the heads map");
  bool extra = it->Valid() && (row == rows.end() || it->key().ToStringView() < row->first);
  if (extra) {
    return Fail(size, fmt::format("heads map of checkpoint {}: the row of {} is extra", size,
                                  DescribeHeadsKey(it->key().ToStringView())));
  }
  if (row != rows.end()) {
    Fail(size, fmt::format("heads map of checkpoint {}: the row of {} is missing", size, DescribeHeadsKey(row->first)));
  }
}

void EvidenceAudit::CheckCounts(uint64_t log_size) {
  std::string value;
  auto tree_size = Lookup(kMeta, std::string(kMetaTreeSize), &value) ? ParseSeqKey(value) : std::nullopt;
  if (tree_size != log_size) {
    return Fail(log_size, fmt::format("the meta tree_size record says {}, the log has {} entries",
                                      tree_size ? std::to_string(*tree_size) : "nothing", log_size));
  }
  CheckExtraNodes(log_size);
  if (!failed_ && next_checkpoint_ < checkpoints_.size()) {
    uint64_t size = checkpoints_[next_checkpoint_].first;
    return Fail(log_size,
                fmt::format("a checkpoint of size {} is stored, past the end of the log ({} entries)", size, log_size));
  }
  if (!failed_) CheckExtraHeadsRows();
}

// Every node the log implies was found along the log; any other row is extra.
void EvidenceAudit::CheckExtraNodes(uint64_t log_size) {
  std::unique_ptr<rocksdb::Iterator> it(store_.NewIterator(kMerkle, ScanOptions(snapshot_)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint8_t level = 0;
    uint64_t index = 0;
    bool implied = ParseMerkleKey(it->key().ToStringView(), &level, &index) && level >= kMerkleLowestStoredLevel &&
                   level < 64 && index < (log_size >> level);
    if (implied) continue;
    return Fail(log_size,
                fmt::format("the merkle family holds a node the log does not imply ({} bytes: {})", it->key().size(),
                            it->key().size() == 9 ? DescribeNode(level, index) : "malformed"));
  }
  if (!it->status().ok() && io_.ok()) io_ = FromRocks(it->status(), "reading the merkle family");
}

// The rows under each checkpoint were compared one by one: skip them; any other row is extra.
void EvidenceAudit::CheckExtraHeadsRows() {
  std::unique_ptr<rocksdb::Iterator> it(store_.NewIterator(kHeads, Reading(snapshot_)));
  auto checkpoint = checkpoints_.begin();
  for (it->SeekToFirst(); it->Valid();) {
    auto size = ParseSeqKey(it->key().ToStringView().substr(0, std::min<size_t>(8, it->key().size())));
    while (size && checkpoint != checkpoints_.end() && checkpoint->first < *size) ++checkpoint;
    if (!size || checkpoint == checkpoints_.end() || checkpoint->first != *size) {
      return Fail(size.value_or(0), fmt::format("the heads family holds a row ({}) of size {}, which has no checkpoint",
                                                DescribeHeadsKey(it->key().ToStringView()), size.value_or(0)));
    }
    it->Seek(HeadsPrefix(*size + 1));
  }
  if (!it->status().ok() && io_.ok()) io_ = FromRocks(it->status(), "reading the heads family");
}

bool EvidenceAudit::Finish(uint64_t log_size, uint64_t* bad_seq, std::string* problem) {
  static const std::unordered_map<std::string, HouseholdHead> kNone;
  if (log_size == 0 && !checkpoints_.empty() && checkpoints_[0].first == 0) CheckCheckpoint(0, kNone);
  for (auto& it : levels_) it.reset();  // before verify releases the snapshot
  if (!failed_) CheckCounts(log_size);
  if (!failed_) return true;
  *bad_seq = bad_seq_;
  *problem = problem_;
  return false;
}

}  // namespace ledger::evidence
