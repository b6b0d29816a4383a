// Upgrade tests: a ledger written by benefit-ledger/1 (tests/data/ledger_v1, made by that
// version's ledgerctl from every_kind.jsonl, with a checkpoint) is refused until upgraded, then
// reads, verifies and appends with its history and checkpoint unchanged and its genesis entry
// appended after them (genesis.h: never inserted before existing entries); a row that does not
// match the log stops the upgrade before anything is written; a cut-short upgrade completes when
// run again.
#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "ledger/core/entry.h"
#include "ledger/core/log.h"
#include "ledger/core/store.h"
#include "ledger/domain/machine.h"
#include "ledger/evidence/evidence.h"
#include "ledger/reports/verify.h"
#include "ledger/util/hash.h"
#include "tests/test_util.h"

namespace {

using ledger::Log;
using ledger::Status;
using ledger::Store;

// The v1 ledger's head, as its own `ledgerctl verify` printed it when the fixture was made.
constexpr const char* kV1HeadHex = "dc744856d8c0c1be725c76c0c5cc88590ce3ed11b23d6440ea12a5939446300b";
constexpr uint64_t kEntries = 32;
constexpr uint64_t kGenesisSeq = kEntries + 1;  // Where upgrade appends the genesis entry.

// A copy of the v1 fixture (opening a database may write to it).
std::string CopyOfV1(const testing::TempDir& tmp) {
  std::string dir = tmp.Sub("ledger");
  std::filesystem::copy(std::string(TEST_DATA_DIR) + "/ledger_v1", dir, std::filesystem::copy_options::recursive);
  return dir;
}

void WithStore(const std::string& dir, const std::function<void(const Store&)>& edit) {
  std::unique_ptr<Store> store;
  Status s = Store::Open(dir + "/db", /*create=*/false, &store);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  edit(*store);
}

std::string Get(const Store& store, ledger::Cf cf, const std::string& key) {
  std::string value;
  bool found = false;
  REQUIRE(store.Get(cf, key, &value, &found).ok());
  REQUIRE(found);
  return value;
}

// Rows of a family, and the size of each value seen.
struct Rows {
  uint64_t count = 0;
  std::set<size_t> value_sizes;
  uint8_t lowest_key_byte = 0xff;  // For the merkle family: the lowest level.
};
Rows Scan(const Store& store, ledger::Cf cf) {
  Rows rows;
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(rocksdb::ReadOptions(), store.cf(cf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++rows.count;
    rows.value_sizes.insert(it->value().size());
    rows.lowest_key_byte = std::min(rows.lowest_key_byte, static_cast<uint8_t>(it->key()[0]));
  }
  REQUIRE(it->status().ok());
  return rows;
}

std::string Format(const std::string& dir) {
  std::string format;
  WithStore(dir, [&](const Store& store) { format = Get(store, ledger::kMeta, std::string(ledger::kMetaFormat)); });
  return format;
}

ledger::VerifyReport VerifyAt(const std::string& dir) {
  auto l = testing::OpenLedger(dir);
  ledger::VerifyReport report;
  REQUIRE(ledger::Verify(*l, &report).ok());
  return report;
}

TEST_CASE(
    "a benefit-ledger/1 ledger is refused until upgraded, then keeps its history and checkpoint, its genesis after "
    "them") {
  testing::TempDir tmp;
  const std::string dir = CopyOfV1(tmp);
  std::unique_ptr<Log> l;
  Status s = Log::Open(ledger::domain::Rules(), dir, &l);
  CHECK(s.code() == Status::Code::kBusy);
  CHECK(s.reason().find("upgrade it first with Ledger::Upgrade") != std::string::npos);  // ledgerctl names its command
  WithStore(dir, [](const Store& store) {  // The v1 layout, as the fixture holds it.
    CHECK(Scan(store, ledger::kHousehold).value_sizes == std::set<size_t>{32});
    CHECK(Scan(store, ledger::kEventId).value_sizes == std::set<size_t>{40});
    CHECK(Scan(store, ledger::kMerkle).lowest_key_byte == 1);
  });

  Log::UpgradeReport report;
  REQUIRE(Log::Upgrade(ledger::domain::Rules(), dir, &report).ok());
  CHECK(report.upgraded);
  CHECK(report.from == "benefit-ledger/1");
  CHECK(report.entries == kEntries);
  CHECK(report.genesis_seq == kGenesisSeq);
  CHECK(Format(dir) == ledger::kFormatVersion);
  WithStore(dir, [](const Store& store) {
    Rows household = Scan(store, ledger::kHousehold), event_id = Scan(store, ledger::kEventId);
    CHECK(household.count == 25);  // The entries that name a household.
    CHECK(household.value_sizes == std::set<size_t>{0});
    CHECK(event_id.count == kEntries + 1);  // And the genesis entry's.
    CHECK(event_id.value_sizes == std::set<size_t>{16});
    Rows merkle = Scan(store, ledger::kMerkle);
    CHECK(merkle.count == 3);  // (4, 0), (4, 1), (5, 0) of 33 leaves.
    CHECK(merkle.lowest_key_byte == ledger::kMerkleLowestStoredLevel);
  });

  ledger::VerifyReport verified = VerifyAt(dir);
  INFO(verified.problem);
  CHECK(verified.ok);
  CHECK(verified.entries == kGenesisSeq);
  CHECK(verified.genesis_seq == kGenesisSeq);
  l = testing::OpenLedger(dir);
  CHECK(l->identity_error().ok());
  std::string bytes;  // The old head is entry 32 still, byte for byte.
  REQUIRE(l->ReadEntry(kEntries, &bytes).ok());
  CHECK(ledger::Hex(ledger::LeafHash(ledger::AsBytes(bytes))) == kV1HeadHex);
  REQUIRE(l->ReadEntry(kGenesisSeq, &bytes).ok());
  ledger::EntryReader genesis;
  REQUIRE(genesis.Init(bytes).ok());
  REQUIRE(genesis.entry().getEvent().isLedgerGenesis());
  CHECK(genesis.entry().getEvent().getLedgerGenesis().getPolicy() == ledger::schema::LedgerPolicy::RECORD);
  CHECK(std::string(genesis.entry().getEvent().getLedgerGenesis().getOrigin().cStr()) == "benefit-ledger/v1-fixture");
  std::vector<ledger::evidence::SignedCheckpoint> checkpoints;
  REQUIRE(ledger::evidence::ListCheckpoints(*l, &checkpoints).ok());
  REQUIRE(checkpoints.size() == 1);
  ledger::Hash root;
  REQUIRE(ledger::evidence::LogRoot(*l, kEntries, &root).ok());
  CHECK(checkpoints[0].checkpoint.root_hash == root);  // The v1 signature still covers the tree.
  std::vector<uint64_t> seqs;
  REQUIRE(l->ReadHousehold("H2", [&](const ledger::HouseholdEntry& e) { seqs.push_back(e.seq); }).ok());
  CHECK(seqs == std::vector<uint64_t>{26, 27, 28, 29, 31});
  ledger::Log::UpgradeReport again;  // Appending goes on, and a second upgrade does nothing.
  auto added = testing::AppendLine(
      l.get(), R"({"eventId":"after-upgrade","householdId":"H2","regionCode":"341502001002","actorId":"cw1",)"
               R"("businessDate":20240903,"reviewRecorded":{"caseId":"C2","nextReviewDate":20250301,"note":"复查"}})");
  INFO(added.error.ToString());
  CHECK(added.outcome == ledger::AppendResult::Outcome::kCreated);
  l.reset();
  CHECK(VerifyAt(dir).ok);
  REQUIRE(Log::Upgrade(ledger::domain::Rules(), dir, &again).ok());
  CHECK_FALSE(again.upgraded);
}

TEST_CASE("an upgrade stops before writing anything when a row does not match the log") {
  testing::TempDir tmp;
  const std::string dir = CopyOfV1(tmp);
  SUBCASE("a household row with another entry's hash") {
    WithStore(dir, [](const Store& store) {
      std::string other = Get(store, ledger::kHousehold, ledger::ScopedSeqKey("H1", 11));
      REQUIRE(store.db()->Put({}, store.cf(ledger::kHousehold), ledger::ScopedSeqKey("H1", 10), other).ok());
    });
  }
  SUBCASE("an event-id row with another digest") {
    WithStore(dir, [](const Store& store) {
      std::string other = Get(store, ledger::kEventId, "h1-ntc");
      REQUIRE(store.db()->Put({}, store.cf(ledger::kEventId), "h1-rev", ledger::SeqKey(10) + other.substr(8)).ok());
    });
  }
  Log::UpgradeReport report;
  Status s = Log::Upgrade(ledger::domain::Rules(), dir, &report);
  INFO(s.ToString());
  CHECK(s.code() == Status::Code::kCorruption);
  CHECK(s.reason().rfind("seq 10: ", 0) == 0);
  CHECK(Format(dir) == "benefit-ledger/1");
  WithStore(dir, [](const Store& store) {  // Nothing rewritten.
    CHECK(Scan(store, ledger::kHousehold).value_sizes == std::set<size_t>{32});
    CHECK(Scan(store, ledger::kEventId).value_sizes == std::set<size_t>{40});
    CHECK(Scan(store, ledger::kMerkle).lowest_key_byte == 1);
  });
}

TEST_CASE("an upgrade cut short completes when run again") {
  testing::TempDir tmp;
  const std::string dir = CopyOfV1(tmp);
  // As a crash after the first batches would leave it: some rows in the new form, the old format.
  WithStore(dir, [](const Store& store) {
    std::string entry = Get(store, ledger::kLog, ledger::SeqKey(10));
    auto id = ledger::EventIdValue::For(10, ledger::LeafHash(ledger::AsBytes(entry)));
    REQUIRE(store.db()->Put({}, store.cf(ledger::kEventId), "h1-rev", id.Encode()).ok());
    REQUIRE(store.db()->Put({}, store.cf(ledger::kHousehold), ledger::ScopedSeqKey("H1", 10), "").ok());
  });
  Log::UpgradeReport report;
  Status s = Log::Upgrade(ledger::domain::Rules(), dir, &report);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(report.upgraded);
  ledger::VerifyReport verified = VerifyAt(dir);
  INFO(verified.problem);
  CHECK(verified.ok);
}

TEST_CASE("ledgerctl names upgrade for an old ledger, and upgrade verifies what it wrote") {
  testing::TempDir tmp;
  const std::string dir = CopyOfV1(tmp);
  auto refused = testing::RunLedgerctl({"verify", "--dir", dir});
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("ledgerctl upgrade --dir " + dir) != std::string::npos);
  auto run = testing::RunLedgerctl({"upgrade", "--dir", dir});
  INFO(run.out, run.err);
  CHECK(run.exit_code == 0);
  CHECK(run.out.find("upgraded " + dir + " from benefit-ledger/1 to benefit-ledger/2: 32 entries") == 0);
  CHECK(run.out.find("the genesis entry cannot be the first without changing the 32 entries before it: appended "
                     "it at seq 33") != std::string::npos);
  CHECK(run.out.find("ok: 33 entries, 2 households, head ") != std::string::npos);
  CHECK(run.out.find("note: the genesis entry is seq 33 (added by upgrade)") != std::string::npos);
  auto again = testing::RunLedgerctl({"upgrade", "--dir", dir});
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("already benefit-ledger/2 with its genesis entry: nothing to do") != std::string::npos);
}

}  // namespace
