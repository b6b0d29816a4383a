// The finance office's jobs: see finance.h.
#include "finance.h"

#include <capnp/any.h>
#include <fmt/format.h>

namespace ledgerd {
namespace {

using ledger::Status;

// Matches the file's lines into out->lines, each payment it names within the caller's
// jurisdiction (else refused, naming the first line outside it), and the summary into `summary`.
Status MatchInScope(ledger::Ledger& l, const ledger::ActorInfo& me, const ledger::BankFile& bank,
                    std::unique_ptr<ledger::Reconciliation>* matches, Reconciled* out,
                    ledger::results::ReconcileResult::Builder summary) {
  Status s = l.Reconcile(bank, matches);
  if (!s.ok()) return s;
  auto lines = out->lines.initRoot<capnp::AnyPointer>().initAs<capnp::List<ledger::results::ReconcileLine>>(
      static_cast<unsigned>((*matches)->size()));
  for (size_t i = 0; i < (*matches)->size(); ++i) {
    (*matches)->Line(i, lines[static_cast<unsigned>(i)]);
    auto line = lines.asReader()[static_cast<unsigned>(i)];  // A builder's getLedger() would make one.
    auto payment = line.getLedger();
    if (line.hasLedger() && !Within(payment.getRegion().cStr(), me.jurisdiction)) {
      return Refused("bankFile", me,
                     fmt::format("payment {} (household {}, region {}){}", line.getEndToEndId().cStr(),
                                 payment.getHousehold().cStr(), payment.getRegion().cStr(),
                                 line.hasBank() ? fmt::format(" on line {}", line.getBank().getLine()) : ""));
    }
  }
  (*matches)->Summary(summary);
  return Status::Ok();
}

}  // namespace

ReadFn RecoveriesJob(ledger::ReportFilter filter, std::string household) {
  return [filter, household](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) mutable {
    r->status = household.empty() ? ScopeRegion(me, &filter.region_prefix) : ScopeHousehold(l, me, household);
    if (r->status.ok()) {
      r->status = l.Recoveries(filter, household, r->message.initRoot<ledger::results::RecoveriesResult>());
    }
  };
}

ReadFn ReconcileJob(std::string text, std::optional<std::string> columns, BankApply apply,
                    std::shared_ptr<Reconciled> extra) {
  return [text = std::move(text), columns, apply, extra](ledger::Ledger& l, const ledger::ActorInfo& me,
                                                         Reply* r) mutable {
    if (apply.apply && !(r->status = MayWriteFinance(me, apply.actor, "recording bank results")).ok()) return;
    std::unique_ptr<ledger::BankFile> bank;
    std::unique_ptr<ledger::Reconciliation> matches;
    r->status = ledger::BankFile::Parse(std::move(text), columns, &bank);
    auto summary = r->message.initRoot<ledger::results::ReconcileResult>();
    if (r->status.ok()) r->status = MatchInScope(l, me, *bank, &matches, extra.get(), summary);
    if (!r->status.ok() || !apply.apply) return;
    auto refused = [extra](const Status& why) { extra->refused.push_back(why); };
    r->status = l.RecordBankResults(*matches, apply.actor, apply.date, refused,
                                    extra->applied.initRoot<ledger::results::ApplyOutcome>(), me.id);
  };
}

}  // namespace ledgerd
