// Appending: idempotency, expected versions, references, groups, durability across reopening,
// and that full identity and card numbers never reach the disk.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ledger/core/entry.h"
#include "ledger/core/store.h"
#include "ledger/domain/json.h"
#include "ledger/domain/machine.h"
#include "ledger/reports/verify.h"
#include "tests/test_util.h"

using namespace ledger;
using Outcome = AppendResult::Outcome;

namespace {

const char* kRegister =
    R"({"eventId":"reg-%s","householdId":"%s","regionCode":"341502001001","actorId":"cw1","businessDate":20240105,%s"householdRegistered":{"members":[{"person":{"number":"341502195203141236"},"name":"张三","relation":"head","birthDate":19520314}]}})";

std::string Register(const std::string& household, const std::string& expected = "") {
  char buf[1024];
  snprintf(buf, sizeof buf, kRegister, household.c_str(), household.c_str(), expected.c_str());
  return buf;
}

std::string Apply(const std::string& event_id, const std::string& household, int64_t income_fen,
                  const std::string& expected = "") {
  return R"({"eventId":")" + event_id + R"(","householdId":")" + household +
         R"(","regionCode":"341502001001","actorId":"cw1","businessDate":20240108,)" + expected +
         R"("applicationSubmitted":{"caseId":"C-)" + event_id +
         R"(","programme":"urban_dibao","declaredMonthlyIncomeFen":)" + std::to_string(income_fen) + "}}";
}

void CheckVerifies(const Log& l) {
  VerifyReport report;
  REQUIRE(Verify(l, &report).ok());
  CHECK_MESSAGE(report.ok, report.problem);
}

std::string FileBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("same id, same content: exists with the original seq, nothing appended") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  auto first = testing::AppendLine(l.get(), Register("H1"));
  REQUIRE(first.outcome == Outcome::kCreated);
  auto again = testing::AppendLine(l.get(), Register("H1"));
  CHECK(again.outcome == Outcome::kExists);
  CHECK(again.seq == first.seq);
  CHECK(l->head().seq == 2);  // Seq 1 is the genesis entry.

  SUBCASE("the same event twice in one group") {
    auto r = testing::AppendLines(l.get(), {Apply("a1", "H1", 100), Apply("a1", "H1", 100)});
    CHECK(r[0].outcome == Outcome::kCreated);
    CHECK(r[1].outcome == Outcome::kExists);
    CHECK(r[1].seq == r[0].seq);
    CHECK(l->head().seq == 3);
  }
  CheckVerifies(*l);
}

TEST_CASE("same id, different content: a conflict naming the original seq") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  REQUIRE(testing::AppendLine(l.get(), Register("H1")).outcome == Outcome::kCreated);
  REQUIRE(testing::AppendLine(l.get(), Apply("a1", "H1", 100)).outcome == Outcome::kCreated);
  auto r = testing::AppendLine(l.get(), Apply("a1", "H1", 101));
  CHECK(r.outcome == Outcome::kRejected);
  CHECK(r.error.code() == Status::Code::kConflict);
  CHECK(r.error.field() == "eventId");
  CHECK(r.error.reason().find("seq 3") != std::string::npos);

  auto in_group = testing::AppendLines(l.get(), {Apply("b1", "H1", 5), Apply("b1", "H1", 6)});
  CHECK(in_group[0].outcome == Outcome::kCreated);
  CHECK(in_group[1].outcome == Outcome::kRejected);
  CHECK(l->head().seq == 4);
  CheckVerifies(*l);
}

TEST_CASE("expected household version") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  REQUIRE(testing::AppendLine(l.get(), Register("H1", R"("expectedVersion":{"exactly":0},)")).outcome ==
          Outcome::kCreated);
  // A new household must be new.
  auto dup = testing::AppendLine(l.get(), Apply("x", "H1", 1, R"("expectedVersion":{"exactly":0},)"));
  CHECK(dup.outcome == Outcome::kRejected);
  CHECK(dup.error.code() == Status::Code::kConflict);
  CHECK(dup.error.field() == "expectedVersion.exactly");
  CHECK(dup.error.reason().find("has 1 events") != std::string::npos);

  auto ok = testing::AppendLine(l.get(), Apply("a1", "H1", 1, R"("expectedVersion":{"exactly":"1"},)"));
  CHECK(ok.outcome == Outcome::kCreated);
  // A retry of an accepted event is "exists", though its expected version is now stale.
  auto retry = testing::AppendLine(l.get(), Apply("a1", "H1", 1, R"("expectedVersion":{"exactly":"1"},)"));
  CHECK(retry.outcome == Outcome::kExists);
  // Two writers that both read version 2: the second loses.
  auto w1 = testing::AppendLines(l.get(), {Apply("w1", "H1", 1, R"("expectedVersion":{"exactly":2},)"),
                                           Apply("w2", "H1", 2, R"("expectedVersion":{"exactly":2},)")});
  CHECK(w1[0].outcome == Outcome::kCreated);
  CHECK(w1[1].outcome == Outcome::kRejected);
  CHECK(l->head().seq == 4);
  CheckVerifies(*l);
}

TEST_CASE("references and household scope") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  REQUIRE(testing::AppendLine(l.get(), Register("H1")).outcome == Outcome::kCreated);
  REQUIRE(testing::AppendLine(l.get(), Register("H2")).outcome == Outcome::kCreated);
  const std::string correction_head =
      R"({"eventId":"c1","regionCode":"341502000000","actorId":"ca1","businessDate":20240201,)";

  auto missing = testing::AppendLine(
      l.get(),
      correction_head +
          R"("householdId":"H1","correction":{"targetEventId":"nope","reason":"r","secondActorId":"ca2","annul":null}})");
  CHECK(missing.error.code() == Status::Code::kNotFound);
  CHECK(missing.error.field() == "correction.targetEventId");

  auto wrong_household = testing::AppendLine(
      l.get(),
      correction_head +
          R"("householdId":"H2","correction":{"targetEventId":"reg-H1","reason":"r","secondActorId":"ca2","annul":null}})");
  CHECK(wrong_household.outcome == Outcome::kRejected);
  CHECK(wrong_household.error.field() == "householdId");

  auto right = testing::AppendLine(
      l.get(),
      correction_head +
          R"("householdId":"H1","correction":{"targetEventId":"reg-H1","reason":"r","secondActorId":"ca2","annul":null}})");
  CHECK(right.outcome == Outcome::kCreated);

  auto no_household = testing::AppendLine(
      l.get(),
      R"({"eventId":"a9","regionCode":"341502001001","actorId":"cw1","businessDate":20240108,"applicationSubmitted":{"caseId":"C9","programme":"urban_dibao"}})");
  CHECK(no_household.error.field() == "householdId");
  auto household_on_ledger_wide = testing::AppendLine(
      l.get(),
      R"({"eventId":"s9","householdId":"H1","regionCode":"341502000000","actorId":"a","businessDate":20240108,"standardChanged":{"regionPrefix":"341502","programme":"urban_dibao","amountFen":75000,"effectiveDate":20240101}})");
  CHECK(household_on_ledger_wide.error.field() == "householdId");
  CHECK(l->head().seq == 4);
  CheckVerifies(*l);
}

TEST_CASE("a bad event in a group appends nothing and does not stop the others") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  auto r = testing::AppendLines(l.get(), {Register("H1"), Apply("a1", "H1", -1), Apply("a2", "H1", 7), "{bad json"});
  CHECK(r[0].outcome == Outcome::kCreated);
  CHECK(r[1].outcome == Outcome::kRejected);
  CHECK(r[1].error.field() == "applicationSubmitted.declaredMonthlyIncomeFen");
  CHECK(r[2].outcome == Outcome::kCreated);
  CHECK(r[2].seq == 3);  // no gap where the bad event was
  CHECK(r[3].outcome == Outcome::kRejected);
  CHECK(l->head().seq == 3);
  CheckVerifies(*l);
}

TEST_CASE("what is appended survives reopening, and the chain continues") {
  testing::TempDir dir;
  HeadValue head;
  {
    auto l = testing::NewLedger(dir.Sub("l"));
    testing::AppendLines(l.get(), testing::ReadDataLines("every_kind.jsonl"));
    head = l->head();
    REQUIRE(head.seq == 35);  // The genesis and the file's 34 lines.
  }
  auto l = testing::OpenLedger(dir.Sub("l"));
  CHECK(l->head() == head);
  auto r = testing::AppendLine(l.get(), Apply("more", "H1", 3));
  REQUIRE(r.outcome == Outcome::kCreated);
  CHECK(r.seq == 36);
  std::string bytes;
  REQUIRE(l->ReadEntry(36, &bytes).ok());
  EntryReader e;
  REQUIRE(e.Init(bytes).ok());
  CHECK(e.entry().getPrevHash() == capnp::Data::Reader(head.hash.data(), 32));
  CHECK(e.entry().getRecordedAtUs() >= head.recorded_at_us);
  CheckVerifies(*l);

  std::vector<uint64_t> seqs;
  REQUIRE(l->ReadHousehold("H1", [&](const HouseholdEntry& he) { seqs.push_back(he.seq); }).ok());
  CHECK(seqs.size() == 21);  // 20 in the sample file, and one more
  CHECK(seqs.back() == 36);
  CHECK(std::is_sorted(seqs.begin(), seqs.end()));
  CHECK(l->ReadHousehold("H404", [](const HouseholdEntry&) {}).code() == Status::Code::kNotFound);
}

TEST_CASE("full identity and card numbers never reach the disk") {
  testing::TempDir dir;
  auto lines = testing::ReadDataLines("every_kind.jsonl");
  {
    auto l = testing::NewLedger(dir.Sub("l"));
    for (auto& r : testing::AppendLines(l.get(), lines)) REQUIRE(r.outcome == Outcome::kCreated);
  }
  const std::vector<std::string> full = {"341502195203141236", "34150220050901345X", "341502196711204568",
                                         "341502198006122347", "6228480012345678901"};
  for (const auto& number : full)
    REQUIRE(std::any_of(lines.begin(), lines.end(),
                        [&](const std::string& line) { return line.find(number) != std::string::npos; }));
  size_t files = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir.Sub("l"))) {
    if (!f.is_regular_file()) continue;
    std::string content = FileBytes(f.path());
    ++files;
    for (const auto& number : full) CHECK_MESSAGE(content.find(number) == std::string::npos, f.path().string());
  }
  CHECK(files > 3);  // WAL, MANIFEST, OPTIONS, secret at least
}

TEST_CASE("keyed hashes: the same person matches within a ledger, not across ledgers") {
  testing::TempDir dir;
  auto a = testing::NewLedger(dir.Sub("a"));
  auto b = testing::NewLedger(dir.Sub("b"));
  auto keyed_hash = [](Log* l, uint64_t seq) {
    std::string bytes;
    REQUIRE(l->ReadEntry(seq, &bytes).ok());
    EntryReader e;
    REQUIRE(e.Init(bytes).ok());
    auto person = e.entry().getEvent().getHouseholdRegistered().getMembers()[0].getPerson();
    CHECK(std::string(person.getMasked()) == "341502********1236");
    CHECK(!person.hasNumber());
    auto h = person.getKeyedHash();
    return std::string(reinterpret_cast<const char*>(h.begin()), h.size());
  };
  testing::AppendLines(a.get(), {Register("H1"), Register("H2")});
  testing::AppendLines(b.get(), {Register("H1")});
  CHECK(keyed_hash(a.get(), 2) == keyed_hash(a.get(), 3));
  CHECK(keyed_hash(a.get(), 2) != keyed_hash(b.get(), 2));
  CHECK(keyed_hash(a.get(), 2).size() == 32);

  auto premasked = testing::AppendLine(
      a.get(),
      R"({"eventId":"x","regionCode":"341502000000","actorId":"a","businessDate":20240102,"relativeDeclared":{"staffActorId":"cw1","person":{"masked":"341502********1236"},"relation":"son"}})");
  CHECK(premasked.outcome == Outcome::kRejected);
  CHECK(premasked.error.field() == "relativeDeclared.person.masked");
}

TEST_CASE("ledgerctl: init, append, show, replay, verify, help") {
  testing::TempDir dir;
  const std::string d = dir.Sub("l");
  auto init = testing::RunLedgerctl({"init", "--dir", d, "--policy", "record"});
  REQUIRE(init.exit_code == 0);
  CHECK(testing::RunLedgerctl({"init", "--dir", d}).exit_code == 2);  // not empty any more

  std::string input;
  for (const auto& line : testing::ReadDataLines("every_kind.jsonl")) input += line + "\n";
  auto append = testing::RunLedgerctl({"append", "--dir", d, "--group-size", "7"}, input);
  CHECK(append.exit_code == 0);
  CHECK(std::count(append.out.begin(), append.out.end(), '\n') == 34);
  CHECK(append.out.find(R"({"line":29,"status":"created","eventId":"h2-ann","seq":30,"hash":")") != std::string::npos);
  auto again = testing::RunLedgerctl({"append", "--dir", d, "-"}, input);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find(R"({"line":1,"status":"exists","eventId":"act-cw1","seq":2})") != std::string::npos);

  auto show = testing::RunLedgerctl({"show", "--dir", d, "--seq", "6"});
  CHECK(show.exit_code == 0);
  CHECK(show.out.find(R"("kind":"householdRegistered")") != std::string::npos);
  CHECK(show.out.find("341502********1236") != std::string::npos);
  CHECK(testing::RunLedgerctl({"show", "--dir", d, "--seq", "36"}).exit_code == 1);
  CHECK(testing::RunLedgerctl({"show", "--dir", d, "--seq", "x"}).exit_code == 2);

  auto replay = testing::RunLedgerctl({"replay", "--dir", d, "--household", "H2"});
  CHECK(replay.exit_code == 0);
  CHECK(replay.out.find("rejection") != std::string::npos);
  CHECK(replay.err.find("H2: 5 events, household chain verified") != std::string::npos);
  CHECK(testing::RunLedgerctl({"replay", "--dir", d, "--household", "H9"}).exit_code == 1);

  auto verify = testing::RunLedgerctl({"verify", "--dir", d});
  CHECK(verify.exit_code == 0);
  CHECK(verify.out.rfind("ok: 35 entries, 2 households, head ", 0) == 0);

  for (const char* cmd : {"init", "append", "show", "verify", "replay", "rules"}) {
    auto help = testing::RunLedgerctl({cmd, "--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find(std::string("usage: ledgerctl ") + cmd) == 0);
  }
  CHECK(testing::RunLedgerctl({"--help"}).exit_code == 0);
  CHECK(testing::RunLedgerctl({"frobnicate"}).exit_code == 2);
  CHECK(testing::RunLedgerctl({"verify"}).exit_code == 2);
  auto none = testing::RunLedgerctl({"verify", "--dir", dir.Sub("none")});
  CHECK(none.exit_code == 2);
  // The library names the API operation (Ledger::Create); the command line names its command.
  CHECK(none.err ==
        fmt::format("ledgerctl verify: no ledger at {0} (make one with: ledgerctl init --dir {0})\n", dir.Sub("none")));
  CHECK(testing::RunLedgerctl({"verify", "--dir", d, "--bogus", "1"}).exit_code == 2);
}

// The number after `label` in `text` (0 if absent).
uint64_t NumberAfter(const std::string& text, const std::string& label) {
  size_t at = text.find(label);
  return at == std::string::npos ? 0 : std::stoull(text.substr(at + label.size()));
}

TEST_CASE("append with standard output full: exit 2, what was committed is said, nothing more is appended") {
  testing::TempDir dir;
  const std::string d = dir.Sub("l");
  REQUIRE(testing::RunLedgerctl({"init", "--dir", d, "--policy", "record"}).exit_code == 0);
  auto lines = testing::ReadDataLines("every_kind.jsonl");
  std::string input;
  for (const auto& line : lines) input += line + "\n";
  const uint64_t head_before = NumberAfter(testing::RunLedgerctl({"verify", "--dir", d}).out, "ok: ");

  auto full = testing::RunLedgerctl({"append", "--dir", d, "--group-size", "7"}, input, "/dev/full");
  CHECK(full.exit_code == 2);
  INFO(full.err);
  CHECK(full.err.find("cannot write the results to standard output (No space left on device)") != std::string::npos);
  const uint64_t not_appended_from = NumberAfter(full.err, "Input from line ");
  const uint64_t log_entries = NumberAfter(full.err, "The log now has ");
  REQUIRE(not_appended_from > 1);
  REQUIRE(not_appended_from <= lines.size());  // It stopped: the file is 34 lines, groups of 7.
  const uint64_t committed = not_appended_from - 1;
  CHECK(log_entries == head_before + committed);
  CHECK(full.err.find(fmt::format("input lines 1 to {}: {} events created (seq {} to {})", committed, committed,
                                  head_before + 1, head_before + committed)) != std::string::npos);

  // What it said was committed is there, verified, and exactly that: a resend finds those lines.
  auto verify = testing::RunLedgerctl({"verify", "--dir", d});
  CHECK(verify.exit_code == 0);
  CHECK(NumberAfter(verify.out, "ok: ") == log_entries);
  auto resend = testing::RunLedgerctl({"append", "--dir", d}, input);
  CHECK(resend.exit_code == 0);
  auto count = [&](const char* what) {
    size_t n = 0;
    for (size_t at = resend.out.find(what); at != std::string::npos; at = resend.out.find(what, at + 1)) ++n;
    return n;
  };
  CHECK(count("\"status\":\"exists\"") == committed);
  CHECK(count("\"status\":\"created\"") == lines.size() - committed);

  // A report that cannot be written is an error too, not an abort.
  auto roll = testing::RunLedgerctl({"verify", "--dir", d}, "", "/dev/full");
  CHECK(roll.exit_code == 2);
  CHECK(roll.err.find("ledgerctl verify: cannot write the output: No space left on device") != std::string::npos);
}

TEST_CASE("a second writer is refused while the ledger is open") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  auto second = testing::RunLedgerctl({"append", "--dir", dir.Sub("l")}, Register("H1") + "\n");
  CHECK(second.exit_code == 2);
  CHECK(second.err.find("open in another process") != std::string::npos);
  CHECK(l->head().seq == 1);  // The genesis alone.
}

TEST_CASE("only RocksDB's lock errors say another process has the ledger, not a path with \"block\" in it") {
  testing::TempDir dir;
  // RocksDB 7.8's words when another process holds the LOCK file, and when this one does.
  auto busy =
      FromRocks(rocksdb::Status::IOError("While lock file: /data/block-7/l/LOCK", "Resource temporarily unavailable"),
                "opening /data/block-7/l");
  CHECK(busy.code() == Status::Code::kBusy);
  CHECK(busy.reason().find("open in another process") != std::string::npos);
  auto held = FromRocks(rocksdb::Status::IOError("lock hold by current process, acquire time 1 acquiring thread 2: "
                                                 "/data/block-7/l/LOCK",
                                                 "No locks available"),
                        "opening /data/block-7/l");
  CHECK(held.code() == Status::Code::kBusy);

  // Opened twice in this process: RocksDB refuses the second open on its lock.
  auto first = testing::NewLedger(dir.Sub("blocked"));
  std::unique_ptr<Log> second;
  CHECK(Log::Open(ledger::domain::Rules(), dir.Sub("blocked"), &second).code() == Status::Code::kBusy);

  // Any other I/O error stays one, whatever the path says.
  std::ofstream(dir.Sub("block")) << "a file, not a directory\n";
  std::unique_ptr<Store> store;
  Status s = Store::Open(dir.Sub("block") + "/l", true, &store);
  CHECK(s.code() == Status::Code::kIOError);
  CHECK(s.reason().find("another process") == std::string::npos);
  CHECK(FromRocks(rocksdb::Status::IOError("While open a file for lock: /data/block-7/l/LOCK", "Permission denied"),
                  "opening /data/block-7/l")
            .code() == Status::Code::kIOError);
}

TEST_CASE("verify reports its progress every kVerifyProgressEvery entries and once the log is read") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  std::vector<std::string> lines;
  for (int n = 0; n < 5000; ++n) {  // Each its own person: one in many households would be a finding each.
    std::string body =
        fmt::format("341502{:04}{:02}{:02}{:03}", 1930 + n / 300, 1 + (n / 25) % 12, 1 + n % 25, n % 1000);
    std::string person = testing::IdentityNumber(body);
    lines.push_back(testing::EventLine("reg-P" + std::to_string(n), "P" + std::to_string(n), "341502001001", "cw1",
                                       20240105, "householdRegistered",
                                       testing::HouseholdMembers({testing::Member(person, "m", "head")})));
  }
  for (const auto& r : testing::AppendLines(l.get(), lines)) REQUIRE(r.outcome == Outcome::kCreated);
  REQUIRE(l->head().seq == 5001);  // The genesis, then the registrations.
  std::vector<std::pair<uint64_t, uint64_t>> seen;
  VerifyReport report;
  REQUIRE(Verify(*l, &report, [&](uint64_t checked, uint64_t total) { seen.emplace_back(checked, total); }).ok());
  CHECK(report.ok);
  using Seen = std::vector<std::pair<uint64_t, uint64_t>>;
  CHECK(seen == Seen{{kVerifyProgressEvery, 5001}, {5001, 5001}});
}
