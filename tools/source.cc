#include "source.h"

#include <capnp/dynamic.h>
#include <fmt/format.h>

#include <vector>

#include "benefit_ledger/events.h"
#include "cli.h"
#include "ledgerd/client.h"
#include "ledgerd/wire.h"

namespace tools {
namespace {

using ledger::Status;
namespace evidence = ledger::evidence;
namespace note = ledger::note;
namespace results = ledger::results;

// A bank file matched by a ledger in this process; the file must outlive the matches.
class LocalReconciled final : public Reconciled {
 public:
  LocalReconciled(ledger::Ledger* l, std::unique_ptr<ledger::BankFile> bank, BankApply apply)
      : l_(l), bank_(std::move(bank)), apply_(std::move(apply)) {}
  Status Match() { return l_->Reconcile(*bank_, &matches_); }

  size_t size() const override { return matches_->size(); }
  void ForEachLine(const std::function<void(results::ReconcileLine::Reader)>& each) const override {
    for (size_t i = 0; i < matches_->size(); ++i) {
      capnp::MallocMessageBuilder message(256);
      auto line = message.initRoot<results::ReconcileLine>();
      matches_->Line(i, line);
      each(line.asReader());
    }
  }
  void Summary(results::ReconcileResult::Builder out) const override { matches_->Summary(out); }
  Status Apply(const std::function<void(const Status&)>& refused, results::ApplyOutcome::Builder out) override {
    return l_->RecordBankResults(*matches_, apply_.actor, apply_.date, refused, out);
  }

 private:
  ledger::Ledger* l_;
  std::unique_ptr<ledger::BankFile> bank_;
  BankApply apply_;
  std::unique_ptr<ledger::Reconciliation> matches_;
};

class Local final : public Source {
 public:
  explicit Local(std::unique_ptr<ledger::Ledger> l) : l_(std::move(l)) {}
  uint64_t head_seq() override { return l_->head_seq(); }
  Status SubmitGroup(std::span<capnp::MessageBuilder* const> events, ledger::GroupMode mode,
                     ledger::Ledger::GroupDone done) override {
    return l_->SubmitGroup(events, mode, std::move(done));
  }
  Status FlushGroups() override { return l_->FlushGroups(); }
  Status ShowEntry(uint64_t seq, std::string* json) override { return l_->ShowEntry(seq, json); }
  Status ReplayHousehold(std::string_view household, const ledger::ReplayOptions& options,
                         const std::function<void(const ledger::ReplayStepView&)>& visit,
                         ledger::results::ReplayResult::Builder out, std::string* state_on_date) override {
    return l_->ReplayHousehold(household, options, visit, out, state_on_date);
  }
  Status Verify(ledger::results::VerifyResult::Builder out, const ledger::Ledger::VerifyProgress& progress) override {
    return l_->Verify(out, progress);
  }
  Status Roll(const ledger::ReportFilter& f, uint32_t as_of, ledger::results::RollResult::Builder out) override {
    return l_->Roll(f, as_of, out);
  }
  Status Reviews(const ledger::ReportFilter& f, uint32_t as_of, uint32_t due_by,
                 ledger::results::RollResult::Builder out) override {
    return l_->Reviews(f, as_of, due_by, out);
  }
  Status Totals(const ledger::ReportFilter& f, uint32_t from, uint32_t to,
                ledger::results::TotalsResult::Builder out) override {
    return l_->Totals(f, from, to, out);
  }
  Status Trace(ledger::results::TraceScope scope, std::string_view asked,
               ledger::results::TraceResult::Builder out) override {
    return l_->Trace(scope, asked, out);
  }
  Status Recoveries(const ledger::ReportFilter& f, std::string_view household,
                    ledger::results::RecoveriesResult::Builder out) override {
    return l_->Recoveries(f, household, out);
  }
  Status IssuePayroll(const ledger::PayrollRequest& request, bool dry_run, const note::KeyPair* key,
                      results::PayrollResult::Builder out, std::string* refusal) override {
    return l_->IssuePayroll(request, dry_run, key, out, refusal);
  }
  Status ExportRoll(std::string_view roll_id, ledger::RollFile* out) override { return l_->ExportRoll(roll_id, out); }
  Status Reconcile(std::unique_ptr<ledger::BankFile> bank, std::string, const std::optional<std::string>&,
                   const BankApply& apply, std::unique_ptr<Reconciled>* out) override {
    auto r = std::make_unique<LocalReconciled>(l_.get(), std::move(bank), apply);
    Status s = r->Match();
    if (s.ok()) *out = std::move(r);
    return s;
  }
  Status CheckpointKey(note::Verifier* key) override { return l_->CheckpointKey(key); }
  Status MakeCheckpoint(const note::KeyPair* key, evidence::SignedCheckpoint* out, bool* made) override {
    if (key == nullptr) return Status::Invalid("key", "a checkpoint is signed with the ledger's checkpoint key");
    return l_->MakeCheckpoint(*key, out, made);
  }
  Status ListCheckpoints(results::CheckpointList::Builder out) override { return l_->ListCheckpoints(out); }
  Status ProveInclusion(uint64_t seq, std::optional<uint64_t> size, evidence::Proof* out) override {
    return l_->ProveInclusion(seq, size, out);
  }
  Status ProveConsistency(uint64_t size1, uint64_t size2, evidence::Proof* out) override {
    return l_->ProveConsistency(size1, size2, out);
  }
  Status ProveHousehold(std::string_view household, std::optional<uint64_t> size, evidence::Proof* out) override {
    return l_->ProveHousehold(household, size, out);
  }

 private:
  std::unique_ptr<ledger::Ledger> l_;
};

// Copies every field set in `from` into `to` (a result record received into one being built).
void CopyFields(capnp::DynamicStruct::Reader from, capnp::DynamicStruct::Builder to) {
  for (auto field : from.getSchema().getFields()) {
    if (from.has(field)) to.set(field, from.get(field));
  }
}

// Runs an RPC call; a broken call (the server refused it, or the connection is gone) is IOError.
template <class Call>
Status Rpc(const char* what, Call&& call) {
  Status s;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { s = call(); })) {
    return Status::IOError(fmt::format("ledgerd {}: {}", what, e->getDescription().cStr()));
  }
  return s;
}

// A bank file matched by ledgerd: its answer, kept (the lines are in it), results recorded.
class RemoteReconciled final : public Reconciled {
 public:
  using Response = capnp::Response<ledgerd::rpc::LedgerSession::ReconcileResults>;
  explicit RemoteReconciled(Response response) : owned_(std::make_unique<Response>(kj::mv(response))), r_(*owned_) {}

  size_t size() const override { return r_.getLines().size(); }
  void ForEachLine(const std::function<void(results::ReconcileLine::Reader)>& each) const override {
    for (auto line : r_.getLines()) each(line);
  }
  void Summary(results::ReconcileResult::Builder out) const override { CopyFields(r_.getSummary(), out); }
  Status Apply(const std::function<void(const Status&)>& refused, results::ApplyOutcome::Builder out) override {
    for (auto why : r_.getRefused()) refused(ledgerd::FromWire(why));
    CopyFields(r_.getApplied(), out);
    return Status::Ok();
  }

 private:
  std::unique_ptr<Response> owned_;  // Held by pointer: its destructor may throw, this one may not.
  const Response& r_;
};

// What a call carries beside a bank file's text, at most (the reconcile call's other fields).
constexpr size_t kCallOverheadBytes = 64 << 10;

// Prints verify's progress on standard error, as the server reports it.
class ProgressPrinter final : public ledgerd::rpc::VerifyProgress::Server {
 public:
  explicit ProgressPrinter(const ledger::Ledger::VerifyProgress& progress) : progress_(progress) {}
  kj::Promise<void> progress(ProgressContext context) override {
    progress_(context.getParams().getEntriesChecked(), context.getParams().getEntriesTotal());
    return kj::READY_NOW;
  }

 private:
  ledger::Ledger::VerifyProgress progress_;
};

class Remote final : public Source {
 public:
  explicit Remote(std::unique_ptr<ledgerd::Client> c) : c_(std::move(c)) {}

  uint64_t head_seq() override {
    uint64_t head = 0;
    Rpc("whoAmI", [&] {
      head = c_->session().whoAmIRequest().send().wait(c_->wait_scope()).getHeadSeq();
      return Status::Ok();
    });
    return head;
  }

  // Sends the group and waits for its answer: the server commits it (merged with other
  // clients' events) before answering. Every event is appended on its own (mode is ignored).
  Status SubmitGroup(std::span<capnp::MessageBuilder* const> events, ledger::GroupMode,
                     ledger::Ledger::GroupDone done) override {
    std::vector<ledger::AppendResult> results;
    Status s = Rpc("append", [&] {
      auto request = c_->session().appendRequest();
      auto list = request.initEvents(static_cast<unsigned>(events.size()));
      for (size_t i = 0; i < events.size(); ++i) {
        list.setWithCaveats(static_cast<unsigned>(i), events[i]->getRoot<ledger::schema::Event>().asReader());
      }
      auto response = request.send().wait(c_->wait_scope());
      for (auto o : response.getOutcomes()) results.push_back(ledgerd::FromWire(o));
      return Status::Ok();
    });
    done(&results, s);
    return s;
  }
  Status FlushGroups() override { return Status::Ok(); }

  Status ShowEntry(uint64_t seq, std::string* json) override {
    return Rpc("show", [&] {
      auto request = c_->session().showRequest();
      request.setSeq(seq);
      auto r = request.send().wait(c_->wait_scope());
      if (r.hasFailure()) return ledgerd::FromWire(r.getFailure());
      *json = r.getJson();
      return Status::Ok();
    });
  }

  Status ReplayHousehold(std::string_view household, const ledger::ReplayOptions& options,
                         const std::function<void(const ledger::ReplayStepView&)>& visit,
                         ledger::results::ReplayResult::Builder out, std::string* state_on_date) override {
    return Rpc("replay", [&] {
      auto request = c_->session().replayRequest();
      request.setHousehold(std::string(household));
      request.setAsOf(options.as_of);
      request.setEntries(options.entry_json);
      auto r = request.send().wait(c_->wait_scope());
      if (r.hasFailure()) return ledgerd::FromWire(r.getFailure());
      auto result = r.getResult();
      auto steps = result.getSteps();
      for (unsigned i = 0; i < steps.size(); ++i) {
        std::string_view state = i < r.getStates().size() ? r.getStates()[i].cStr() : "";
        std::string_view entry = i < r.getEntries().size() ? r.getEntries()[i].cStr() : "";
        visit({steps[i], state, entry});
      }
      CopyFields(result, out);
      if (state_on_date) *state_on_date = r.getStateOnDate();
      return Status::Ok();
    });
  }

  Status Verify(ledger::results::VerifyResult::Builder out, const ledger::Ledger::VerifyProgress& progress) override {
    auto request = c_->session().verifyRequest();
    if (progress) request.setProgress(kj::heap<ProgressPrinter>(progress));
    return Report("verify", kj::mv(request), out);
  }
  Status Roll(const ledger::ReportFilter& f, uint32_t as_of, ledger::results::RollResult::Builder out) override {
    auto request = c_->session().rollRequest();
    SetFilter(f, request.initFilter());
    request.setAsOf(as_of);
    return Report("roll", kj::mv(request), out);
  }
  Status Reviews(const ledger::ReportFilter& f, uint32_t as_of, uint32_t due_by,
                 ledger::results::RollResult::Builder out) override {
    auto request = c_->session().reviewsRequest();
    SetFilter(f, request.initFilter());
    request.setAsOf(as_of);
    request.setDueBy(due_by);
    return Report("reviews", kj::mv(request), out);
  }
  Status Totals(const ledger::ReportFilter& f, uint32_t from, uint32_t to,
                ledger::results::TotalsResult::Builder out) override {
    auto request = c_->session().totalsRequest();
    SetFilter(f, request.initFilter());
    request.setFromPeriod(from);
    request.setToPeriod(to);
    return Report("totals", kj::mv(request), out);
  }
  Status Trace(ledger::results::TraceScope scope, std::string_view asked,
               ledger::results::TraceResult::Builder out) override {
    using Scope = ledger::results::TraceScope;
    auto request = c_->session().traceRequest();
    request.setScope(scope == Scope::kActor       ? ledgerd::rpc::TraceScope::ACTOR
                     : scope == Scope::kHousehold ? ledgerd::rpc::TraceScope::HOUSEHOLD
                                                  : ledgerd::rpc::TraceScope::REGION);
    request.setAsked(std::string(asked));
    return Report("trace", kj::mv(request), out);
  }
  Status Recoveries(const ledger::ReportFilter& f, std::string_view household,
                    ledger::results::RecoveriesResult::Builder out) override {
    auto request = c_->session().recoveriesRequest();
    SetFilter(f, request.initFilter());
    request.setHousehold(std::string(household));
    return Report("recoveries", kj::mv(request), out);
  }

  // A roll that must be signed is signed here, with the key given, over the roll ledgerd would
  // issue (payrollRoll); ledgerd issues it with that signature if it is still the roll it would
  // issue. The key never travels: the server gets the signature only.
  Status IssuePayroll(const ledger::PayrollRequest& r, bool dry_run, const note::KeyPair* key,
                      results::PayrollResult::Builder out, std::string* refusal) override {
    return Rpc("payroll", [&] {
      capnp::MallocMessageBuilder signed_roll(ledger::kEventMessageWords);
      bool sign = key != nullptr && !dry_run;
      if (sign) {
        auto plan = c_->session().payrollRollRequest();
        SetRequest(r, plan.initRequest());
        auto planned = plan.send().wait(c_->wait_scope());
        if (planned.hasFailure()) return ledgerd::FromWire(planned.getFailure());
        sign = planned.hasRoll();  // Else nothing is due: issued before, or no payable case.
        if (sign) signed_roll.setRoot(planned.getRoll());
        Status s = sign ? ledger::signing::SignEvent(&signed_roll, *key) : Status::Ok();
        if (!s.ok()) return s;
      }
      auto request = c_->session().payrollRequest();
      SetRequest(r, request.initRequest());
      request.setDryRun(dry_run);
      if (sign) request.setSignedRoll(signed_roll.getRoot<ledger::schema::Event>().asReader());
      auto response = request.send().wait(c_->wait_scope());
      if (response.hasFailure()) return ledgerd::FromWire(response.getFailure());
      CopyFields(response.getResult(), out);
      *refusal = response.getRefusal();
      return Status::Ok();
    });
  }
  Status ExportRoll(std::string_view roll_id, ledger::RollFile* out) override {
    return Rpc("exportRoll", [&] {
      auto request = c_->session().exportRollRequest();
      request.setRollId(std::string(roll_id));
      auto r = request.send().wait(c_->wait_scope());
      if (r.hasFailure()) return ledgerd::FromWire(r.getFailure());
      *out = {r.getCounty(), r.getCsv(), r.getPayments(), r.getSumFen()};
      return Status::Ok();
    });
  }

  // The file goes in one call: it must fit in the server's --max-message-bytes.
  Status Reconcile(std::unique_ptr<ledger::BankFile>, std::string text, const std::optional<std::string>& columns,
                   const BankApply& apply, std::unique_ptr<Reconciled>* out) override {
    return Rpc("reconcile", [&] {
      uint64_t limit = c_->session().whoAmIRequest().send().wait(c_->wait_scope()).getMaxMessageBytes();
      if (limit > 0 && text.size() + kCallOverheadBytes > limit) {
        return Status::Invalid("bank-file",
                               fmt::format("{} bytes, more than ledgerd takes in one call ({} bytes, its "
                                           "--max-message-bytes, less {} for the rest of the call): split the "
                                           "file, or reconcile with --dir on the server's host",
                                           text.size(), limit, kCallOverheadBytes));
      }
      auto request = c_->session().reconcileRequest();
      request.setBankFile(text);
      request.setHasColumns(columns.has_value());
      if (columns) request.setColumns(*columns);
      request.setApply(apply.apply);
      request.setActorId(apply.actor);
      request.setDate(apply.date);
      auto r = request.send().wait(c_->wait_scope());
      if (r.hasFailure()) return ledgerd::FromWire(r.getFailure());
      *out = std::make_unique<RemoteReconciled>(kj::mv(r));
      return Status::Ok();
    });
  }

  Status CheckpointKey(note::Verifier* key) override {
    return Rpc("checkpointKey", [&] {
      auto r = c_->session().checkpointKeyRequest().send().wait(c_->wait_scope());
      if (r.hasFailure()) return ledgerd::FromWire(r.getFailure());
      return note::ParseVerifierKey(r.getKey().cStr(), key);
    });
  }
  // Signed by ledgerd's key; the note is opened here with the ledger's verifier key, which also
  // checks the server's signature.
  Status MakeCheckpoint(const note::KeyPair* key, evidence::SignedCheckpoint* out, bool* made) override {
    if (key != nullptr) {
      return Status::Invalid("key",
                             "with --server the checkpoint is signed by ledgerd's key (ledgerd --checkpoint-key)");
    }
    note::Verifier verifier;
    Status s = CheckpointKey(&verifier);
    if (!s.ok()) return s;
    return Rpc("checkpoint", [&] {
      auto r = c_->session().checkpointRequest().send().wait(c_->wait_scope());
      if (r.hasFailure()) return ledgerd::FromWire(r.getFailure());
      *made = r.getMade();
      return evidence::OpenCheckpoint(r.getNote().cStr(), verifier, out);
    });
  }
  Status ListCheckpoints(results::CheckpointList::Builder out) override {
    return Report("checkpoints", c_->session().checkpointsRequest(), out);
  }
  Status ProveInclusion(uint64_t seq, std::optional<uint64_t> size, evidence::Proof* out) override {
    auto request = c_->session().proveInclusionRequest();
    request.setSeq(seq);
    request.setSize(size.value_or(0));
    return SendProve("proveInclusion", kj::mv(request), out);
  }
  Status ProveConsistency(uint64_t size1, uint64_t size2, evidence::Proof* out) override {
    auto request = c_->session().proveConsistencyRequest();
    request.setSize1(size1);
    request.setSize2(size2);
    return SendProve("proveConsistency", kj::mv(request), out);
  }
  Status ProveHousehold(std::string_view household, std::optional<uint64_t> size, evidence::Proof* out) override {
    auto request = c_->session().proveHouseholdRequest();
    request.setHousehold(std::string(household));
    request.setSize(size.value_or(0));
    return SendProve("proveHousehold", kj::mv(request), out);
  }

 private:
  static void SetRequest(const ledger::PayrollRequest& r, ledgerd::rpc::PayrollRequest::Builder out) {
    out.setCounty(r.county);
    out.setProgramme(r.programme);
    out.setPeriod(r.period);
    out.setActorId(r.actor_id);
    out.setDate(r.date);
  }
  // Sends a proof's request; its failure, or the proof it answers (as JSON) read into `out`.
  template <class Request>
  Status SendProve(const char* what, Request request, evidence::Proof* out) {
    return Rpc(what, [&] {
      auto r = request.send().wait(c_->wait_scope());
      if (r.hasFailure()) return ledgerd::FromWire(r.getFailure());
      return evidence::ParseProof(r.getProof().cStr(), out);
    });
  }
  static void SetFilter(const ledger::ReportFilter& f, ledgerd::rpc::Filter::Builder out) {
    out.setRegionPrefix(f.region_prefix);
    if (f.programme) out.setProgramme(static_cast<ledger::schema::Programme>(*f.programme));
  }
  // Sends a report's request; its failure, or its result copied into `out`.
  template <class Request, class Builder>
  Status Report(const char* what, Request request, Builder out) {
    return Rpc(what, [&] {
      auto r = request.send().wait(c_->wait_scope());
      if (r.hasFailure()) return ledgerd::FromWire(r.getFailure());
      CopyFields(r.getResult(), out);
      return Status::Ok();
    });
  }

  std::unique_ptr<ledgerd::Client> c_;
};

std::string server_host_port, server_credential;  // SetServer

}  // namespace

std::unique_ptr<Source> LocalSource(std::unique_ptr<ledger::Ledger> ledger) {
  return std::make_unique<Local>(std::move(ledger));
}

void SetServer(std::string host_port, std::string credential) {
  server_host_port = std::move(host_port);
  server_credential = std::move(credential);
}

bool HasServer() {
  return !server_host_port.empty();
}

Status ConnectServer(std::unique_ptr<ledgerd::Client>* out) {
  return ledgerd::Client::Connect(server_host_port, server_credential, out);
}

std::unique_ptr<Source> OpenSource(const std::string& dir, const char* command, int* exit_code, Access access) {
  if (!HasServer()) {
    auto l = OpenOrReport(dir, command, exit_code, access);
    return l ? LocalSource(std::move(l)) : nullptr;
  }
  std::unique_ptr<ledgerd::Client> client;
  Status s = ledgerd::Client::Connect(server_host_port, server_credential, &client);
  if (!s.ok()) {
    *exit_code = Fail(command, s);
    return nullptr;
  }
  return std::make_unique<Remote>(std::move(client));
}

}  // namespace tools
