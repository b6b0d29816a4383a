// Tamper tests: change a ledger's stored data behind the library's back, the way an attacker
// with access to the database files (or a failing disk) would, and check that Verify notices
// and names the seq concerned, and that replay refuses a household whose entries were changed.
//
// Every case starts from a fresh ledger holding tests/data/every_kind.jsonl, where input line N
// is entry seq N + 1 (seq 1 is the ledger's genesis entry; layout below). The database is tampered with through a raw
// Store while no Log has it open (the Log holds RocksDB's lock), then the ledger is reopened and verified.
#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <kj/exception.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/core/entry.h"
#include "ledger/core/log.h"
#include "ledger/core/store.h"
#include "ledger/domain/json.h"
#include "ledger/domain/signing.h"
#include "ledger/evidence/evidence.h"
#include "ledger/reports/verify.h"
#include "ledger/util/hash.h"
#include "tests/test_util.h"

namespace {

using ledger::Cf;
using ledger::Hash;
using ledger::Store;
using ledger::VerifyReport;

// The entries of every_kind.jsonl the cases tamper with (line N of the file is seq N + 1).
constexpr uint64_t kLineCount = 34;
constexpr uint64_t kEntryCount = kLineCount + 1;  // With the genesis entry, seq 1.
constexpr uint64_t kReviewSeq = 11;               // "h1-rev": household H1, a township review by actor tr1.
constexpr uint64_t kNoticeSeq = 12;               // "h1-ntc": household H1, the entry after the review.
constexpr uint64_t kObjectionSeq = 13;            // "h1-obj": household H1.
constexpr uint64_t kApprovalSeq = 15;             // "h1-apr": household H1, approval of 165000 fen a month.
constexpr uint64_t kRollSeq = 17;                 // "roll-1": a payment roll, in no household.
constexpr uint64_t kFailedSeq = 20;               // "h1-fail": household H1, a failed payment, reason "account closed".
constexpr uint64_t kH1LastSeq = 26;               // "h1-exit": the last entry of household H1.
constexpr uint64_t kH2FirstSeq = 27;              // "h2-reg": the first entry of household H2.
constexpr uint64_t kH2AppSeq = 28;                // "h2-app": household H2.
constexpr uint64_t kH2LastSeq = 32;               // "h2-rvw": the last entry of household H2.
constexpr uint64_t kKeySetSeq = 33;               // "key-cw1": an actor's key set, in no household.
                                                  // kEntryCount, "off-cw9": an actor deactivated, in no household.

const std::map<uint64_t, std::string> kEventIdAt = {
    {kReviewSeq, "h1-rev"}, {kNoticeSeq, "h1-ntc"},  {kObjectionSeq, "h1-obj"}, {kApprovalSeq, "h1-apr"},
    {kRollSeq, "roll-1"},   {kFailedSeq, "h1-fail"}, {kH1LastSeq, "h1-exit"},   {kH2FirstSeq, "h2-reg"},
    {kH2AppSeq, "h2-app"},  {kH2LastSeq, "h2-rvw"},  {kKeySetSeq, "key-cw1"},   {kEntryCount, "off-cw9"}};

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

std::string HashBytes(const Hash& h) {
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

Hash LeafHashOf(std::string_view entry_bytes) {
  return ledger::LeafHash(ledger::AsBytes(entry_bytes));
}

// ---------------------------------------------------------------------------------------------
// Raw access to the database (fails the test on any RocksDB error).

std::string Get(const Store& store, Cf cf, std::string_view key) {
  std::string value;
  bool found = false;
  ledger::Status s = store.Get(cf, key, &value, &found);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  REQUIRE_MESSAGE(found, "no key of ", key.size(), " bytes in column family ", ledger::CfName(cf));
  return value;
}

void Put(const Store& store, Cf cf, std::string_view key, std::string_view value) {
  rocksdb::Status s = store.db()->Put(rocksdb::WriteOptions(), store.cf(cf), key, value);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
}

void Delete(const Store& store, Cf cf, std::string_view key) {
  Get(store, cf, key);  // Fails the test if there is nothing to delete.
  rocksdb::Status s = store.db()->Delete(rocksdb::WriteOptions(), store.cf(cf), key);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
}

std::string LogEntry(const Store& store, uint64_t seq) {
  return Get(store, ledger::kLog, ledger::SeqKey(seq));
}

ledger::EntryLinks LinksOf(ledger::schema::Entry::Reader entry) {
  ledger::EntryLinks links;
  links.seq = entry.getSeq();
  links.recorded_at_us = entry.getRecordedAtUs();
  memcpy(links.prev_hash.data(), entry.getPrevHash().begin(), links.prev_hash.size());
  links.household_prev_seq = entry.getHouseholdPrevSeq();
  memcpy(links.household_prev_hash.data(), entry.getHouseholdPrevHash().begin(), links.household_prev_hash.size());
  return links;
}

// ---------------------------------------------------------------------------------------------
// The ledger under test.

// A ledger holding every_kind.jsonl, verified, and closed so that its database can be opened raw.
class EveryKindLedger {
 public:
  EveryKindLedger() : dir_(tmp_.Sub("ledger")) {
    auto l = testing::NewLedger(dir_);
    auto results = testing::AppendLines(l.get(), testing::ReadDataLines("every_kind.jsonl"));
    REQUIRE(results.size() == kLineCount);
    for (size_t i = 0; i < results.size(); ++i) {
      INFO("line ", i + 1, ": ", results[i].error.ToString());
      REQUIRE(results[i].outcome == ledger::AppendResult::Outcome::kCreated);
      REQUIRE(results[i].seq == i + 2);
    }
    for (const auto& [seq, event_id] : kEventIdAt) REQUIRE(EventIdAt(*l, seq) == event_id);
    VerifyReport report = VerifyLedger(*l);
    REQUIRE_MESSAGE(report.ok, report.problem);
    REQUIRE(report.entries == kEntryCount);
    original_head_hash_ = report.head_hash;
  }

  const std::string& dir() const { return dir_; }
  const Hash& original_head_hash() const { return original_head_hash_; }

  // Opens the raw database, lets `edit` change it, and closes it again.
  void Tamper(const std::function<void(const Store&)>& edit) const {
    std::unique_ptr<Store> store;
    ledger::Status s = Store::Open(dir_ + "/db", /*create=*/false, &store);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    edit(*store);
  }

  VerifyReport Verify() const { return VerifyLedger(*testing::OpenLedger(dir_)); }

  static VerifyReport VerifyLedger(const ledger::Log& l) {
    VerifyReport report;
    ledger::Status s = ledger::Verify(l, &report);
    REQUIRE_MESSAGE(s.ok(), s.ToString());  // The database itself must stay readable.
    return report;
  }

  static std::string EventIdAt(const ledger::Log& l, uint64_t seq) {
    std::string bytes;
    REQUIRE(l.ReadEntry(seq, &bytes).ok());
    ledger::EntryReader reader;
    REQUIRE(reader.Init(bytes).ok());
    return reader.entry().getEvent().getEventId();
  }

 private:
  testing::TempDir tmp_;
  std::string dir_;
  Hash original_head_hash_{};
};

// Verification failed at `seq`, and the problem says `word`.
void CheckFailsAt(const VerifyReport& report, uint64_t seq, std::string_view word) {
  INFO("problem: \"", report.problem, "\" at seq ", report.bad_seq);
  CHECK_FALSE(report.ok);
  CHECK(report.bad_seq == seq);
  CHECK(Contains(report.problem, word));
  // The first pass found it; the second, reading index rows entry by entry, named it.
  CHECK(report.rechecked_by_entry);
}

// ---------------------------------------------------------------------------------------------
// The untouched ledger.

TEST_CASE("an untouched ledger verifies, and ledgerctl verify says ok") {
  EveryKindLedger ledger;
  VerifyReport report = ledger.Verify();
  CHECK(report.ok);
  CHECK(report.entries == kEntryCount);
  CHECK(report.households == 2);
  CHECK(report.bad_seq == 0);
  CHECK_FALSE(report.rechecked_by_entry);  // One pass, no point reads of the indexes.

  auto run = testing::RunLedgerctl({"verify", "--dir", ledger.dir()});
  INFO(run.out, run.err);
  CHECK(run.exit_code == 0);
  CHECK(run.out.rfind(
            fmt::format("ok: {} entries, 2 households, head ", kEntryCount) + ledger::Hex(ledger.original_head_hash()),
            0) == 0);
}

// ---------------------------------------------------------------------------------------------
// Flipped bytes in a log entry.

// Flips the byte at `offset` from the start of `text` in entry `seq` (xor `mask`).
void FlipInText(const EveryKindLedger& ledger, uint64_t seq, std::string_view text, size_t offset, uint8_t mask) {
  ledger.Tamper([&](const Store& store) {
    std::string bytes = LogEntry(store, seq);
    size_t at = bytes.find(text);
    REQUIRE(at != std::string::npos);
    bytes[at + offset] = static_cast<char>(bytes[at + offset] ^ mask);
    Put(store, ledger::kLog, ledger::SeqKey(seq), bytes);
  });
}

TEST_CASE("a flipped byte in the middle of an entry's event is caught at that entry") {
  EveryKindLedger ledger;
  SUBCASE("a letter of a household entry's text: its hash no longer matches its event-id row") {
    FlipInText(ledger, kFailedSeq, "account closed", 3, 0x01);  // "account" -> "acbount".
    CheckFailsAt(ledger.Verify(), kFailedSeq, "the entry (or that index row) was altered");
  }
  SUBCASE("a letter turned into a byte that is not UTF-8: still reported as altered, not invalid") {
    FlipInText(ledger, kFailedSeq, "account closed", 3, 0x80);
    CheckFailsAt(ledger.Verify(), kFailedSeq, "the entry (or that index row) was altered");
  }
  SUBCASE("a letter of an entry of no household: the same") {
    FlipInText(ledger, kRollSeq, "urban_dibao-202402", 6, 0x01);  // roll-1's rollId.
    CheckFailsAt(ledger.Verify(), kRollSeq, "the entry (or that index row) was altered");
  }
  SUBCASE("a padding byte after a text: the bytes are no longer canonical") {
    FlipInText(ledger, kFailedSeq, "account closed", sizeof("account closed"), 0x01);  // After the NUL.
    CheckFailsAt(ledger.Verify(), kFailedSeq, "not a canonical entry");
  }
}

// Verify, with a kj::Exception thrown out of it caught and described in `*exception` (a known
// library bug: see the test "Verify reports, not throws, ..." below).
VerifyReport VerifyCatching(const ledger::Log& l, std::string* exception) {
  VerifyReport report;
  ledger::Status s;
  exception->clear();
  try {
    s = ledger::Verify(l, &report);
  } catch (const kj::Exception& e) {
    kj::StringPtr description = e.getDescription();  // May hold a NUL: the byte it expected.
    exception->assign(description.begin(), description.size());
  }
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return report;
}

struct FlipCounts {
  int not_canonical = 0;  // Flips that left bytes which do not read as a canonical entry.
  int other = 0;          // Flips that left a readable entry with other content or links.
};

// Flips every byte of entry `seq` in turn (with each mask), verifies each time and undoes the
// flip. `check` gets the byte's position and the report. Tampers through the open ledger's own
// database instead of reopening it for each of the thousands of flips, to stay fast; Verify
// reads through a fresh snapshot, so it sees each write.
FlipCounts FlipEveryByte(const EveryKindLedger& ledger, uint64_t seq,
                         const std::function<void(size_t position, const VerifyReport&)>& check) {
  auto l = testing::OpenLedger(ledger.dir());
  const Store& store = l->store();
  const std::string original = LogEntry(store, seq);
  FlipCounts counts;
  for (size_t position = 0; position < original.size(); ++position) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string flipped = original;
      flipped[position] = static_cast<char>(flipped[position] ^ mask);
      Put(store, ledger::kLog, ledger::SeqKey(seq), flipped);
      std::string exception;
      VerifyReport report = VerifyCatching(*l, &exception);
      INFO("byte ", position, " of ", original.size(), " xor ", int{mask}, ": ", report.problem, exception);
      REQUIRE_MESSAGE(exception.empty(), "Verify threw instead of reporting: ", exception);
      check(position, report);
      ++(Contains(report.problem, "not a canonical entry") ? counts.not_canonical : counts.other);
    }
  }
  Put(store, ledger::kLog, ledger::SeqKey(seq), original);
  CHECK(EveryKindLedger::VerifyLedger(*l).ok);
  return counts;
}

// Every entry's event-id row holds a check of its hash, so any change to its bytes is caught at
// the entry itself, wherever the byte is: in the event, the links, recordedAt or the findings.
void CheckEveryByteCaughtAt(uint64_t seq) {
  EveryKindLedger ledger;
  FlipCounts counts = FlipEveryByte(ledger, seq, [seq](size_t, const VerifyReport& report) {
    CHECK_FALSE(report.ok);
    CHECK(report.bad_seq == seq);
  });
  // Both kinds of damage were exercised: bytes that are no longer canonical, and bytes that
  // still read as an entry (other content, other links).
  CHECK(counts.not_canonical > 0);
  CHECK(counts.other > 0);
}

TEST_CASE("a flipped byte anywhere in a household entry is caught at that entry") {
  CheckEveryByteCaughtAt(kApprovalSeq);
}

TEST_CASE("a flipped byte anywhere in an entry of no household is caught at that entry") {
  {
    EveryKindLedger ledger;  // The roll's entry carries findings (under record: actor.*) to flip too.
    auto l = testing::OpenLedger(ledger.dir());
    ledger::EntryReader reader;
    REQUIRE(reader.Init(LogEntry(l->store(), kRollSeq)).ok());
    REQUIRE(reader.entry().getFindings().size() > 0);
  }
  CheckEveryByteCaughtAt(kRollSeq);
}

// Canonical bytes can still hold a text that lost its NUL terminator: Cap'n Proto only checks
// that when the field is read. Verify must report such an entry, not throw.
TEST_CASE("Verify reports, not throws, an entry whose household id lost its NUL terminator") {
  EveryKindLedger ledger;
  FlipInText(ledger, kApprovalSeq, "H1", 2, 0x41);  // The NUL after h1-apr's householdId becomes 'A'.

  auto run = testing::RunLedgerctl({"verify", "--dir", ledger.dir()});
  INFO("ledgerctl verify exit ", run.exit_code, ": ", run.out, run.err);
  CHECK(run.exit_code == 1);
  CHECK(run.out.rfind("FAILED at seq 15: ", 0) == 0);

  std::string exception;
  VerifyReport report = VerifyCatching(*testing::OpenLedger(ledger.dir()), &exception);
  CHECK_MESSAGE(exception.empty(), "Verify threw: ", exception);
  CHECK_FALSE(report.ok);
  CHECK(report.bad_seq == kApprovalSeq);
}

// ---------------------------------------------------------------------------------------------
// Entries deleted, inserted, moved.

TEST_CASE("a log entry deleted in the middle is caught as a gap") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) { Delete(store, ledger::kLog, ledger::SeqKey(kReviewSeq)); });
  CheckFailsAt(ledger.Verify(), kReviewSeq, "missing");

  auto run = testing::RunLedgerctl({"verify", "--dir", ledger.dir()});
  INFO(run.out, run.err);
  CHECK(run.exit_code == 1);
  CHECK(run.out.rfind("FAILED at seq 11: entry seq 11 is missing", 0) == 0);
}

TEST_CASE("a deleted last entry (truncation) is caught by the ledger head") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) { Delete(store, ledger::kLog, ledger::SeqKey(kEntryCount)); });
  // The log itself is a valid chain 1..34; only the meta head remembers seq 35.
  VerifyReport report = ledger.Verify();
  CheckFailsAt(report, kEntryCount,
               fmt::format("entry seq {0} is missing: the ledger head says seq {0}, the log ends at seq {1}",
                           kEntryCount, kEntryCount - 1));
  CHECK(report.entries == kEntryCount - 1);
}

TEST_CASE("several entries cut off the end are caught by the ledger head") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    for (uint64_t seq = kH2AppSeq; seq <= kEntryCount; ++seq) Delete(store, ledger::kLog, ledger::SeqKey(seq));
  });
  // Names the first missing seq; the problem text gives both ends.
  CheckFailsAt(ledger.Verify(), kH2AppSeq, fmt::format("entries seq 28 to {} are missing", kEntryCount));
}

TEST_CASE("a truncation that also rewrites the ledger head is caught by the household head") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    std::string entry30 = LogEntry(store, kH2LastSeq - 1);
    ledger::EntryReader reader;
    REQUIRE(reader.Init(entry30).ok());
    ledger::HeadValue head{kH2LastSeq - 1, LeafHashOf(entry30), reader.entry().getRecordedAtUs()};
    for (uint64_t seq = kH2LastSeq; seq <= kEntryCount; ++seq) Delete(store, ledger::kLog, ledger::SeqKey(seq));
    Put(store, ledger::kMeta, ledger::kMetaHead, head.Encode());
  });
  // Household H2's head still says its chain ends at 31, a missing entry, which is named.
  CheckFailsAt(ledger.Verify(), kH2LastSeq, "household head of \"H2\" says 5 events ending at seq 32");
}

TEST_CASE("a copy of an entry appended past the end is caught at its new seq") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    Put(store, ledger::kLog, ledger::SeqKey(kEntryCount + 1), LogEntry(store, kReviewSeq));
  });
  CheckFailsAt(ledger.Verify(), kEntryCount + 1, "says it is seq 11");
}

TEST_CASE("a copy of an entry written over another entry is caught at the overwritten seq") {
  EveryKindLedger ledger;
  ledger.Tamper(
      [](const Store& store) { Put(store, ledger::kLog, ledger::SeqKey(kObjectionSeq), LogEntry(store, kReviewSeq)); });
  CheckFailsAt(ledger.Verify(), kObjectionSeq, "says it is seq 11");
}

TEST_CASE("two entries swapped are caught at the first of them") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    std::string review = LogEntry(store, kReviewSeq), notice = LogEntry(store, kNoticeSeq);
    Put(store, ledger::kLog, ledger::SeqKey(kReviewSeq), notice);
    Put(store, ledger::kLog, ledger::SeqKey(kNoticeSeq), review);
  });
  CheckFailsAt(ledger.Verify(), kReviewSeq, "says it is seq 12");
}

// ---------------------------------------------------------------------------------------------
// Indexes and heads.

TEST_CASE("a household index row holding a value is caught at its seq") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    Hash other = LeafHashOf(LogEntry(store, kNoticeSeq));
    Put(store, ledger::kHousehold, ledger::ScopedSeqKey("H1", kReviewSeq), HashBytes(other));
  });
  CheckFailsAt(ledger.Verify(), kReviewSeq, "the household index row for it holds a value");
}

TEST_CASE("a deleted household index entry is caught at its seq") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) { Delete(store, ledger::kHousehold, ledger::ScopedSeqKey("H1", kReviewSeq)); });
  CheckFailsAt(ledger.Verify(), kReviewSeq, "household index has no entry");
}

TEST_CASE("an extra household index entry naming another household's entry is caught") {
  EveryKindLedger ledger;
  // H1 claims H2's entry 27: only the count and the entry's household show that it does not
  // belong.
  ledger.Tamper([](const Store& store) { Put(store, ledger::kHousehold, ledger::ScopedSeqKey("H1", kH2AppSeq), ""); });
  CheckFailsAt(ledger.Verify(), kH2AppSeq, "extra entry names seq 28");
}

TEST_CASE("a deleted actor index entry is caught at its seq") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) { Delete(store, ledger::kActor, ledger::ScopedSeqKey("tr1", kReviewSeq)); });
  CheckFailsAt(ledger.Verify(), kReviewSeq, "actor index has no entry for actor \"tr1\"");
}

TEST_CASE("an extra actor index entry is caught at the seq it names") {
  EveryKindLedger ledger;
  // Entry 26 (h2-reg) was recorded by cw1, not tr1.
  ledger.Tamper([](const Store& store) { Put(store, ledger::kActor, ledger::ScopedSeqKey("tr1", kH2FirstSeq), ""); });
  CheckFailsAt(ledger.Verify(), kH2FirstSeq, "extra entry names seq 27");
}

TEST_CASE("a value slipped into an actor index row is caught, though no entry names it") {
  EveryKindLedger ledger;
  // Actor rows are empty. Reading them by key (the second pass) only asks whether they exist;
  // the first pass compares whole rows, so its problem stands.
  ledger.Tamper([](const Store& store) { Put(store, ledger::kActor, ledger::ScopedSeqKey("tr1", kReviewSeq), "x"); });
  CheckFailsAt(ledger.Verify(), 0, "the actor index (");
}

TEST_CASE("an event-id index entry pointing at another seq is caught at the event's seq") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    auto value = ledger::EventIdValue::Decode(Get(store, ledger::kEventId, "h1-rev"));
    REQUIRE(value.has_value());
    value->seq = kNoticeSeq;
    Put(store, ledger::kEventId, "h1-rev", value->Encode());
  });
  CheckFailsAt(ledger.Verify(), kReviewSeq, "points \"h1-rev\" at seq 12");
}

TEST_CASE("a deleted event-id index entry is caught at the event's seq") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) { Delete(store, ledger::kEventId, "h1-rev"); });
  CheckFailsAt(ledger.Verify(), kReviewSeq, "event id index has no entry for \"h1-rev\"");
}

TEST_CASE("an extra event-id index entry is caught at the seq it names") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    Put(store, ledger::kEventId, "ghost", Get(store, ledger::kEventId, "h1-rev"));  // Same seq and check.
  });
  CheckFailsAt(ledger.Verify(), kReviewSeq, "extra entry names seq 11");
}

TEST_CASE("an altered household head is caught at the end of the household's chain") {
  EveryKindLedger ledger;
  // The head is not a log entry: the seq named is the last of the chain the head should match.
  SUBCASE("one event more") {
    ledger.Tamper([](const Store& store) {
      auto head = ledger::HouseholdHead::Decode(Get(store, ledger::kHouseholdHead, "H1"));
      REQUIRE(head.has_value());
      ++head->version;
      Put(store, ledger::kHouseholdHead, "H1", head->Encode());
    });
  }
  SUBCASE("ending at an earlier entry") {
    ledger.Tamper([](const Store& store) {
      ledger::HouseholdHead head{kH1LastSeq - 10, kReviewSeq, LeafHashOf(LogEntry(store, kReviewSeq))};
      Put(store, ledger::kHouseholdHead, "H1", head.Encode());
    });
  }
  CheckFailsAt(ledger.Verify(), kH1LastSeq, "its chain has 20 ending at seq 26");
}

TEST_CASE("a ledger head with the wrong hash is caught at the last entry") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    auto head = ledger::HeadValue::Decode(Get(store, ledger::kMeta, ledger::kMetaHead));
    REQUIRE(head.has_value());
    head->hash = LeafHashOf(LogEntry(store, kEntryCount - 1));
    Put(store, ledger::kMeta, ledger::kMetaHead, head->Encode());
  });
  CheckFailsAt(ledger.Verify(), kEntryCount, fmt::format("the ledger head holds another hash for seq {}", kEntryCount));
}

// ---------------------------------------------------------------------------------------------
// A forger who re-encodes a changed event properly: canonical bytes, a new hash of its own.

// How far the forger of the approval (seq 14) goes to cover the change.
struct Cover {
  bool event_id_index = false;  // Puts the forged entry's hash check in its event-id row.
  bool relink_next = false;     // Re-encodes entry 15 to link to the forged entry...
  bool next_index = false;      // ...and puts entry 15's new hash check in its event-id row.
};

// Puts entry `seq`'s hash check in its event-id row, as the ledger would have.
void PutEventIdRow(const Store& store, uint64_t seq, const std::string& bytes) {
  ledger::EntryReader reader;
  REQUIRE(reader.Init(bytes).ok());
  std::string event_id = reader.entry().getEvent().getEventId();
  Put(store, ledger::kEventId, event_id, ledger::EventIdValue::For(seq, LeafHashOf(bytes)).Encode());
}

// Re-encodes entry `seq` so that it links to the given previous hashes, optionally updating its
// event-id row; returns its new hash.
Hash Relink(const Store& store, uint64_t seq, const Hash& prev_hash, const Hash& household_prev_hash,
            bool update_index) {
  ledger::EntryReader reader;
  REQUIRE(reader.Init(LogEntry(store, seq)).ok());
  ledger::EntryLinks links = LinksOf(reader.entry());
  links.prev_hash = prev_hash;
  links.household_prev_hash = household_prev_hash;
  std::string bytes = ledger::EncodeEntry(links, reader.entry().getEvent());
  Hash hash = LeafHashOf(bytes);
  Put(store, ledger::kLog, ledger::SeqKey(seq), bytes);
  if (update_index) PutEventIdRow(store, seq, bytes);
  return hash;
}

// Re-encodes the approval entry (at `seq`) with a larger amount (a canonical, valid entry with
// the same links), covers it as far as `cover` says, and returns its new hash.
Hash ForgeApproval(const Store& store, const Cover& cover, uint64_t seq = kApprovalSeq) {
  ledger::EntryReader reader;
  REQUIRE(reader.Init(LogEntry(store, seq)).ok());
  capnp::MallocMessageBuilder message;
  message.setRoot(reader.entry().getEvent());
  auto event = message.getRoot<ledger::schema::Event>();
  REQUIRE(event.getApproval().getMonthlyAmountFen() == 165000);
  event.getApproval().setMonthlyAmountFen(999900);
  std::string bytes = ledger::EncodeEntry(LinksOf(reader.entry()), event.asReader());
  Hash hash = LeafHashOf(bytes);
  Put(store, ledger::kLog, ledger::SeqKey(seq), bytes);
  if (cover.event_id_index) PutEventIdRow(store, seq, bytes);
  // The next entry is H1's too: both its links name the approval.
  if (cover.relink_next) Relink(store, seq + 1, hash, hash, cover.next_index);
  return hash;
}

// After ForgeApproval at `forged_seq` (covering its event-id row), re-encodes every later entry up
// to `last_seq` to link to the forged chain, with its index rows, and rewrites both households'
// heads and the ledger head: a ledger that is internally sound again.
void RewriteChainAfter(const Store& store, uint64_t forged_seq, const Hash& forged_hash, uint64_t last_seq) {
  std::map<uint64_t, Hash> new_hash = {{forged_seq, forged_hash}};
  ledger::HeadValue head;
  for (uint64_t seq = forged_seq + 1; seq <= last_seq; ++seq) {
    ledger::EntryReader reader;
    REQUIRE(reader.Init(LogEntry(store, seq)).ok());
    ledger::EntryLinks old = LinksOf(reader.entry());
    auto relinked = new_hash.find(old.household_prev_seq);
    Hash household_prev = relinked == new_hash.end() ? old.household_prev_hash : relinked->second;
    new_hash[seq] = Relink(store, seq, new_hash.at(seq - 1), household_prev, /*update_index=*/true);
    head = {seq, new_hash[seq], old.recorded_at_us};
  }
  for (const char* household : {"H1", "H2"}) {
    auto hh = ledger::HouseholdHead::Decode(Get(store, ledger::kHouseholdHead, household));
    REQUIRE(hh.has_value());
    hh->last_hash = new_hash.at(hh->last_seq);
    Put(store, ledger::kHouseholdHead, household, hh->Encode());
  }
  Put(store, ledger::kMeta, ledger::kMetaHead, head.Encode());
}

TEST_CASE("a re-encoded forged event is caught by its event-id row or the next entry") {
  EveryKindLedger ledger;
  Cover cover;
  uint64_t caught_at = 0;
  std::string_view problem;
  SUBCASE("entry alone: its event-id row holds a check of the old hash") {
    caught_at = kApprovalSeq, problem = "the entry (or that index row) was altered";
  }
  SUBCASE("entry and the next entry's links: its event-id row still holds the old check") {
    cover.relink_next = true;
    caught_at = kApprovalSeq, problem = "the entry (or that index row) was altered";
  }
  SUBCASE("and its event-id row: the next entry's prevHash names the old hash") {
    cover.event_id_index = true;
    caught_at = kApprovalSeq + 1, problem = "global chain broken";
  }
  SUBCASE("and its event-id row, the next entry relinked: its own hash changed under its event-id row") {
    cover.event_id_index = cover.relink_next = true;
    caught_at = kApprovalSeq + 1, problem = "the entry (or that index row) was altered";
  }
  SUBCASE("and the next entry's event-id row: the entry after it names the next entry's old hash") {
    cover.event_id_index = cover.relink_next = cover.next_index = true;
    caught_at = kApprovalSeq + 2, problem = "global chain broken";
  }
  ledger.Tamper([&](const Store& store) { ForgeApproval(store, cover); });
  CheckFailsAt(ledger.Verify(), caught_at, problem);
}

// Rewrites every Merkle node from the log (evidence.h), as a forger who rewrote the log must.
void RebuildMerkleTree(const Store& store, uint64_t last_seq) {
  std::vector<Hash> leaves;
  for (uint64_t seq = 1; seq <= last_seq; ++seq) leaves.push_back(LeafHashOf(LogEntry(store, seq)));
  rocksdb::WriteBatch batch;
  ledger::Status s = ledger::evidence::GrowLogTree(store, 0, leaves, &batch);  // From leaf 0: reads nothing.
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  REQUIRE(store.db()->Write(rocksdb::WriteOptions(), &batch).ok());
}

TEST_CASE("a forger who rewrites the whole chain after an entry passes Verify, not the published head hash") {
  EveryKindLedger ledger;
  // With the log, every index, both heads and the Merkle tree rewritten consistently, the ledger
  // is internally sound: only a head hash or a checkpoint published before shows the change.
  ledger.Tamper([](const Store& store) {
    RewriteChainAfter(store, kApprovalSeq, ForgeApproval(store, {.event_id_index = true}), kEntryCount);
    RebuildMerkleTree(store, kEntryCount);
  });
  VerifyReport report = ledger.Verify();
  INFO(report.problem);
  CHECK(report.ok);
  CHECK(report.entries == kEntryCount);
  CHECK(report.head_hash != ledger.original_head_hash());
}

TEST_CASE("the same forger who leaves the Merkle tree alone is caught at the first node over the forged entry") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    RewriteChainAfter(store, kApprovalSeq, ForgeApproval(store, {.event_id_index = true}), kEntryCount);
  });
  // The approval is leaf 14, under the lowest stored node (level 4, index 0): leaves 0 to 15.
  CheckFailsAt(ledger.Verify(), 16,
               "Merkle node (level 4, index 0, over seqs 1 to 16) is not the hash of its children");
}

TEST_CASE("the same forger who rebuilds the Merkle tree is caught by a checkpoint stored before") {
  EveryKindLedger ledger;
  {
    auto l = testing::OpenLedger(ledger.dir());
    ledger::note::KeyPair key;
    REQUIRE(ledger::note::GenerateKey("benefit-ledger/tamper", &key).ok());
    REQUIRE(ledger::evidence::SetCheckpointKey(l.get(), ledger::note::VerifierOf(key)).ok());
    ledger::evidence::SignedCheckpoint checkpoint;
    bool made = false;
    REQUIRE(ledger::evidence::MakeCheckpoint(l.get(), key, &checkpoint, &made).ok());
    REQUIRE(EveryKindLedger::VerifyLedger(*l).ok);
  }
  // Setting the key appended its checkpointKeySet entry: the checkpoint covers one more entry.
  constexpr uint64_t kSize = kEntryCount + 1;
  ledger.Tamper([](const Store& store) {
    RewriteChainAfter(store, kApprovalSeq, ForgeApproval(store, {.event_id_index = true}), kSize);
    RebuildMerkleTree(store, kSize);
  });
  // The forger could re-sign with D/checkpoint.key too: notes published outside the office
  // (docs/EVIDENCE.md) are what such a forger cannot change.
  CheckFailsAt(ledger.Verify(), kSize,
               "the stored checkpoint of size " + std::to_string(kSize) + " signs size " + std::to_string(kSize) +
                   " and a root that is not the log's");
}

TEST_CASE("a Merkle node altered, deleted or added is caught, naming the node") {
  EveryKindLedger ledger;
  // Node (level 4, index 1) is the hash of leaves 16 to 31: seqs 17 to 32.
  const std::string key = ledger::MerkleKey(4, 1);
  uint64_t caught_at = 32;
  std::string problem = "Merkle node (level 4, index 1, over seqs 17 to 32) ";
  SUBCASE("one bit flipped") {
    ledger.Tamper([&](const Store& store) {
      std::string node = Get(store, ledger::kMerkle, key);
      node[7] = static_cast<char>(node[7] ^ 0x10);
      Put(store, ledger::kMerkle, key, node);
    });
    problem += "is not the hash of its children as recomputed from the log";
  }
  SUBCASE("deleted") {
    ledger.Tamper([&](const Store& store) { Delete(store, ledger::kMerkle, key); });
    problem += "is missing";
  }
  SUBCASE("a node past the end") {
    ledger.Tamper([&](const Store& store) {
      Put(store, ledger::kMerkle, ledger::MerkleKey(4, kEntryCount / 16), Get(store, ledger::kMerkle, key));
    });
    caught_at = kEntryCount;
    problem = fmt::format("the merkle family holds a node the log does not imply (9 bytes: level 4, index {}, ",
                          kEntryCount / 16);
  }
  SUBCASE("a node of a level that is not stored") {
    ledger.Tamper([&](const Store& store) {
      Put(store, ledger::kMerkle, ledger::MerkleKey(1, 3), Get(store, ledger::kMerkle, key));
    });
    caught_at = kEntryCount;
    problem = "the merkle family holds a node the log does not imply (9 bytes: level 1, index 3, ";
  }
  SUBCASE("the tree size record, past the head") {  // (Behind the head, opening catches the tree up.)
    ledger.Tamper(
        [](const Store& store) { Put(store, ledger::kMeta, ledger::kMetaTreeSize, ledger::SeqKey(kEntryCount + 5)); });
    caught_at = kEntryCount;
    problem = fmt::format("the meta tree_size record says {}, the log has {} entries", kEntryCount + 5, kEntryCount);
  }
  CheckFailsAt(ledger.Verify(), caught_at, problem);
}

// `line` as its actor ca1 signs it (signing.h), if it is a kind ca1 signs; else unchanged.
std::string SignedByCa1(const std::string& line, const ledger::note::KeyPair& ca1) {
  capnp::MallocMessageBuilder message;
  REQUIRE(ledger::ParseEventJson(line, &message).ok());
  auto event = message.getRoot<ledger::schema::Event>();
  if (event.getActorId() != "ca1" || !ledger::signing::IsSignedKind(event.which())) return line;
  ledger::Status s = ledger::signing::SignEvent(&message, ca1);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return ledger::EventToJson(event.asReader());
}

TEST_CASE("the same forger is caught at the approval when its approver signs") {
  // every_kind.jsonl after one more entry: approver ca1 registers itself, with a public key;
  // its approvals, rejections, rolls and corrections are signed. The forger rewrites the log,
  // the indexes, the heads and the Merkle tree consistently, but has no ca1 key.
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("ledger");
  ledger::note::KeyPair ca1;
  REQUIRE(ledger::note::GenerateKey("ca1", &ca1).ok());
  std::vector<std::string> lines = {
      R"({"eventId":"act-ca1","regionCode":"341502000000","actorId":"ca1","businessDate":20240101,)"
      R"("actorRegistered":{"newActorId":"ca1","name":"ca1","role":"countyApprover","jurisdiction":"341502",)"
      R"("publicKey":")" +
      ledger::note::FormatVerifierKey(ledger::note::VerifierOf(ca1)) + R"("}})"};
  for (const auto& line : testing::ReadDataLines("every_kind.jsonl")) lines.push_back(SignedByCa1(line, ca1));
  const uint64_t approval_seq = kApprovalSeq + 1;
  {
    auto l = testing::NewLedger(dir);
    for (const auto& r : testing::AppendLines(l.get(), lines)) {
      INFO(r.error.ToString());
      REQUIRE(r.outcome == ledger::AppendResult::Outcome::kCreated);
    }
    REQUIRE(EveryKindLedger::EventIdAt(*l, approval_seq) == "h1-apr");
    REQUIRE(EveryKindLedger::VerifyLedger(*l).ok);
  }
  {
    std::unique_ptr<Store> store;
    REQUIRE(Store::Open(dir + "/db", /*create=*/false, &store).ok());
    RewriteChainAfter(*store, approval_seq, ForgeApproval(*store, {.event_id_index = true}, approval_seq),
                      kEntryCount + 1);
    RebuildMerkleTree(*store, kEntryCount + 1);
  }
  VerifyReport report = EveryKindLedger::VerifyLedger(*testing::OpenLedger(dir));
  CheckFailsAt(report, approval_seq, "actorSignature: the signature of actor \"ca1\" does not verify");
}

// ---------------------------------------------------------------------------------------------
// Replay of one household.

TEST_CASE("replay reports Corruption naming the seq of a household entry with a flipped byte") {
  EveryKindLedger ledger;
  auto l = testing::OpenLedger(ledger.dir());
  const Store& store = l->store();  // Tampered through the open ledger: see FlipEveryByte.
  const std::string original = LogEntry(store, kReviewSeq);
  for (size_t position = 0; position < original.size(); ++position) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string flipped = original;
      flipped[position] = static_cast<char>(flipped[position] ^ mask);
      Put(store, ledger::kLog, ledger::SeqKey(kReviewSeq), flipped);
      std::vector<uint64_t> visited;
      ledger::Status s = l->ReadHousehold("H1", [&](const ledger::HouseholdEntry& e) { visited.push_back(e.seq); });
      INFO("byte ", position, " xor ", int{mask}, ": ", s.ToString());
      CHECK(s.code() == ledger::Status::Code::kCorruption);
      CHECK(s.reason().rfind("seq 11: ", 0) == 0);
      // The entries before the damaged one were replayed, nothing after it.
      CHECK(visited == std::vector<uint64_t>{6, 7, 8, 9, 10});
    }
  }
  Put(store, ledger::kLog, ledger::SeqKey(kReviewSeq), original);
  CHECK(l->ReadHousehold("H1", [](const ledger::HouseholdEntry&) {}).ok());
}

TEST_CASE("replay of a household whose head and index rows were emptied reports it, not a crash") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    Put(store, ledger::kHouseholdHead, "H2", ledger::HouseholdHead{}.Encode());
    for (uint64_t seq : {27, 28, 29, 30, 32}) Delete(store, ledger::kHousehold, ledger::ScopedSeqKey("H2", seq));
  });
  int visited = 0;
  ledger::Status s = testing::OpenLedger(ledger.dir())->ReadHousehold("H2", [&](const auto&) { ++visited; });
  CHECK(s.code() == ledger::Status::Code::kCorruption);
  CHECK(Contains(s.reason(), "household head of H2 names no entries"));
  CHECK(visited == 0);
}

TEST_CASE("ledgerctl replay fails naming the damaged seq") {
  EveryKindLedger ledger;
  ledger.Tamper([](const Store& store) {
    std::string bytes = LogEntry(store, kReviewSeq);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
    Put(store, ledger::kLog, ledger::SeqKey(kReviewSeq), bytes);
  });
  auto run = testing::RunLedgerctl({"replay", "--dir", ledger.dir(), "--household", "H1"});
  INFO(run.out, run.err);
  CHECK(run.exit_code == 1);
  CHECK(Contains(run.out, "FAILED: seq 11: "));
  // Household H2 is untouched and still replays.
  CHECK(testing::RunLedgerctl({"replay", "--dir", ledger.dir(), "--household", "H2"}).exit_code == 0);
}

}  // namespace
