// The public handle (benefit_ledger/ledger.h) over the library. Each method adds no logic of its
// own: it wires the layers below (core's Log, the domain's state machine, the reports and the
// evidence), and it is the one place where a kj::Exception becomes a Status.

#include "benefit_ledger/ledger.h"

#include <fmt/format.h>

#include <utility>

#include "benefit_ledger/events.h"
#include "ledger/core/entry.h"
#include "ledger/core/log.h"
#include "ledger/domain/json.h"
#include "ledger/domain/machine.h"
#include "ledger/evidence/evidence.h"
#include "ledger/reports/household_replay.h"
#include "ledger/reports/payroll.h"
#include "ledger/reports/queries.h"
#include "ledger/reports/reconcile.h"
#include "ledger/reports/recoveries.h"
#include "ledger/reports/results.h"
#include "ledger/reports/trace.h"
#include "ledger/reports/verify.h"
#include "ledger/util/assert.h"
#include "ledger/util/calendar.h"
#include "ledger/util/json_text.h"

namespace ledger {
namespace {

// Runs `body` (which returns a Status); a Cap'n Proto exception thrown under it (stored data
// that does not read, a message that breaks the schema's limits) becomes Corruption naming
// `what`, so that none reaches the caller.
template <class Body>
Status Guarded(const char* what, Body&& body) {
  Status s;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { s = body(); })) {
    return Status::Corruption(fmt::format("{}: stored data does not read ({})", what, e->getDescription().cStr()));
  }
  return s;
}

// Results recorded per group by RecordBankResults: memory stays flat however long the file.
constexpr size_t kBankResultsPerGroup = 1000;

}  // namespace

// ---- BankFile and Reconciliation -------------------------------------------------------------

struct BankFile::Rep {
  reconcile::BankFile file;
};
BankFile::BankFile() : rep_(std::make_unique<Rep>()) {}
BankFile::~BankFile() = default;
size_t BankFile::size() const {
  return rep_->file.size();
}

Status BankFile::CheckColumns(std::string_view columns) {
  reconcile::BankColumns names;
  return reconcile::ParseColumns(columns, &names);
}

Status BankFile::Parse(std::string text, std::optional<std::string_view> columns, std::unique_ptr<BankFile>* out) {
  reconcile::BankColumns names;
  if (columns) {
    Status s = reconcile::ParseColumns(*columns, &names);
    if (!s.ok()) return s;
  }
  std::unique_ptr<BankFile> file(new BankFile());
  Status s = reconcile::ParseBankFile(std::move(text), names, &file->rep_->file);
  if (s.ok()) *out = std::move(file);
  return s;
}

struct Reconciliation::Rep {
  reconcile::Reconciliation matches;
};
Reconciliation::Reconciliation() : rep_(std::make_unique<Rep>()) {}
Reconciliation::~Reconciliation() = default;
size_t Reconciliation::size() const {
  return rep_->matches.size();
}
void Reconciliation::Line(size_t i, results::ReconcileLine::Builder out) const {
  results::BuildReconcileLine(rep_->matches[i], out);
}
void Reconciliation::Summary(results::ReconcileResult::Builder out) const {
  results::BuildReconcileSummary(rep_->matches, out);
}

// ---- Lifecycle -----------------------------------------------------------------------------------

Ledger::Ledger(std::unique_ptr<Log> log) : log_(std::move(log)) {
  LEDGER_ASSERT(log_ != nullptr, "a Ledger wraps an open log");
}
Ledger::~Ledger() = default;

Status Ledger::Create(const std::string& dir, const CreateOptions& options) {
  const note::Verifier* key = options.checkpoint_key ? &*options.checkpoint_key : nullptr;
  return Guarded("create", [&] { return Log::Create(domain::Rules(), dir, options.policy, key); });
}

Status Ledger::Open(const std::string& dir, std::unique_ptr<Ledger>* out) {
  std::unique_ptr<Log> log;
  Status s = Guarded("open", [&] { return Log::Open(domain::Rules(), dir, &log); });
  if (s.ok()) out->reset(new Ledger(std::move(log)));
  return s;
}

Status Ledger::OpenReadOnly(const std::string& dir, std::unique_ptr<Ledger>* out) {
  std::unique_ptr<Log> log;
  Status s = Guarded("open", [&] { return Log::OpenReadOnly(domain::Rules(), dir, &log); });
  if (s.ok()) out->reset(new Ledger(std::move(log)));
  return s;
}

Status Ledger::Snapshot(std::unique_ptr<Ledger>* out) const {
  std::unique_ptr<Log> log;
  Status s = Guarded("snapshot", [&] { return log_->SnapshotView(&log); });
  if (s.ok()) out->reset(new Ledger(std::move(log)));
  return s;
}

bool Ledger::read_only() const {
  return log_->read_only();
}

Status Ledger::Upgrade(const std::string& dir, UpgradeReport* report) {
  Status s = Guarded("upgrade", [&] { return Log::Upgrade(domain::Rules(), dir, report); });
  report->to = std::string(kFormatVersion);
  return s;
}

uint64_t Ledger::head_seq() const {
  return log_->head().seq;
}
Hash Ledger::head_hash() const {
  return log_->head().hash;
}
Policy Ledger::policy() const {
  return log_->policy();
}
const Status& Ledger::identity_error() const {
  return log_->identity_error();
}

// ---- Appending -----------------------------------------------------------------------------------

static_assert(Ledger::kGroupEventsMax == Log::kGroupEventsMax);

Status Ledger::AppendGroup(std::span<capnp::MessageBuilder* const> events, std::vector<AppendResult>* results,
                           GroupMode mode, std::span<const std::string> submitted_by) {
  return Guarded("append", [&] { return log_->AppendGroup(events, results, mode, submitted_by); });
}

Status Ledger::SubmitGroup(std::span<capnp::MessageBuilder* const> events, GroupMode mode, GroupDone done,
                           std::span<const std::string> submitted_by) {
  return Guarded("append", [&] { return log_->SubmitGroup(events, mode, std::move(done), submitted_by); });
}

Status Ledger::FlushGroups() {
  return Guarded("append", [&] { return log_->FlushGroups(); });
}

void Ledger::SetGroupCommitter(GroupCommitter commit) {
  (void)log_->FlushGroups();  // Reports to the group's own callback.
  log_->SetGroupCommitter(std::move(commit));
}

Status Ledger::ApplyEntries(const GroupEntries& group) {
  return Guarded("apply", [&] { return log_->ApplyEntries(group); });
}

Status Ledger::LoadState() {
  return Guarded("append", [&] { return log_->LoadState(); });
}

// ---- Entries and households ----------------------------------------------------------------------

Status Ledger::ShowEntry(uint64_t seq, std::string* json) const {
  std::string bytes;
  Status s = log_->ReadEntry(seq, &bytes);
  EntryReader reader;
  if (s.ok()) s = reader.Init(bytes);
  if (!s.ok()) return s;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { *json = EntryToJson(reader.entry(), LeafHash(AsBytes(bytes))); })) {
    return Status::Corruption(
        fmt::format("entry seq {} is damaged and does not read ({}); run verify", seq, e->getDescription().cStr()));
  }
  return Status::Ok();
}

Status Ledger::ReplayHousehold(std::string_view household, const ReplayOptions& options,
                               const std::function<void(const ReplayStepView&)>& visit,
                               results::ReplayResult::Builder out, std::string* state_on_date) const {
  const rules::LoadStandards standards = queries::StandardsOf(log_->store());
  uint32_t as_of = options.as_of ? options.as_of : UINT32_MAX;
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> kept;
  uint64_t events = 0;
  Hash last{};
  state::Household on_date;
  uint32_t last_date = 0;  // Of the last event visited.
  return Guarded("replay", [&] {
    Status s = ledger::ReplayHousehold(*log_, household, [&](const HouseholdStep& step) {
      ++events;
      last = step.entry->hash;
      uint32_t date = step.decoded.getEvent().getBusinessDate();
      if (date > as_of) return;
      on_date = step.after;
      last_date = date;
      auto message = std::make_unique<capnp::MallocMessageBuilder>();
      auto record = message->initRoot<results::ReplayStep>();
      results::BuildReplayStep(step, standards, record);
      std::string state = options.state_text ? DescribeHousehold(*log_, step.after, calendar::PeriodOf(date)) : "";
      std::string entry = options.entry_json ? EntryToJson(step.decoded, step.entry->hash) : "";
      visit({record.asReader(), state, entry});
      if (options.keep_steps) kept.push_back(std::move(message));
    });
    if (!s.ok()) return s;
    auto query = out.initQuery();
    query.setHousehold(capnp::Text::Reader(household.data(), household.size()));
    query.setAsOf(options.as_of);
    auto steps = out.initSteps(kept.size());
    for (size_t i = 0; i < kept.size(); ++i) steps.setWithCaveats(i, kept[i]->getRoot<results::ReplayStep>());
    uint32_t period = calendar::PeriodOf(options.as_of ? options.as_of : last_date);
    results::BuildHouseholdState(on_date, period, standards, out.initOnDate());
    out.setEvents(events);
    out.setLastEntryHash(capnp::Data::Reader(last.data(), last.size()));
    if (state_on_date) *state_on_date = DescribeHousehold(*log_, on_date, period);
    return Status::Ok();
  });
}

// ---- Who and where ------------------------------------------------------------------------------

Status Ledger::LookupActor(std::string_view actor_id, ActorInfo* out) const {
  if (actor_id.empty()) return Status::NotFound("no actor id given", "actor");  // "" is the ledger's marker row.
  return Guarded("actor", [&] {
    state::Actor actor;
    bool found = false;
    Status s = queries::LoadState(log_->store(), state::ActorKey(actor_id), &actor, &found);
    if (!s.ok()) return s;
    if (!found) return Status::NotFound(fmt::format("actor \"{}\" is not registered", actor_id), "actor");
    state::ActorPublicKey key;
    s = queries::LoadState(log_->store(), state::ActorPublicKeyKey(actor_id), &key, &found);
    if (!s.ok()) return s;
    ActorInfo info;
    info.id = actor_id;
    info.role = static_cast<schema::Role>(actor.role);
    info.jurisdiction = actor.jurisdiction;
    info.verifier_key = found ? key.verifier_key : "";
    state::ActorDeactivation off;
    s = queries::LoadState(log_->store(), state::ActorDeactivationKey(actor_id), &off, &found);
    if (s.ok() && found) {
      info.active = false;
      info.deactivated_by = off.event_id;
      info.deactivation_reason = off.reason;
    }
    if (s.ok()) *out = std::move(info);
    return s;
  });
}

Status Ledger::HouseholdRegion(std::string_view household, std::string* region) const {
  return Guarded("household", [&] {
    state::Household h;
    bool found = false;
    Status s = queries::LoadState(log_->store(), state::HouseholdKey(household), &h, &found);
    if (!s.ok()) return s;
    if (!found) return Status::NotFound(fmt::format("no household \"{}\"", household), "household");
    *region = h.region_code;
    return Status::Ok();
  });
}

Status Ledger::EntryScope(uint64_t seq, std::string* household, std::string* region) const {
  std::string bytes;
  Status s = log_->ReadEntry(seq, &bytes);
  if (s.code() == Status::Code::kNotFound) return Status::NotFound(s.reason(), "seq");
  EntryReader reader;
  if (s.ok()) s = reader.Init(bytes);
  if (!s.ok()) return s;
  return CatchEntryDecodeErrors([&] {
    auto event = reader.entry().getEvent();
    *household = event.getHouseholdId();
    *region = event.getRegionCode();
    return Status::Ok();
  });
}

// ---- Whole-ledger checks -------------------------------------------------------------------------

Status Ledger::Verify(results::VerifyResult::Builder out, const VerifyProgress& progress) const {
  return Guarded("verify", [&] {
    VerifyReport report;
    Status s = ledger::Verify(*log_, &report, progress);
    if (s.ok()) results::BuildVerify(report, out);
    return s;
  });
}

Status Ledger::Rebuild(RebuildReport* report) {
  return Guarded("rebuild", [&] { return log_->Rebuild(report); });
}

// ---- Reports -------------------------------------------------------------------------------------

Status Ledger::CheckRegion(const ReportFilter& filter) const {
  if (filter.region_prefix.empty()) return Status::Ok();
  bool known = false;
  Status s = queries::RegionKnown(log_->store(), filter.region_prefix, &known);
  if (s.ok() && !known)
    return Status::NotFound(fmt::format("no household in region {}", filter.region_prefix), "region");
  return s;
}

Status Ledger::Roll(const ReportFilter& filter, uint32_t as_of, results::RollResult::Builder out) const {
  return Reviews(filter, as_of, 0, out);
}

Status Ledger::Reviews(const ReportFilter& filter, uint32_t as_of, uint32_t due_by,
                       results::RollResult::Builder out) const {
  return Guarded("roll", [&] {
    Status s = CheckRegion(filter);
    std::vector<queries::RollRow> rows;
    if (s.ok()) {
      s = due_by == 0 ? queries::Roll(log_->store(), filter, as_of, &rows)
                      : queries::ReviewsDue(log_->store(), filter, as_of, due_by, &rows);
    }
    if (s.ok()) results::BuildRoll(filter, as_of, due_by, rows, out);
    return s;
  });
}

Status Ledger::Totals(const ReportFilter& filter, uint32_t from_period, uint32_t to_period,
                      results::TotalsResult::Builder out) const {
  return Guarded("totals", [&] {
    Status s = CheckRegion(filter);
    std::vector<queries::TotalsRow> rows;
    if (s.ok()) s = queries::Totals(log_->store(), filter, from_period, to_period, &rows);
    if (s.ok()) results::BuildTotals(filter, from_period, to_period, rows, out);
    return s;
  });
}

Status Ledger::Recoveries(const ReportFilter& filter, std::string_view household,
                          results::RecoveriesResult::Builder out) const {
  return Guarded("recoveries", [&] {
    Status s = CheckRegion(filter);
    std::vector<recoveries::Row> rows;
    if (s.ok()) {
      s = household.empty() ? recoveries::ForRegion(log_->store(), filter, &rows)
                            : recoveries::ForHousehold(log_->store(), std::string(household), &rows);
    }
    if (s.ok()) results::BuildRecoveries(filter, std::string(household), rows, out);
    return s;
  });
}

Status Ledger::Trace(results::TraceScope scope, std::string_view asked, results::TraceResult::Builder out) const {
  return Guarded("trace", [&] {
    trace::Trace t;
    using Scope = results::TraceScope;
    Status s = scope == Scope::kActor       ? trace::ForActor(*log_, asked, &t)
               : scope == Scope::kHousehold ? trace::ForHousehold(*log_, asked, &t)
                                            : trace::ForRegion(*log_, asked, &t);
    if (s.ok()) results::BuildTrace(scope, std::string(asked), t, out);
    return s;
  });
}

void Ledger::Rules(results::RulesResult::Builder out) {
  results::BuildRules(out);
}

// ---- Payroll -------------------------------------------------------------------------------------

namespace {

// Appends the plan's events as one all-or-nothing group, the roll signed by `sign` if set; sets
// the seqs of the entries, or *refusal to why the ledger refused the roll.
Status IssuePlan(Log* log, const payroll::Plan& plan, const PayrollRequest& request, const Ledger::RollSigner& sign,
                 std::string_view submitted_by, results::PayrollResult::Builder out, std::string* refusal) {
  auto owned = payroll::Events(plan, request);
  std::vector<capnp::MessageBuilder*> group;
  for (auto& m : owned) {
    bool signed_kind = signing::IsSignedKind(m->getRoot<schema::Event>().which());
    Status s = sign && signed_kind ? sign(m.get()) : Status::Ok();
    if (!s.ok()) return s;
    group.push_back(m.get());
  }
  std::vector<AppendResult> appended;
  std::vector<std::string> submitters;
  if (!submitted_by.empty()) submitters.assign(group.size(), std::string(submitted_by));
  Status s = log->AppendGroup(group, &appended, GroupMode::kAllOrNothing, submitters);
  if (!s.ok()) return s;
  for (const auto& r : appended) {
    if (r.outcome != AppendResult::Outcome::kRejected || r.dropped_with_group) continue;
    *refusal = r.findings.empty() ? r.error.ToString() : r.findings.front().rule + ": " + r.findings.front().message;
    out.setOutcome(results::PayrollOutcome::REFUSED);
    return Status::Ok();
  }
  out.setOutcome(results::PayrollOutcome::ISSUED);
  out.setFirstSeq(appended.front().seq);
  out.setLastSeq(appended.back().seq);
  return Status::Ok();
}

}  // namespace

Status Ledger::IssuePayroll(const PayrollRequest& request, bool dry_run, const note::KeyPair* key,
                            results::PayrollResult::Builder out, std::string* refusal) {
  RollSigner sign;
  if (key != nullptr) sign = [key](capnp::MessageBuilder* roll) { return signing::SignEvent(roll, *key); };
  return IssuePayrollSignedBy(request, dry_run, sign, out, refusal);
}

Status Ledger::IssuePayrollSignedBy(const PayrollRequest& request, bool dry_run, const RollSigner& sign,
                                    results::PayrollResult::Builder out, std::string* refusal,
                                    std::string_view submitted_by) {
  return Guarded("payroll", [&] {
    payroll::Plan plan;
    Status s = payroll::MakePlan(*log_, request, &plan);
    if (!s.ok()) return s;
    results::BuildPayroll(request, dry_run, plan, out);
    using Outcome = results::PayrollOutcome;
    if (plan.roll_exists) return out.setOutcome(Outcome::ISSUED_BEFORE), Status::Ok();
    if (plan.lines.empty()) return out.setOutcome(Outcome::NOTHING_DUE), Status::Ok();
    if (dry_run) return out.setOutcome(Outcome::DRY_RUN), Status::Ok();
    return IssuePlan(log_.get(), plan, request, sign, submitted_by, out, refusal);
  });
}

Status Ledger::PayrollRoll(const PayrollRequest& request, capnp::MessageBuilder* roll, bool* due) const {
  *due = false;
  return Guarded("payroll", [&] {
    payroll::Plan plan;
    Status s = payroll::MakePlan(*log_, request, &plan);
    if (!s.ok()) return s;
    auto events = payroll::Events(plan, request);  // The roll first; none if nothing is to be issued.
    if (events.empty()) return Status::Ok();
    roll->setRoot(events.front()->getRoot<schema::Event>().asReader());
    *due = true;
    return Status::Ok();
  });
}

Status Ledger::ExportRoll(std::string_view roll_id, RollFile* out) const {
  return Guarded("payroll export", [&] {
    payroll::IssuedRoll roll;
    Status s = payroll::ReadRoll(*log_, std::string(roll_id), &roll);
    if (!s.ok()) return s;
    out->county = roll.county;
    out->csv = payroll::BankInstructionCsv(roll);
    out->payments = roll.lines.size();
    out->sum_fen = roll.sum_fen;
    return Status::Ok();
  });
}

// ---- Reconciliation ------------------------------------------------------------------------------

Status Ledger::Reconcile(const BankFile& file, std::unique_ptr<Reconciliation>* out) const {
  return Guarded("reconcile", [&] {
    std::unique_ptr<Reconciliation> r(new Reconciliation());
    Status s = reconcile::Reconcile(log_->store(), file.rep_->file, &r->rep_->matches);
    if (s.ok()) *out = std::move(r);
    return s;
  });
}

Status Ledger::RecordBankResults(const Reconciliation& matches, std::string_view actor, uint32_t date,
                                 const std::function<void(const Status&)>& refused, results::ApplyOutcome::Builder out,
                                 std::string_view submitted_by) {
  uint64_t created = 0, exists = 0, rejected = 0;
  Status write;  // The first write that failed.
  auto done = [&](std::vector<AppendResult>* results, const Status& w) {
    if (!w.ok() && write.ok()) write = w;
    for (const auto& r : *results) {
      created += r.outcome == AppendResult::Outcome::kCreated;
      exists += r.outcome == AppendResult::Outcome::kExists;
      if (r.outcome == AppendResult::Outcome::kRejected) ++rejected, refused(r.error);
    }
  };
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> owned;
  auto submit = [&] {  // The events need to live only during the call.
    std::vector<capnp::MessageBuilder*> group;
    for (auto& m : owned) group.push_back(m.get());
    std::vector<std::string> submitters;
    if (!submitted_by.empty()) submitters.assign(group.size(), std::string(submitted_by));
    Status s = log_->SubmitGroup(group, GroupMode::kEachOnItsOwn, done, submitters);
    owned.clear();
    return s;
  };
  Status s = Guarded("reconcile", [&] {
    Status submitted;
    const reconcile::Reconciliation& all = matches.rep_->matches;
    for (size_t i = 0; i < all.size() && submitted.ok(); ++i) {
      reconcile::Match m = all[i];
      if (!reconcile::IsRecorded(m)) continue;
      owned.push_back(std::make_unique<capnp::MallocMessageBuilder>(kEventMessageWords));
      reconcile::BankResultEvent(m, actor, date, owned.back().get());
      if (owned.size() == kBankResultsPerGroup) submitted = submit();
    }
    if (submitted.ok() && !owned.empty()) submitted = submit();
    Status flushed = log_->FlushGroups();
    return submitted.ok() ? (write.ok() ? flushed : write) : submitted;
  });
  out.setRecorded(created);
  out.setAlreadyRecorded(exists);
  out.setRefused(rejected);
  return s;
}

// ---- Evidence ------------------------------------------------------------------------------------

Status Ledger::CheckpointKey(note::Verifier* key) const {
  return evidence::ReadCheckpointKey(*log_, key);
}

Status Ledger::SetCheckpointKey(const note::Verifier& key, std::string_view reason) {
  return Guarded("setkey", [&] { return evidence::SetCheckpointKey(log_.get(), key, reason); });
}

Status Ledger::MakeCheckpoint(const note::KeyPair& key, evidence::SignedCheckpoint* out, bool* made) {
  return Guarded("checkpoint", [&] { return evidence::MakeCheckpoint(log_.get(), key, out, made); });
}

Status Ledger::ListCheckpoints(results::CheckpointList::Builder out) const {
  return Guarded("checkpoint", [&] {
    std::vector<evidence::SignedCheckpoint> list;
    Status s = evidence::ListCheckpoints(*log_, &list);
    if (!s.ok()) return s;
    auto rows = out.initCheckpoints(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      std::string bytes, recorded;  // "" when the entry does not read: the row says so.
      EntryReader reader;
      uint64_t size = list[i].checkpoint.tree_size;
      if (size > 0 && log_->ReadEntry(size, &bytes).ok() && reader.Init(bytes).ok()) {
        recorded = FormatTimestampUs(reader.entry().getRecordedAtUs());
      }
      results::BuildCheckpointRow(list[i], recorded, rows[i]);
    }
    return Status::Ok();
  });
}

Status Ledger::LatestCheckpoint(evidence::SignedCheckpoint* out) const {
  return Guarded("checkpoint", [&] { return evidence::ReadCheckpoint(*log_, std::nullopt, out); });
}

Status Ledger::ProveInclusion(uint64_t seq, std::optional<uint64_t> size, evidence::Proof* out) const {
  return Guarded("prove", [&] { return evidence::ProveInclusion(*log_, seq, size, out); });
}

Status Ledger::ProveConsistency(uint64_t size1, uint64_t size2, evidence::Proof* out) const {
  return Guarded("prove", [&] { return evidence::ProveConsistency(*log_, size1, size2, out); });
}

Status Ledger::ProveHousehold(std::string_view household, std::optional<uint64_t> size, evidence::Proof* out) const {
  return Guarded("prove", [&] { return evidence::ProveHousehold(*log_, household, size, out); });
}

}  // namespace ledger
