// Evidence (ledger/evidence.h, tools/evidence_cmd.cc): the Merkle tree stored with a real ledger
// against a naive RFC 6962 reference written here; checkpoints; inclusion, consistency and
// household proofs and their offline check, broken on purpose; the upgrade of a ledger made before
// the tree was stored; and verify's audit of the tree and of the checkpoints' household maps.
#include "ledger/evidence/evidence.h"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ledger/domain/json.h"
#include "ledger/reports/verify.h"
#include "tests/merkle_reference.h"
#include "tests/test_util.h"

namespace {

using ledger::Hash;
using ledger::Status;
using ledger::Store;
using ledger::evidence::Proof;
using ledger::evidence::ProofType;
using ledger::evidence::SignedCheckpoint;
namespace evidence = ledger::evidence;
namespace note = ledger::note;
namespace merkle = ledger::merkle;
using Outcome = ledger::AppendResult::Outcome;

// ---- Events -------------------------------------------------------------------------------------------

std::string Register(const std::string& household, int n) {
  std::string number = testing::IdentityNumber(fmt::format("34150219520314{:03}", n % 1000));
  return testing::EventLine("reg-" + household, household, "341502001001", "cw1", 20240105, "householdRegistered",
                            testing::HouseholdMembers({testing::Member(number, "张三", "head")}, "x"));
}

std::string Change(const std::string& household, const std::string& event_id) {
  return testing::EventLine(event_id, household, "341502001001", "cw1", 20240106, "membersChanged",
                            R"("added":[],"removed":[],"reason":"r")");
}

std::string Standard(const std::string& event_id, int amount_fen = 75000) {
  return testing::EventLine(event_id, "", "341502000000", "admin1", 20240103, "standardChanged",
                            fmt::format(R"("regionPrefix":"341502","programme":"urban_dibao","amountFen":{},)"
                                        R"("unit":"perPersonPerMonth","effectiveDate":20240101)",
                                        amount_fen));
}

// Structurally invalid: rejected under every policy.
std::string Invalid(const std::string& event_id) {
  return fmt::format(R"({{"eventId":"{}","regionCode":"999999999999","actorId":"admin1","businessDate":20240103,)"
                     R"("standardChanged":{{"regionPrefix":"341502","programme":"urban_dibao","amountFen":1,)"
                     R"("unit":"perPersonPerMonth","effectiveDate":20240101}}}})",
                     event_id);
}

// Appends `lines` as one group; returns how many were created.
size_t AppendGroup(ledger::Log* l, const std::vector<std::string>& lines) {
  size_t created = 0;
  for (const auto& r : testing::AppendLines(l, lines)) created += r.outcome == Outcome::kCreated;
  return created;
}

// ---- Ledgers --------------------------------------------------------------------------------------------

// The entry hashes of the log, read back, in seq order.
std::vector<Hash> EntryHashes(const ledger::Log& l) {
  std::vector<Hash> hashes;
  for (uint64_t seq = 1; seq <= l.head().seq; ++seq) {
    std::string bytes;
    REQUIRE(l.ReadEntry(seq, &bytes).ok());
    hashes.push_back(ledger::LeafHash(ledger::AsBytes(bytes)));
  }
  return hashes;
}

uint64_t CountRows(const Store& store, ledger::Cf cf) {
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(rocksdb::ReadOptions(), store.cf(cf)));
  uint64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  return n;
}

ledger::VerifyReport VerifyLedger(const ledger::Log& l) {
  ledger::VerifyReport report;
  Status s = ledger::Verify(l, &report);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return report;
}

void CheckVerifies(const std::string& dir) {
  auto report = VerifyLedger(*testing::OpenLedger(dir));
  CHECK_MESSAGE(report.ok, report.problem, " at seq ", report.bad_seq);
}

void CheckVerifyFails(const std::string& dir, uint64_t seq, const std::string& words) {
  auto report = VerifyLedger(*testing::OpenLedger(dir));
  INFO("problem: \"", report.problem, "\" at seq ", report.bad_seq);
  CHECK_FALSE(report.ok);
  CHECK(report.bad_seq == seq);
  CHECK(report.problem.find(words) != std::string::npos);
}

// Opens the raw database of a closed ledger for `edit`.
void Tamper(const std::string& dir, const std::function<void(const Store&)>& edit) {
  std::unique_ptr<Store> store;
  Status s = Store::Open(dir + "/db", /*create=*/false, &store);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  edit(*store);
}

void Put(const Store& store, ledger::Cf cf, const std::string& key, const std::string& value) {
  REQUIRE(store.db()->Put(rocksdb::WriteOptions(), store.cf(cf), key, value).ok());
}

// A ledger of `households` households (ids H000, H001, ...) and some entries of none, appended in
// groups of varying sizes that each hold rejected events.
std::vector<size_t> AppendVaried(ledger::Log* l, size_t entries_min, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int households = 23;
  std::vector<size_t> group_sizes;
  int next_event = 0;
  std::vector<bool> registered(households);
  while (l->head().seq < entries_min) {
    size_t size = std::vector<size_t>{1, 2, 3, 5, 8, 13, 31, 64, 100, 127}[rng() % 10];
    std::vector<std::string> lines;
    for (size_t i = 0; i < size; ++i) {
      int h = static_cast<int>(rng() % households);
      std::string id = fmt::format("H{:03}", h);
      std::string event = fmt::format("ev-{}", next_event++);
      switch (rng() % 6) {
        case 0: lines.push_back(Invalid(event)); break;  // rejected: not a region
        case 1:
          lines.push_back(Standard("std-0", 1 + next_event));
          break;  // rejected after the first: same id, other content
        case 2: lines.push_back(Standard(event)); break;
        default: lines.push_back(registered[h] ? Change(id, event) : Register(id, h)); registered[h] = true;
      }
    }
    AppendGroup(l, lines);
    group_sizes.push_back(size);
  }
  return group_sizes;
}

// ---- Stored tree against the reference ----------------------------------------------------------------

// The rows the merkle family holds for a tree of n leaves: every perfect subtree from the lowest
// stored level up (n - popcount(n) if every level from 1 were stored).
uint64_t StoredNodes(uint64_t n) {
  uint64_t rows = 0;
  for (int level = ledger::kMerkleLowestStoredLevel; level < 64; ++level) rows += n >> level;
  return rows;
}

TEST_CASE("the stored tree of a ledger appended in groups gives the reference's roots and proofs") {
  testing::TempDir tmp;
  auto l = testing::NewLedger(tmp.Sub("l"));
  AppendVaried(l.get(), 620, 6962);
  // An all-or-nothing group with a rejected event writes nothing, nodes included.
  {
    std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> owned;
    std::vector<capnp::MessageBuilder*> group;
    for (const auto& line : {Standard("aon-1"), Invalid("aon-2"), Standard("aon-3")}) {
      owned.push_back(std::make_unique<capnp::MallocMessageBuilder>());
      REQUIRE(ledger::ParseEventJson(line, owned.back().get()).ok());
      group.push_back(owned.back().get());
    }
    std::vector<ledger::AppendResult> results;
    uint64_t before = l->head().seq;
    REQUIRE(l->AppendGroup(group, &results, ledger::Log::GroupMode::kAllOrNothing).ok());
    REQUIRE(l->head().seq == before);
  }
  const std::vector<Hash> leaves = EntryHashes(*l);
  const uint64_t n = leaves.size();
  REQUIRE(n >= 620);
  testing::MerkleReference ref(&leaves);
  // Only the stored levels: one row per perfect subtree of 16 or more leaves.
  CHECK(CountRows(l->store(), ledger::kMerkle) == StoredNodes(n));
  evidence::LogTree tree(l->store());
  for (uint64_t size = 0; size <= 300; ++size) {
    Hash root;
    REQUIRE(merkle::Root(tree, size, &root).ok());
    REQUIRE(root == ref.Mth(0, size));
    for (uint64_t m = 0; m < size; ++m) {
      std::vector<Hash> path;
      REQUIRE(merkle::InclusionProof(tree, m, size, &path).ok());
      REQUIRE(path == ref.Path(m, 0, size));
    }
    for (uint64_t size1 = 1; size1 < size; ++size1) {
      std::vector<Hash> proof;
      REQUIRE(merkle::ConsistencyProof(tree, size1, size, &proof).ok());
      REQUIRE(proof == ref.Subproof(size1, 0, size, true));
    }
  }
  std::mt19937_64 rng(9162);
  std::vector<uint64_t> sizes = {511, 512, 513, n - 1, n};
  for (int i = 0; i < 40; ++i) sizes.push_back(301 + rng() % (n - 300));
  for (uint64_t size : sizes) {
    INFO("size ", size);
    Hash root;
    REQUIRE(evidence::LogRoot(*l, size, &root).ok());
    CHECK(root == ref.Mth(0, size));
    for (uint64_t m : {uint64_t{0}, size - 1, rng() % size, rng() % size}) {
      std::vector<Hash> path;
      REQUIRE(merkle::InclusionProof(tree, m, size, &path).ok());
      CHECK(path == ref.Path(m, 0, size));
    }
    for (uint64_t size1 : {uint64_t{1}, size - 1, 1 + rng() % size, 1 + rng() % size}) {
      std::vector<Hash> proof;
      REQUIRE(merkle::ConsistencyProof(tree, size1, size, &proof).ok());
      CHECK(proof == ref.Subproof(size1, 0, size, true));
    }
  }
  CHECK(VerifyLedger(*l).ok);
}

TEST_CASE("a ledger made before the tree was stored gets it from its log when opened") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("l");
  Hash root_before;
  uint64_t size = 0;
  {
    auto l = testing::NewLedger(dir);
    AppendVaried(l.get(), 150, 1);
    size = l->head().seq;
    REQUIRE(evidence::LogRoot(*l, size, &root_before).ok());
  }
  SUBCASE("no merkle family and no tree_size record at all") {
    Tamper(dir, [](const Store& store) {
      REQUIRE(store.db()->DropColumnFamily(store.cf(ledger::kMerkle)).ok());
      REQUIRE(store.db()->Delete(rocksdb::WriteOptions(), store.cf(ledger::kMeta), ledger::kMetaTreeSize).ok());
    });
  }
  SUBCASE("a tree behind the head") {
    Tamper(dir, [&](const Store& store) {
      Put(store, ledger::kMeta, std::string(ledger::kMetaTreeSize), ledger::SeqKey(100));
      for (uint8_t level = 1; level < 8; ++level) {
        for (uint64_t index = 100 >> level; index < (size >> level); ++index) {
          REQUIRE(store.db()
                      ->Delete(rocksdb::WriteOptions(), store.cf(ledger::kMerkle), ledger::MerkleKey(level, index))
                      .ok());
        }
      }
    });
  }
  auto l = testing::OpenLedger(dir);
  Hash root_after;
  REQUIRE(evidence::LogRoot(*l, size, &root_after).ok());
  CHECK(root_after == root_before);
  CHECK(CountRows(l->store(), ledger::kMerkle) == StoredNodes(size));
  CHECK(VerifyLedger(*l).ok);
  AppendVaried(l.get(), size + 40, 2);  // and it grows on from there
  CHECK(VerifyLedger(*l).ok);
}

TEST_CASE("an old ledger that is empty, or whose log has a gap, opens, the gap blocks appends, verify names it") {
  testing::TempDir tmp;
  const std::string empty = tmp.Sub("empty"), gap = tmp.Sub("gap");
  testing::NewLedger(empty);
  AppendVaried(testing::NewLedger(gap).get(), 40, 5);
  for (const auto& dir : {empty, gap}) {
    Tamper(dir, [&](const Store& store) {
      REQUIRE(store.db()->DropColumnFamily(store.cf(ledger::kMerkle)).ok());
      REQUIRE(store.db()->Delete(rocksdb::WriteOptions(), store.cf(ledger::kMeta), ledger::kMetaTreeSize).ok());
      if (dir == gap)
        REQUIRE(store.db()->Delete(rocksdb::WriteOptions(), store.cf(ledger::kLog), ledger::SeqKey(17)).ok());
    });
  }
  CheckVerifies(empty);
  auto l = testing::OpenLedger(gap);
  std::vector<ledger::AppendResult> results;
  capnp::MallocMessageBuilder message;
  REQUIRE(ledger::ParseEventJson(Standard("after-gap"), &message).ok());
  std::vector<capnp::MessageBuilder*> group = {&message};
  Status s = l->AppendGroup(group, &results);
  CHECK(s.code() == Status::Code::kCorruption);
  CHECK(s.reason().find("the Merkle tree cannot be built past seq 16") != std::string::npos);
  auto report = VerifyLedger(*l);
  CHECK_FALSE(report.ok);
  CHECK(report.bad_seq == 17);
}

// ---- Checkpoints ---------------------------------------------------------------------------------------------

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

note::Verifier VerifierFile(const std::string& path) {
  std::string text = ReadText(path);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  note::Verifier key;
  REQUIRE(note::ParseVerifierKey(text, &key).ok());
  return key;
}

// The file's first 32 lines (seq 2 to 33): the tree sizes and seqs these tests name were written
// for that ledger; the lines added later (an actor's deactivation) change nothing for evidence.
std::vector<std::string> EveryKindLines() {
  auto lines = testing::ReadDataLines("every_kind.jsonl");
  lines.resize(32);
  return lines;
}

TEST_CASE("ledgerctl init makes a checkpoint key, checkpoint signs, stores, repeats and lists") {
  testing::TempDir tmp;
  const std::string dir = testing::LedgerctlLedger(tmp.Sub("l"), EveryKindLines(), "record");
  struct stat st {};
  REQUIRE(stat((dir + "/checkpoint.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  note::Verifier key = VerifierFile(dir + "/checkpoint.pub");
  CHECK(key.name == "benefit-ledger/l");

  auto first = testing::RunLedgerctl({"checkpoint", "--dir", dir});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(first.err.find("made and stored the checkpoint of size") != std::string::npos);
  SignedCheckpoint cp;
  REQUIRE(evidence::OpenCheckpoint(first.out, key, &cp).ok());
  {
    auto l = testing::OpenLedger(dir);
    Hash root;
    REQUIRE(evidence::LogRoot(*l, l->head().seq, &root).ok());
    CHECK(cp.checkpoint.tree_size == l->head().seq);
    CHECK(cp.checkpoint.root_hash == root);
    CHECK(cp.heads.count == 2);
  }
  auto again = testing::RunLedgerctl({"checkpoint", "--dir", dir});
  CHECK(again.exit_code == 0);
  CHECK(again.out == first.out);  // the stored note, not a new signature
  CHECK(again.err.find("already stored") != std::string::npos);

  REQUIRE(testing::RunLedgerctl({"append", "--dir", dir}, Standard("more") + "\n").exit_code == 0);
  auto second = testing::RunLedgerctl({"checkpoint", "--dir", dir});
  REQUIRE(second.exit_code == 0);
  CHECK(second.out != first.out);
  auto list = testing::RunLedgerctl({"checkpoint", "--dir", dir, "--list", "yes"});
  CHECK(list.exit_code == 0);
  CHECK(list.out.find(note::Base64(cp.checkpoint.root_hash)) != std::string::npos);
  CHECK(std::count(list.out.begin(), list.out.end(), '\n') == 3);  // header and two checkpoints
  CheckVerifies(dir);
}

TEST_CASE("a checkpoint note changed in any byte does not open") {
  note::KeyPair key;
  REQUIRE(note::GenerateKey("benefit-ledger/x", &key).ok());
  std::string body, signed_note;
  REQUIRE(note::FormatCheckpoint({key.name, 31, ledger::Sha256({}), {evidence::FormatHeadsLine({})}}, &body).ok());
  REQUIRE(note::SignNote(body, key, &signed_note).ok());
  SignedCheckpoint cp;
  REQUIRE(evidence::OpenCheckpoint(signed_note, note::VerifierOf(key), &cp).ok());
  for (size_t i = 0; i < signed_note.size(); ++i) {
    for (uint8_t mask : {0x01, 0x20, 0x80}) {
      std::string changed = signed_note;
      changed[i] = static_cast<char>(changed[i] ^ mask);
      INFO("byte ", i, " xor ", int{mask});
      CHECK_FALSE(evidence::OpenCheckpoint(changed, note::VerifierOf(key), &cp).ok());
    }
  }
  note::KeyPair other;
  REQUIRE(note::GenerateKey("benefit-ledger/x", &other).ok());
  CHECK_FALSE(evidence::OpenCheckpoint(signed_note, note::VerifierOf(other), &cp).ok());
}

TEST_CASE("keygen, init --key, setkey, and what checkpoint says without a key") {
  testing::TempDir tmp;
  auto keygen = testing::RunLedgerctl({"keygen", "--name", "mca.example/dibao", "--out", tmp.Sub("office")});
  INFO(keygen.out, keygen.err);
  REQUIRE(keygen.exit_code == 0);
  struct stat st {};
  REQUIRE(stat(tmp.Sub("office.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(testing::RunLedgerctl({"keygen", "--name", "again", "--out", tmp.Sub("office")}).exit_code == 2);
  CHECK(testing::RunLedgerctl({"keygen", "--name", "two words", "--out", tmp.Sub("bad")}).exit_code == 2);

  // --key and another --origin: refused before anything is made.
  CHECK(testing::RunLedgerctl({"init", "--dir", tmp.Sub("a"), "--key", tmp.Sub("office.key"), "--origin", "x"})
            .exit_code == 2);
  CHECK_FALSE(std::filesystem::exists(tmp.Sub("a")));
  auto init = testing::RunLedgerctl({"init", "--dir", tmp.Sub("a"), "--key", tmp.Sub("office.key")});
  REQUIRE(init.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(tmp.Sub("a/checkpoint.key")));  // an adopted key stays where it is
  CHECK(testing::RunLedgerctl({"checkpoint", "--dir", tmp.Sub("a")}).exit_code == 2);  // no D/checkpoint.key
  auto cp = testing::RunLedgerctl({"checkpoint", "--dir", tmp.Sub("a"), "--key", tmp.Sub("office.key")});
  REQUIRE(cp.exit_code == 0);
  SignedCheckpoint opened;
  CHECK(evidence::OpenCheckpoint(cp.out, VerifierFile(tmp.Sub("office.pub")), &opened).ok());
  CHECK(opened.checkpoint.origin == "mca.example/dibao");

  // A ledger made without a key (before checkpoints, or by the library).
  testing::NewLedger(tmp.Sub("b"));
  auto none = testing::RunLedgerctl({"checkpoint", "--dir", tmp.Sub("b")});
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("ledgerctl setkey --dir") != std::string::npos);
  CHECK(testing::RunLedgerctl({"setkey", "--dir", tmp.Sub("b"), "--origin", "county/b"}).exit_code == 0);
  CHECK(testing::RunLedgerctl({"setkey", "--dir", tmp.Sub("b")}).exit_code == 2);  // set once
  CHECK(testing::RunLedgerctl({"checkpoint", "--dir", tmp.Sub("b")}).exit_code == 0);
  CHECK(VerifierFile(tmp.Sub("b/checkpoint.pub")).name == "county/b");
  CheckVerifies(tmp.Sub("b"));
}

// ---- Inclusion and consistency proofs -------------------------------------------------------------------

// A ledger with a checkpoint key held by the test, and checkpoints at the sizes given.
struct KeyedLedger {
  testing::TempDir tmp;
  std::string dir = tmp.Sub("l");
  note::KeyPair key;
  std::map<uint64_t, SignedCheckpoint> checkpoints;

  KeyedLedger() {
    auto l = testing::NewLedger(dir);
    REQUIRE(note::GenerateKey("benefit-ledger/test", &key).ok());
    REQUIRE(evidence::SetCheckpointKey(l.get(), note::VerifierOf(key)).ok());
  }
  void Checkpoint(ledger::Log* l) {
    SignedCheckpoint cp;
    bool made = false;
    Status s = evidence::MakeCheckpoint(l, key, &cp, &made);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    checkpoints[cp.checkpoint.tree_size] = cp;
  }
  note::Verifier verifier() const { return note::VerifierOf(key); }
};

// The proof, written as JSON and read back, checked (with the checkpoint, if given).
Status CheckJson(const Proof& proof, const SignedCheckpoint* cp) {
  Proof read;
  Status s = evidence::ParseProof(evidence::ProofToJson(proof), &read);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  std::string summary;
  return evidence::CheckProof(read, cp, &summary);
}

Hash Flipped(Hash h, int bit) {
  h[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  return h;
}

// Every way of breaking a list of proof hashes: a flipped bit anywhere, one more, one fewer.
// `path` is in `proof`; both are restored.
void BreakPath(const Proof& proof, std::vector<Hash>* path, const SignedCheckpoint* cp) {
  std::vector<Hash> original = *path;
  for (size_t i = 0; i < original.size(); ++i) {
    for (int bit = 0; bit < 256; ++bit) {
      (*path)[i] = Flipped(original[i], bit);
      REQUIRE_FALSE(CheckJson(proof, cp).ok());
    }
    *path = original;
    path->erase(path->begin() + static_cast<long>(i));
    CHECK_FALSE(CheckJson(proof, cp).ok());
    *path = original;
  }
  for (const Hash& extra : {Hash{}, original.empty() ? Hash{} : original.back()}) {
    path->push_back(extra);
    CHECK_FALSE(CheckJson(proof, cp).ok());
    *path = original;
  }
}

TEST_CASE("every altered inclusion proof is rejected") {
  KeyedLedger kl;
  auto l = testing::OpenLedger(kl.dir);
  AppendVaried(l.get(), 70, 3);
  kl.Checkpoint(l.get());
  const uint64_t n = l->head().seq;
  const SignedCheckpoint& cp = kl.checkpoints.at(n);
  for (uint64_t seq : {uint64_t{1}, uint64_t{2}, uint64_t{33}, n - 1, n}) {
    INFO("seq ", seq, " of ", n);
    Proof p;
    REQUIRE(evidence::ProveInclusion(*l, seq, std::nullopt, &p).ok());
    REQUIRE(CheckJson(p, &cp).ok());
    REQUIRE(CheckJson(p, nullptr).ok());
    Proof q = p;
    BreakPath(q, &q.inclusion.path, &cp);
    for (Hash* h : {&q.inclusion.root, &q.inclusion.leaf_hash}) {
      Hash original = *h;
      for (int bit = 0; bit < 256; ++bit) {
        *h = Flipped(original, bit);
        REQUIRE_FALSE(CheckJson(q, &cp).ok());
        REQUIRE_FALSE(CheckJson(q, nullptr).ok());
      }
      *h = original;
    }
    for (uint64_t index : {seq - 2, seq, seq + 1}) {  // a wrong leafIdx, with or without the seq
      q = p;
      q.inclusion.leaf_index = index;
      CHECK_FALSE(CheckJson(q, nullptr).ok());
      q.inclusion.seq = index + 1;
      CHECK_FALSE(CheckJson(q, nullptr).ok());
      q.inclusion.entry.reset();
      q.inclusion.seq.reset();
      CHECK_FALSE(CheckJson(q, nullptr).ok());
    }
    // A wrong size: some leaves have the same path in trees of several sizes (merkle.h), so the
    // size is bound by the signed checkpoint.
    for (uint64_t size : {n - 1, n + 1, 2 * n}) {
      q = p;
      q.inclusion.tree_size = size;
      CHECK_FALSE(CheckJson(q, &cp).ok());
    }
    q = p;
    q.inclusion.entry->back() ^= 1;
    CHECK_FALSE(CheckJson(q, nullptr).ok());
  }
  // A proof of an earlier size, against the checkpoint of the head.
  Proof old;
  REQUIRE(evidence::ProveInclusion(*l, 5, n - 3, &old).ok());
  CHECK(CheckJson(old, nullptr).ok());
  CHECK_FALSE(CheckJson(old, &cp).ok());
}

TEST_CASE("every altered consistency proof is rejected") {
  KeyedLedger kl;
  auto l = testing::OpenLedger(kl.dir);
  AppendVaried(l.get(), 45, 4);
  kl.Checkpoint(l.get());
  const uint64_t m = l->head().seq;
  AppendVaried(l.get(), m + 30, 5);
  kl.Checkpoint(l.get());
  const uint64_t n = l->head().seq;
  for (uint64_t size1 : {uint64_t{1}, uint64_t{7}, uint64_t{8}, m}) {
    INFO("sizes ", size1, " and ", n);
    Proof p;
    REQUIRE(evidence::ProveConsistency(*l, size1, n, &p).ok());
    const SignedCheckpoint& cp = kl.checkpoints.at(n);
    REQUIRE(CheckJson(p, &cp).ok());
    if (size1 == m) REQUIRE(CheckJson(p, &kl.checkpoints.at(m)).ok());  // signed at either end
    Proof q = p;
    BreakPath(q, &q.consistency.path, &cp);
    for (Hash* h : {&q.consistency.root1, &q.consistency.root2}) {
      Hash original = *h;
      for (int bit = 0; bit < 256; ++bit) {
        *h = Flipped(original, bit);
        REQUIRE_FALSE(CheckJson(q, &cp).ok());
      }
      *h = original;
    }
    for (int delta : {-1, 1}) {
      q = p;
      q.consistency.size1 += static_cast<uint64_t>(delta);
      CHECK_FALSE(CheckJson(q, &cp).ok());
      q = p;
      q.consistency.size2 += static_cast<uint64_t>(delta);
      CHECK_FALSE(CheckJson(q, &cp).ok());
    }
  }
  Proof p;
  REQUIRE(evidence::ProveConsistency(*l, 3, m - 1, &p).ok());
  CHECK(CheckJson(p, nullptr).ok());
  CHECK_FALSE(CheckJson(p, &kl.checkpoints.at(n)).ok());  // signed at neither end
}

// ---- ledgerctl prove and verify-proof ----------------------------------------------------------------------

TEST_CASE("ledgerctl verify-proof: 0 valid, 1 invalid with the reason, 2 unusable input") {
  testing::TempDir tmp;
  const std::string dir = testing::LedgerctlLedger(tmp.Sub("l"), EveryKindLines(), "record");
  auto cp = testing::RunLedgerctl({"checkpoint", "--dir", dir});
  REQUIRE(cp.exit_code == 0);
  WriteText(tmp.Sub("cp.note"), cp.out);
  const std::string pub = dir + "/checkpoint.pub";
  auto prove = testing::RunLedgerctl({"prove", "inclusion", "--dir", dir, "--seq", "14"});
  REQUIRE(prove.exit_code == 0);
  const std::string good = prove.out;
  CHECK(good.find("\"leafIdx\": 13,") != std::string::npos);
  auto verify = [&](const std::string& json, std::vector<std::string> extra = {}) {
    WriteText(tmp.Sub("p.json"), json);
    std::vector<std::string> args = {"verify-proof", tmp.Sub("p.json")};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::RunLedgerctl(args);
  };
  const std::vector<std::string> signed_by = {"--checkpoint", tmp.Sub("cp.note"), "--key", pub};

  auto ok = verify(good, signed_by);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.rfind("valid: entry seq 14 (leaf 13", 0) == 0);
  CHECK(ok.out.find("signed by benefit-ledger/l at size 33") != std::string::npos);
  CHECK(verify(good).exit_code == 0);

  auto replace = [&](const std::string& from, const std::string& to) {
    std::string json = good;
    size_t at = json.find(from);
    REQUIRE(at != std::string::npos);
    return json.replace(at, from.size(), to);
  };
  Proof parsed;
  REQUIRE(evidence::ParseProof(good, &parsed).ok());
  std::string root = note::Base64(parsed.inclusion.root);
  auto bad = verify(replace(root, note::Base64(Flipped(parsed.inclusion.root, 77))), signed_by);
  CHECK(bad.exit_code == 1);
  CHECK(bad.out.rfind("invalid: proof: inclusion proof does not lead to the root", 0) == 0);
  auto wrong_index = verify(replace("\"leafIdx\": 13", "\"leafIdx\": 12"), signed_by);
  CHECK(wrong_index.exit_code == 1);
  CHECK(wrong_index.out.rfind("invalid: leafIdx: is 12; entry seq 14 is leaf 13", 0) == 0);
  CHECK(verify(replace("\"treeSize\": 33", "\"treeSize\": 32"), signed_by).exit_code == 1);

  // Unusable input: exit 2, naming the field.
  auto truncated = verify(good.substr(0, good.size() / 2));
  CHECK(truncated.exit_code == 2);
  CHECK(truncated.err.find("not JSON: line") != std::string::npos);
  auto missing = verify(replace("\"leafHash\"", "\"leafHash_\""));
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("leafHash: is missing") != std::string::npos);
  CHECK(verify(replace("\"root\": \"", "\"root\": \"!")).err.find("root: expected base64") != std::string::npos);
  CHECK(verify(replace("\"treeSize\": 33", "\"treeSize\": -33")).exit_code == 2);
  CHECK(verify(replace("\"treeSize\": 33", "\"treeSize\": 3.3e1")).exit_code == 2);
  CHECK(verify(replace("\"treeSize\": 33", "\"treeSize\": \"33\"")).exit_code == 2);
  CHECK(verify(replace("\"treeSize\": 33", "\"treeSize\": 33, \"treeSize\": 33")).exit_code == 2);
  CHECK(verify(replace("\"type\": \"inclusion\"", "\"type\": \"inclusion\", \"extra\": 1")).exit_code == 2);
  CHECK(verify(replace("inclusion", "exclusion")).exit_code == 2);
  CHECK(testing::RunLedgerctl({"verify-proof", tmp.Sub("absent.json")}).exit_code == 2);
  CHECK(verify(good, {"--checkpoint", tmp.Sub("cp.note")}).exit_code == 2);  // without --key
  CHECK(verify(good, {"--checkpoint", tmp.Sub("cp.note"), "--key", tmp.Sub("cp.note")}).exit_code == 2);

  // A changed note: invalid.
  std::string changed = cp.out;
  changed[changed.find('\n') + 1] ^= 1;  // the size line
  WriteText(tmp.Sub("changed.note"), changed);
  auto forged = verify(good, {"--checkpoint", tmp.Sub("changed.note"), "--key", pub});
  CHECK(forged.exit_code == 1);
  CHECK(forged.out.rfind("invalid: the checkpoint does not verify", 0) == 0);

  // prove's own errors.
  CHECK(testing::RunLedgerctl({"prove", "inclusion", "--dir", dir, "--seq", "34"}).exit_code == 1);
  CHECK(testing::RunLedgerctl({"prove", "inclusion", "--dir", dir, "--seq", "3", "--size", "2"}).exit_code == 1);
  CHECK(testing::RunLedgerctl({"prove", "consistency", "--dir", dir, "--from", "9", "--to", "8"}).exit_code == 2);
  CHECK(testing::RunLedgerctl({"prove", "household", "--dir", dir, "--household", "H1", "--size", "32"}).exit_code ==
        1);
  CHECK(testing::RunLedgerctl({"prove", "exclusion", "--dir", dir}).exit_code == 2);
  auto consistency = testing::RunLedgerctl({"prove", "consistency", "--dir", dir, "--from", "10", "--to", "33"});
  REQUIRE(consistency.exit_code == 0);
  CHECK(verify(consistency.out, signed_by).exit_code == 0);
}

// ---- Household proofs ------------------------------------------------------------------------------------------

// Households H1..H8 (not all at once), entries of none between, checkpoints at sizes 0, after the
// first part and at the end.
struct HouseholdLedger : KeyedLedger {
  HouseholdLedger() {
    auto l = testing::OpenLedger(dir);
    Checkpoint(l.get());  // the empty ledger: an empty map
    std::vector<std::string> first, second;
    for (int h : {3, 5, 7}) first.push_back(Register(fmt::format("H{}", h), h));
    for (int i = 0; i < 12; ++i)
      first.push_back(i % 4 == 0 ? Standard(fmt::format("s{}", i))
                                 : Change(fmt::format("H{}", 3 + 2 * (i % 3)), fmt::format("a{}", i)));
    REQUIRE(AppendGroup(l.get(), first) == first.size());
    Checkpoint(l.get());
    for (int h : {1, 2, 8}) second.push_back(Register(fmt::format("H{}", h), h));
    for (int i = 0; i < 20; ++i)
      second.push_back(Change(fmt::format("H{}", std::vector<int>{1, 2, 3, 5, 8}[i % 5]), fmt::format("b{}", i)));
    REQUIRE(AppendGroup(l.get(), second) == second.size());
    Checkpoint(l.get());
  }
  uint64_t first_size() const { return std::next(checkpoints.begin())->first; }
  uint64_t last_size() const { return checkpoints.rbegin()->first; }
};

Proof ProveAt(const HouseholdLedger& hl, const std::string& household, uint64_t size) {
  auto l = testing::OpenLedger(hl.dir);
  Proof p;
  Status s = evidence::ProveHousehold(*l, household, size, &p);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return p;
}

TEST_CASE("household proofs show every household's whole history, and households absent") {
  HouseholdLedger hl;
  auto l = testing::OpenLedger(hl.dir);
  for (const auto& [size, cp] : hl.checkpoints) {
    for (int h = 0; h <= 9; ++h) {
      std::string id = fmt::format("H{}", h);
      INFO(id, " at size ", size);
      Proof p;
      REQUIRE(evidence::ProveHousehold(*l, id, size, &p).ok());
      Status s = CheckJson(p, &cp);
      CHECK_MESSAGE(s.ok(), s.ToString());
      uint64_t count = 0;
      l->ReadHousehold(id, [&](const ledger::HouseholdEntry& e) { count += e.seq <= size; });
      CHECK(p.household.entries.size() == count);
      CHECK(p.household.head.has_value() == (count > 0));
    }
    Proof p;
    REQUIRE(evidence::ProveHousehold(*l, "H45", size, &p).ok());  // sorts between H4 and H5
    CHECK(CheckJson(p, &cp).ok());
  }
  Proof latest;
  REQUIRE(evidence::ProveHousehold(*l, "H3", std::nullopt, &latest).ok());
  CHECK(latest.household.tree_size == hl.last_size());
}

// H3's proof at the last checkpoint, and a check that a changed copy of it fails (read directly
// and through its JSON).
struct H3Proof {
  HouseholdLedger hl;
  const uint64_t size = hl.last_size();
  const SignedCheckpoint& cp = hl.checkpoints.at(size);
  const Proof p = ProveAt(hl, "H3", size);
  const std::vector<evidence::EntryProof>& entries = p.household.entries;

  H3Proof() {
    REQUIRE(entries.size() >= 5);
    REQUIRE(CheckJson(p, &cp).ok());
  }
  void Fails(const Proof& q, const std::string& why) const {
    INFO(why);
    std::string summary;
    CHECK_FALSE(evidence::CheckProof(q, &cp, &summary).ok());
    CHECK_FALSE(CheckJson(q, &cp).ok());
  }
};

TEST_CASE("a household proof with an entry removed, added, reordered or from another household fails") {
  H3Proof h;
  for (size_t k = 0; k < h.entries.size(); ++k) {
    Proof q = h.p;
    q.household.entries.erase(q.household.entries.begin() + static_cast<long>(k));
    h.Fails(q, fmt::format("entry {} removed", k));
    q = h.p;
    q.household.entries.insert(q.household.entries.begin() + static_cast<long>(k), h.entries[k]);
    h.Fails(q, fmt::format("entry {} twice", k));
    if (k + 1 < h.entries.size()) {
      q = h.p;
      std::swap(q.household.entries[k], q.household.entries[k + 1]);
      h.Fails(q, fmt::format("entries {} and {} swapped", k, k + 1));
    }
  }
  // An entry of another household (with its true inclusion proof), in seq order, or instead of one.
  Proof other = ProveAt(h.hl, "H5", h.size);
  for (const auto& e : other.household.entries) {
    Proof q = h.p;
    auto at = std::find_if(q.household.entries.begin(), q.household.entries.end(),
                           [&](const auto& mine) { return mine.seq > e.seq; });
    q.household.entries.insert(at, e);
    h.Fails(q, fmt::format("H5's seq {} added", e.seq));
  }
  for (size_t k = 0; k < h.entries.size(); ++k) {
    Proof q = h.p;
    q.household.entries[k] = other.household.entries[k % other.household.entries.size()];
    h.Fails(q, fmt::format("entry {} replaced by one of H5", k));
  }
  // At the earlier checkpoint, H3's later entries cannot be added: they are not in that tree.
  Proof early = ProveAt(h.hl, "H3", h.hl.first_size());
  const auto& first_cp = h.hl.checkpoints.at(h.hl.first_size());
  std::string summary;
  REQUIRE(evidence::CheckProof(early, &first_cp, &summary).ok());
  early.household.entries.push_back(h.entries.back());
  CHECK_FALSE(evidence::CheckProof(early, &first_cp, &summary).ok());
}

TEST_CASE("a household proof with its head or neighbours changed fails") {
  H3Proof h;
  Proof q = h.p;
  q.household.entries.pop_back();
  q.household.head->leaf.head = {q.household.head->leaf.head.version - 1, h.entries[h.entries.size() - 2].seq,
                                 ledger::LeafHash(ledger::AsBytes(h.entries[h.entries.size() - 2].entry))};
  h.Fails(q, "a shorter history with a head to match: that head is not in the signed map");
  q = h.p;
  q.household.head->leaf.head.version += 1;
  h.Fails(q, "version");
  q = h.p;
  q.household.head->index += 1;
  h.Fails(q, "head index");
  q = h.p;
  q.household.before.reset();
  h.Fails(q, "before dropped");
  q = h.p;
  q.household.after.reset();
  h.Fails(q, "after dropped");
  q = h.p;
  std::swap(q.household.before, q.household.after);
  h.Fails(q, "neighbours swapped");
  q = h.p;
  q.household.head.reset();
  q.household.entries.clear();
  h.Fails(q, "claimed absent with its own neighbours, which are not adjacent");
  q = h.p;
  q.household.household = "H4";
  h.Fails(q, "another household's name");
}

TEST_CASE("a household proof with any bit of any hash flipped fails") {
  H3Proof h;
  Proof q = h.p;
  std::vector<Hash*> hashes = {&q.household.root, &q.household.heads.root, &q.household.head->leaf.head.last_hash};
  for (auto* leaf : {&q.household.head, &q.household.before, &q.household.after}) {
    for (Hash& hash : (*leaf)->path) hashes.push_back(&hash);
  }
  for (auto& e : q.household.entries) {
    for (Hash& hash : e.path) hashes.push_back(&hash);
  }
  for (Hash* hash : hashes) {
    Hash original = *hash;
    for (int bit = 0; bit < 256; ++bit) {
      *hash = Flipped(original, bit);
      std::string summary;
      REQUIRE_FALSE(evidence::CheckProof(q, &h.cp, &summary).ok());
    }
    *hash = original;
  }
  REQUIRE(CheckJson(q, &h.cp).ok());
}

TEST_CASE("a household proof checks only against its own signed checkpoint") {
  HouseholdLedger hl;
  const uint64_t size = hl.last_size();
  const Proof p = ProveAt(hl, "H5", size);
  std::string summary;
  CHECK(evidence::CheckProof(p, &hl.checkpoints.at(size), &summary).ok());
  CHECK_FALSE(evidence::CheckProof(p, &hl.checkpoints.at(hl.first_size()), &summary).ok());
  CHECK_FALSE(evidence::CheckProof(p, nullptr, &summary).ok());
  // The history at the earlier checkpoint is shorter, and complete there.
  const Proof early = ProveAt(hl, "H5", hl.first_size());
  CHECK(evidence::CheckProof(early, &hl.checkpoints.at(hl.first_size()), &summary).ok());
  CHECK(early.household.entries.size() < p.household.entries.size());
  CHECK_FALSE(evidence::CheckProof(early, &hl.checkpoints.at(size), &summary).ok());
  // A note changed in any byte.
  const std::string note_text = hl.checkpoints.at(size).note;
  for (size_t i = 0; i < note_text.size(); ++i) {
    std::string changed = note_text;
    changed[i] ^= 0x04;
    SignedCheckpoint cp;
    CHECK_FALSE(evidence::OpenCheckpoint(changed, hl.verifier(), &cp).ok());
  }
}

// The shape of the RFC 6962 test vectors other tooling writes (transparency-dev/merkle's
// testdata): no "type", "proof": null for an empty proof, "desc" and "wantErr". The hashes are
// the certificate-transparency vectors of merkle_test.cc (the 8-leaf tree), in base64.
TEST_CASE("ledgerctl verify-proof reads proofs in the RFC 6962 test vectors' own shape") {
  testing::TempDir tmp;
  const std::string leaf0 = "\"bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=\"";  // Also the root of size 1.
  const std::string root8 = "\"XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\"";
  const std::string path0 =
      "[\"lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=\", \"Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=\", "
      "\"a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=\"]";
  auto verify = [&](const std::string& json) {
    WriteText(tmp.Sub("v.json"), json);
    return testing::RunLedgerctl({"verify-proof", tmp.Sub("v.json")});
  };
  auto single = verify("{\"leafIdx\": 0, \"treeSize\": 1, \"root\": " + leaf0 + ", \"leafHash\": " + leaf0 +
                       ", \"proof\": null, \"desc\": \"happy path\", \"wantErr\": false}");
  CHECK(single.exit_code == 0);
  CHECK(single.out.rfind("valid: entry seq 1 (leaf 0", 0) == 0);
  CHECK(single.out.find("; the vector (happy path) expects: valid\n") != std::string::npos);
  auto inclusion = verify("{\"leafIdx\": 0, \"treeSize\": 8, \"root\": " + root8 + ", \"leafHash\": " + leaf0 +
                          ", \"proof\": " + path0 + "}");
  CHECK(inclusion.exit_code == 0);
  CHECK(inclusion.out.find("is in the log of 8 entries") != std::string::npos);
  auto consistency = verify("{\"size1\": 1, \"size2\": 8, \"root1\": " + leaf0 + ", \"root2\": " + root8 +
                            ", \"proof\": " + path0 + ", \"desc\": \"happy path\", \"wantErr\": false}");
  CHECK(consistency.exit_code == 0);
  CHECK(consistency.out.rfind("valid: the log of 8 entries", 0) == 0);
  // A vector that expects failure fails, and says the vector expected it.
  auto empty = verify("{\"size1\": 1, \"size2\": 8, \"root1\": " + leaf0 + ", \"root2\": " + root8 +
                      ", \"proof\": [], \"desc\": \"empty proof\", \"wantErr\": true}");
  CHECK(empty.exit_code == 1);
  CHECK(empty.out.rfind("invalid: ", 0) == 0);
  CHECK(empty.out.find("; the vector (empty proof) expects: invalid\n") != std::string::npos);
  // null stands for an empty proof only: the tree of 8 needs its path.
  auto null_path = verify("{\"leafIdx\": 0, \"treeSize\": 8, \"root\": " + root8 + ", \"leafHash\": " + leaf0 +
                          ", \"proof\": null}");
  CHECK(null_path.exit_code == 1);
  // Fields that name no type, and annotations of the wrong kind, are unusable input.
  auto untyped = verify("{\"treeSize\": 8, \"root\": " + root8 + "}");
  CHECK(untyped.exit_code == 2);
  CHECK(untyped.err.find("type: is missing, and the fields are not those of") != std::string::npos);
  auto want = verify("{\"leafIdx\": 0, \"treeSize\": 1, \"root\": " + leaf0 + ", \"leafHash\": " + leaf0 +
                     ", \"proof\": null, \"wantErr\": \"no\"}");
  CHECK(want.exit_code == 2);
  CHECK(want.err.find("wantErr: expected true or false") != std::string::npos);
}

TEST_CASE("ledgerctl prove household and verify-proof, end to end") {
  testing::TempDir tmp;
  const std::string dir = testing::LedgerctlLedger(tmp.Sub("l"), EveryKindLines(), "record");
  auto cp = testing::RunLedgerctl({"checkpoint", "--dir", dir});
  REQUIRE(cp.exit_code == 0);
  WriteText(tmp.Sub("cp.note"), cp.out);
  for (const char* household : {"H1", "H2", "H0", "H3"}) {
    auto prove = testing::RunLedgerctl({"prove", "household", "--dir", dir, "--household", household});
    INFO(household, prove.err);
    REQUIRE(prove.exit_code == 0);
    WriteText(tmp.Sub("h.json"), prove.out);
    auto check = testing::RunLedgerctl(
        {"verify-proof", tmp.Sub("h.json"), "--checkpoint", tmp.Sub("cp.note"), "--key", dir + "/checkpoint.pub"});
    CHECK(check.exit_code == 0);
    CHECK(check.out.rfind(fmt::format("valid: household {} has ", household), 0) == 0);
    auto unsigned_check = testing::RunLedgerctl({"verify-proof", tmp.Sub("h.json")});
    CHECK(unsigned_check.exit_code == 2);
    CHECK(unsigned_check.err.find("needs --checkpoint") != std::string::npos);
  }
}

// ---- verify's audit of checkpoints ---------------------------------------------------------------------------------

// Rewrites the heads map of the checkpoint of `size` from `leaves` and, with `key`, re-signs the
// checkpoint over it: what an office that lies about the map would do.
void RewriteHeadsMap(const Store& store, uint64_t size, const std::vector<evidence::HeadsLeaf>& leaves,
                     const note::KeyPair* key) {
  REQUIRE(store.db()
              ->DeleteRange(rocksdb::WriteOptions(), store.cf(ledger::kHeads), ledger::HeadsPrefix(size),
                            ledger::HeadsPrefix(size + 1))
              .ok());
  std::vector<std::pair<std::string, std::string>> rows;
  evidence::HeadsCommitment heads;
  evidence::HeadsRows(size, leaves, &rows, &heads);
  for (const auto& [k, v] : rows) Put(store, ledger::kHeads, k, v);
  if (!key) return;
  std::string stored, body, signed_note;
  bool found = false;
  REQUIRE(store.Get(ledger::kCheckpoint, ledger::SeqKey(size), &stored, &found).ok());
  note::Checkpoint cp;
  REQUIRE(note::OpenNote(stored, note::VerifierOf(*key), &body).ok());
  REQUIRE(note::ParseCheckpoint(body, &cp).ok());
  cp.extension_lines = {evidence::FormatHeadsLine(heads)};
  REQUIRE(note::FormatCheckpoint(cp, &body).ok());
  REQUIRE(note::SignNote(body, *key, &signed_note).ok());
  Put(store, ledger::kCheckpoint, ledger::SeqKey(size), signed_note);
}

std::vector<evidence::HeadsLeaf> HeadsNow(const ledger::Log& l) {
  std::vector<evidence::HeadsLeaf> leaves;
  std::unique_ptr<rocksdb::Iterator> it(
      l.store().db()->NewIterator(rocksdb::ReadOptions(), l.store().cf(ledger::kHouseholdHead)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    leaves.push_back({it->key().ToString(), *ledger::HouseholdHead::Decode(it->value().ToStringView())});
  }
  return leaves;
}

TEST_CASE("verify catches a lying household heads map, which fools the offline check alone") {
  HouseholdLedger hl;
  const uint64_t size = hl.last_size();
  CheckVerifies(hl.dir);
  std::vector<evidence::HeadsLeaf> leaves = HeadsNow(*testing::OpenLedger(hl.dir));
  // The office hides H3's last two events: its head goes back two entries, map re-signed.
  const Proof honest = ProveAt(hl, "H3", size);
  const auto& e = honest.household.entries;
  auto h3 = std::find_if(leaves.begin(), leaves.end(), [](const auto& x) { return x.household == "H3"; });
  h3->head = {h3->head.version - 2, e[e.size() - 3].seq, ledger::LeafHash(ledger::AsBytes(e[e.size() - 3].entry))};
  Tamper(hl.dir, [&](const Store& store) { RewriteHeadsMap(store, size, leaves, &hl.key); });
  SignedCheckpoint lying;
  {
    auto l = testing::OpenLedger(hl.dir);
    REQUIRE(evidence::ReadCheckpoint(*l, size, &lying).ok());
  }
  const Proof hidden = ProveAt(hl, "H3", size);
  std::string summary;
  CHECK(hidden.household.entries.size() == e.size() - 2);
  CHECK(evidence::CheckProof(hidden, &lying, &summary).ok());  // the trust model: the office signs the map
  CheckVerifyFails(hl.dir, size,
                   fmt::format("the checkpoint of size {} signs a household heads map (6 households, root", size));
}

TEST_CASE("verify catches heads rows and checkpoints that do not match the log") {
  HouseholdLedger hl;
  const uint64_t size = hl.last_size(), first = hl.first_size();
  std::vector<evidence::HeadsLeaf> leaves = HeadsNow(*testing::OpenLedger(hl.dir));
  SUBCASE("a household's head changed, the note left alone") {
    leaves[2].head.version += 1;
    Tamper(hl.dir, [&](const Store& store) { RewriteHeadsMap(store, size, leaves, nullptr); });
    CheckVerifyFails(hl.dir, size,
                     fmt::format("heads map of checkpoint {}: the row of household \"{}\" is not the one the log "
                                 "implies",
                                 size, leaves[2].household));
  }
  SUBCASE("one row of the map altered") {
    Tamper(hl.dir, [&](const Store& store) {
      Put(store, ledger::kHeads, ledger::HeadsNodeKey(size, 0, 1), std::string(32, 'x'));
    });
    CheckVerifyFails(hl.dir, size,
                     fmt::format("heads map of checkpoint {}: the row of node (level 0, index 1) is not", size));
  }
  SUBCASE("a row of a size with no checkpoint") {
    Tamper(hl.dir, [&](const Store& store) {
      Put(store, ledger::kHeads, ledger::HeadsHouseholdKey(first + 1, "H9"), std::string(56, '\0'));
    });
    CheckVerifyFails(hl.dir, first + 1, "which has no checkpoint");
  }
  SUBCASE("a checkpoint deleted, its rows left") {
    Tamper(hl.dir, [&](const Store& store) {
      REQUIRE(store.db()->Delete(rocksdb::WriteOptions(), store.cf(ledger::kCheckpoint), ledger::SeqKey(first)).ok());
    });
    CheckVerifyFails(hl.dir, first, "which has no checkpoint");
  }
  SUBCASE("a checkpoint signed by another key") {
    note::KeyPair other;
    REQUIRE(note::GenerateKey(hl.key.name, &other).ok());
    std::string body, resigned;
    REQUIRE(note::OpenNote(hl.checkpoints.at(first).note, hl.verifier(), &body).ok());
    REQUIRE(note::SignNote(body, other, &resigned).ok());
    Tamper(hl.dir, [&](const Store& store) { Put(store, ledger::kCheckpoint, ledger::SeqKey(first), resigned); });
    CheckVerifyFails(hl.dir, first, fmt::format("the stored checkpoint of size {} does not open", first));
  }
  SUBCASE("a checkpoint past the end of the log") {
    Tamper(hl.dir, [&](const Store& store) {
      std::string note_text = hl.checkpoints.at(size).note;
      Put(store, ledger::kCheckpoint, ledger::SeqKey(size + 3), note_text);
    });
    CheckVerifyFails(hl.dir, size, fmt::format("a checkpoint of size {} is stored, past the end", size + 3));
  }
}

}  // namespace
