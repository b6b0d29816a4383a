#include "ledger/reports/household_replay.h"

#include <fmt/format.h>

#include <map>

#include "ledger/domain/rules.h"
#include "ledger/reports/queries.h"
#include "ledger/util/formats.h"

namespace ledger {
namespace {

// The ledger's state with one household's own records hidden (and replaced by what the re-run
// writes): the household, its payment slots, its cases and payments, and all people.
class HouseholdReplaySource : public state::StateSource {
 public:
  HouseholdReplaySource(const Store& store, std::string_view household) : store_(store), household_(household) {}

  Status Get(const std::string& key, std::string* value, bool* found) override {
    *found = false;
    if (auto it = overlay_.find(key); it != overlay_.end()) {
      *value = it->second;
      *found = true;
      return Status::Ok();
    }
    if (key == state::HouseholdKey(household_) || key.rfind(state::PaymentSlotKey(household_, ""), 0) == 0 ||
        key.rfind("p/", 0) == 0) {
      return Status::Ok();
    }
    Status s = store_.Get(kState, key, value, found);
    if (!s.ok() || !*found) return s;
    if (key.rfind("c/", 0) == 0) *found = !Owned<state::CaseOwner>(*value);
    if (key.rfind("y/", 0) == 0) *found = !Owned<state::Payment>(*value);
    return Status::Ok();
  }
  void Commit(const std::map<std::string, std::string>& writes) {
    for (const auto& [k, v] : writes) overlay_[k] = v;
  }

 private:
  template <class T>
  bool Owned(const std::string& value) const {
    T record;
    return state::Decode(value, &record) && record.household == household_;
  }
  const Store& store_;
  std::string household_;
  std::map<std::string, std::string> overlay_;
};

}  // namespace

Status ReplayHousehold(const Log& ledger, std::string_view household,
                       const std::function<void(const HouseholdStep&)>& visit) {
  HouseholdReplaySource source(ledger.store(), household);
  std::map<std::string, std::string> bytes_by_event;  // Earlier events, for corrections.
  Status inner;
  // One entry re-run; Corruption if it does not read, IOError if a state record could not be.
  auto step_one = [&](const HouseholdEntry& e) -> Status {
    EntryReader reader, target;
    Status status = reader.Init(e.bytes);
    if (!status.ok()) return status;
    auto event = reader.entry().getEvent();
    bool has_target = false;
    if (event.isCorrection()) {
      auto it = bytes_by_event.find(event.getCorrection().getTargetEventId());
      has_target = it != bytes_by_event.end() && target.Init(it->second).ok();
    }
    schema::Event::Reader target_event = has_target ? target.entry().getEvent() : schema::Event::Reader();
    state::StateTxn txn(&source);
    rules::Verdict verdict = rules::Process(event, has_target ? &target_event : nullptr, &txn);
    if (txn.status().code() == Status::Code::kIOError) return txn.status();  // The re-run did not see a record.
    if (verdict.structural.ok()) source.Commit(txn.writes());
    bytes_by_event[event.getEventId()] = e.bytes;
    HouseholdStep step{&e, reader.entry(), {}};
    std::string value;
    bool found = false;
    if (!(status = source.Get(state::HouseholdKey(household), &value, &found)).ok()) return status;
    if (found) state::Decode(value, &step.after);
    visit(step);
    return Status::Ok();
  };
  Status s = ledger.ReadHousehold(household, [&](const HouseholdEntry& e) {
    if (!inner.ok()) return;
    inner = CatchEntryDecodeErrors([&] { return step_one(e); });
    if (inner.code() == Status::Code::kCorruption) {
      inner = Status::Corruption(fmt::format("seq {}: {} (run verify)", e.seq, inner.reason()));
    }
  });
  return s.ok() ? inner : s;
}

std::string DescribeHousehold(const Log& ledger, const state::Household& h, uint32_t period) {
  std::string out = fmt::format("{} member{}", h.members.size(), h.members.size() == 1 ? "" : "s");
  const rules::LoadStandards standards = queries::StandardsOf(ledger.store());
  for (const auto& c : h.cases) {
    // As the roll says it (queries.h): the standing in the month, or in the first month if still ahead.
    uint32_t month = rules::ShownMonth(c, period);
    rules::Standing standing = rules::StandingIn(c, month);
    if (standing == rules::Standing::kNotApproved) {  // Applied, in procedure or rejected: its status.
      out += fmt::format("; {} {}", c.id, state::CaseStatusName(c.status));
      continue;
    }
    if (standing == rules::Standing::kExited) {
      out += fmt::format("; {} exited", c.id);
      continue;
    }
    auto amount = rules::MonthlyAmountInForce(c, h.region_code, month, standards);  // Standard rises included.
    int64_t monthly_fen = amount ? amount->monthly_fen : 0;
    std::string name = standing == rules::Standing::kSuspended ? "suspended"
                       : c.status == state::CaseStatus::kExited
                           ? fmt::format("exiting (paid until {})", c.paid_until_period)
                           : "approved";
    out += fmt::format("; {} {} {}/month", c.id, name, FormatYuan(monthly_fen));
  }
  return out;
}

}  // namespace ledger
