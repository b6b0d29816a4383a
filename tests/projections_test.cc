// Projections and reports: the state rebuilt from the log equals the state kept on append,
// byte for byte; the funding totals and the roll agree with sums computed independently from
// the input; an interrupted rebuild blocks appends; the report commands answer clearly.
#include <capnp/message.h>
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "ledger/domain/json.h"
#include "ledger/domain/rules.h"
#include "ledger/reports/queries.h"
#include "testing/history.h"
#include "tests/test_util.h"

using ledger::Policy;

namespace {

std::map<std::string, std::string> DumpState(const ledger::Log& l) {
  std::map<std::string, std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(
      l.store().db()->NewIterator(rocksdb::ReadOptions(), l.store().cf(ledger::kState)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) out[it->key().ToString()] = it->value().ToString();
  return out;
}

void AppendAll(ledger::Log* l, const std::vector<std::string>& lines) {
  for (size_t first = 0; first < lines.size(); first += 300) {
    std::vector<std::string> chunk(lines.begin() + first, lines.begin() + std::min(lines.size(), first + 300));
    for (const auto& r : testing::AppendLines(l, chunk)) REQUIRE_MESSAGE(r.error.ok(), r.error.ToString());
  }
}

// What the input lines say, summed independently of the ledger.
struct Expected {
  std::map<std::pair<uint16_t, uint32_t>, ledger::state::Totals> totals;  // (programme, period)
};

Expected SumInput(const std::vector<std::string>& lines) {
  Expected e;
  std::map<std::string, std::pair<std::pair<uint16_t, uint32_t>, int64_t>> payments;  // id -> (key, amount)
  for (const auto& line : lines) {
    capnp::MallocMessageBuilder m;
    REQUIRE(ledger::ParseEventJson(line, &m).ok());
    auto ev = m.getRoot<ledger::schema::Event>().asReader();
    if (ev.isFundsAllocated()) {
      auto f = ev.getFundsAllocated();
      e.totals[{static_cast<uint16_t>(f.getProgramme()), f.getPeriod()}].allocated_fen += f.getAmountFen();
    } else if (ev.isPaymentIssued()) {
      auto p = ev.getPaymentIssued();
      std::pair<uint16_t, uint32_t> key{static_cast<uint16_t>(p.getProgramme()), p.getPeriod()};
      payments[p.getPaymentId()] = {key, p.getAmountFen()};
      auto& t = e.totals[key];
      t.issued_fen += p.getAmountFen();
      t.payments += 1;
      t.household_months += p.getSupplementaryReason().size() == 0;
    } else if (ev.isPaymentSettled()) {
      auto& [key, amount] = payments.at(ev.getPaymentSettled().getPaymentId());
      e.totals[key].settled_fen += amount;
    } else if (ev.isPaymentFailed()) {
      auto& [key, amount] = payments.at(ev.getPaymentFailed().getPaymentId());
      e.totals[key].failed_fen += amount;
    }
  }
  return e;
}

}  // namespace

TEST_CASE("the state rebuilt from the log equals the state kept on append, byte for byte") {
  for (Policy policy : {Policy::kEnforce, Policy::kRecord}) {
    testing::TempDir dir;
    auto l = testing::NewLedger(dir.Sub("l"), policy);
    // Under record: every kind of event, lawful or not (findings are recomputed and compared).
    AppendAll(l.get(), policy == Policy::kEnforce ? testing::CountyYear({.seed = 11, .households = 80})
                                                  : testing::ReadDataLines("every_kind.jsonl"));
    auto incremental = DumpState(*l);
    REQUIRE(incremental.size() > (policy == Policy::kEnforce ? 500u : 10u));
    ledger::Log::RebuildReport report;
    REQUIRE(l->Rebuild(&report).ok());
    CHECK(report.entries == l->head().seq);
    CHECK_MESSAGE(report.mismatches == 0, report.first_mismatch);
    auto rebuilt = DumpState(*l);
    CHECK(rebuilt.size() == incremental.size());
    CHECK(rebuilt == incremental);
    // And the ledger appends on from the rebuilt state.
    auto r = testing::AppendLine(
        l.get(),
        R"({"eventId":"after","regionCode":"341502000000","actorId":"admin1","businessDate":20250201,"approvalLevelSet":{"regionPrefix":"341502003","level":"township"}})");
    CHECK(r.error.ok());
  }
}

TEST_CASE("funding totals and the roll agree with the input, summed independently") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"), Policy::kEnforce);
  auto lines = testing::CountyYear({.seed = 5, .households = 60});
  AppendAll(l.get(), lines);
  Expected expected = SumInput(lines);
  std::vector<ledger::queries::TotalsRow> rows;
  REQUIRE(ledger::queries::Totals(l->store(), {}, 199001, 209912, &rows).ok());
  REQUIRE(rows.size() == expected.totals.size());
  for (const auto& row : rows) {
    const auto& want = expected.totals.at({row.programme, row.period});
    CAPTURE(row.period);
    CHECK(row.totals.allocated_fen == want.allocated_fen);
    CHECK(row.totals.issued_fen == want.issued_fen);
    CHECK(row.totals.settled_fen == want.settled_fen);
    CHECK(row.totals.failed_fen == want.failed_fen);
    CHECK(row.totals.payments == want.payments);
    CHECK(row.totals.household_months == want.household_months);
    CHECK(row.totals.person_months >= row.totals.household_months);
  }
  // A township's totals are part of the county's.
  std::vector<ledger::queries::TotalsRow> township;
  REQUIRE(ledger::queries::Totals(l->store(), {"341502001", std::nullopt}, 199001, 209912, &township).ok());
  int64_t county_issued = 0, township_issued = 0;
  for (const auto& r : rows) county_issued += r.totals.issued_fen;
  for (const auto& r : township) township_issued += r.totals.issued_fen;
  CHECK(township_issued > 0);
  CHECK(township_issued < county_issued);

  // The roll: 60 cases approved in January (temporary help is on it only in its month); by
  // December, 8 exited in the September sweep (gradual exits ended in November) and 3 joined.
  std::vector<ledger::queries::RollRow> roll;
  REQUIRE(ledger::queries::Roll(l->store(), {}, 20240315, &roll).ok());
  CHECK(roll.size() == 60);
  REQUIRE(ledger::queries::Roll(l->store(), {}, 20241015, &roll).ok());
  CHECK(roll.size() == 60 - 8 + 3 + 3);  // Three gradual exits still paid in October.
  REQUIRE(ledger::queries::Roll(l->store(), {}, 20241215, &roll).ok());
  CHECK(roll.size() == 60 - 8 + 3);
  REQUIRE(ledger::queries::Roll(l->store(), {}, 20240415, &roll).ok());
  CHECK(roll.size() == 61);  // The temporary case, in April.
  auto urban = ledger::ParseProgramme("urban_dibao");
  REQUIRE(ledger::queries::Roll(l->store(), {"", urban}, 20240315, &roll).ok());
  CHECK(!roll.empty());
  for (const auto& r : roll) CHECK(r.programme == *urban);
}

TEST_CASE("an interrupted rebuild blocks appends until rebuild runs again") {
  testing::TempDir dir;
  {
    auto l = testing::NewLedger(dir.Sub("l"), Policy::kEnforce);
    AppendAll(l.get(), testing::CountyYear({.seed = 2, .households = 10}));
  }
  {
    std::unique_ptr<ledger::Store> store;
    REQUIRE(ledger::Store::Open(dir.Sub("l") + "/db", false, &store).ok());
    REQUIRE(store->db()
                ->Put(rocksdb::WriteOptions(), store->cf(ledger::kMeta), std::string(ledger::kMetaStateSeq),
                      ledger::SeqKey(5))
                .ok());
  }
  const std::string line =
      R"({"eventId":"x","regionCode":"341502000000","actorId":"admin1","businessDate":20250201,"approvalLevelSet":{"regionPrefix":"341502003","level":"township"}})";
  auto l = testing::OpenLedger(dir.Sub("l"));
  std::vector<ledger::AppendResult> results;
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> owned;
  capnp::MallocMessageBuilder m;
  REQUIRE(ledger::ParseEventJson(line, &m).ok());
  std::vector<capnp::MessageBuilder*> group = {&m};
  ledger::Status s = l->AppendGroup(group, &results);
  CHECK(!s.ok());
  CHECK(s.reason().find("rebuild") != std::string::npos);
  ledger::Log::RebuildReport report;
  REQUIRE(l->Rebuild(&report).ok());
  CHECK(testing::AppendLine(l.get(), line).error.ok());
}

TEST_CASE("ledgerctl roll, totals, reviews and rebuild") {
  testing::TempDir dir;
  const std::string d =
      testing::LedgerctlLedger(dir.Sub("l"), testing::CountyYear({.seed = 3, .households = 20}), "enforce");

  auto roll = testing::RunLedgerctl({"roll", "--dir", d, "--as-of", "20240315", "--region", "341502001"});
  CHECK(roll.exit_code == 0);
  CHECK(roll.out.rfind("household", 0) == 0);
  CHECK(roll.out.find("cases, ") != std::string::npos);
  auto json = testing::RunLedgerctl({"roll", "--dir", d, "--as-of", "20240315", "--format", "json"});
  CHECK(json.out.rfind(R"({"query":{"asOf":"2024-03-15",)", 0) == 0);
  CHECK(std::count(json.out.begin(), json.out.end(), '\n') == 1);  // One document.
  auto jsonl = testing::RunLedgerctl({"roll", "--dir", d, "--as-of", "20240315", "--format", "jsonl"});
  CHECK(std::count(jsonl.out.begin(), jsonl.out.end(), '\n') == 22);  // The query, 20 cases, the summary.
  auto csv = testing::RunLedgerctl({"totals", "--dir", d, "--programme", "rural_dibao", "--format", "csv"});
  CHECK(csv.exit_code == 0);
  CHECK(csv.out.rfind("programme,period,allocated,issued,", 0) == 0);
  CHECK(csv.out.find("\nrural_dibao,202402,") != std::string::npos);
  // Reviews fell due on 20250122 and were made a week before: the next fall due on 20260115.
  auto reviews = testing::RunLedgerctl({"reviews", "--dir", d, "--as-of", "20250201", "--due-by", "20260131"});
  CHECK(reviews.exit_code == 0);
  CHECK(reviews.out.find("20260115") != std::string::npos);
  CHECK(reviews.out.find("20250122") == std::string::npos);

  CHECK(testing::RunLedgerctl({"roll", "--dir", d, "--region", "341599"}).exit_code == 1);  // no such region
  CHECK(testing::RunLedgerctl({"roll", "--dir", d, "--region", "3415x"}).exit_code == 2);
  CHECK(testing::RunLedgerctl({"roll", "--dir", d, "--programme", "dibao"}).exit_code == 2);
  CHECK(testing::RunLedgerctl({"totals", "--dir", d, "--from", "2024-01"}).exit_code == 2);
  CHECK(testing::RunLedgerctl({"roll", "--dir", d, "--format", "xml"}).exit_code == 2);
  auto rebuild = testing::RunLedgerctl({"rebuild", "--dir", d});
  CHECK(rebuild.exit_code == 0);
  CHECK(rebuild.out.rfind("rebuilt the state from ", 0) == 0);
  for (const char* cmd : {"roll", "totals", "reviews", "rebuild"}) {
    CHECK(testing::RunLedgerctl({cmd, "--help"}).out.find(std::string("usage: ledgerctl ") + cmd) == 0);
  }
}

TEST_CASE("replay shows the household's state after each event, and on a date") {
  testing::TempDir dir;
  const std::string d =
      testing::LedgerctlLedger(dir.Sub("l"), testing::CountyYear({.seed = 3, .households = 20}), "enforce");
  // H0004: approved in January, adjusted with the July standard, and in November an adjustment
  // entered wrong and amended by a correction.
  auto csv = testing::RunLedgerctl({"replay", "--dir", d, "--household", "H0004", "--format", "csv"});
  REQUIRE(csv.exit_code == 0);
  CHECK(csv.out.rfind("seq,date,event,actor,amount yuan,entry hash,findings,state after\n", 0) == 0);
  std::vector<std::string> rows;
  for (size_t at = 0, nl; (nl = csv.out.find('\n', at)) != std::string::npos; at = nl + 1)
    rows.push_back(csv.out.substr(at, nl - at));
  auto row_of = [&](const std::string& kind) {
    for (const auto& r : rows) {
      if (r.find("," + kind + ",") != std::string::npos) return r;
    }
    return std::string();
  };
  CHECK(row_of("householdRegistered").find("members; C-H0004 applied") == std::string::npos);  // no case yet
  CHECK(row_of("applicationSubmitted").find("C-H0004 applied") != std::string::npos);
  CHECK(row_of("approval").find("C-H0004 approved ") != std::string::npos);
  // The adjustment's own amount, then the amended one after the correction.
  std::string adjusted = row_of("correction");
  REQUIRE(!adjusted.empty());
  auto amount_in = [](const std::string& row) {
    size_t at = row.rfind("approved ");
    return at == std::string::npos ? std::string() : row.substr(at + 9, row.find('/', at) - at - 9);
  };
  std::string before_correction, after_correction = amount_in(adjusted);
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i] == adjusted) before_correction = amount_in(rows[i - 1]);
  }
  CHECK(!after_correction.empty());
  CHECK(before_correction != after_correction);
  // On a date: only what happened by then.
  auto march = testing::RunLedgerctl({"replay", "--dir", d, "--household", "H0004", "--as-of", "20240315"});
  CHECK(march.out.find("correction") == std::string::npos);
  CHECK(march.out.find("on 20240315: ") != std::string::npos);
  CHECK(march.out.find("C-H0004 approved ") != std::string::npos);
  CHECK(testing::RunLedgerctl({"replay", "--dir", d, "--household", "H0004", "--as-of", "2024"}).exit_code == 2);
  auto entries = testing::RunLedgerctl({"replay", "--dir", d, "--household", "H0004", "--format", "entries"});
  CHECK(entries.out.rfind(R"({"hash":")", 0) == 0);
}

TEST_CASE("ledgerctl trace") {
  testing::TempDir dir;
  const std::string d = testing::LedgerctlLedger(dir.Sub("l"), testing::ReadDataLines("every_kind.jsonl"), "record");
  auto household = testing::RunLedgerctl({"trace", "--dir", d, "--household", "H1"});
  CHECK(household.exit_code == 0);
  CHECK(household.out.find("approved 2024-01-26 ca1") != std::string::npos);
  CHECK(household.out.find("bank.order") != std::string::npos);
  auto actor = testing::RunLedgerctl({"trace", "--dir", d, "--actor", "fin1", "--format", "json"});
  CHECK(actor.exit_code == 0);
  CHECK(actor.out.find(R"("rule":"bank.order")") != std::string::npos);
  CHECK(testing::RunLedgerctl({"trace", "--dir", d, "--region", "341502"}).exit_code == 0);
  CHECK(testing::RunLedgerctl({"trace", "--dir", d, "--actor", "nobody"}).exit_code == 1);
  CHECK(testing::RunLedgerctl({"trace", "--dir", d, "--region", "3415"}).exit_code == 0);
  CHECK(testing::RunLedgerctl({"trace", "--dir", d, "--region", "3499"}).exit_code == 1);
  CHECK(testing::RunLedgerctl({"trace", "--dir", d}).exit_code == 2);
  CHECK(testing::RunLedgerctl({"trace", "--dir", d, "--actor", "a", "--household", "H1"}).exit_code == 2);
  CHECK(testing::RunLedgerctl({"trace", "--help"}).out.rfind("usage: ledgerctl trace", 0) == 0);
}

TEST_CASE("rebuild equals incremental state on a multi-year history") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"), Policy::kEnforce);
  auto lines = testing::CountyYear({.seed = 13, .households = 40, .years = 3});
  AppendAll(l.get(), lines);
  REQUIRE(l->head().seq == lines.size() + 1);  // Every line created under enforce, after the genesis.
  // The history spans the years: rolls to January 2027, a standard rise and reviews every year.
  uint32_t last_period = 0;
  std::set<uint32_t> years, rise_years, review_years;
  for (const auto& line : lines) {
    capnp::MallocMessageBuilder m;
    REQUIRE(ledger::ParseEventJson(line, &m).ok());
    auto ev = m.getRoot<ledger::schema::Event>().asReader();
    uint32_t year = ev.getBusinessDate() / 10000;
    years.insert(year);
    if (ev.isPaymentIssued()) last_period = std::max(last_period, ev.getPaymentIssued().getPeriod());
    if (ev.isStandardChanged()) rise_years.insert(year);
    if (ev.isReviewRecorded()) review_years.insert(year);
  }
  CHECK(last_period == 202701);
  CHECK(years == std::set<uint32_t>{2024, 2025, 2026, 2027});
  CHECK(rise_years == std::set<uint32_t>{2024, 2025, 2026});
  CHECK(review_years.count(2025) + review_years.count(2026) == 2);
  auto incremental = DumpState(*l);
  REQUIRE(incremental.size() > 500u);
  ledger::Log::RebuildReport report;
  REQUIRE(l->Rebuild(&report).ok());
  CHECK(report.entries == lines.size() + 1);  // The genesis entry is rebuilt past too.
  CHECK_MESSAGE(report.mismatches == 0, report.first_mismatch);
  CHECK(DumpState(*l) == incremental);
  l.reset();  // Closed, for ledgerctl to verify the whole log.
  auto verify = testing::RunLedgerctl({"verify", "--dir", dir.Sub("l")});
  CHECK_MESSAGE(verify.exit_code == 0, verify.out, verify.err);
  CHECK(verify.out.rfind("ok: " + std::to_string(lines.size() + 1) + " entries", 0) == 0);
}

// The state in memory (core/state_cache.h) under a budget far below the state's size: records
// are evicted all along and read back from the database, and the ledger is reopened part-way
// (the cache then starts partial). The state appended so equals the state rebuilt with the whole
// state in memory, and a rebuild under the small budget gives it again.
TEST_CASE("a state cache much smaller than the state changes nothing of the state") {
  testing::TempDir dir;
  const std::string path = dir.Sub("l");
  auto lines = testing::CountyYear({.seed = 17, .households = 60});
  const size_t half = lines.size() / 2;
  struct BudgetScope {
    explicit BudgetScope(const char* bytes) { setenv("LEDGER_STATE_CACHE_BYTES", bytes, 1); }
    ~BudgetScope() { unsetenv("LEDGER_STATE_CACHE_BYTES"); }
  };
  std::map<std::string, std::string> appended;
  {
    BudgetScope small("20000");  // About 100 records, of several thousand.
    auto l = testing::NewLedger(path, Policy::kEnforce);
    AppendAll(l.get(), {lines.begin(), lines.begin() + half});
    l.reset();
    l = testing::OpenLedger(path);
    AppendAll(l.get(), {lines.begin() + half, lines.end()});
    REQUIRE(l->head().seq == lines.size() + 1);
    CHECK_FALSE(l->state_cache().complete());
    CHECK(l->state_cache().bytes() <= 20000u);
    appended = DumpState(*l);
    REQUIRE(appended.size() > 1000u);
  }
  for (const char* budget : {"", "20000"}) {
    CAPTURE(budget);
    BudgetScope scope(budget);  // "": the default budget, the whole state in memory.
    auto l = testing::OpenLedger(path);
    ledger::Log::RebuildReport report;
    REQUIRE(l->Rebuild(&report).ok());
    CHECK_MESSAGE(report.mismatches == 0, report.first_mismatch);
    CHECK(l->state_cache().complete() == (*budget == '\0'));
    CHECK(DumpState(*l) == appended);
  }
}

TEST_CASE("LoadState holds the whole state in memory when it fits the budget, and none of it when not") {
  testing::TempDir dir;
  const std::string path = dir.Sub("l");
  {
    auto l = testing::NewLedger(path, Policy::kEnforce);
    AppendAll(l.get(), testing::CountyYear({.seed = 19, .households = 20}));
  }
  struct Case {
    const char* budget;
    bool complete;
  };
  for (Case c : {Case{"", true}, Case{"20000", false}}) {
    CAPTURE(c.budget);
    setenv("LEDGER_STATE_CACHE_BYTES", c.budget, 1);
    auto l = testing::OpenLedger(path);
    unsetenv("LEDGER_STATE_CACHE_BYTES");
    CHECK_FALSE(l->state_cache().primed());  // Opening reads nothing of the state.
    REQUIRE(l->LoadState().ok());
    CHECK(l->state_cache().primed());
    CHECK(l->state_cache().complete() == c.complete);
    CHECK((l->state_cache().records() == DumpState(*l).size()) == c.complete);
    CHECK(l->state_cache().bytes() <= l->state_cache().budget_bytes());
  }
}
