#include "source.h"

#include <capnp/dynamic.h>
#include <fmt/format.h>

#include <vector>

#include "cli.h"
#include "ledgerd/client.h"
#include "ledgerd/wire.h"

namespace tools {
namespace {

using ledger::Status;

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
  Status Verify(ledger::results::VerifyResult::Builder out) override { return l_->Verify(out); }
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

  Status Verify(ledger::results::VerifyResult::Builder out) override {
    return Report("verify", c_->session().verifyRequest(), out);
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

 private:
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
