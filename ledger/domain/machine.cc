#include "ledger/domain/machine.h"

#include <capnp/dynamic.h>

#include <algorithm>

#include "ledger/domain/identity.h"
#include "ledger/domain/projections.h"
#include "ledger/domain/rules.h"
#include "ledger/domain/signing.h"
#include "ledger/domain/state.h"
#include "ledger/domain/validate.h"

namespace ledger::domain {
namespace {

class BenefitRules final : public StateMachine {
 public:
  Status Admit(capnp::MessageBuilder* message, Bytes secret) const override {
    auto builder = message->getRoot<schema::Event>();
    Status s = ProtectNumbers(capnp::DynamicStruct::Builder(builder), secret);
    return s.ok() ? ValidateEvent(builder.asReader()) : s;
  }

  Decision Decide(schema::Event::Reader event, const schema::Event::Reader* corrected, StateSource* source,
                  bool replaying, std::string_view submitted_by) const override {
    Decision d;
    state::StateTxn txn(source);
    // The actor's signature, under every policy (signing.h): against the key in force now.
    if (!replaying && !(d.refusal = signing::CheckActorSignature(event, &txn)).ok()) return d;
    // Who submitted it, like the signature, is checked on append only (rules.h Process).
    rules::Verdict verdict = rules::Process(event, corrected, &txn, replaying ? std::string_view() : submitted_by);
    // A state record that could not be read: the rules did not see it.
    if (replaying && txn.status().code() == Status::Code::kIOError) {
      d.refusal = txn.status();
      return d;
    }
    d.findings = std::move(verdict.findings);
    if (!(d.refusal = verdict.structural).ok()) return d;
    auto refusing = std::find_if(d.findings.begin(), d.findings.end(),
                                 [](const rules::Finding& f) { return rules::Refuses(f.rule); });
    if (refusing != d.findings.end()) d.refusing = static_cast<size_t>(refusing - d.findings.begin());
    projections::Apply(event, corrected, &txn);
    // A record the projections could not read.
    if (!(d.refusal = txn.status()).ok()) return d;
    d.writes = txn.writes();
    return d;
  }
};

}  // namespace

const StateMachine& Rules() {
  static const BenefitRules rules;
  return rules;
}

}  // namespace ledger::domain
